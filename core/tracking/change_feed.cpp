// The change feed's decisions: how far a sweep reads, when it stops, what it confirms.
#include "core/tracking/change_feed.hpp"

#include "core/model/run_status.hpp"

#include <algorithm>

namespace hookless {

using std::chrono::milliseconds;

summary_action judge_summary(std::string_view listed_status, const std::optional<std::string>& known_status) {
  if (known_status && *known_status == listed_status) return summary_action::none;
  return is_in_progress(listed_status) ? summary_action::note_status : summary_action::wake;
}

milliseconds safety_interval(std::size_t runs, double requests_per_second, milliseconds max_interval) {
  constexpr milliseconds shortest{300'000};
  constexpr double share_of_budget = 0.2;
  const auto spread = milliseconds{
      static_cast<milliseconds::rep>(static_cast<double>(runs) * 1000.0 / (requests_per_second * share_of_budget))};
  return std::max({shortest, max_interval, spread});
}

milliseconds sweep_pause(std::size_t pages, std::size_t active_feeds, double requests_per_second,
                         milliseconds fast_interval) {
  constexpr double share_of_budget = 0.25;
  const double requests = static_cast<double>(std::max<std::size_t>(pages, 1) * std::max<std::size_t>(active_feeds, 1));
  const auto spread =
      milliseconds{static_cast<milliseconds::rep>(requests * 1000.0 / (requests_per_second * share_of_budget))};
  return std::max(fast_interval, spread);
}

change_feed::change_feed(feed_limits limits) : limits_(limits) {}

void change_feed::watch(std::string id, time_point since, bool status_known) {
  if (status_known) {
    const auto bound = since - limits_.skew_margin;
    catch_up_ = catch_up_ ? std::min(*catch_up_, bound) : bound;
    catch_up_before_ = sweeps_begun_ + 1;
    return;
  }
  unconfirmed_.insert_or_assign(std::move(id), unconfirmed_run{.since = since, .watched_before = sweeps_begun_ + 1});
}

void change_feed::settle(std::string_view id) {
  if (const auto found = unconfirmed_.find(id); found != unconfirmed_.end()) unconfirmed_.erase(found);
}

bool change_feed::is_unconfirmed(std::string_view id) const { return unconfirmed_.find(id) != unconfirmed_.end(); }

change_feed::sweep change_feed::begin_sweep(std::size_t tracked_runs) {
  sweep s;
  s.number = ++sweeps_begun_;
  s.stop_at = read_back_to_;
  bool reads_further = !read_back_to_.has_value();
  const auto pull_back = [&](time_point bound) {
    if (s.stop_at && *s.stop_at <= bound) return;
    s.stop_at = bound;
    reads_further = true;
  };
  if (catch_up_) pull_back(*catch_up_);
  for (const auto& [id, run] : unconfirmed_) pull_back(run.since - limits_.overlap);
  // A sweep that only follows the feed needs about as many summaries as the last one read fresh.
  s.page_size = reads_further ? limits_.max_page_size
                              : std::clamp(2 * last_fresh_ + 10, limits_.min_page_size, limits_.max_page_size);
  // Paging costs a request per page, polling every run instead one per run: page on while that is
  // at most a tenth of it.
  s.max_pages = std::clamp<std::size_t>(tracked_runs / 10, 20, 500);
  return s;
}

change_feed::after_page change_feed::take_page(sweep& s, const std::vector<run_summary>& page, bool has_next_page) {
  ++s.pages;
  bool reached = !s.stop_at.has_value();
  for (const auto& summary : page) {
    if (!s.newest || summary.updated_at > *s.newest) s.newest = summary.updated_at;
    if (s.stop_at && summary.updated_at < *s.stop_at) {
      reached = true;
    } else {
      ++s.fresh;
    }
    // Any summary is the run's state as the sweep read it, older than the stop point or not.
    const auto found = unconfirmed_.find(summary.id);
    if (found != unconfirmed_.end() && covers(s.number, found->second)) unconfirmed_.erase(found);
  }
  if (reached || !has_next_page) return after_page::complete;
  return s.pages >= s.max_pages ? after_page::cut_short : after_page::next_page;
}

void change_feed::advance(const sweep& s) {
  if (s.newest) {
    const auto next = *s.newest - limits_.overlap;
    read_back_to_ = read_back_to_ ? std::max(*read_back_to_, next) : next;
  }
  last_fresh_ = s.fresh;
  if (s.number >= catch_up_before_) catch_up_.reset();
}

std::vector<std::string> change_feed::complete(const sweep& s) {
  advance(s);
  std::vector<std::string> to_get;
  for (auto it = unconfirmed_.begin(); it != unconfirmed_.end();) {
    if (!covers(s.number, it->second)) {
      ++it;
      continue;
    }
    to_get.push_back(it->first);
    it = unconfirmed_.erase(it);
  }
  return to_get;
}

void change_feed::cut(const sweep& s) {
  advance(s);
  std::erase_if(unconfirmed_, [&](const auto& entry) { return covers(s.number, entry.second); });
}

}  // namespace hookless
