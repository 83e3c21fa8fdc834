// The tracker's subscriptions: for each subscription and each of its kinds, a loop that sweeps the
// kind's list of recently updated runs (subscription_sweep decides how far and what it finds), saves
// the stopped runs it finds with the new position in one transaction, and tracks the new ones like
// registered runs: one GET each for the output (ahead at every queue), then events and deliveries as
// usual. A run it lists that is already tracked is woken when its listed status is news. Its pages and
// GETs share the one budget; busy, a kind is swept every fast_interval (within a quarter of the
// budget for all sweeps), idle, less and less often, down to once every idle_sweep_cap. A list that
// fails, refuses or serves a page out of order leaves the position where it is: the loop says so in
// health and the log, backs off and reads back as far again, so no run is skipped. Several daemons:
// only the poller sweeps, from the position in the store (read again each time it becomes the poller).
#include "core/tracking/run_tracker.hpp"

#include "core/extend/budget_turn.hpp"
#include "core/tracking/poll_schedule.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <unordered_set>

namespace hookless {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// An idle kind (its last sweep found nothing) is swept less often, down to this times fast_interval.
constexpr int idle_sweep_cap = 8;

subscription_position fresh_position(const std::string& subscription, const std::string& kind) {
  subscription_position position;
  position.subscription = subscription;
  position.kind = kind;
  return position;
}

}  // namespace

run_tracker::subscription_loop::subscription_loop(subscription_config c, run_kind_info i, subscription_position saved,
                                                  asio::any_io_executor executor)
    : config(std::move(c)), info(i), sweep(std::move(saved)), pause(executor) {
  status.subscription = config.name;
  status.kind = info.kind;
}

std::vector<subscription_status> run_tracker::subscription_statuses() const {
  std::vector<subscription_status> statuses;
  statuses.reserve(subscriptions_.size());
  for (const auto& [key, loop] : subscriptions_) {
    auto status = loop->status;
    status.position = loop->sweep.position().position;
    status.swept_at = loop->sweep.position().swept_at;
    if (settings_.cluster && !polling_) status.state = "standby";
    statuses.push_back(std::move(status));
  }
  return statuses;
}

// Creates the loops the config wants and ends those it no longer does (their positions are
// forgotten: adding one back starts afresh). A loop kept keeps its position and takes the new sinks.
void run_tracker::apply_subscriptions(const std::map<std::string, subscription_config>& wanted) {
  std::map<subscription_key, const subscription_config*> keys;
  for (const auto& [name, config] : wanted) {
    for (const auto& kind : config.kinds) keys.emplace(subscription_key{name, kind}, &config);
  }
  for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
    if (keys.contains(it->first)) {
      it->second->config = *keys.at(it->first);
      ++it;
      continue;
    }
    end_subscription_loop(*it->second);
    spdlog::info("subscription {}: no longer sweeps {}; its position is forgotten", it->first.first, it->first.second);
    if (!settings_.cluster || polling_) {
      const auto on_failure = [](std::exception_ptr failure) {
        if (!failure) return;
        try {
          std::rethrow_exception(failure);
        } catch (const std::exception& e) {
          spdlog::warn("cannot forget a removed subscription's position: {}", e.what());
        }
      };
      asio::co_spawn(executor_, store_.drop_subscription_position(it->first.first, it->first.second), on_failure);
    }
    it = subscriptions_.erase(it);
  }
  const auto on_failure = [this](std::exception_ptr failure) {
    if (failure && !stopping_) on_fatal_(failure);
  };
  for (const auto& [key, config] : keys) {
    if (subscriptions_.contains(key)) continue;
    const auto info = describe_kind(key.second, settings_.generation);
    if (!info || !info->listable) {
      spdlog::error("subscription {}: kind {} has no list endpoint in this api_version; not swept", key.first,
                    key.second);
      continue;
    }
    auto loop = std::make_shared<subscription_loop>(*config, *info, fresh_position(key.first, key.second), executor_);
    subscriptions_.emplace(key, loop);
    asio::co_spawn(executor_, subscription_loop_run(loop), on_failure);
  }
}

void run_tracker::end_subscription_loop(subscription_loop& loop) {
  loop.removed = true;
  loop.pause.cancel();
  if (loop.waiting) loop.waiting->cancel();
}

// The saved positions of the loops that have none loaded (at start; a loop added by a reload;
// cluster: each time this daemon becomes the poller, as the last poller left them). A loop the store
// has none for starts afresh. False when the store cannot answer now.
awaitable<bool> run_tracker::load_subscription_positions() {
  if (std::ranges::all_of(subscriptions_, [](const auto& entry) { return entry.second->loaded; })) co_return true;
  std::vector<subscription_position> positions;
  try {
    positions = co_await store_.load_subscription_positions();
  } catch (const store_full& e) {
    spdlog::warn("cannot read the subscriptions' positions ({}); trying again", e.what());
    co_return false;
  }
  for (auto& [key, loop] : subscriptions_) {
    if (loop->loaded) continue;
    const auto saved = std::ranges::find_if(
        positions, [&](const subscription_position& p) { return p.subscription == key.first && p.kind == key.second; });
    loop->sweep = subscription_sweep{saved == positions.end() ? fresh_position(key.first, key.second) : *saved};
    loop->recently_found.clear();
    loop->loaded = true;
    ++loop->epoch;
  }
  co_return true;
}

// (No co_await in a branch here: g++ 12 corrupted the heap with such loops; see feed_loop.)
awaitable<void> run_tracker::subscription_loop_run(std::shared_ptr<subscription_loop> owned) {
  auto& loop = *owned;
  while (!stopping_ && !loop.removed) {
    const auto pause = co_await sweep_subscription(loop);
    if (stopping_ || loop.removed) break;
    loop.pause.expires_after(pause);
    co_await loop.pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

// One sweep, page by page; returns the pause before the next one (a day while not sweeping).
awaitable<milliseconds> run_tracker::sweep_subscription(subscription_loop& loop) {
  if (!polling_ || stopping_) co_return std::chrono::hours{24};
  const bool ready = co_await load_subscription_positions();
  if (!ready) co_return subscription_failed(loop, "cannot read its position from the store", std::nullopt);
  if (!polling_ || stopping_ || loop.removed) co_return std::chrono::hours{24};
  const auto epoch = loop.epoch;
  auto pass = loop.sweep.begin();
  std::vector<run_summary> found;
  std::optional<std::string> token;
  asio::steady_timer wake{executor_};
  loop.waiting = &wake;
  struct clear_waiting {
    subscription_loop& loop;
    ~clear_waiting() { loop.waiting = nullptr; }
  } clear_on_exit{loop};
  const auto gone = [&] { return stopping_ || loop.removed || loop.epoch != epoch || !polling_; };

  for (;;) {
    budget_turn turn{budget_, wake, request_place::ahead, gone};
    const run_source::page_request request{.max_page_size = pass.page_size, .page_token = token};
    const auto page = co_await source_.list(loop.info, request, turn.waiter(), request_place::ahead);
    turn.record(page.kind, page.retry_after);
    if (turn.abandoned() || gone()) co_return settings_.polling.fast_interval;
    ++counters_.list_answers[answer_name(page.kind)];
    ++loop.status.pages;
    if (!page.unusable) note_api(page.kind, page.error);
    if (page.kind != answer_kind::run || page.unusable) {
      co_return subscription_failed(
          loop, fmt::format("list {} failed ({}): {}", loop.info.path, answer_name(page.kind), page.error),
          page.retry_after);
    }
    for (const auto& summary : page.runs) note_listed(loop.info, summary);
    auto result = loop.sweep.take_page(pass, page.runs, page.next_page_token.has_value());
    found.insert(found.end(), result.found.begin(), result.found.end());
    if (result.next == subscription_sweep::after_page::next_page) {
      token = page.next_page_token;
      continue;
    }
    // Unsorted: what was found is real and is saved, at the old position; the next sweep reads back as far.
    const bool complete = result.next == subscription_sweep::after_page::complete;
    auto position = complete ? loop.sweep.completed(pass, now_ms()) : loop.sweep.position();
    const bool found_any = !found.empty();
    const bool saved = co_await save_found(loop, std::move(found), position);
    if (gone()) co_return settings_.polling.fast_interval;
    if (!complete) co_return subscription_failed(loop, result.problem, std::nullopt);
    if (!saved) {
      co_return subscription_failed(loop, "cannot save what it found: " + loop.status.last_error.value_or("?"),
                                    std::nullopt);
    }
    loop.sweep.saved(std::move(position), pass.pages);
    ++loop.status.sweeps;
    if (loop.status.state != "ok" && loop.failures > 0) {
      spdlog::info("subscription {}: list {} answers again; swept back to its position, nothing skipped",
                   loop.config.name, loop.info.path);
    }
    loop.failures = 0;
    loop.status.state = "ok";
    loop.status.last_error.reset();
    co_return pause_after_subscription_sweep(loop, pass.pages, found_any);
  }
}

// Saves the runs found (those not saved at this updatedAt before) with the position; false if the
// store cannot take them now (the position stays; the next sweep finds them again).
awaitable<bool> run_tracker::save_found(subscription_loop& loop, std::vector<run_summary> found,
                                        subscription_position position) {
  const auto now = now_ms();
  subscription_finds finds;
  finds.position = std::move(position);
  finds.sink_events = settings_.sink_events;
  std::vector<std::pair<std::string, time_point>> noted;
  std::unordered_set<std::string_view> in_batch;  // a run found twice in one sweep (equal updatedAt on two pages)
  for (const auto& summary : found) {
    const auto seen = loop.recently_found.find(summary.id);
    if (seen != loop.recently_found.end() && seen->second == summary.updated_at) continue;
    if (!in_batch.insert(summary.id).second) continue;
    // A run tracked here gains the subscription's sinks now, before the save is queued: an event
    // recorded from now on goes to them, and one whose recording is queued already is given to them
    // by the save (the store takes both in the order they were asked).
    if (const auto tracked = pending_.find(summary.id); tracked != pending_.end()) {
      auto& sinks = tracked->second->record.sinks;
      for (const auto& name : loop.config.sinks) {
        if (std::ranges::find(sinks, name) == sinks.end()) sinks.push_back(name);
      }
    }
    run_record record;
    record.id = summary.id;
    record.kind = loop.info.kind;
    record.owner_uid = no_owner_uid;
    record.registered_at = now;
    record.updated_at = now;
    record.looked_at = now;
    record.next_poll_at = now;
    record.deadline_at = now + settings_.polling.deadline;
    record.sinks = loop.config.sinks;
    record.subscription = loop.config.name;
    finds.runs.push_back(std::move(record));
    noted.emplace_back(summary.id, summary.updated_at);
  }
  const auto& before = loop.sweep.position();
  const bool moved = finds.position.position != before.position || finds.position.since != before.since;
  if (finds.runs.empty() && !moved) co_return true;  // nothing new to keep (its age is shown from memory)
  std::vector<found_run> saved;
  try {
    saved = co_await store_.save_finds(std::move(finds));
  } catch (const store_full& e) {  // lease_lost too: the switch goes off meanwhile
    loop.status.last_error = e.what();
    co_return false;
  }
  for (auto& [id, updated_at] : noted) loop.recently_found.insert_or_assign(std::move(id), updated_at);
  // Only runs the overlap may list again are worth remembering.
  const auto keep_after = loop.sweep.begin().stop_at;
  if (keep_after) std::erase_if(loop.recently_found, [&](const auto& entry) { return entry.second < *keep_after; });
  take_found(loop, std::move(saved));
  co_return true;
}

// New runs start their polls (a GET first, ahead of queued polls); a known run that gained sinks
// (in memory already, if tracked here) has its events so far delivered to them.
void run_tracker::take_found(subscription_loop& loop, std::vector<found_run> saved) {
  const auto clocks = read_clocks();
  for (auto& result : saved) {
    if (result.what == found_run::result::unchanged) continue;
    ++loop.status.runs_found;
    if (result.what == found_run::result::inserted) {
      if (pending_.contains(result.run.id) || (settings_.cluster && !polling_)) continue;
      const auto id = result.run.id;
      track_new(std::move(result.run), clocks);
      poll_first(pending_.at(id));
      continue;
    }
    if (settings_.cluster) continue;  // (the run's home takes the new deliveries from the store)
    for (auto& job : result.new_jobs) deliveries_.enqueue(std::move(job));
  }
}

milliseconds run_tracker::subscription_failed(subscription_loop& loop, const std::string& error,
                                              std::optional<milliseconds> retry_after) {
  ++loop.failures;
  const auto delay = std::max(retry_delay(settings_.polling, loop.failures), retry_after.value_or(milliseconds{0}));
  if (loop.status.state != "failing" || loop.status.last_error != error) {
    spdlog::warn("subscription {}: sweep of {} failed, position kept, next try in {}ms: {}", loop.config.name,
                 loop.info.kind, delay.count(), error);
  }
  loop.status.state = "failing";
  loop.status.last_error = error;
  return delay;
}

// Busy (it found runs, or needed more than a page): again after fast_interval; idle: twice as long
// each time, up to idle_sweep_cap times it. Never more often than a quarter of the budget allows for
// all sweeps together.
milliseconds run_tracker::pause_after_subscription_sweep(subscription_loop& loop, std::size_t pages, bool found) {
  const auto fast = settings_.polling.fast_interval;
  loop.idle_pause =
      (found || pages > 1 || loop.idle_pause < fast) ? fast : std::min(loop.idle_pause * 2, fast * idle_sweep_cap);
  return std::max(loop.idle_pause, pause_after_sweep(pages));
}

// A listed run we track already (registered, or found earlier and still watched, like a workflow in
// review): its change is news to the tracker too.
void run_tracker::note_listed(const run_kind_info& info, const run_summary& summary) {
  const auto found = pending_.find(summary.id);
  if (found == pending_.end() || found->second->record.kind != info.kind) return;
  if (judge_summary(summary.status, found->second->record.status) == summary_action::wake && poll_now(found->second)) {
    ++counters_.feed_wakes;
  }
}

void run_tracker::count_subscription_event(const run_record& run) {
  if (!run.subscription) return;
  const auto found = subscriptions_.find(subscription_key{*run.subscription, run.kind});
  if (found != subscriptions_.end()) ++found->second->status.events;
}

}  // namespace hookless
