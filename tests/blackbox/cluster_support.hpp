// Helpers for the black-box tests of several hooklessd sharing one PostgreSQL database (state.url):
// a fixture with a real PostgreSQL server, the fake Extend API and daemons that each have their own
// folder (socket, file sink, log); what a daemon's health says of the store and the cluster; and a
// watcher that notes when each line first reached each daemon's file sink.
#pragma once

#include "tests/blackbox/blackbox_support.hpp"
#include "tests/support/pg_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hookless::blackbox {

// The parts of GET /v1/health a cluster test reads.
struct cluster_health {
  std::string status;              // "ok" | "degraded"
  std::string store_state;         // "ok" | "unreachable"
  std::string node;                // cluster.node
  std::string role;                // "poller" | "standby"
  std::vector<std::string> nodes;  // live nodes by name
};

// The daemon's health, or nullopt when it does not answer 200 within `timeout`.
std::optional<cluster_health> read_cluster_health(const fs::path& socket, std::chrono::milliseconds timeout = 3s);

// One line a file sink wrote, and when the watcher first saw it.
struct sink_line {
  std::size_t sink = 0;  // index of the daemon whose sink it is
  std::string run_id;
  std::string event_type;
  std::string event_id;
  std::chrono::steady_clock::time_point seen;
};

// Reads the file sinks every `period` on its own thread, only the bytes added since its last look,
// so the time a line first appears is known to within a period (takeover times come from it).
class sink_watcher {
 public:
  explicit sink_watcher(std::vector<fs::path> files, std::chrono::milliseconds period = 100ms);
  ~sink_watcher();  // stops the thread
  sink_watcher(const sink_watcher&) = delete;
  sink_watcher& operator=(const sink_watcher&) = delete;

  std::vector<sink_line> lines() const;        // every line so far, in the order seen
  std::vector<std::string> bad_lines() const;  // complete lines that were no event (torn, interleaved)
  void read_now();                             // one look at once (besides the thread's)

 private:
  void read_new_lines(std::size_t sink);

  std::vector<fs::path> files_;
  std::vector<std::uint64_t> offsets_;
  mutable std::mutex mutex_;
  std::vector<sink_line> lines_;
  std::vector<std::string> bad_lines_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The fixture: a PostgreSQL server of its own (a fresh database), the fake Extend API, and daemons
// named by their cluster.node, each in the folder of its name.
class cluster_test : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;  // on failure prints the tail of every daemon's log

  fake_extend& start_fake(fake_extend_options options);
  // A config for node `name`: its own socket and file sink "archive" (the only default sink), the
  // shared database, 10 requests/s (the organisation's limit, the same on every daemon).
  daemon_config node_config(const std::string& name) const;
  daemon_process& add_node(daemon_config config);
  // The node that says it is the poller, when exactly one running node says so.
  std::optional<std::size_t> poller_index(const std::vector<std::size_t>& among) const;

  temp_dir dir_;
  std::unique_ptr<test::pg_server> database_;
  std::string database_url_;
  std::unique_ptr<fake_extend> fake_;
  std::vector<std::unique_ptr<daemon_process>> nodes_;
};

}  // namespace hookless::blackbox
