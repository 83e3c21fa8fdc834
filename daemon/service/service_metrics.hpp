// What the daemon measures beyond the tracker's own counters, and the wrappers that measure it
// without touching the core: timed_source times every request to Extend and notes the last one
// that showed a run; timed_store times every durable write (the wait for its group commit
// included), counts events, delivery outcomes and dead deliveries, and measures each event's
// detection delay; timed_sink times every delivery attempt.
#pragma once

#include "core/delivery/delivery_queue.hpp"
#include "core/delivery/sink.hpp"
#include "core/extend/run_source.hpp"
#include "core/model/subscription.hpp"
#include "core/store/state_store.hpp"
#include "daemon/service/prometheus_text.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace hookless {

struct service_metrics {
  // One request to Extend, from sending to a complete answer (or its failure).
  latency_histogram extend_request_seconds{{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
  // One write to the state store until it is durable (queueing + group commit + fsync).
  latency_histogram store_commit_seconds{{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5}};
  // Delivery attempts recorded, by (sink, state): done, failed (will retry), dead.
  std::map<std::pair<std::string, std::string>, std::uint64_t> delivery_attempts;
  // Dead deliveries in the store by sink: counted as deliveries die or are put back, and recounted
  // from the store now and then.
  std::map<std::string, std::size_t> dead_deliveries;
  // The budget as configured now (it changes on reload).
  double requests_per_second = 0;
  // Events recorded, by run kind.
  std::map<std::string, std::uint64_t> events_by_kind;
  // Detection delay by run kind: from the run's last change at Extend (its updatedAt), or its
  // registration if that came later, to the event made of it. Created on first use; metrics()
  // writes detection_delay_histogram() for the kinds without one.
  std::map<std::string, latency_histogram> detection_delay_seconds;
  // One delivery attempt by sink, from handing the event to the sink to its verdict.
  std::map<std::string, latency_histogram> delivery_seconds;
  // The last answer from Extend that showed a run (one run's GET, or a page of a list).
  std::optional<std::chrono::system_clock::time_point> last_successful_poll;
};

// Empty histograms with the buckets of each kind of measurement, also written for the kinds and
// sinks that have not been measured yet (so no series is missing before the first event).
latency_histogram detection_delay_histogram();
latency_histogram delivery_duration_histogram();

// The detection delay of one event, in seconds, from its envelope (the serialized JSON): the time
// from its payload's updatedAt (when Extend last changed the run) to `made_at`, at least 0. A run
// registered after it finished counts from its registration: the wait before it was is not
// hookless's. Nullopt for payloads without an RFC 3339 updatedAt (the daemon's own run.expired
// and run.not_found).
std::optional<double> detection_delay_of(std::string_view envelope, std::chrono::system_clock::time_point registered_at,
                                         std::chrono::system_clock::time_point made_at);

// A sink that times each delivery attempt of the sink it owns into metrics.delivery_seconds. Its
// queue treats it as the owned sink: same limits (deliveries at once, max_age).
class timed_sink final : public sink, public limited_sink {
 public:
  timed_sink(std::unique_ptr<sink> inner, std::string name, service_metrics& metrics)
      : inner_(std::move(inner)), name_(std::move(name)), metrics_(metrics) {}
  awaitable<delivery_result> deliver(const delivery_job& job) override;
  void reopen() override { inner_->reopen(); }
  delivery_limits limits() const override;

 private:
  std::unique_ptr<sink> inner_;
  std::string name_;
  service_metrics& metrics_;
};

// hookless_config_last_reload_successful (`last_reload_ok`: 1 until a reload is rejected, then 0
// until one is accepted) and hookless_config_last_reload_success_timestamp_seconds (`loaded_at`:
// when the running config was read, at the start or by the last accepted reload).
void write_config_metrics(prometheus_writer& out, bool last_reload_ok, std::chrono::system_clock::time_point loaded_at);

// The hookless_subscription_* families (docs/metrics.md), one series per subscription and kind,
// labelled {subscription, kind}: the position's age (from the last complete sweep to `now`; no
// sample before the first), complete sweeps, list pages read, runs found, events made, and up (0
// while the sweep is failing). The families are written even when no subscription is configured.
void write_subscription_metrics(prometheus_writer& out, const std::vector<subscription_status>& subscriptions,
                                std::chrono::system_clock::time_point now);

class timed_source final : public run_source {
 public:
  timed_source(run_source& inner, service_metrics& metrics) : inner_(inner), metrics_(metrics) {}
  awaitable<extend_answer> fetch(const run_kind_info& kind, std::string_view run_id, send_turn wait_turn,
                                 request_place where) override;
  awaitable<list_answer> list(const run_kind_info& kind, const page_request& page, send_turn wait_turn,
                              request_place where) override;

 private:
  run_source& inner_;
  service_metrics& metrics_;
};

class timed_store final : public state_store {
 public:
  timed_store(state_store& inner, service_metrics& metrics) : inner_(inner), metrics_(metrics) {}

  awaitable<std::vector<run_record>> load_pending() override;
  awaitable<std::vector<delivery_job>> load_undone_deliveries() override;
  awaitable<std::vector<bool>> insert_runs(std::vector<run_record> runs) override;
  awaitable<void> save_progress(std::vector<run_progress> progress) override;
  awaitable<void> record_outcome(run_outcome outcome) override;
  awaitable<void> update_delivery(delivery record) override;
  awaitable<std::optional<run_record>> find_run(std::string id) override;
  awaitable<std::vector<std::optional<std::uint32_t>>> owners_of(std::vector<std::string> ids) override;
  awaitable<std::vector<run_record>> list_runs(run_query query) override;
  awaitable<std::vector<delivery>> list_deliveries(delivery_query query) override;
  awaitable<std::map<std::string, std::size_t>> count_dead_deliveries() override;
  awaitable<std::optional<delivery_job>> find_delivery(std::string delivery_id) override;
  awaitable<bool> delete_run(std::string id) override;
  awaitable<std::size_t> prune_finished(time_point cutoff) override;
  awaitable<std::vector<subscription_position>> load_subscription_positions() override;
  awaitable<std::vector<found_run>> save_finds(subscription_finds finds) override;
  awaitable<void> drop_subscription_position(std::string subscription, std::string kind) override;
  awaitable<std::vector<recorded_event>> events_after(event_position after, std::size_t limit) override;
  awaitable<event_position> newest_event_position() override;

 private:
  void observe_since(std::chrono::steady_clock::time_point start);

  state_store& inner_;
  service_metrics& metrics_;
};

// Counts the dead deliveries in the store by sink (in SQL) into metrics.dead_deliveries, now and then every
// `period` until `timer` is cancelled. (A periodic count, as a dead delivery can also leave that
// state by a redelivery request the store alone knows about.)
awaitable<void> refresh_dead_deliveries(state_store& store, service_metrics& metrics, boost::asio::steady_timer& timer,
                                        std::chrono::milliseconds period);

}  // namespace hookless
