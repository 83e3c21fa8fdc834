// The run lifecycle: register, poll, decide, record durably, deliver.
#include "core/tracking/run_tracker.hpp"

#include "core/delivery/sink.hpp"
#include "core/extend/budget_turn.hpp"
#include "core/model/event_envelope.hpp"
#include "core/model/event_filter.hpp"
#include "core/model/run_status.hpp"
#include "core/tracking/poll_schedule.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <random>
#include <string_view>
#include <unordered_set>

namespace hookless {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

bool has_event(const run_record& record, std::string_view event_type) {
  return std::ranges::any_of(record.events, [&](const run_event& e) { return e.event_type == event_type; });
}

// A pending run keeps its events by ID and type only: their bodies (whole run outputs, often
// hundreds of kB) are in the store, and a run may wait for days (a workflow in review).
void drop_event_bodies(run_record& record) {
  for (auto& event : record.events) std::string{}.swap(event.body);  // (swap: frees the buffer)
}

}  // namespace

time_point run_tracker::now_ms() { return std::chrono::floor<milliseconds>(clock_type::now()); }

run_tracker::steady_time run_tracker::steady_now() { return std::chrono::steady_clock::now(); }

run_tracker::clock_reading run_tracker::read_clocks() { return {clock_type::now(), steady_now()}; }

time_point run_tracker::to_wall(steady_time at) {
  return std::chrono::floor<milliseconds>(clock_type::now() +
                                          std::chrono::duration_cast<clock_type::duration>(at - steady_now()));
}

run_tracker::tracked_run::tracked_run(run_record r, run_kind_info i, const clock_reading& now)
    : record(std::move(r)),
      info(i),
      due(now.to_steady(record.next_poll_at.value_or(record.updated_at))),
      deadline(now.to_steady(record.deadline_at)) {}

double run_tracker::random_draw() {
  thread_local std::minstd_rand random{std::random_device{}()};
  return std::uniform_real_distribution<double>(-1.0, 1.0)(random);
}

run_tracker::run_tracker(asio::any_io_executor executor, state_store& store, run_source& source, request_budget& budget,
                         std::map<std::string, sink*> sinks, tracker_settings settings, fatal_handler on_fatal)
    : executor_(executor),
      store_(store),
      source_(source),
      budget_(budget),
      settings_(std::move(settings)),
      on_fatal_(std::move(on_fatal)),
      dispatch_timer_(executor),
      prune_timer_(executor),
      deliveries_(executor, store, std::move(sinks), on_fatal_),
      flush_timer_(executor) {
  settings_.max_active_polls = std::max<std::size_t>(settings_.max_active_polls, 1);
  for (const auto& info : kinds_of(settings_.generation)) {
    if (info.listable) feeds_.emplace(info.kind, std::make_shared<kind_feed>(info, executor_));
  }
}

run_tracker::~run_tracker() { stop(); }

awaitable<void> run_tracker::start() {
  if (settings_.cluster) {
    polling_ = false;  // until the cluster runtime switches it on
  } else {
    auto pending = co_await store_.load_pending();
    resume(std::move(pending));
  }  // the loaded records (moved out by now) are freed before the rest starts
  co_await deliveries_.start();
  const auto on_failure = [this](std::exception_ptr failure) {
    if (failure && !stopping_) on_fatal_(failure);
  };
  asio::co_spawn(executor_, dispatch_polls(), on_failure);
  asio::co_spawn(executor_, flush_progress(), on_failure);
  asio::co_spawn(executor_, prune_loop(), on_failure);
  for (auto& [kind, feed] : feeds_) asio::co_spawn(executor_, feed_loop(feed), on_failure);
  apply_subscriptions(settings_.subscriptions);
  if (!settings_.cluster) spdlog::info("resumed {} pending runs", pending_.size());
}

// Pending runs loaded from the store join those polled here (a run tracked already is kept as it is).
void run_tracker::resume(std::vector<run_record> pending) {
  pending_.reserve(pending_.size() + pending.size());
  std::vector<run_ptr> resumed;
  resumed.reserve(pending.size());
  const auto clocks = read_clocks();
  for (auto& record : pending) {
    if (pending_.contains(record.id)) continue;  // cluster: picked while the load was under way
    const auto info = describe_kind(record.kind, settings_.generation);
    if (!info) {
      spdlog::error("run_id={} has kind '{}', which the configured api_version does not serve; it stays pending",
                    record.id, record.kind);
      continue;
    }
    auto run = std::make_shared<tracked_run>(std::move(record), *info, clocks);  // (loaded without event bodies)
    pending_.emplace(run->record.id, run);
    if (auto* feed = feed_for(run->record.kind)) ++feed->runs;
    resumed.push_back(std::move(run));
  }
  // With the feeds' run counts known: a kind with a list catches up with one sweep back to its
  // runs' last looks instead of polling each of them. (A run never looked at yet is polled as
  // planned: its first look is a GET.)
  for (auto& run : resumed) {
    if (auto* feed = feed_for(run->record.kind); feed != nullptr && feeding(*feed) && run->record.status) {
      follow(*feed, *run, run->record.looked_at, true);
      set_due(*run, safety_poll_at(*feed, *run));
    }
    queue_run(run);
  }
}

// A run registered just now (or, in a cluster, picked from the store) starts its polls. With a
// list, its first look is a sweep (soon), not a GET. Its kind must be served.
void run_tracker::track_new(run_record record, const clock_reading& clocks) {
  const auto info = describe_kind(record.kind, settings_.generation);
  auto run = std::make_shared<tracked_run>(std::move(record), info.value(), clocks);
  pending_.emplace(run->record.id, run);
  if (auto* feed = feed_for(run->record.kind)) {
    ++feed->runs;
    if (feeding(*feed)) follow(*feed, *run, run->record.registered_at, false);
    if (relied_on(*feed)) set_due(*run, safety_poll_at(*feed, *run));
  }
  queue_run(run);
}

awaitable<void> run_tracker::start_polling() {
  if (polling_ || stopping_) co_return;
  polling_ = true;
  const auto session = ++polling_session_;
  std::vector<run_record> pending;
  try {
    pending = co_await store_.load_pending();
  } catch (...) {
    if (session == polling_session_) stop_polling();
    throw;
  }
  if (stopping_ || session != polling_session_) co_return;  // switched off (and maybe on again) meanwhile
  const auto loaded = pending.size();
  resume(std::move(pending));
  for (auto& [key, loop] : subscriptions_) loop->pause.cancel();  // they sweep from the stored positions now
  spdlog::info("polling switched on: {} pending runs loaded from the store", loaded);
}

void run_tracker::stop_polling() {
  if (!polling_) return;
  polling_ = false;
  ++polling_session_;
  for (auto& [id, run] : pending_) {
    run->stopped = true;  // a poll under way records nothing more (commit_event) and ends
    if (run->wake) run->wake->cancel();
    for (auto* waiter : run->waiters) waiter->cancel();  // they go on reading the store
    due_.remove(*run);
  }
  const auto let_go = pending_.size();
  pending_.clear();
  dirty_.clear();
  for (auto& [kind, feed] : feeds_) {
    feed->runs = 0;
    feed->feed = change_feed{};
    feed->failures = 0;
    feed->failing = false;
    ++feed->epoch;  // a sweep under way is dropped
    if (feed->waiting) feed->waiting->cancel();
  }
  for (auto& [key, loop] : subscriptions_) {
    loop->loaded = false;  // the next poller moves the position on: read it again when polling here again
    ++loop->epoch;         // a sweep under way is dropped
    if (loop->waiting) loop->waiting->cancel();
  }
  spdlog::info("polling switched off: {} pending runs left in the store for the next poller", let_go);
}

void run_tracker::adopt_new_runs(std::vector<run_record> runs) {
  if (!polling_ || stopping_) return;  // picked under a lost term: the next poller loads them all
  const auto clocks = read_clocks();
  for (auto& record : runs) {
    if (pending_.contains(record.id) || record.state != run_state::pending) continue;
    if (!describe_kind(record.kind, settings_.generation)) {
      spdlog::error("run_id={} has kind '{}', which the configured api_version does not serve; it stays pending",
                    record.id, record.kind);
      continue;
    }
    track_new(std::move(record), clocks);
  }
}

void run_tracker::deliver(std::vector<delivery_job> jobs) {
  for (auto& job : jobs) {
    if (job.record.state == delivery_state::pending) deliveries_.enqueue(std::move(job));
  }
}

void run_tracker::stop() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& [id, run] : pending_) {
    run->stopped = true;
    if (run->wake) run->wake->cancel();
  }
  deliveries_.stop();
  for (auto& [kind, feed] : feeds_) {
    feed->pause.cancel();
    if (feed->waiting) feed->waiting->cancel();
  }
  for (auto& [key, loop] : subscriptions_) end_subscription_loop(*loop);
  dispatch_timer_.cancel();
  prune_timer_.cancel();
  flush_timer_.cancel();
}

// On the monotonic clock: the run's whole tracking time (fixed in its record) less what is left of it.
milliseconds run_tracker::age_of(const tracked_run& run) {
  const auto tracked_for = run.record.deadline_at - run.record.registered_at;
  return std::chrono::duration_cast<milliseconds>(tracked_for - (run.deadline - steady_now()));
}

void run_tracker::set_due(tracked_run& run, steady_time at) {
  run.due = at;
  run.record.next_poll_at = to_wall(at);
}

// Puts the run in due_ at its due time, or moves it there if it waits already. A run a sweep woke
// goes before every other, however overdue they are.
void run_tracker::queue_run(const run_ptr& run) {
  const auto due = due_time(*run);
  const auto at = run->woken ? decltype(due)::min() : due;
  const bool earliest = due_.empty() || at < due_.next_at();
  due_.schedule(run, at);
  if (earliest) wake_dispatcher();
}

void run_tracker::wake_dispatcher() {
  if (!dispatcher_waiting_) return;  // it is running and looks at the queue before it sleeps
  dispatcher_waiting_ = false;
  dispatch_timer_.cancel();
}

// Starts a poll for every due run, earliest first, while fewer than max_active_polls are out;
// sleeps until the next one is due, a new run comes first, or a poll ends at the limit.
awaitable<void> run_tracker::dispatch_polls() {
  const auto limit = settings_.max_active_polls;
  while (!stopping_) {
    const auto now = steady_now();
    while (!due_.empty() && active_polls_ < limit && due_.next_at() <= now) launch(due_.pop());
    if (due_.empty() || active_polls_ >= limit) {
      dispatch_timer_.expires_at(asio::steady_timer::clock_type::time_point::max());
    } else {
      dispatch_timer_.expires_at(due_.next_at());
    }
    dispatcher_waiting_ = true;
    co_await dispatch_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    dispatcher_waiting_ = false;
  }
}

// Makes a pending run due now (a sweep showed it changed): false when that changes nothing.
void run_tracker::poll_first(const run_ptr& run) {
  due_.remove(*run);
  set_due(*run, steady_now());
  run->woken = true;
  queue_run(run);
}

bool run_tracker::poll_now(const run_ptr& run) {
  if (run->stopped) return false;
  if (run->in_poll) {
    const bool fresh = !run->woken_in_poll;
    run->woken_in_poll = true;
    return fresh;
  }
  const auto now = steady_now();
  if (due_time(*run) <= now) return false;
  set_due(*run, now);
  run->woken = true;
  queue_run(run);
  return true;
}

void run_tracker::launch(run_ptr run) {
  ++active_polls_;
  run->in_poll = true;
  auto done = [this, run](std::exception_ptr failure) {
    const bool was_at_limit = active_polls_-- >= settings_.max_active_polls;
    run->in_poll = false;
    if (std::exchange(run->woken_in_poll, false) && !run->stopped) {
      set_due(*run, steady_now());
      run->woken = true;
    }
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const store_failed&) {
        on_fatal_(failure);
      } catch (const std::exception& e) {
        // A bug: the run stays in the store and resumes at the next start; say so loudly.
        spdlog::error("run_id={} poller stopped: {}", run->record.id, e.what());
      }
    } else if (!run->stopped && !stopping_) {
      queue_run(run);
    }
    if (was_at_limit) wake_dispatcher();
  };
  asio::co_spawn(executor_, poll(run), std::move(done));
}

// A run is looked at once more at its deadline (see expire_if_due); if that look fails, its
// retries come up to max_interval past it.
void run_tracker::schedule(tracked_run& run, milliseconds delay) {
  const auto now = steady_now();
  const auto limit = now < run.deadline ? run.deadline : run.deadline + settings_.polling.max_interval;
  set_due(run, now < limit ? std::min(now + delay, limit) : now + delay);
  run.record.updated_at = now_ms();
  dirty_.push_back(run.record.id);
}

// One poll of a due run: it ends with the run finished, stopped, or scheduled for its next poll
// (launch() then puts it back in the queue).
awaitable<void> run_tracker::poll(run_ptr run) {
  auto& r = *run;
  asio::steady_timer wake{executor_};
  r.wake = &wake;
  struct clear_wake {
    tracked_run& r;
    ~clear_wake() { r.wake = nullptr; }
  } clear_on_exit{r};
  // A run a sweep found changed goes ahead of the polls of every other.
  const auto place = std::exchange(r.woken, false) ? request_place::ahead : request_place::in_line;

  if (r.stopped) co_return;
  budget_turn turn{budget_, wake, place, [&r] { return r.stopped; }};
  const run_source::send_turn wait_turn = turn.waiter();
  const auto answer = co_await source_.fetch(r.info, r.record.id, wait_turn, place);
  turn.record(answer.kind, answer.retry_after);
  if (r.stopped) co_return;
  if (turn.abandoned()) {  // the budget is shutting down, or the wait was cut short: try again later
    schedule(r, settings_.polling.fast_interval);
    co_return;
  }
  note_api(answer.kind, answer.error);
  ++counters_.polls;
  ++counters_.answers[answer_name(answer.kind)];
  if (r.stopped) co_return;
  co_await handle_answer(r, answer);
  co_await expire_if_due(r, answer);
}

// A run still pending at its deadline expires once a last poll has shown it unfinished (so one that
// finished since the poll before is delivered as finished), or when Extend could not be asked for
// max_interval past the deadline; that event's reason names the last failure.
awaitable<void> run_tracker::expire_if_due(tracked_run& run, const extend_answer& last_look) {
  const auto now = steady_now();
  if (run.stopped || now < run.deadline) co_return;
  const bool looked = last_look.kind == answer_kind::run || last_look.kind == answer_kind::not_found;
  if (!looked && now < run.deadline + settings_.polling.max_interval) co_return;  // retried meanwhile
  const auto reason =
      looked ? std::string{"deadline passed"} : "deadline passed; Extend could not be asked since: " + last_look.error;
  const auto payload = daemon_event_payload(run.record, reason);
  const bool expired = co_await commit_event(run, expired_event, payload, "expired", true);
  if (!expired) schedule(run, settings_.polling.fast_interval);
}

void run_tracker::note_api(answer_kind kind, const std::string& error) {
  switch (kind) {
    case answer_kind::run:
    case answer_kind::not_found: api_.state = "ok"; return;
    case answer_kind::rate_limited: api_.state = "rate_limited"; break;
    case answer_kind::unauthorized: api_.state = "unauthorized"; break;
    case answer_kind::unreachable: api_.state = "unreachable"; break;
    case answer_kind::retryable:
    case answer_kind::malformed: break;
  }
  api_.last_error = error;
}

// The next poll of a run Extend answered for: a safety net while its kind's feed watches it, else
// the SDK cadence.
milliseconds run_tracker::cadence_delay(const tracked_run& run) const {
  const auto& polling = settings_.polling;
  const auto* feed = feed_for(run.record.kind);
  if (feed != nullptr && relied_on(*feed) && !run.listed_stopped) return safety_delay(*feed);
  return jittered(base_interval(polling, age_of(run)), polling.jitter, random_draw());
}

awaitable<void> run_tracker::handle_answer(tracked_run& run, const extend_answer& answer) {
  auto& record = run.record;
  ++record.polls;
  const auto& polling = settings_.polling;

  switch (answer.kind) {
    case answer_kind::run: {
      run.failures = 0;
      run.not_found_streak = 0;
      run.first_not_found.reset();
      record.status = answer.status;
      record.looked_at = now_ms();
      // A GET that still says in progress after a list said stopped (a lagging replica) keeps
      // the run on the SDK cadence until they agree.
      run.listed_stopped = run.listed_stopped && is_in_progress(answer.status);
      const auto verdict = judge_status(run.info, record.id, answer.status, polling.follow_review);
      if (verdict.event_type && !has_event(record, *verdict.event_type)) {
        const bool done =
            co_await commit_event(run, *verdict.event_type, answer.payload, verdict.outcome, verdict.finished);
        if (done) co_return;
      } else if (verdict.finished) {
        // Its event was made before a restart; nothing new to say, so stop here.
        record.outcome = verdict.outcome;
        const bool done = co_await commit_event(run, {}, {}, verdict.outcome, true);
        if (done) co_return;
      }
      schedule(run, cadence_delay(run));
      co_return;
    }
    case answer_kind::not_found: {
      const auto now = steady_now();
      if (!run.first_not_found) run.first_not_found = now;
      ++run.not_found_streak;
      const auto grace = settings_.not_found_after.value_or(polling.fast_period);
      if (run.not_found_streak >= 3 && now - *run.first_not_found >= grace) {
        const auto payload = daemon_event_payload(record, "Extend answers 404 for this run: " + answer.error);
        const bool done = co_await commit_event(run, not_found_event, payload, "not_found", true);
        if (done) co_return;
      }
      // Briefly unknown runs are usual just after creation: the SDK cadence, list or not.
      schedule(run, jittered(base_interval(polling, age_of(run)), polling.jitter, random_draw()));
      co_return;
    }
    case answer_kind::rate_limited:
    case answer_kind::unauthorized:
      // The budget holds every poller until the pause is over; this run goes first in line again.
      schedule(run, answer.retry_after.value_or(milliseconds{0}));
      co_return;
    case answer_kind::retryable:
    case answer_kind::unreachable:
    case answer_kind::malformed: {
      ++run.failures;
      const auto delay = std::max(retry_delay(polling, run.failures), answer.retry_after.value_or(milliseconds{0}));
      spdlog::warn("run_id={} poll failed ({}), retry in {}ms: {}", record.id, answer_name(answer.kind), delay.count(),
                   answer.error);
      schedule(run, jittered(delay, polling.jitter, random_draw()));
      co_return;
    }
  }
}

awaitable<bool> run_tracker::commit_event(tracked_run& run, std::string_view event_type, std::string_view payload,
                                          std::optional<std::string> outcome, bool finishes) {
  const auto now = now_ms();
  run_outcome change;
  change.run = run.record;
  change.run.outcome = std::move(outcome);
  change.run.updated_at = now;
  if (finishes) {
    change.run.state = run_state::finished;
    change.run.finished_at = now;
    change.run.next_poll_at.reset();
  }
  if (!event_type.empty()) {
    auto event = make_event(change.run, event_type, payload, now);
    for (const auto& sink_name : change.run.sinks) {
      if (!sink_takes(settings_.sink_events, sink_name, event_type)) continue;
      change.new_deliveries.push_back(delivery{.id = event.event_id + ":" + sink_name,
                                               .event_id = event.event_id,
                                               .run_id = run.record.id,
                                               .sink = sink_name,
                                               .state = delivery_state::pending,
                                               .attempts = 0,
                                               .last_error = std::nullopt,
                                               .next_attempt_at = std::nullopt,
                                               .redelivered_at = std::nullopt});
    }
    change.run.events.push_back(event);
    change.run.deliveries.insert(change.run.deliveries.end(), change.new_deliveries.begin(),
                                 change.new_deliveries.end());
    change.new_events.push_back(std::move(event));
  }
  // Cluster: a run let go when the switch went off records nothing more under the lost term (a
  // later term may have loaded it and may record the same news itself).
  if (settings_.cluster && run.stopped) co_return true;
  try {
    co_await store_.record_outcome(change);
  } catch (const store_full& e) {
    spdlog::error("run_id={} cannot record {}: {}; will try again", run.record.id, event_type, e.what());
    co_return false;
  }
  if (run.stopped) co_return true;  // forgotten meanwhile: deliver nothing
  // A subscription may have added sinks while this was recorded (its save, queued after this one,
  // gives them this event too): they stay for the events to come.
  auto sinks_now = std::move(run.record.sinks);
  run.record = std::move(change.run);
  for (auto& name : sinks_now) {
    if (std::ranges::find(run.record.sinks, name) == run.record.sinks.end())
      run.record.sinks.push_back(std::move(name));
  }
  if (!event_type.empty()) {
    ++counters_.events;
    count_subscription_event(run.record);
    const auto& event = run.record.events.back();
    spdlog::info("run_id={} event_id={} event_type={} polls={}", run.record.id, event.event_id, event.event_type,
                 run.record.polls);
    // (Cluster: the run's home takes them from the store.)
    for (const auto& d : change.new_deliveries) {
      if (settings_.cluster) break;
      delivery_job job{.record = d, .event_type = event.event_type, .body = event.body, .home = {}};
      deliveries_.enqueue(std::move(job));
    }
    if (live_) {
      live_->publish(live_event{
          .run_id = run.record.id, .owner_uid = run.record.owner_uid, .event_id = event.event_id, .body = event.body});
    }
    drop_event_bodies(run.record);
  }
  if (finishes) release(run);
  co_return finishes;
}

void run_tracker::release(tracked_run& run) {
  run.stopped = true;
  if (auto* feed = feed_for(run.record.kind)) {
    --feed->runs;
    feed->feed.settle(run.record.id);
  }
  for (auto* waiter : run.waiters) waiter->cancel();
  due_.remove(run);
  pending_.erase(run.record.id);  // the poller's own reference keeps `run` alive until it returns
}

awaitable<std::vector<run_tracker::registered>> run_tracker::register_runs(std::uint32_t owner,
                                                                           std::vector<registration> runs) {
  const auto now = now_ms();
  std::vector<run_record> fresh;
  fresh.reserve(runs.size());
  std::unordered_set<std::string_view> seen;  // a batch of 10,000 must not compare every pair
  seen.reserve(runs.size());
  for (auto& reg : runs) {
    if (pending_.contains(reg.id)) continue;
    if (!seen.insert(reg.id).second) continue;
    run_record record;
    record.id = reg.id;
    record.kind = reg.kind;
    record.owner_uid = owner;
    record.registered_at = now;
    record.updated_at = now;
    record.looked_at = now;
    record.next_poll_at = now;
    record.deadline_at = now + reg.deadline.value_or(settings_.polling.deadline);
    record.sinks = reg.sinks;
    record.context = std::move(reg.context);
    fresh.push_back(std::move(record));
  }
  // (Not a ?: around co_await: g++ 12 frees such a temporary twice.)
  std::vector<bool> inserted;
  if (!fresh.empty()) inserted = co_await store_.insert_runs(fresh);

  std::unordered_set<std::string> launched;
  launched.reserve(fresh.size());
  const auto clocks = read_clocks();
  for (std::size_t i = 0; i < fresh.size(); ++i) {
    if (!inserted[i] || stopping_) continue;
    launched.insert(fresh[i].id);
    ++counters_.registered;
    if (settings_.cluster) continue;  // the poller picks it up from the store
    track_new(std::move(fresh[i]), clocks);
  }
  std::vector<registered> answer;
  answer.reserve(runs.size());
  for (const auto& reg : runs) {
    // The first mention of a run launched here is new; a repeat in the same batch is not.
    const bool is_new = launched.erase(reg.id) > 0;
    auto record = co_await find(reg.id);
    if (record) answer.push_back(registered{std::move(*record), is_new});
  }
  co_return answer;
}

const run_record* run_tracker::pending_record(const std::string& id) const {
  const auto found = pending_.find(id);
  return found == pending_.end() ? nullptr : &found->second->record;
}

awaitable<std::optional<run_record>> run_tracker::find(std::string id) {
  if (const auto* record = pending_record(id); record != nullptr && record->events.empty()) co_return *record;
  auto stored = co_await store_.find_run(id);
  // A pending run with events (a workflow in review): the store has their bodies and the
  // deliveries' states, the record here the progress not saved yet.
  const auto* record = pending_record(id);
  if (!stored || record == nullptr || stored->state != run_state::pending) co_return stored;
  stored->status = record->status;
  stored->polls = record->polls;
  stored->updated_at = record->updated_at;
  stored->next_poll_at = record->next_poll_at;
  co_return stored;
}

awaitable<std::optional<run_record>> run_tracker::wait(std::string id, milliseconds limit) {
  if (settings_.cluster) co_return co_await wait_in_store(std::move(id), steady_now() + limit);
  const auto found = pending_.find(id);
  if (found != pending_.end()) {
    const run_ptr run = found->second;
    asio::steady_timer timer{executor_};
    timer.expires_after(limit);
    run->waiters.push_back(&timer);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    std::erase(run->waiters, &timer);
  }
  co_return co_await find(std::move(id));
}

// Cluster: the run may be polled by another daemon (or here, from the next switch on), so its
// record is read again every store_wait_interval until it is no longer pending or the time is up;
// one polled here wakes its waiter as soon as it finishes.
awaitable<std::optional<run_record>> run_tracker::wait_in_store(std::string id, steady_time until) {
  asio::steady_timer timer{executor_};
  for (;;) {
    auto record = co_await find(id);
    if (!record || record->state != run_state::pending || stopping_ || steady_now() >= until) co_return record;
    timer.expires_at(std::min(until, steady_now() + settings_.store_wait_interval));
    const auto found = pending_.find(id);
    const run_ptr run = found == pending_.end() ? nullptr : found->second;
    if (run) run->waiters.push_back(&timer);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (run) std::erase(run->waiters, &timer);
  }
}

awaitable<bool> run_tracker::forget(std::string id) {
  const auto found = pending_.find(id);
  const bool was_pending = found != pending_.end();
  if (was_pending) {
    const run_ptr run = found->second;
    release(*run);
    if (run->wake) run->wake->cancel();
  }
  const bool deleted = co_await store_.delete_run(id);
  deliveries_.drop_run(id);
  co_return deleted || was_pending;
}

awaitable<bool> run_tracker::retry_delivery(std::string delivery_id) {
  auto job = co_await store_.find_delivery(std::move(delivery_id));
  if (!job) co_return false;
  // Dead, done or pending alike: pending again, due now.
  job->record.state = delivery_state::pending;
  job->record.next_attempt_at.reset();
  job->record.redelivered_at = clock_type::now();  // a fresh max_age window, kept in the store
  co_await store_.update_delivery(job->record);
  if (!settings_.cluster) deliveries_.redeliver(std::move(*job));  // cluster: free in the store, its home takes it
  co_return true;
}

awaitable<void> run_tracker::flush_progress() {
  while (!stopping_) {
    flush_timer_.expires_after(settings_.progress_flush_interval);
    co_await flush_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (dirty_.empty()) continue;
    std::vector<run_progress> progress;
    std::ranges::sort(dirty_);
    const auto [first, last] = std::ranges::unique(dirty_);
    dirty_.erase(first, last);
    for (const auto& id : dirty_) {
      if (const auto* record = pending_record(id)) {
        progress.push_back(run_progress{.run_id = id,
                                        .status = record->status,
                                        .polls = record->polls,
                                        .updated_at = record->updated_at,
                                        .next_poll_at = record->next_poll_at,
                                        .looked_at = record->looked_at});
      }
    }
    dirty_.clear();
    if (progress.empty()) continue;
    std::vector<std::string> ids;
    ids.reserve(progress.size());
    for (const auto& item : progress) ids.push_back(item.run_id);
    try {
      co_await store_.save_progress(std::move(progress));
    } catch (const store_full& e) {
      // Progress is only worth a few polls; keep it for the next flush rather than stop.
      spdlog::warn("cannot save polling progress of {} runs ({}); trying again", ids.size(), e.what());
      dirty_.insert(dirty_.end(), std::make_move_iterator(ids.begin()), std::make_move_iterator(ids.end()));
    }
  }
}

awaitable<void> run_tracker::prune_loop() {
  while (!stopping_) {
    const auto cutoff = now_ms() - settings_.retention;
    try {
      const auto removed = co_await store_.prune_finished(cutoff);
      counters_.pruned += removed;
      if (removed > 0) spdlog::info("pruned {} finished runs past the retention period", removed);
    } catch (const store_full& e) {
      spdlog::warn("cannot prune finished runs ({}); trying again later", e.what());
    }
    prune_timer_.expires_after(settings_.prune_interval);
    co_await prune_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

// Reload: the polling settings and event filters here, the sinks in their queues' owner.
awaitable<void> run_tracker::reconfigure(std::map<std::string, sink*> sinks, polling_config polling,
                                         std::map<std::string, std::vector<std::string>> sink_events,
                                         std::map<std::string, subscription_config> subscriptions) {
  const bool lists_before = settings_.polling.list_endpoints;
  settings_.polling = std::move(polling);
  settings_.sink_events = std::move(sink_events);
  // Switched on (or on again: a list that could not be used gets another chance) or off.
  for (auto& [kind, feed] : feeds_) {
    const bool fed_before = lists_before && feed->usable;
    if (settings_.polling.list_endpoints && !fed_before) refollow(*feed);
    if (!settings_.polling.list_endpoints && fed_before) back_to_cadence(*feed);
  }
  co_await deliveries_.reconfigure(std::move(sinks));
  settings_.subscriptions = std::move(subscriptions);
  apply_subscriptions(settings_.subscriptions);
}

std::map<std::string, std::size_t> run_tracker::pending_by_kind() const {
  std::map<std::string, std::size_t> counts;
  for (const auto& [id, run] : pending_) ++counts[run->record.kind];
  return counts;
}

}  // namespace hookless
