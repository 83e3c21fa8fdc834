// The fake Extend API over real HTTPS on 127.0.0.1, on its own thread and io_context, for the
// integration tests, the black-box tests and the README demo (hookless-fake-extend). Every method
// is thread-safe; the answers themselves are decided by fake_extend_model.
#pragma once

#include "tests/support/fake_extend_model.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hookless {

class fake_extend {
 public:
  explicit fake_extend(fake_extend_options options = {});
  ~fake_extend();  // stops the server
  fake_extend(const fake_extend&) = delete;
  fake_extend& operator=(const fake_extend&) = delete;

  // Binds 127.0.0.1 (options.port, 0 = any free port) and the control port if asked for, then
  // serves on a new thread. Throws boost::system::system_error when a port cannot be bound.
  void start();
  // Closes the listeners and every open connection, then joins the thread. Idempotent.
  void stop();

  std::uint16_t port() const;                         // valid after start()
  std::optional<std::uint16_t> control_port() const;  // when options.control_port was set
  std::string base_url() const;                       // "https://127.0.0.1:PORT"
  const std::string& ca_pem() const;                  // the CA that signed the served certificate
  void write_ca(const std::filesystem::path& path) const;

  // Scripted runs, created now (see fake_extend_model::add_run for what throws).
  void add_run(run_script script);
  // Many scripted runs with one creation time, which it returns (their timelines count from it).
  fake_clock::time_point add_runs(std::vector<run_script> scripts);
  // The run shows `status` from now on; false for an unknown ID.
  bool set_status_now(const std::string& id, const std::string& status);

  // Extend's clock jumps forward by `by`, as if that much time had passed: what happens from now on
  // (status changes, the updatedAt of lists) is stamped that much later; what happened before is not.
  void advance_clock(std::chrono::milliseconds by);

  void inject(fault f);
  void clear_faults();

  fake_extend_stats stats() const;  // a snapshot
  boost::json::object stats_json() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hookless
