// Where one subscription stands in one kind's list of runs (sorted by updatedAt, newest first),
// pure: no I/O, and only Extend's clock (the summaries' updatedAt) in the position, so a skewed
// clock here neither skips nor repeats a run.
//
// The first sweep ever reads one page and takes its newest updatedAt as `since`: every run updated
// at or before it is history, never delivered (an empty list: nothing is history). Each later sweep
// pages down from the newest run until a summary older than the position less an overlap (Extend's
// writes may become visible slightly out of updatedAt order), and finds every stopped run (finished,
// NEEDS_REVIEW, any status not known to be in progress) updated after `since` and not older than
// that stop point. Runs in progress cost nothing: when they stop, their updatedAt moves up and a
// later sweep finds them. A run found twice (the overlap, equal updatedAt across pages) is found
// again: saving it is idempotent. Only a sweep that reached its stop point or the end of the list
// moves the position (to the newest updatedAt it read); one that failed or read a page out of order
// leaves it, so the next reads back as far and nothing is skipped.
#pragma once

#include "core/extend/extend_answer.hpp"
#include "core/model/subscription.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace hookless {

class subscription_sweep {
 public:
  static constexpr std::chrono::milliseconds default_overlap{5'000};
  static constexpr std::size_t small_page = 100;   // when the last sweep read one page
  static constexpr std::size_t large_page = 1000;  // catching up (Extend's maximum maxPageSize)

  explicit subscription_sweep(subscription_position saved, std::chrono::milliseconds overlap = default_overlap);

  const subscription_position& position() const { return saved_; }

  struct pass {
    bool first = false;                 // no `since` yet: this sweep sets it
    std::optional<time_point> stop_at;  // page on until a summary older than this
    std::size_t page_size = 0;          // maxPageSize for every page of this sweep (the cursor needs it fixed)
    std::size_t pages = 0;
    std::optional<time_point> newest;  // newest updatedAt read
    std::optional<time_point> oldest;  // the last summary's updatedAt: the next must not be newer
  };
  pass begin() const;

  enum class after_page {
    next_page,  // ask for the next page
    complete,   // the stop point or the end of the list is reached: call completed()
    unsorted,   // a summary newer than the one before it: the list cannot be trusted now; the
                // position stays (the runs found are real and may still be saved)
  };
  struct page_result {
    after_page next = after_page::complete;
    std::vector<run_summary> found;  // stopped runs to deliver, as listed
    std::string problem;             // unsorted: which summaries, for health and the log
  };
  page_result take_page(pass& p, const std::vector<run_summary>& page, bool has_next_page) const;

  // The position after a complete pass (to save with what it found); `now` is our clock, for health.
  subscription_position completed(const pass& p, time_point now) const;
  // The position was saved.
  void saved(subscription_position position, std::size_t pages);

 private:
  std::chrono::milliseconds overlap_;
  subscription_position saved_;
  std::size_t last_pages_ = 2;  // a restart may have a backlog: start with large pages
};

}  // namespace hookless
