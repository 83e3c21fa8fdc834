// The run lifecycle: register, poll, decide, record durably, deliver.
#include "core/run_tracker.hpp"

#include "core/event_envelope.hpp"
#include "core/poll_schedule.hpp"
#include "core/run_status.hpp"
#include "core/sink.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace hookless {

namespace asio = boost::asio;
using std::chrono::milliseconds;

struct run_tracker::tracked_run {
  tracked_run(asio::any_io_executor executor, run_record r, run_kind_info i)
      : record(std::move(r)), info(i), wake(executor) {}

  run_record record;
  run_kind_info info;
  asio::steady_timer wake;                    // the poller sleeps on it; cancelled to stop it
  std::vector<asio::steady_timer*> waiters;   // wait() callers, woken when the run finishes
  unsigned failures = 0;                      // consecutive polls without a usable answer
  unsigned not_found_streak = 0;
  std::optional<time_point> first_not_found;
  bool stopped = false;                       // forgotten, finished or shutting down
};

namespace {

time_point now_ms() { return std::chrono::floor<milliseconds>(clock_type::now()); }

double random_draw() {
  thread_local std::minstd_rand random{std::random_device{}()};
  return std::uniform_real_distribution<double>(-1.0, 1.0)(random);
}

const char* answer_name(answer_kind kind) {
  switch (kind) {
    case answer_kind::run: return "run";
    case answer_kind::not_found: return "not_found";
    case answer_kind::rate_limited: return "rate_limited";
    case answer_kind::unauthorized: return "unauthorized";
    case answer_kind::retryable: return "error";
    case answer_kind::unreachable: return "unreachable";
    case answer_kind::malformed: return "malformed";
  }
  return "unknown";
}

bool has_event(const run_record& record, std::string_view event_type) {
  return std::ranges::any_of(record.events, [&](const run_event& e) { return e.event_type == event_type; });
}

}  // namespace

run_tracker::run_tracker(asio::any_io_executor executor, state_store& store, run_source& source,
                         request_budget& budget, std::map<std::string, sink*> sinks, tracker_settings settings,
                         fatal_handler on_fatal)
    : executor_(executor),
      store_(store),
      source_(source),
      budget_(budget),
      sinks_(std::move(sinks)),
      settings_(std::move(settings)),
      on_fatal_(std::move(on_fatal)),
      flush_timer_(executor) {
  for (const auto& [name, target] : sinks_) {
    queues_.push_back(std::make_unique<delivery_queue>(executor_, name, *target, store_, delivery_queue::retry_policy{}));
  }
}

run_tracker::~run_tracker() { stop(); }

delivery_queue* run_tracker::queue_for(const std::string& sink_name) {
  const auto found = std::ranges::find_if(queues_, [&](const auto& q) { return q->sink_name() == sink_name; });
  return found == queues_.end() ? nullptr : found->get();
}

void run_tracker::enqueue(delivery_job job) {
  if (auto* queue = queue_for(job.record.sink)) {
    queue->push(std::move(job));
  } else {
    spdlog::warn("delivery waits for sink '{}', which is not configured: event_id={} run_id={}", job.record.sink,
                 job.record.event_id, job.record.run_id);
  }
}

awaitable<void> run_tracker::start() {
  auto pending = co_await store_.load_pending();
  for (auto& record : pending) {
    const auto info = describe_kind(record.kind, settings_.generation);
    if (!info) {
      spdlog::error("run_id={} has kind '{}', which the configured api_version does not serve; it stays pending",
                    record.id, record.kind);
      continue;
    }
    auto run = std::make_shared<tracked_run>(executor_, std::move(record), *info);
    pending_.emplace(run->record.id, run);
    launch(run);
  }
  auto undone = co_await store_.load_undone_deliveries();
  for (auto& job : undone) {
    if (job.record.state == delivery_state::pending) enqueue(std::move(job));
  }
  for (auto& queue : queues_) {
    asio::co_spawn(executor_, queue->run(), [this, name = queue->sink_name()](std::exception_ptr failure) {
      if (failure && !stopping_) on_fatal_(failure);
    });
  }
  asio::co_spawn(executor_, flush_progress(), [this](std::exception_ptr failure) {
    if (failure && !stopping_) on_fatal_(failure);
  });
  spdlog::info("resumed {} pending runs", pending_.size());
}

void run_tracker::stop() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& [id, run] : pending_) {
    run->stopped = true;
    run->wake.cancel();
  }
  for (auto& queue : queues_) queue->stop();
  flush_timer_.cancel();
}

void run_tracker::launch(run_ptr run) {
  asio::co_spawn(executor_, poll(run), [this, id = run->record.id](std::exception_ptr failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const store_failed&) {
      on_fatal_(failure);
    } catch (const std::exception& e) {
      // A bug: the run stays in the store and resumes at the next start; say so loudly.
      spdlog::error("run_id={} poller stopped: {}", id, e.what());
    }
  });
}

void run_tracker::schedule(tracked_run& run, milliseconds delay) {
  const auto now = now_ms();
  run.record.next_poll_at = std::min(now + delay, run.record.deadline_at);
  run.record.updated_at = now;
  dirty_.push_back(run.record.id);
}

awaitable<void> run_tracker::poll(run_ptr run) {
  auto& r = *run;
  while (!r.stopped) {
    const auto due = r.record.next_poll_at.value_or(now_ms());
    r.wake.expires_after(std::max(due - clock_type::now(), clock_type::duration::zero()));
    co_await r.wake.async_wait(asio::as_tuple(asio::use_awaitable));
    if (r.stopped) break;
    if (clock_type::now() < due) continue;  // woken early (budget hand-off leftovers): sleep again

    if (clock_type::now() >= r.record.deadline_at) {
      const auto payload = daemon_event_payload(r.record, "deadline passed");
      if (co_await commit_event(r, expired_event, payload, "expired", true)) break;
      schedule(r, settings_.polling.fast_interval);
      continue;
    }
    if (!co_await budget_.acquire(r.wake)) continue;
    if (r.stopped) break;
    const auto answer = co_await source_.fetch(r.info, r.record.id);
    budget_.record(answer.kind, answer.retry_after);
    note_api(answer);
    ++counters_.polls;
    ++counters_.answers[answer_name(answer.kind)];
    if (r.stopped) break;
    co_await handle_answer(r, answer);
  }
}

void run_tracker::note_api(const extend_answer& answer) {
  switch (answer.kind) {
    case answer_kind::run:
    case answer_kind::not_found:
      api_.state = "ok";
      return;
    case answer_kind::rate_limited: api_.state = "rate_limited"; break;
    case answer_kind::unauthorized: api_.state = "unauthorized"; break;
    case answer_kind::unreachable: api_.state = "unreachable"; break;
    case answer_kind::retryable:
    case answer_kind::malformed: break;
  }
  api_.last_error = answer.error;
}

awaitable<void> run_tracker::handle_answer(tracked_run& run, const extend_answer& answer) {
  auto& record = run.record;
  ++record.polls;
  const auto& polling = settings_.polling;
  const auto age = std::chrono::duration_cast<milliseconds>(clock_type::now() - record.registered_at);
  const auto normal_delay = jittered(base_interval(polling, age), polling.jitter, random_draw());

  switch (answer.kind) {
    case answer_kind::run: {
      run.failures = 0;
      run.not_found_streak = 0;
      run.first_not_found.reset();
      record.status = answer.status;
      const auto verdict = judge_status(run.info, record.id, answer.status, polling.follow_review);
      if (verdict.event_type && !has_event(record, *verdict.event_type)) {
        if (co_await commit_event(run, *verdict.event_type, answer.payload, verdict.outcome, verdict.finished)) co_return;
      } else if (verdict.finished) {
        // Its event was made before a restart; nothing new to say, so stop here.
        record.outcome = verdict.outcome;
        if (co_await commit_event(run, {}, {}, verdict.outcome, true)) co_return;
      }
      schedule(run, normal_delay);
      co_return;
    }
    case answer_kind::not_found: {
      const auto now = now_ms();
      if (!run.first_not_found) run.first_not_found = now;
      ++run.not_found_streak;
      const auto grace = settings_.not_found_after.value_or(polling.fast_period);
      if (run.not_found_streak >= 3 && now - *run.first_not_found >= grace) {
        const auto payload = daemon_event_payload(record, "Extend answers 404 for this run: " + answer.error);
        if (co_await commit_event(run, not_found_event, payload, "not_found", true)) co_return;
      }
      schedule(run, normal_delay);
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
      spdlog::warn("run_id={} poll failed ({}), retry in {}ms: {}", record.id, answer_name(answer.kind),
                   delay.count(), answer.error);
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
    const auto& patterns = settings_.sink_events;
    for (const auto& sink_name : change.run.sinks) {
      const auto filter = patterns.find(sink_name);
      if (filter != patterns.end() && !matches_any(filter->second, event_type)) continue;
      change.new_deliveries.push_back(delivery{.id = event.event_id + ":" + sink_name,
                                               .event_id = event.event_id,
                                               .run_id = run.record.id,
                                               .sink = sink_name,
                                               .state = delivery_state::pending,
                                               .attempts = 0,
                                               .last_error = std::nullopt,
                                               .next_attempt_at = std::nullopt});
    }
    change.run.events.push_back(event);
    change.run.deliveries.insert(change.run.deliveries.end(), change.new_deliveries.begin(),
                                 change.new_deliveries.end());
    change.new_events.push_back(std::move(event));
  }
  try {
    co_await store_.record_outcome(change);
  } catch (const store_full& e) {
    spdlog::error("run_id={} cannot record {}: {}; will try again", run.record.id, event_type, e.what());
    co_return false;
  }
  if (run.stopped) co_return true;  // forgotten meanwhile: deliver nothing
  run.record = std::move(change.run);
  if (!event_type.empty()) {
    ++counters_.events;
    const auto& event = run.record.events.back();
    spdlog::info("run_id={} event_id={} event_type={} polls={}", run.record.id, event.event_id, event.event_type,
                 run.record.polls);
    for (const auto& d : change.new_deliveries) {
      enqueue(delivery_job{.record = d, .event_type = event.event_type, .body = event.body});
    }
  }
  if (finishes) release(run);
  co_return finishes;
}

void run_tracker::release(tracked_run& run) {
  run.stopped = true;
  for (auto* waiter : run.waiters) waiter->cancel();
  pending_.erase(run.record.id);  // the poller's own reference keeps `run` alive until it returns
}

awaitable<std::vector<run_tracker::registered>> run_tracker::register_runs(std::uint32_t owner,
                                                                           std::vector<registration> runs) {
  const auto now = now_ms();
  std::vector<run_record> fresh;
  for (auto& reg : runs) {
    if (pending_.contains(reg.id)) continue;
    if (std::ranges::any_of(fresh, [&](const run_record& r) { return r.id == reg.id; })) continue;
    run_record record;
    record.id = reg.id;
    record.kind = reg.kind;
    record.owner_uid = owner;
    record.registered_at = now;
    record.updated_at = now;
    record.next_poll_at = now;
    record.deadline_at = now + reg.deadline.value_or(settings_.polling.deadline);
    record.sinks = reg.sinks;
    record.context = std::move(reg.context);
    fresh.push_back(std::move(record));
  }
  // (Not a ?: around co_await: g++ 12 frees such a temporary twice.)
  std::vector<bool> inserted;
  if (!fresh.empty()) inserted = co_await store_.insert_runs(fresh);

  std::vector<std::string> launched;
  for (std::size_t i = 0; i < fresh.size(); ++i) {
    if (!inserted[i] || stopping_) continue;
    const auto info = describe_kind(fresh[i].kind, settings_.generation);
    auto run = std::make_shared<tracked_run>(executor_, std::move(fresh[i]), info.value());
    launched.push_back(run->record.id);
    pending_.emplace(run->record.id, run);
    launch(run);
    ++counters_.registered;
  }
  std::vector<registered> answer;
  answer.reserve(runs.size());
  for (const auto& reg : runs) {
    // The first mention of a run launched here is new; a repeat in the same batch is not.
    const auto launched_here = std::ranges::find(launched, reg.id);
    const bool is_new = launched_here != launched.end();
    if (is_new) launched_here->clear();
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
  if (const auto* record = pending_record(id)) co_return *record;
  co_return co_await store_.find_run(std::move(id));
}

awaitable<std::optional<run_record>> run_tracker::wait(std::string id, milliseconds limit) {
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

awaitable<bool> run_tracker::forget(std::string id) {
  const auto found = pending_.find(id);
  const bool was_pending = found != pending_.end();
  if (was_pending) {
    const run_ptr run = found->second;
    release(*run);
    run->wake.cancel();
  }
  const bool deleted = co_await store_.delete_run(id);
  for (auto& queue : queues_) queue->drop_run(id);
  co_return deleted || was_pending;
}

awaitable<bool> run_tracker::retry_delivery(std::string delivery_id) {
  auto job = co_await store_.find_delivery(std::move(delivery_id));
  if (!job || job->record.state != delivery_state::dead) co_return false;
  job->record.state = delivery_state::pending;
  job->record.next_attempt_at.reset();
  co_await store_.update_delivery(job->record);
  enqueue(std::move(*job));
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
                                        .next_poll_at = record->next_poll_at});
      }
    }
    dirty_.clear();
    if (!progress.empty()) co_await store_.save_progress(std::move(progress));
  }
}

}  // namespace hookless
