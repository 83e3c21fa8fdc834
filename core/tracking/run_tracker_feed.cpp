// The tracker's change feeds: for each kind with a list endpoint, a loop that sweeps Extend's list
// of recently updated runs every fast_interval while the kind has pending runs (its pages, and the
// polls of the runs it wakes, go ahead of queued polls at every queue: request_place), and makes due
// at once the runs it shows stopped or cannot vouch for; the decisions are change_feed's. A list that cannot serve the
// kind puts its runs back on the SDK cadence; a sweep that fails otherwise is tried again later from the same point,
// and while sweeps keep failing the runs are polled one by one.
#include "core/tracking/run_tracker.hpp"

#include "core/extend/budget_turn.hpp"
#include "core/tracking/poll_schedule.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace hookless {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// A list that keeps failing (5xx, unreachable, garbage) while the budget is not paused for everyone
// (429, a rejected key): this many sweeps in a row put its runs on the SDK cadence until it answers.
constexpr unsigned failed_sweeps_before_fallback = 3;

bool is_list_fault(answer_kind kind) {
  return kind == answer_kind::retryable || kind == answer_kind::unreachable || kind == answer_kind::malformed;
}

}  // namespace

run_tracker::kind_feed* run_tracker::feed_for(std::string_view kind) {
  const auto found = feeds_.find(kind);
  return found == feeds_.end() ? nullptr : found->second.get();
}

const run_tracker::kind_feed* run_tracker::feed_for(std::string_view kind) const {
  const auto found = feeds_.find(kind);
  return found == feeds_.end() ? nullptr : found->second.get();
}

milliseconds run_tracker::safety_delay(const kind_feed& feed) const {
  const auto& polling = settings_.polling;
  return jittered(safety_interval(feed.runs, budget_.rate(), polling.max_interval), polling.jitter, random_draw());
}

run_tracker::steady_time run_tracker::safety_poll_at(const kind_feed& feed, const tracked_run& run) const {
  return std::min(steady_now() + safety_delay(feed), run.deadline);
}

void run_tracker::follow(kind_feed& feed, tracked_run& run, time_point since, bool status_known) {
  feed.feed.watch(run.record.id, since, status_known);
  kick(feed);
}

void run_tracker::kick(kind_feed& feed) {
  if (!feed.idle) return;  // sweeping or pausing: the next sweep comes within fast_interval
  feed.idle = false;
  feed.pause.cancel();
}

// (No co_await in a branch here: g++ 12 corrupted the heap with this loop written that way.)
// The loop owns its feed: when the daemon stops, the suspended loop's frames are destroyed with the
// io_context, after the tracker, and the sweep's clean-up still writes to the feed.
awaitable<void> run_tracker::feed_loop(std::shared_ptr<kind_feed> owned) {
  auto& feed = *owned;
  while (!stopping_) {
    const auto pause = co_await sweep(feed);
    if (stopping_) break;
    feed.pause.expires_after(pause);  // kick() cuts it short
    co_await feed.pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

// One sweep, page by page, when due; returns the pause before the next one (a day while idle).
awaitable<milliseconds> run_tracker::sweep(kind_feed& feed) {
  feed.idle = !feeding(feed) || feed.runs == 0 || stopping_;
  if (feed.idle) co_return std::chrono::hours{24};
  const auto epoch = feed.epoch;
  auto pass = feed.feed.begin_sweep(feed.runs);
  std::vector<std::string> listed;  // our runs it listed
  std::optional<std::string> token;
  asio::steady_timer wake{executor_};
  feed.waiting = &wake;
  struct clear_waiting {
    kind_feed& feed;
    ~clear_waiting() { feed.waiting = nullptr; }
  } clear_on_exit{feed};
  const auto gone = [&] { return stopping_ || feed.epoch != epoch || !feeding(feed); };

  for (;;) {
    budget_turn turn{budget_, wake, request_place::ahead, gone};
    const run_source::send_turn wait_turn = turn.waiter();
    const run_source::page_request request{.max_page_size = pass.page_size, .page_token = token};
    const auto page = co_await source_.list(feed.info, request, wait_turn, request_place::ahead);
    turn.record(page.kind, page.retry_after);
    if (turn.abandoned() || gone()) co_return settings_.polling.fast_interval;
    ++counters_.list_answers[answer_name(page.kind)];
    if (page.unusable) {
      disable_feed(feed, page.error);
      co_return settings_.polling.fast_interval;
    }
    note_api(page.kind, page.error);
    if (page.kind != answer_kind::run) {
      ++feed.failures;
      const auto delay =
          std::max(retry_delay(settings_.polling, feed.failures), page.retry_after.value_or(milliseconds{0}));
      spdlog::warn("list {} failed ({}), next sweep in {}ms: {}", feed.info.path, answer_name(page.kind), delay.count(),
                   page.error);
      if (feed.failures >= failed_sweeps_before_fallback && !feed.failing && is_list_fault(page.kind)) {
        fall_back_while_failing(feed, page.error);
      }
      co_return delay;
    }
    if (feed.failing) {
      feed.failing = false;
      spdlog::info("list {} answers again: its runs are followed through it from their next poll", feed.info.path);
    }
    feed.failures = 0;
    for (const auto& summary : page.runs) take_summary(feed, summary, listed);
    switch (feed.feed.take_page(pass, page.runs, page.next_page_token.has_value())) {
      case change_feed::after_page::next_page: token = page.next_page_token; continue;
      case change_feed::after_page::complete:
        for (const auto& id : feed.feed.complete(pass)) {
          const auto found = pending_.find(id);
          if (found != pending_.end() && poll_now(found->second)) ++counters_.feed_wakes;
        }
        co_return pause_after_sweep(pass.pages);
      case change_feed::after_page::cut_short: {
        // What changed beyond the last page is unknown: every run it did not list gets a GET.
        feed.feed.cut(pass);
        std::ranges::sort(listed);
        std::size_t woken = 0;
        for (const auto& [id, run] : pending_) {
          if (run->record.kind != feed.info.kind || feed.feed.is_unconfirmed(id)) continue;
          if (!std::ranges::binary_search(listed, id) && poll_now(run)) ++woken;
        }
        counters_.feed_wakes += woken;
        spdlog::warn("list {}: more than {} pages to read back; polling the {} runs it did not show", feed.info.path,
                     pass.max_pages, woken);
        co_return pause_after_sweep(pass.pages);
      }
    }
  }
}

// Every sweep of a list, by a change feed or a subscription, shares a quarter of the budget.
milliseconds run_tracker::pause_after_sweep(std::size_t pages) const {
  const auto active_feeds = static_cast<std::size_t>(std::ranges::count_if(
      feeds_, [&](const auto& entry) { return feeding(*entry.second) && entry.second->runs > 0; }));
  return sweep_pause(pages, active_feeds + subscriptions_.size(), budget_.rate(), settings_.polling.fast_interval);
}

void run_tracker::take_summary(kind_feed& feed, const run_summary& summary, std::vector<std::string>& listed) {
  const auto found = pending_.find(summary.id);
  if (found == pending_.end() || found->second->record.kind != feed.info.kind) return;
  const auto& run = found->second;
  listed.push_back(summary.id);
  switch (judge_summary(summary.status, run->record.status)) {
    // Listed with a status we keep: a later change shows up after now. (A run listed as stopped
    // keeps its last look until a GET reads it: its change may be older than the sweep.)
    case summary_action::none:
      run->record.looked_at = now_ms();  // stored with its next progress
      return;
    case summary_action::note_status:
      run->record.status = summary.status;
      run->record.looked_at = now_ms();
      dirty_.push_back(summary.id);
      return;
    case summary_action::wake:
      run->listed_stopped = true;
      if (poll_now(run)) ++counters_.feed_wakes;
      return;
  }
}

void run_tracker::disable_feed(kind_feed& feed, const std::string& reason) {
  feed.usable = false;
  spdlog::warn("list {} cannot be used ({}); its {} pending runs are polled one by one until a restart or reload",
               feed.info.path, reason, feed.runs);
  back_to_cadence(feed);
}

// The kind's runs go back to per-run polling for good (until a restart or reload).
void run_tracker::back_to_cadence(kind_feed& feed) {
  feed.feed = change_feed{};
  ++feed.epoch;
  if (feed.waiting) feed.waiting->cancel();
  spread_polls(feed);
}

// The feed keeps its place and goes on sweeping (at the failure back-off); the runs are polled one
// by one until a sweep succeeds, and from their next poll after that they rely on it again.
void run_tracker::fall_back_while_failing(kind_feed& feed, const std::string& error) {
  feed.failing = true;
  spdlog::warn("list {} failed {} sweeps in a row ({}); its {} pending runs are polled one by one until it answers",
               feed.info.path, feed.failures, error, feed.runs);
  spread_polls(feed);
}

// Every run of the kind gets its next poll within as long as the budget needs for them all, spread
// so they do not queue at once. Runs in a poll find their cadence when it answers.
void run_tracker::spread_polls(const kind_feed& feed) {
  const auto spread = std::max<milliseconds>(
      settings_.polling.fast_interval,
      milliseconds{static_cast<milliseconds::rep>(static_cast<double>(feed.runs) * 1000.0 / budget_.rate())});
  const auto now = steady_now();
  for (const auto& [id, run] : pending_) {
    if (run->record.kind != feed.info.kind || run->in_poll) continue;
    const auto offset = static_cast<double>(spread.count()) * (random_draw() + 1.0) / 2.0;
    const auto at = std::min(now + milliseconds{static_cast<milliseconds::rep>(offset)}, run->deadline);
    if (due_time(*run) <= at) continue;
    set_due(*run, at);
    queue_run(run);
  }
}

// The feed starts over (switched on by a reload, or a disabled one tried again): every pending run
// of the kind is confirmed from its last look. Their polls already planned stay; the next ones
// are safety nets.
void run_tracker::refollow(kind_feed& feed) {
  feed.usable = true;
  feed.failures = 0;
  feed.failing = false;
  feed.feed = change_feed{};
  ++feed.epoch;
  for (const auto& [id, run] : pending_) {
    if (run->record.kind == feed.info.kind) feed.feed.watch(id, run->record.looked_at, run->record.status.has_value());
  }
  kick(feed);
}

}  // namespace hookless
