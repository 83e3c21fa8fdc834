// A subscription's position in one kind's list: what a sweep finds and when it stops.
#include "core/tracking/subscription_sweep.hpp"

#include "core/formats/timestamp.hpp"
#include "core/model/run_status.hpp"

#include <fmt/format.h>

namespace hookless {

subscription_sweep::subscription_sweep(subscription_position saved, std::chrono::milliseconds overlap)
    : overlap_(overlap), saved_(std::move(saved)) {}

subscription_sweep::pass subscription_sweep::begin() const {
  pass p;
  p.first = !saved_.since.has_value();
  if (!p.first) {
    const auto back_to = saved_.position.value_or(*saved_.since);
    p.stop_at = back_to - overlap_;
  }
  p.page_size = last_pages_ > 1 ? large_page : small_page;
  return p;
}

subscription_sweep::page_result subscription_sweep::take_page(pass& p, const std::vector<run_summary>& page,
                                                              bool has_next_page) const {
  page_result result;
  ++p.pages;
  for (const auto& summary : page) {
    if (p.oldest && summary.updated_at > *p.oldest) {
      result.next = after_page::unsorted;
      result.problem = fmt::format("page {} is not sorted by updatedAt, newest first: {} ({}) follows a run updated {}",
                                   p.pages, summary.id, format_time(summary.updated_at), format_time(*p.oldest));
      return result;
    }
    p.oldest = summary.updated_at;
    if (!p.newest) p.newest = summary.updated_at;
    if (p.first) continue;  // everything listed now is history
    if (summary.updated_at < *p.stop_at) {
      result.next = after_page::complete;  // older than the stop point: so is the rest
      return result;
    }
    if (summary.updated_at > *saved_.since && !is_in_progress(summary.status)) result.found.push_back(summary);
  }
  result.next = (p.first || !has_next_page) ? after_page::complete : after_page::next_page;
  return result;
}

subscription_position subscription_sweep::completed(const pass& p, time_point now) const {
  auto next = saved_;
  if (p.first) next.since = p.newest.value_or(time_point{});
  if (p.newest && (!next.position || *p.newest > *next.position)) next.position = p.newest;
  next.swept_at = now;
  return next;
}

void subscription_sweep::saved(subscription_position position, std::size_t pages) {
  saved_ = std::move(position);
  last_pages_ = pages;
}

}  // namespace hookless
