// Ownership and validation in front of the run tracker.
#include "daemon/hooklessd/tracker_backend.hpp"

#include "core/formats/json_span.hpp"
#include "daemon/control/control_json.hpp"
#include "daemon/control/control_routes.hpp"
#include "daemon/service/process_stats.hpp"
#include "daemon/version.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace hookless {

namespace {

// A sink's `type:` as the config spells it, for health.
std::string_view sink_type_name(sink_type type) {
  switch (type) {
    case sink_type::stdout_lines: return "stdout";
    case sink_type::file: return "file";
    case sink_type::http: return "http";
    case sink_type::exec: return "exec";
    case sink_type::redis: return "redis";
  }
  return "unknown";
}

// A run a subscription found (owner no_owner_uid) is no user's: admins only. (The control server
// refuses a connection from that uid, so no caller has it; this holds even if one did.)
bool may_see(const caller& who, const run_record& run) {
  return who.admin || (run.owner_uid == who.uid && run.owner_uid != no_owner_uid);
}

std::optional<std::uint32_t> owner_filter(const caller& who) {
  if (who.admin) return std::nullopt;
  return who.uid;
}

registration_forbidden foreign_id(const caller& who, const std::string& id) {
  return registration_forbidden(
      fmt::format("id: '{}' cannot be registered by uid {} (a run ID belongs to the user that registered it first); "
                  "nothing of this request was kept",
                  id, who.uid));
}

}  // namespace

// Claims a batch's IDs in registering_ for as long as it lives (the registration's coroutine).
class tracker_backend::claim_guard {
 public:
  // Throws registration_forbidden, claiming nothing, when a non-admin names an ID another uid claimed.
  claim_guard(std::shared_ptr<id_claims> claims, const caller& who, const std::vector<registration>& runs)
      : claims_(std::move(claims)) {
    if (!who.admin) {
      for (const auto& reg : runs) {
        const auto found = claims_->find(reg.id);
        if (found != claims_->end() && found->second.uid != who.uid) throw foreign_id(who, reg.id);
      }
    }
    ids_.reserve(runs.size());
    for (const auto& reg : runs) {
      auto& claim = (*claims_)[reg.id];
      claim.uid = who.uid;  // an admin's claim over a user's: both registrations may go on
      ++claim.batches;
      ids_.push_back(reg.id);
    }
  }
  ~claim_guard() {
    for (const auto& id : ids_) {
      const auto found = claims_->find(id);
      if (--found->second.batches == 0) claims_->erase(found);
    }
  }
  claim_guard(const claim_guard&) = delete;
  claim_guard& operator=(const claim_guard&) = delete;

 private:
  std::shared_ptr<id_claims> claims_;
  std::vector<std::string> ids_;
};

tracker_backend::tracker_backend(run_tracker& tracker, state_store& store, const config& settings,
                                 std::function<void(std::exception_ptr)> on_fatal, const service_metrics* metrics,
                                 const request_budget* budget, std::function<cluster_status()> cluster,
                                 const config_health* config_file)
    : tracker_(tracker),
      store_(store),
      config_(settings),
      generation_(generation_of(settings.extend.api_version)),
      on_fatal_(std::move(on_fatal)),
      metrics_(metrics),
      budget_(budget),
      cluster_(std::move(cluster)),
      config_file_(config_file) {}

std::optional<std::string> tracker_backend::kind_for(std::string_view run_id) const {
  const auto kind = kind_for_id(run_id, generation_);
  if (!kind) return std::nullopt;
  return std::string{*kind};
}

std::vector<std::string> tracker_backend::known_kinds() const {
  std::vector<std::string> kinds;
  for (const auto& info : kinds_of(generation_)) {
    if (std::ranges::find(kinds, info.kind) == kinds.end()) kinds.emplace_back(info.kind);
  }
  return kinds;
}

void tracker_backend::check_registration(const registration& reg, std::size_t index, bool batch) const {
  const auto where = batch ? fmt::format("runs[{}].", index) : std::string{};
  if (!describe_kind(reg.kind, generation_)) {
    throw invalid_registration(fmt::format("{}kind: '{}' is not a run kind that api_version {} serves; kinds: {}",
                                           where, reg.kind, config_.extend.api_version,
                                           fmt::join(known_kinds(), ", ")));
  }
  for (const auto& sink_name : reg.sinks) {
    if (!config_.sinks.contains(sink_name)) {
      std::vector<std::string> names;
      for (const auto& [name, sink] : config_.sinks) names.push_back(name);
      throw invalid_registration(
          fmt::format("{}sinks: unknown sink '{}'; configured sinks: {}", where, sink_name, fmt::join(names, ", ")));
    }
  }
}

awaitable<std::vector<std::string>> tracker_backend::reserve_pending(std::uint32_t uid,
                                                                     const std::vector<registration>& runs) {
  const auto limit = config_.control.max_pending_per_user;
  if (!pending_by_owner_.contains(uid)) {
    // The uid's first registration since start: its pending runs are in the store.
    pending_by_owner_[uid];
    const auto stored = co_await store_.list_runs(run_query{.state = run_state::pending,
                                                            .owner = uid,
                                                            .limit = limit + 1,
                                                            .after = std::nullopt,
                                                            .kind = std::nullopt,
                                                            .outcome = std::nullopt});
    auto& loaded = pending_by_owner_[uid];
    for (const auto& run : stored) loaded.insert(run.id);
  }
  // No co_await from here on: the check and the reservation are one step on the io_context.
  auto& mine = pending_by_owner_[uid];
  std::unordered_set<std::string> incoming;
  for (const auto& reg : runs) {
    if (!mine.contains(reg.id)) incoming.insert(reg.id);
  }
  if (mine.size() + incoming.size() > limit) {
    std::erase_if(mine, [this](const std::string& id) { return tracker_.pending_record(id) == nullptr; });
  }
  if (mine.size() + incoming.size() > limit) {
    throw caller_over_limit(fmt::format(
        "uid {} has {} pending runs and asked for {} more; at most {} per user (control.max_pending_per_user)", uid,
        mine.size(), incoming.size(), limit));
  }
  std::vector<std::string> added{incoming.begin(), incoming.end()};
  mine.insert(incoming.begin(), incoming.end());
  co_return added;
}

awaitable<void> tracker_backend::refuse_foreign_ids(const caller& who, const std::vector<registration>& runs) {
  std::vector<std::string> ids;
  ids.reserve(runs.size());
  for (const auto& reg : runs) ids.push_back(reg.id);
  const auto owners = co_await store_.owners_of(ids);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    // A run a subscription found first belongs to nobody: registering it is acknowledged, and the
    // run stays as the subscription made it (docs/subscriptions.md, moving an application).
    if (owners[i] && *owners[i] != who.uid && *owners[i] != no_owner_uid) throw foreign_id(who, ids[i]);
  }
}

awaitable<registration_result> tracker_backend::register_runs(caller who, std::vector<registration> runs) {
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].sinks.empty()) runs[i].sinks = config_.default_sinks;
    check_registration(runs[i], i, runs.size() > 1);
  }
  // Every ID's owner is checked before anything is written: a refused batch leaves no run behind
  // that could be polled, and so no event that could reach a sink.
  const claim_guard claim{registering_, who, runs};
  if (!who.admin) co_await refuse_foreign_ids(who, runs);
  std::vector<std::string> reserved;
  if (!who.admin) reserved = co_await reserve_pending(who.uid, runs);
  // A registration that fails gives its reservation back (a store_full must not eat the quota).
  const auto release = [this, &who, &reserved] {
    if (who.admin) return;
    auto& mine = pending_by_owner_[who.uid];
    for (const auto& id : reserved) mine.erase(id);
  };
  registration_result result;
  try {
    auto registered = co_await tracker_.register_runs(who.uid, std::move(runs));
    for (auto& item : registered) {
      result.any_new = result.any_new || item.is_new;
      result.runs.push_back(std::move(item.record));
    }
  } catch (const store_failed&) {
    release();
    on_fatal_(std::current_exception());
    throw;
  } catch (...) {
    release();
    throw;
  }
  co_return result;
}

awaitable<std::optional<run_record>> tracker_backend::get_run(caller who, std::string id) {
  auto run = co_await tracker_.find(std::move(id));
  if (run && !may_see(who, *run)) run.reset();
  co_return run;
}

awaitable<std::optional<run_record>> tracker_backend::wait_run(caller who, std::string id,
                                                               std::chrono::milliseconds limit) {
  // Check ownership first, so nobody can learn when another user's run finishes.
  // (Awaited into named locals: g++ 12 mishandles non-trivial temporaries of a co_await in a condition.)
  const auto visible = co_await get_run(who, id);
  if (!visible) co_return std::nullopt;
  co_return co_await tracker_.wait(std::move(id), limit);
}

awaitable<std::vector<run_record>> tracker_backend::list_runs(caller who, run_query query) {
  query.owner = owner_filter(who);
  auto runs = co_await store_.list_runs(std::move(query));
  for (auto& run : runs) {
    if (const auto* fresh = tracker_.pending_record(run.id)) run = *fresh;
  }
  co_return runs;
}

awaitable<bool> tracker_backend::forget_run(caller who, std::string id) {
  const auto visible = co_await get_run(who, id);
  if (!visible) co_return false;
  co_return co_await tracker_.forget(std::move(id));
}

awaitable<std::vector<delivery>> tracker_backend::list_deliveries(caller who, delivery_query query) {
  query.owner = owner_filter(who);
  co_return co_await store_.list_deliveries(std::move(query));
}

awaitable<bool> tracker_backend::retry_delivery(caller who, std::string delivery_id) {
  const auto job = co_await store_.find_delivery(delivery_id);
  if (!job) co_return false;
  const auto visible = co_await get_run(who, job->record.run_id);
  if (!visible) co_return false;
  co_return co_await tracker_.retry_delivery(std::move(delivery_id));
}

awaitable<std::size_t> tracker_backend::retry_dead_deliveries(caller who) {
  const auto dead = co_await store_.list_deliveries(delivery_query{
      .state = delivery_state::dead, .owner = owner_filter(who), .limit = std::nullopt, .after = std::nullopt});
  std::size_t retried = 0;
  for (const auto& item : dead) {
    const bool put_back = co_await tracker_.retry_delivery(item.id);
    if (put_back) ++retried;
  }
  co_return retried;
}

awaitable<event_stream> tracker_backend::open_events(caller who, std::optional<std::string> run_id, bool follow) {
  event_stream out;
  // Subscribed first, so nothing made while the store is read is missed (duplicates are skipped below).
  if (follow) {
    if (live_ == nullptr) throw std::runtime_error("this daemon serves no live event stream");
    out.live = live_->follow(owner_filter(who), run_id);
  }
  std::vector<run_record> runs;
  if (run_id) {
    auto run = co_await get_run(who, *run_id);
    if (run) runs.push_back(std::move(*run));
  } else {
    const auto listed = co_await store_.list_runs(run_query{.state = std::nullopt,
                                                            .owner = owner_filter(who),
                                                            .limit = recent_event_runs,
                                                            .after = std::nullopt,
                                                            .kind = std::nullopt,
                                                            .outcome = std::nullopt});
    // Oldest registration first, so that events made in the same millisecond keep that order.
    for (auto listed_run = listed.rbegin(); listed_run != listed.rend(); ++listed_run) {
      if (listed_run->events.empty()) continue;  // a listing has no bodies: read only runs with events
      auto full = co_await store_.find_run(listed_run->id);
      if (full && may_see(who, *full)) runs.push_back(std::move(*full));
    }
  }
  // Oldest first by detectedAt (RFC 3339 UTC with milliseconds: text order is time order); a run's
  // events keep their order.
  struct recent_event {
    std::string detected_at;
    std::string event_id;
    std::string body;
  };
  std::vector<recent_event> recent;
  for (auto& run : runs) {
    for (auto& event : run.events) {
      std::string detected_at;
      if (const auto own = find_member_text(event.body, "hookless")) {
        if (const auto at = find_member_text(*own, "detectedAt")) detected_at = std::string{*at};
      }
      recent.push_back(recent_event{std::move(detected_at), event.event_id, std::move(event.body)});
    }
  }
  std::ranges::stable_sort(recent, {}, &recent_event::detected_at);
  const auto skip = recent.size() > recent_event_limit ? recent.size() - recent_event_limit : 0;
  std::vector<std::string> sent_ids;
  for (std::size_t i = skip; i < recent.size(); ++i) {
    sent_ids.push_back(recent[i].event_id);
    out.recent.push_back(std::move(recent[i].body));
  }
  if (out.live) out.live->skip(sent_ids);
  co_return out;
}

health_report tracker_backend::health() const {
  health_report report;
  report.pending = tracker_.pending_count();
  report.api_state = tracker_.api().state;
  report.api_last_error = tracker_.api().last_error;
  report.ok = report.api_state == "ok";
  for (const auto& queue : tracker_.queues()) {
    const auto state = queue->retrying() ? "retrying" : "ok";
    std::size_t dead = 0;
    if (metrics_) {
      const auto found = metrics_->dead_deliveries.find(queue->sink_name());
      if (found != metrics_->dead_deliveries.end()) dead = found->second;
    }
    // Dead deliveries are events the application never got: degraded until they are redelivered.
    report.ok = report.ok && !queue->retrying() && dead == 0;
    std::optional<std::string> last_error;
    if (queue->retrying()) last_error = queue->last_error();
    std::string type;
    if (const auto configured = config_.sinks.find(queue->sink_name()); configured != config_.sinks.end()) {
      type = sink_type_name(configured->second.type);
    }
    report.sinks.emplace(queue->sink_name(), sink_health{.state = state,
                                                         .backlog = queue->backlog(),
                                                         .dead = dead,
                                                         .last_error = last_error,
                                                         .type = std::move(type)});
  }
  if (cluster_) {
    report.cluster = cluster_();
    report.store.backend = "postgresql";
    // Registrations answer 503 busy while the database cannot be reached: that is degraded.
    if (!report.cluster->store_reachable) {
      report.store.state = "unreachable";
      report.ok = false;
    }
  }
  // A rejected reload leaves the daemon running as before: shown, but not degraded.
  if (config_file_) report.config = *config_file_;
  // A failing sweep keeps its position and retries (nothing is skipped), but finds nothing meanwhile.
  report.subscriptions = subscriptions();
  if (any_subscription_failing(report.subscriptions)) report.ok = false;
  return report;
}

std::vector<subscription_status> tracker_backend::subscriptions() const { return tracker_.subscription_statuses(); }

// Prometheus text (GET /metrics). Every family is always present, with zero
// samples where nothing happened yet, so dashboards and alerts never see a metric vanish.
std::string tracker_backend::metrics() const {
  const auto& counters = tracker_.counters();
  prometheus_writer out;
  const auto number = [](auto value) { return static_cast<double>(value); };

  out.family("hookless_build_info", "gauge", "Always 1; the version of hooklessd in its label.");
  out.sample("hookless_build_info", {{"version", HOOKLESS_VERSION}}, 1);
  if (config_file_) {
    write_config_metrics(out, !config_file_->last_reload || config_file_->last_reload->ok, config_file_->loaded_at);
  }
  write_process_metrics(out, read_process_stats());

  // Every kind Extend serves under the configured API version has its series from the start.
  const auto kinds = kinds_of(generation_);
  const auto count_of = [](const auto& by_name, const std::string& name) -> double {
    const auto found = by_name.find(name);
    return found == by_name.end() ? 0 : static_cast<double>(found->second);
  };
  out.family("hookless_pending_runs", "gauge", "Runs being polled, by run kind.");
  const auto by_kind = tracker_.pending_by_kind();
  for (const auto& info : kinds) {
    const std::string kind{info.kind};
    out.sample("hookless_pending_runs", {{"kind", kind}}, count_of(by_kind, kind));
  }

  out.family("hookless_api_state", "gauge",
             "1 for the state of Extend's API as health reports it (ok, rate_limited, unauthorized, unreachable), "
             "0 for the others.");
  for (const char* state : {"ok", "rate_limited", "unauthorized", "unreachable"}) {
    out.sample("hookless_api_state", {{"state", state}}, tracker_.api().state == state ? 1 : 0);
  }
  if (metrics_) {
    out.family("hookless_last_successful_poll_timestamp_seconds", "gauge",
               "Unix time of the last answer from Extend that showed a run (a GET of one run or a page of a list); "
               "0 before the first.");
    const auto last = metrics_->last_successful_poll;
    out.sample("hookless_last_successful_poll_timestamp_seconds",
               last ? std::chrono::duration<double>(last->time_since_epoch()).count() : 0);
  }

  // Counts by answer kind: one sample per kind, and how many of them were 429s.
  const auto by_result = [&](const char* family, const std::map<std::string, std::uint64_t>& answers) {
    for (const char* result :
         {"run", "not_found", "rate_limited", "unauthorized", "error", "unreachable", "malformed"}) {
      const auto found = answers.find(result);
      out.sample(family, {{"result", result}}, number(found == answers.end() ? 0 : found->second));
    }
    const auto limited = answers.find("rate_limited");
    return limited == answers.end() ? 0 : limited->second;
  };
  out.family("hookless_polls_total", "counter", "Polls of Extend, by what they answered.");
  const auto limited_polls = by_result("hookless_polls_total", counters.answers);
  out.family("hookless_list_requests_total", "counter",
             "Pages of Extend's list endpoints asked for by the change feeds, by what they answered.");
  const auto limited_lists = by_result("hookless_list_requests_total", counters.list_answers);
  out.family("hookless_feed_wakes_total", "counter",
             "Runs polled at once because a list sweep showed them changed (or could not vouch for them).");
  out.sample("hookless_feed_wakes_total", number(counters.feed_wakes));
  out.family("hookless_rate_limited_total", "counter", "429 answers from Extend.");
  out.sample("hookless_rate_limited_total", number(limited_polls + limited_lists));
  if (metrics_) {
    out.histogram("hookless_extend_request_duration_seconds", "Duration of one request to Extend.",
                  metrics_->extend_request_seconds);
  }

  out.family("hookless_events_total", "counter", "Events made (one per run outcome), by run kind.");
  for (const auto& info : kinds) {
    const std::string kind{info.kind};
    out.sample("hookless_events_total", {{"kind", kind}}, metrics_ ? count_of(metrics_->events_by_kind, kind) : 0);
  }
  if (metrics_) {
    out.family("hookless_detection_delay_seconds", "histogram",
               "From a run's last change at Extend (its updatedAt), or its registration when that came later, to "
               "the event hookless made of it, by run kind.");
    const auto empty = detection_delay_histogram();
    for (const auto& info : kinds) {
      const std::string kind{info.kind};
      const auto found = metrics_->detection_delay_seconds.find(kind);
      out.histogram_series("hookless_detection_delay_seconds", {{"kind", kind}},
                           found == metrics_->detection_delay_seconds.end() ? empty : found->second);
    }
  }
  out.family("hookless_registered_total", "counter", "Runs registered.");
  out.sample("hookless_registered_total", number(counters.registered));

  out.family("hookless_delivery_backlog", "gauge", "Deliveries queued for a sink, in flight included.");
  for (const auto& queue : tracker_.queues()) {
    out.sample("hookless_delivery_backlog", {{"sink", queue->sink_name()}}, number(queue->backlog()));
  }
  out.family("hookless_deliveries_total", "counter",
             "Delivery attempts recorded, by sink and state: done, failed (will be retried), dead.");
  for (const auto& queue : tracker_.queues()) {
    for (const char* state : {"done", "failed", "dead"}) {
      std::uint64_t count = 0;
      if (metrics_) {
        const auto found = metrics_->delivery_attempts.find({queue->sink_name(), state});
        if (found != metrics_->delivery_attempts.end()) count = found->second;
      }
      out.sample("hookless_deliveries_total", {{"sink", queue->sink_name()}, {"state", state}}, number(count));
    }
  }
  if (metrics_) {
    out.family("hookless_dead_deliveries", "gauge", "Dead deliveries kept in the store, by sink.");
    for (const auto& queue : tracker_.queues()) {
      const auto found = metrics_->dead_deliveries.find(queue->sink_name());
      out.sample("hookless_dead_deliveries", {{"sink", queue->sink_name()}},
                 number(found == metrics_->dead_deliveries.end() ? 0 : found->second));
    }
    out.family("hookless_delivery_duration_seconds", "histogram",
               "One delivery attempt, from handing the event to the sink to its answer (failed attempts included), "
               "by sink.");
    const auto empty = delivery_duration_histogram();
    for (const auto& queue : tracker_.queues()) {
      const auto found = metrics_->delivery_seconds.find(queue->sink_name());
      out.histogram_series("hookless_delivery_duration_seconds", {{"sink", queue->sink_name()}},
                           found == metrics_->delivery_seconds.end() ? empty : found->second);
    }
    out.histogram("hookless_store_commit_duration_seconds",
                  "Time for one write to the state store to become durable (group commit and fsync included).",
                  metrics_->store_commit_seconds);
  }

  out.family("hookless_store_up", "gauge",
             "1 while the state store answers (always with SQLite); 0 while the database cannot be reached.");
  if (cluster_) {
    const auto cluster = cluster_();
    out.sample("hookless_store_up", cluster.store_reachable ? 1 : 0);
    // Only with a database: a single daemon on SQLite has no cluster to describe.
    out.family("hookless_cluster_poller", "gauge",
               "1 while this daemon holds the poller lease (it alone asks Extend), else 0.");
    out.sample("hookless_cluster_poller", cluster.poller ? 1 : 0);
    out.family("hookless_cluster_poller_terms_total", "counter", "Times this daemon became the poller.");
    out.sample("hookless_cluster_poller_terms_total", number(cluster.poller_terms));
    out.family("hookless_cluster_takeovers_total", "counter",
               "Homes of dead daemons this daemon adopted (their pending deliveries became its own).");
    out.sample("hookless_cluster_takeovers_total", number(cluster.takeovers));
    out.family("hookless_cluster_live_nodes", "gauge",
               "Daemons with a fresh heartbeat in the database, this one included.");
    out.sample("hookless_cluster_live_nodes", number(cluster.live_nodes.size()));
  } else {
    out.sample("hookless_store_up", 1);
  }

  write_subscription_metrics(out, subscriptions(), clock_type::now());

  if (budget_) {
    out.family("hookless_budget_requests_per_second", "gauge", "The configured request budget for Extend.");
    out.sample("hookless_budget_requests_per_second",
               metrics_ ? metrics_->requests_per_second : config_.extend.requests_per_second);
    out.family("hookless_budget_current_requests_per_second", "gauge",
               "The request rate the budget grants now: the configured one, or less while 429s slow it down.");
    out.sample("hookless_budget_current_requests_per_second", budget_->rate());
    out.family("hookless_budget_granted_total", "counter", "Requests to Extend the budget let through.");
    out.sample("hookless_budget_granted_total", number(budget_->granted()));
    out.family("hookless_budget_waiting", "gauge", "Polls waiting for the budget.");
    out.sample("hookless_budget_waiting", number(budget_->waiting()));
    out.family("hookless_budget_paused", "gauge", "1 while the budget is paused by a 429 or an auth failure.");
    out.sample("hookless_budget_paused", budget_->paused_until() ? 1 : 0);
  }
  return out.text();
}

}  // namespace hookless
