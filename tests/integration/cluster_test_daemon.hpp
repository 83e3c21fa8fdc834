// What the cluster runtime's tests share: daemons in one process (a tracker, a request budget, a
// scripted run source, a recording sink and a cluster_node each) over a store that is both the
// state_store and the cluster_store (a fake over SQLite, or pg_store), and short clocks.
#pragma once

#include "core/cluster/cluster_node.hpp"
#include "core/delivery/sink.hpp"
#include "core/tracking/run_tracker.hpp"

#include <boost/asio/io_context.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hookless::test {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// Answers every run with the status set for it (PENDING until told otherwise) and remembers when
// each request left (after its budget turn) and which daemon sent it.
struct extend_script {
  struct sent {
    std::string instance;
    steady::time_point at;
  };
  std::map<std::string, std::string> status;
  std::vector<sent> requests;
};

class scripted_source final : public run_source {
 public:
  scripted_source(extend_script& script, std::string instance) : script_(script), instance_(std::move(instance)) {}

  awaitable<extend_answer> fetch(const run_kind_info& kind, std::string_view run_id, send_turn wait_turn,
                                 request_place) override {
    const bool may_send = co_await wait_turn();
    if (!may_send) co_return extend_answer{};
    script_.requests.push_back({instance_, steady::now()});
    ++polls;
    const std::string id{run_id};
    const auto found = script_.status.find(id);
    const std::string status = found == script_.status.end() ? "PENDING" : found->second;
    extend_answer result;
    result.kind = answer_kind::run;
    result.status = status;
    result.payload =
        R"({"object":")" + std::string{kind.kind} + R"(","id":")" + id + R"(","status":")" + status + R"("})";
    co_return result;
  }
  awaitable<list_answer> list(const run_kind_info&, const page_request&, send_turn, request_place) override {
    co_return interpret_list(404, "", std::nullopt, describe_kind("extract_run", api_generation::current).value(),
                             clock_type::now());
  }

  int polls = 0;

 private:
  extend_script& script_;
  std::string instance_;
};

class recording_sink final : public sink {
 public:
  awaitable<delivery_result> deliver(const delivery_job& job) override {
    if (refuse) co_return delivery_result{.delivered = false, .error = "refused by the test", .retry_after = {}};
    delivered.push_back(job.record.run_id);
    co_return delivery_result{.delivered = true, .error = {}, .retry_after = {}};
  }
  std::vector<std::string> delivered;  // run ids
  bool refuse = false;
};

inline registration reg(std::string id) {
  registration r;
  r.id = std::move(id);
  r.kind = "extract_run";
  r.sinks = {"archive"};
  return r;
}

// Short clocks: a takeover of the poller role within a second or so.
inline cluster_timing short_timing() {
  return cluster_timing{.heartbeat_interval = 100ms,
                        .dead_after = 500ms,
                        .lease_ttl = 1'500ms,
                        .renew_interval = 150ms,
                        .trust_margin = 1'050ms,
                        .pick_interval = 30ms,
                        .intake_interval = 30ms,
                        .pick_batch = 5'000,
                        .intake_batch = 1'000};
}

// One daemon: its store connection, request budget, run source, sink, tracker and cluster runtime.
struct daemon {
  template <typename store_type>
  daemon(asio::io_context& io, store_type& both, extend_script& script, cluster_timing timing)
      : store(both),
        cluster(both),
        budget(io.get_executor(), request_budget::options{.requests_per_second = 200}),
        source(script, both.instance_id()) {
    tracker_settings settings;
    settings.polling.fast_interval = 30ms;
    settings.polling.fast_period = 10s;
    settings.polling.jitter = 0;
    settings.polling.list_endpoints = false;
    settings.progress_flush_interval = 50ms;
    settings.cluster = true;
    settings.store_wait_interval = 30ms;
    std::map<std::string, sink*> sinks{{"archive", &archive}};
    tracker = std::make_unique<run_tracker>(io.get_executor(), store, source, budget, sinks, settings,
                                            [this](std::exception_ptr) { ++fatal_calls; });
    node_runtime = std::make_unique<cluster_node>(io.get_executor(), cluster, *tracker, budget, timing,
                                                  [this](std::exception_ptr) { ++fatal_calls; });
  }

  awaitable<void> start() {
    co_await tracker->start();
    node_runtime->start();
  }
  // As a killed process: everything stops, nothing is given up.
  void kill() {
    node_runtime->stop();
    tracker->stop();
    budget.stop();
  }

  state_store& store;
  cluster_store& cluster;
  request_budget budget;
  scripted_source source;
  recording_sink archive;
  std::unique_ptr<run_tracker> tracker;
  std::unique_ptr<cluster_node> node_runtime;
  int fatal_calls = 0;
};

}  // namespace hookless::test
