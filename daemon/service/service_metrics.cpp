// The measuring wrappers: each call is passed on unchanged, timed on the io_context's thread.
#include "daemon/service/service_metrics.hpp"

#include "core/formats/json_span.hpp"
#include "core/formats/timestamp.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace hookless {

namespace {

using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point start) { return std::chrono::duration<double>(steady::now() - start).count(); }

const char* attempt_state(const delivery& record) {
  switch (record.state) {
    case delivery_state::done: return "done";
    case delivery_state::dead: return "dead";
    case delivery_state::pending: break;
  }
  // A pending record written after a failed attempt has the time of the next one; one without it
  // is a dead delivery put back in the queue.
  return record.next_attempt_at ? "failed" : "requeued";
}

// The clock starts when the request may leave (set through `start`), so time spent waiting for the
// budget is not latency.
run_source::send_turn timed_turn(run_source::send_turn wait_turn, steady::time_point& start) {
  if (!wait_turn) return {};
  return [wait_turn = std::move(wait_turn), &start]() -> awaitable<bool> {
    const bool may_send = co_await wait_turn();
    start = steady::now();
    co_return may_send;
  };
}

void note_successful_poll(service_metrics& metrics, answer_kind kind) {
  if (kind == answer_kind::run) metrics.last_successful_poll = std::chrono::system_clock::now();
}

}  // namespace

latency_histogram detection_delay_histogram() {
  // The SDK cadence polls every 1 s at first and every 30 s at most; list sweeps and safety-net
  // polls put the tail in minutes.
  return latency_histogram{{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800}};
}

latency_histogram delivery_duration_histogram() {
  return latency_histogram{{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
}

std::optional<double> detection_delay_of(std::string_view envelope, std::chrono::system_clock::time_point registered_at,
                                         std::chrono::system_clock::time_point made_at) {
  const auto payload = find_member_text(envelope, "payload");
  if (!payload) return std::nullopt;
  auto updated = find_member_text(*payload, "updatedAt");
  if (!updated || updated->size() < 2 || updated->front() != '"' || updated->back() != '"') return std::nullopt;
  updated->remove_prefix(1);
  updated->remove_suffix(1);
  const auto changed_at = parse_time(*updated);
  if (!changed_at) return std::nullopt;
  const auto since = std::max(*changed_at, registered_at);
  // Extend's clock may run a little ahead of this machine's.
  return std::max(0.0, std::chrono::duration<double>(made_at - since).count());
}

awaitable<delivery_result> timed_sink::deliver(const delivery_job& job) {
  const auto start = steady::now();
  auto result = co_await inner_->deliver(job);
  metrics_.delivery_seconds.try_emplace(name_, delivery_duration_histogram())
      .first->second.observe(seconds_since(start));
  co_return result;
}

delivery_limits timed_sink::limits() const {
  const auto* limited = dynamic_cast<const limited_sink*>(inner_.get());
  return limited ? limited->limits() : delivery_limits{};
}

awaitable<extend_answer> timed_source::fetch(const run_kind_info& kind, std::string_view run_id, send_turn wait_turn,
                                             request_place where) {
  auto start = steady::now();
  auto turn = timed_turn(std::move(wait_turn), start);
  auto answer = co_await inner_.fetch(kind, run_id, std::move(turn), where);
  metrics_.extend_request_seconds.observe(seconds_since(start));
  note_successful_poll(metrics_, answer.kind);
  co_return answer;
}

awaitable<list_answer> timed_source::list(const run_kind_info& kind, const page_request& page, send_turn wait_turn,
                                          request_place where) {
  auto start = steady::now();
  auto turn = timed_turn(std::move(wait_turn), start);
  auto answer = co_await inner_.list(kind, page, std::move(turn), where);
  metrics_.extend_request_seconds.observe(seconds_since(start));
  if (!answer.unusable) note_successful_poll(metrics_, answer.kind);
  co_return answer;
}

void timed_store::observe_since(steady::time_point start) {
  metrics_.store_commit_seconds.observe(seconds_since(start));
}

awaitable<std::vector<run_record>> timed_store::load_pending() { co_return co_await inner_.load_pending(); }

awaitable<std::vector<delivery_job>> timed_store::load_undone_deliveries() {
  co_return co_await inner_.load_undone_deliveries();
}

awaitable<std::vector<bool>> timed_store::insert_runs(std::vector<run_record> runs) {
  const auto start = steady::now();
  auto inserted = co_await inner_.insert_runs(std::move(runs));
  observe_since(start);
  co_return inserted;
}

awaitable<void> timed_store::save_progress(std::vector<run_progress> progress) {
  const auto start = steady::now();
  co_await inner_.save_progress(std::move(progress));
  observe_since(start);
}

awaitable<void> timed_store::record_outcome(run_outcome outcome) {
  const auto start = steady::now();
  // Measured before the outcome moves into the store, counted once it is durable.
  std::vector<std::optional<double>> delays;
  for (const auto& event : outcome.new_events) {
    delays.push_back(detection_delay_of(event.body, outcome.run.registered_at, outcome.run.updated_at));
  }
  const auto kind = outcome.run.kind;
  co_await inner_.record_outcome(std::move(outcome));
  observe_since(start);
  if (delays.empty()) co_return;
  metrics_.events_by_kind[kind] += delays.size();
  for (const auto& delay : delays) {
    if (!delay) continue;
    metrics_.detection_delay_seconds.try_emplace(kind, detection_delay_histogram()).first->second.observe(*delay);
  }
}

awaitable<void> timed_store::update_delivery(delivery record) {
  const auto start = steady::now();
  auto key = std::make_pair(record.sink, std::string{attempt_state(record)});
  co_await inner_.update_delivery(std::move(record));
  observe_since(start);
  ++metrics_.delivery_attempts[key];
  // The dead count follows at once (the periodic recount corrects what else changes it: forgotten
  // or pruned runs).
  auto& dead = metrics_.dead_deliveries[key.first];
  if (key.second == "dead") ++dead;
  if (key.second == "requeued" && dead > 0) --dead;
}

awaitable<std::optional<run_record>> timed_store::find_run(std::string id) {
  co_return co_await inner_.find_run(std::move(id));
}

awaitable<std::vector<std::optional<std::uint32_t>>> timed_store::owners_of(std::vector<std::string> ids) {
  co_return co_await inner_.owners_of(std::move(ids));
}

awaitable<std::vector<run_record>> timed_store::list_runs(run_query query) {
  co_return co_await inner_.list_runs(std::move(query));
}

awaitable<std::vector<delivery>> timed_store::list_deliveries(delivery_query query) {
  co_return co_await inner_.list_deliveries(std::move(query));
}

awaitable<std::map<std::string, std::size_t>> timed_store::count_dead_deliveries() {
  co_return co_await inner_.count_dead_deliveries();
}

awaitable<std::optional<delivery_job>> timed_store::find_delivery(std::string delivery_id) {
  co_return co_await inner_.find_delivery(std::move(delivery_id));
}

awaitable<bool> timed_store::delete_run(std::string id) {
  const auto start = steady::now();
  const bool deleted = co_await inner_.delete_run(std::move(id));
  observe_since(start);
  co_return deleted;
}

awaitable<std::size_t> timed_store::prune_finished(time_point cutoff) {
  const auto start = steady::now();
  const auto pruned = co_await inner_.prune_finished(cutoff);
  observe_since(start);
  co_return pruned;
}

awaitable<std::vector<subscription_position>> timed_store::load_subscription_positions() {
  co_return co_await inner_.load_subscription_positions();
}

awaitable<std::vector<found_run>> timed_store::save_finds(subscription_finds finds) {
  const auto start = steady::now();
  auto found = co_await inner_.save_finds(std::move(finds));
  observe_since(start);
  co_return found;
}

awaitable<void> timed_store::drop_subscription_position(std::string subscription, std::string kind) {
  const auto start = steady::now();
  co_await inner_.drop_subscription_position(std::move(subscription), std::move(kind));
  observe_since(start);
}

awaitable<std::vector<recorded_event>> timed_store::events_after(event_position after, std::size_t limit) {
  co_return co_await inner_.events_after(after, limit);
}

awaitable<event_position> timed_store::newest_event_position() { co_return co_await inner_.newest_event_position(); }

void write_config_metrics(prometheus_writer& out, bool last_reload_ok,
                          std::chrono::system_clock::time_point loaded_at) {
  out.family("hookless_config_last_reload_successful", "gauge",
             "1 while the last configuration reload was accepted (or none was tried), 0 after a rejected one.");
  out.sample("hookless_config_last_reload_successful", last_reload_ok ? 1 : 0);
  out.family("hookless_config_last_reload_success_timestamp_seconds", "gauge",
             "When the running configuration was read (Unix time): the start, or the last accepted reload.");
  out.sample("hookless_config_last_reload_success_timestamp_seconds",
             std::chrono::duration<double>(loaded_at.time_since_epoch()).count());
}

void write_subscription_metrics(prometheus_writer& out, const std::vector<subscription_status>& subscriptions,
                                std::chrono::system_clock::time_point now) {
  const auto labels_of = [](const subscription_status& one) {
    return metric_labels{{"subscription", one.subscription}, {"kind", one.kind}};
  };
  out.family("hookless_subscription_position_age_seconds", "gauge",
             "Seconds since the subscription's sweep of a kind last completed (its position is that fresh); no "
             "sample before the first.");
  for (const auto& one : subscriptions) {
    if (!one.swept_at) continue;
    out.sample("hookless_subscription_position_age_seconds", labels_of(one),
               std::max(0.0, std::chrono::duration<double>(now - *one.swept_at).count()));
  }
  const auto counter = [&](const char* name, const char* help, std::uint64_t subscription_status::*field) {
    out.family(name, "counter", help);
    for (const auto& one : subscriptions) out.sample(name, labels_of(one), static_cast<double>(one.*field));
  };
  counter("hookless_subscription_sweeps_total", "Complete sweeps of a kind's list by a subscription.",
          &subscription_status::sweeps);
  counter("hookless_subscription_pages_total", "List pages a subscription's sweeps of a kind read.",
          &subscription_status::pages);
  counter("hookless_subscription_runs_found_total",
          "Finished runs a subscription found (new ones, and registered runs it joined).",
          &subscription_status::runs_found);
  counter("hookless_subscription_events_total", "Events made for runs a subscription found.",
          &subscription_status::events);
  out.family("hookless_subscription_up", "gauge",
             "0 while a subscription's sweep of a kind is failing (its list refuses, or a page was not sorted: the "
             "position is kept and retried), else 1.");
  for (const auto& one : subscriptions) {
    out.sample("hookless_subscription_up", labels_of(one), one.state == "failing" ? 0 : 1);
  }
}

awaitable<void> refresh_dead_deliveries(state_store& store, service_metrics& metrics, boost::asio::steady_timer& timer,
                                        std::chrono::milliseconds period) {
  for (;;) {
    metrics.dead_deliveries = co_await store.count_dead_deliveries();
    timer.expires_after(period);
    const auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) co_return;
  }
}

}  // namespace hookless
