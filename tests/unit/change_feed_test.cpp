// The change feed's pure decisions: how far a sweep reads back (watermark, overlap, unconfirmed
// runs), when paging stops, which runs it wakes or leaves alone, and which need a GET.
#include "core/tracking/change_feed.hpp"

#include <gtest/gtest.h>

namespace hookless {
namespace {

using namespace std::chrono_literals;

const time_point t0 = std::chrono::sys_days{std::chrono::year{2026} / 3 / 1};

run_summary summary(std::string id, std::string status, time_point updated_at) {
  return run_summary{.id = std::move(id), .status = std::move(status), .updated_at = updated_at};
}

TEST(change_feed, judges_summaries_like_the_sdk_rule) {
  EXPECT_EQ(judge_summary("PROCESSING", std::string{"PROCESSING"}), summary_action::none);
  EXPECT_EQ(judge_summary("PROCESSING", std::string{"PENDING"}), summary_action::note_status);
  EXPECT_EQ(judge_summary("PENDING", std::nullopt), summary_action::note_status);
  EXPECT_EQ(judge_summary("CANCELLING", std::string{"PROCESSING"}), summary_action::note_status);
  EXPECT_EQ(judge_summary("PROCESSED", std::string{"PROCESSING"}), summary_action::wake);
  EXPECT_EQ(judge_summary("PROCESSED", std::nullopt), summary_action::wake);
  EXPECT_EQ(judge_summary("NEEDS_REVIEW", std::string{"PROCESSING"}), summary_action::wake);
  EXPECT_EQ(judge_summary("SOMETHING_NEW", std::string{"PROCESSING"}), summary_action::wake);
  // Already known (a workflow run watched after NEEDS_REVIEW): no GET until it changes again.
  EXPECT_EQ(judge_summary("NEEDS_REVIEW", std::string{"NEEDS_REVIEW"}), summary_action::none);
  EXPECT_EQ(judge_summary("REJECTED", std::string{"NEEDS_REVIEW"}), summary_action::wake);
}

TEST(change_feed, safety_polls_take_a_fifth_of_the_budget_at_most) {
  EXPECT_EQ(safety_interval(10'000, 10, 30s), 5'000s);  // 10,000 polls in 5,000 s = 2/s of 10/s
  EXPECT_EQ(safety_interval(100, 10, 30s), 5min);
  EXPECT_EQ(safety_interval(100, 10, 1h), 1h);
  EXPECT_EQ(safety_interval(0, 10, 30s), 5min);
}

TEST(change_feed, sweeps_take_a_quarter_of_the_budget_at_most) {
  EXPECT_EQ(sweep_pause(1, 1, 10, 1s), 1s);
  EXPECT_EQ(sweep_pause(1, 1, 10, 100ms), 400ms) << "at 10/s a sweep every 100 ms would take every turn";
  EXPECT_EQ(sweep_pause(3, 2, 10, 1s), 2400ms);
  EXPECT_EQ(sweep_pause(1, 1, 1000, 100ms), 100ms);
  EXPECT_EQ(sweep_pause(0, 0, 10, 100ms), 400ms);
}

// Registered runs: the first sweep reads back past the earliest registration less the overlap; a
// run seen is confirmed with its listed status; one not seen needs one GET.
TEST(change_feed, unconfirmed_runs_are_confirmed_by_a_sweep_that_reads_back_past_them) {
  change_feed feed;
  feed.watch("exr_a", t0 + 10s, false);
  feed.watch("exr_b", t0 + 12s, false);
  feed.watch("exr_c", t0 + 11s, false);
  auto s = feed.begin_sweep(3);
  ASSERT_TRUE(s.stop_at);
  EXPECT_EQ(*s.stop_at, t0 + 5s);
  EXPECT_EQ(s.page_size, 1'000U);
  EXPECT_EQ(s.max_pages, 20U);

  EXPECT_EQ(feed.take_page(s, {summary("exr_z", "PROCESSED", t0 + 30s), summary("exr_a", "PROCESSED", t0 + 20s)}, true),
            change_feed::after_page::next_page);
  EXPECT_FALSE(feed.is_unconfirmed("exr_a"));
  EXPECT_EQ(feed.take_page(s, {summary("exr_b", "PROCESSING", t0 + 6s), summary("exr_y", "FAILED", t0 + 4s)}, true),
            change_feed::after_page::complete)
      << "a summary older than the stop point ends the sweep";
  EXPECT_EQ(feed.complete(s), std::vector<std::string>{"exr_c"});
  EXPECT_EQ(feed.unconfirmed(), 0U);

  // Then it follows the feed: back to the newest change less the overlap, with small pages.
  const auto next = feed.begin_sweep(3);
  EXPECT_EQ(next.stop_at, t0 + 25s);
  EXPECT_EQ(next.page_size, 100U);
}

TEST(change_feed, the_end_of_the_list_completes_a_sweep) {
  change_feed feed;
  feed.watch("exr_a", t0, false);
  auto s = feed.begin_sweep(1);
  EXPECT_EQ(feed.take_page(s, {summary("exr_q", "PENDING", t0 + 1s)}, false), change_feed::after_page::complete);
  EXPECT_EQ(feed.complete(s), std::vector<std::string>{"exr_a"});
}

// A run registered while a sweep is under way may have changed after that sweep's pages were read:
// neither a sighting nor an absence in it says anything.
TEST(change_feed, a_sweep_confirms_nothing_watched_after_it_began) {
  change_feed feed;
  feed.watch("exr_old", t0, false);
  auto s = feed.begin_sweep(2);
  feed.watch("exr_new", t0 + 1s, false);
  EXPECT_EQ(feed.take_page(s, {summary("exr_new", "PROCESSING", t0 + 2s)}, false), change_feed::after_page::complete);
  EXPECT_EQ(feed.complete(s), std::vector<std::string>{"exr_old"});
  EXPECT_TRUE(feed.is_unconfirmed("exr_new"));

  auto again = feed.begin_sweep(1);
  EXPECT_EQ(again.stop_at, t0 + 1s - 5s) << "the new run pulls the stop point back";
  EXPECT_EQ(feed.take_page(again, {}, false), change_feed::after_page::complete);
  EXPECT_EQ(feed.complete(again), std::vector<std::string>{"exr_new"});
}

// After a restart the runs' statuses are known as of their last look: the catch-up sweep reads
// back past it with the clock-skew margin, and a run it does not list has not changed: no GET.
TEST(change_feed, runs_with_a_known_status_need_no_get_when_unchanged) {
  change_feed feed;
  feed.watch("exr_a", t0 + 1h, true);
  feed.watch("exr_b", t0 + 2h, true);
  feed.watch("exr_c", t0 + 2h, false);  // resumed before its first poll
  auto s = feed.begin_sweep(3);
  EXPECT_EQ(s.stop_at, t0 + 1h - 5min);
  EXPECT_EQ(feed.take_page(s, {summary("exr_b", "PROCESSED", t0 + 3h), summary("exr_x", "PENDING", t0)}, true),
            change_feed::after_page::complete);
  EXPECT_EQ(feed.complete(s), std::vector<std::string>{"exr_c"});
}

TEST(change_feed, a_failed_sweep_changes_nothing) {
  change_feed feed;
  feed.watch("exr_a", t0, false);
  auto first = feed.begin_sweep(1);
  EXPECT_EQ(feed.take_page(first, {summary("exr_q", "PENDING", t0 + 10s)}, true), change_feed::after_page::next_page);
  // (The next page failed: the sweep is dropped.)
  auto retry = feed.begin_sweep(1);
  EXPECT_EQ(retry.stop_at, first.stop_at);
  EXPECT_TRUE(feed.is_unconfirmed("exr_a"));
}

// A walk longer than the page bound stops there: the caller polls what it did not list.
TEST(change_feed, a_walk_beyond_the_page_bound_is_cut_short) {
  change_feed feed;
  feed.watch("exr_a", t0, true);
  feed.watch("exr_b", t0, true);
  auto s = feed.begin_sweep(5);
  ASSERT_EQ(s.max_pages, 20U);
  for (int page = 1; page < 20; ++page) {
    ASSERT_EQ(feed.take_page(
                  s, {summary("exr_q" + std::to_string(page), "PENDING", t0 + 1h - std::chrono::seconds{page})}, true),
              change_feed::after_page::next_page);
  }
  EXPECT_EQ(feed.take_page(s, {summary("exr_b", "PROCESSING", t0 + 10min)}, true), change_feed::after_page::cut_short);
  feed.cut(s);
  EXPECT_EQ(feed.unconfirmed(), 0U);
  EXPECT_EQ(feed.begin_sweep(5).stop_at, t0 + 1h - 1s - 5s) << "goes on from the newest change";
  EXPECT_EQ(feed.begin_sweep(50'000).max_pages, 500U);
  EXPECT_EQ(feed.begin_sweep(1'000).max_pages, 100U);
}

TEST(change_feed, the_watermark_never_moves_back_and_an_empty_list_keeps_it) {
  change_feed feed;
  feed.watch("exr_a", t0, false);
  auto s = feed.begin_sweep(1);
  feed.take_page(s, {summary("exr_a", "PENDING", t0 + 1min)}, false);
  feed.complete(s);
  auto empty = feed.begin_sweep(1);
  feed.take_page(empty, {}, false);
  feed.complete(empty);
  auto older = feed.begin_sweep(1);
  feed.take_page(older, {summary("exr_a", "PENDING", t0)}, false);  // an older replica's answer
  feed.complete(older);
  EXPECT_EQ(feed.begin_sweep(1).stop_at, t0 + 1min - 5s);
}

TEST(change_feed, without_any_bound_a_sweep_reads_one_page) {
  change_feed feed;
  auto s = feed.begin_sweep(0);
  EXPECT_FALSE(s.stop_at);
  EXPECT_EQ(feed.take_page(s, {summary("exr_q", "PENDING", t0)}, true), change_feed::after_page::complete);
}

TEST(change_feed, settled_runs_are_no_longer_awaited) {
  change_feed feed;
  feed.watch("exr_a", t0, false);
  feed.watch("exr_b", t0 + 1min, false);
  feed.settle("exr_a");
  auto s = feed.begin_sweep(1);
  EXPECT_EQ(s.stop_at, t0 + 1min - 5s);
  feed.take_page(s, {}, false);
  EXPECT_EQ(feed.complete(s), std::vector<std::string>{"exr_b"});
}

}  // namespace
}  // namespace hookless
