// Which of many pending runs changed, from Extend's list of runs sorted by updatedAt (newest
// first): the bookkeeping of one run kind's change feed, pure (no I/O; times passed in).
//
// Each sweep pages down the list until it reaches a summary older than its stop point: the newest
// change the last sweep saw, less an overlap for server write races (Extend's clock throughout), or
// further back for runs the feed has not confirmed yet. A run is unconfirmed from its registration
// (status unknown) or, after a restart or a reload, from its last look (status known). A sweep that
// began after that and read back past it confirms the run: seen, with the listed status (the
// tracker judges it); not seen, it has not changed since, and needs one GET only if its status is
// unknown. These two bounds compare Extend's clock with ours, which is why they keep a margin; a
// skew beyond it costs a GET, or for a known status leaves the change to the safety-net poll.
#pragma once

#include "core/extend/extend_answer.hpp"
#include "core/model/run.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookless {

struct feed_limits {
  std::chrono::milliseconds overlap{5'000};        // re-read behind the newest change seen (write races)
  std::chrono::milliseconds skew_margin{300'000};  // read behind a known status's last look (clock skew)
  std::size_t min_page_size = 100;
  std::size_t max_page_size = 1'000;  // Extend's maximum maxPageSize
};

// What a listed summary means for a run we track.
enum class summary_action {
  none,         // nothing new
  note_status,  // still in progress: keep the listed status, no GET
  wake,         // stopped (finished, NEEDS_REVIEW, anything unknown) and not what we know: GET it now
};
summary_action judge_summary(std::string_view listed_status, const std::optional<std::string>& known_status);

// The long poll a run gets while its kind's feed works: a safety net only, using at most a fifth
// of the budget for all `runs` of the kind, and never more often than every 5 minutes (nor than
// max_interval).
std::chrono::milliseconds safety_interval(std::size_t runs, double requests_per_second,
                                          std::chrono::milliseconds max_interval);

// The pause after a sweep of `pages` pages: fast_interval, or longer so that the sweeps of all
// `active_feeds` kinds together take at most a quarter of the budget (they go ahead of polls, and a
// backlog of GETs must still move).
std::chrono::milliseconds sweep_pause(std::size_t pages, std::size_t active_feeds, double requests_per_second,
                                      std::chrono::milliseconds fast_interval);

class change_feed {
 public:
  explicit change_feed(feed_limits limits = {});

  // A run to confirm, unconfirmed since `since` (our clock): its registration (status unknown) or
  // its last look (status known). A run whose status is known needs nothing when unlisted, so only
  // how far back the next sweep reads is kept for it (100,000 resumed runs cost no memory here).
  void watch(std::string id, time_point since, bool status_known);
  // The run needs no confirmation any more (a GET answered, it finished, it was forgotten).
  void settle(std::string_view id);
  std::size_t unconfirmed() const { return unconfirmed_.size(); }
  bool is_unconfirmed(std::string_view id) const;

  struct sweep {
    std::uint64_t number = 0;
    std::optional<time_point> stop_at;  // page on until a summary older than this; none: one page
    std::size_t page_size = 0;          // maxPageSize for every page of this sweep
    std::size_t max_pages = 0;          // beyond this the sweep is cut short
    std::size_t pages = 0;
    std::size_t fresh = 0;             // summaries at or after stop_at
    std::optional<time_point> newest;  // newest updatedAt read
  };
  // A sweep over a kind with `tracked_runs` pending runs (which bounds how far it pages: a walk
  // costs pages, polling every run instead costs one GET each).
  sweep begin_sweep(std::size_t tracked_runs);

  enum class after_page {
    next_page,  // ask for the next page
    complete,   // the stop point or the end of the list is reached: call complete()
    cut_short,  // max_pages read and more to go: call cut()
  };
  // Takes one page (its summaries were handed to the tracker): confirms the unconfirmed runs it lists.
  after_page take_page(sweep& s, const std::vector<run_summary>& page, bool has_next_page);

  // The sweep reached its stop point or the end of the list: the next one reads back to the newest
  // change it saw, less the overlap. Returns the runs it confirmed unseen whose status is unknown:
  // each needs one GET.
  std::vector<std::string> complete(const sweep& s);
  // The sweep stopped at max_pages: what changed beyond its last page is unknown, so every tracked
  // run it did not list needs a GET (the caller does that); the feed goes on from the newest change.
  void cut(const sweep& s);
  // A sweep that failed changes nothing: the next one reads back as far.

 private:
  struct unconfirmed_run {  // status unknown
    time_point since;
    std::uint64_t watched_before = 0;  // the first sweep that began after the watch
  };
  void advance(const sweep& s);  // after a sweep that reached its stop point, or was cut short
  // Whether a sweep (begun as number `sweep_number`) can confirm the run.
  static bool covers(std::uint64_t sweep_number, const unconfirmed_run& run) {
    return sweep_number >= run.watched_before;
  }

  feed_limits limits_;
  std::optional<time_point> read_back_to_;  // Extend's clock
  std::size_t last_fresh_ = 0;
  std::uint64_t sweeps_begun_ = 0;
  std::optional<time_point> catch_up_;  // for runs with a known status: read back at least to here...
  std::uint64_t catch_up_before_ = 0;   // ...in a sweep begun as this number or later
  std::map<std::string, unconfirmed_run, std::less<>> unconfirmed_;
};

}  // namespace hookless
