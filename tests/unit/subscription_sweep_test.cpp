// A subscription's position in a kind's list: history is never found, every run that stops later is
// (across page boundaries, with equal updatedAt values, with writes that show up late), the position
// uses Extend's clock only, and a page out of order moves nothing.
#include "core/tracking/subscription_sweep.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace hookless {
namespace {

using namespace std::chrono_literals;

const time_point sweep_t0 = std::chrono::sys_days{std::chrono::year{2026} / 3 / 1};

// Extend's list of one kind: sorted by updatedAt, newest first, served in pages.
struct listed_runs {
  std::vector<run_summary> runs;

  void set(std::string id, std::string status, time_point updated_at) {
    std::erase_if(runs, [&](const run_summary& r) { return r.id == id; });
    runs.push_back(run_summary{.id = std::move(id), .status = std::move(status), .updated_at = updated_at});
    std::ranges::stable_sort(runs, std::ranges::greater{}, &run_summary::updated_at);
  }
};

struct sweep_outcome {
  std::vector<std::string> found;  // in the order found, repeats included
  std::size_t pages = 0;
  subscription_sweep::after_page last = subscription_sweep::after_page::complete;
};

// One whole sweep over `list`; a complete one saves its position as the daemon does.
sweep_outcome sweep_once(subscription_sweep& sub, const listed_runs& list, time_point now = sweep_t0) {
  auto pass = sub.begin();
  sweep_outcome outcome;
  for (std::size_t offset = 0;; offset += pass.page_size) {
    const auto end = std::min(list.runs.size(), offset + pass.page_size);
    const std::vector<run_summary> page(list.runs.begin() + static_cast<std::ptrdiff_t>(std::min(offset, end)),
                                        list.runs.begin() + static_cast<std::ptrdiff_t>(end));
    auto result = sub.take_page(pass, page, end < list.runs.size());
    for (const auto& s : result.found) outcome.found.push_back(s.id);
    outcome.last = result.next;
    if (result.next != subscription_sweep::after_page::next_page) break;
  }
  outcome.pages = pass.pages;
  if (outcome.last == subscription_sweep::after_page::complete) sub.saved(sub.completed(pass, now), pass.pages);
  return outcome;
}

subscription_position fresh_sub_position(std::string kind) {
  subscription_position position;
  position.subscription = "s";
  position.kind = std::move(kind);
  return position;
}

std::set<std::string> distinct_ids(const std::vector<std::string>& ids) { return {ids.begin(), ids.end()}; }

TEST(subscription_sweep, the_first_sweep_marks_everything_listed_as_history) {
  listed_runs list;
  list.set("exr_old1", "PROCESSED", sweep_t0 - 1h);
  list.set("exr_old2", "FAILED", sweep_t0 - 10s);
  list.set("exr_busy", "PROCESSING", sweep_t0 - 5s);
  subscription_sweep sub{fresh_sub_position("extract_run")};

  const auto first = sweep_once(sub, list);
  EXPECT_TRUE(first.found.empty());
  EXPECT_EQ(first.pages, 1u);
  EXPECT_EQ(sub.position().since, sweep_t0 - 5s);
  EXPECT_EQ(sub.position().position, sweep_t0 - 5s);

  // History stays history on every later sweep; a run that stops after the start is found.
  list.set("exr_busy", "PROCESSED", sweep_t0 + 2s);
  EXPECT_EQ(sweep_once(sub, list).found, std::vector<std::string>{"exr_busy"});
}

TEST(subscription_sweep, an_empty_list_at_the_first_sweep_leaves_nothing_as_history) {
  listed_runs list;
  subscription_sweep sub{fresh_sub_position("extract_run")};
  EXPECT_TRUE(sweep_once(sub, list).found.empty());
  ASSERT_TRUE(sub.position().since.has_value());
  EXPECT_EQ(*sub.position().since, time_point{});

  list.set("exr_1", "PROCESSED", sweep_t0);
  EXPECT_EQ(sweep_once(sub, list).found, std::vector<std::string>{"exr_1"});
}

TEST(subscription_sweep, runs_in_progress_cost_nothing_until_they_stop) {
  listed_runs list;
  list.set("history", "PROCESSED", sweep_t0);
  subscription_sweep sub{fresh_sub_position("workflow_run")};
  sweep_once(sub, list);

  list.set("wr_1", "PENDING", sweep_t0 + 1s);
  list.set("wr_2", "CANCELLING", sweep_t0 + 2s);
  EXPECT_TRUE(sweep_once(sub, list).found.empty());
  list.set("wr_1", "NEEDS_REVIEW", sweep_t0 + 10s);   // stopped for a human: found
  list.set("wr_2", "SOMETHING_NEW", sweep_t0 + 11s);  // a status never seen means stopped
  EXPECT_EQ(distinct_ids(sweep_once(sub, list).found), (std::set<std::string>{"wr_1", "wr_2"}));
  list.set("wr_1", "PROCESSED", sweep_t0 + 60s);  // and its outcome later (wr_2 is re-read in the overlap)
  EXPECT_EQ(distinct_ids(sweep_once(sub, list).found), (std::set<std::string>{"wr_1", "wr_2"}));
  EXPECT_EQ(sweep_once(sub, list).found, std::vector<std::string>{"wr_1"});  // the overlap re-reads it
}

TEST(subscription_sweep, pages_on_across_page_boundaries_until_the_position) {
  listed_runs list;
  for (int i = 0; i < 50; ++i) list.set("old_" + std::to_string(i), "PROCESSED", sweep_t0 - std::chrono::minutes{i});
  subscription_sweep sub{fresh_sub_position("extract_run")};
  sweep_once(sub, list);

  // 2,500 runs finish while the daemon is down: the sweep after the restart pages through all of them.
  std::set<std::string> finished;
  for (int i = 0; i < 2'500; ++i) {
    const auto id = "exr_" + std::to_string(i);
    list.runs.push_back({.id = id,
                         .status = i % 10 == 0 ? "PROCESSING" : "PROCESSED",
                         .updated_at = sweep_t0 + std::chrono::seconds{10 + i}});
    if (i % 10 != 0) finished.insert(id);
  }
  std::ranges::sort(list.runs, std::ranges::greater{}, &run_summary::updated_at);
  subscription_sweep restarted{sub.position()};
  const auto catch_up = sweep_once(restarted, list);
  EXPECT_EQ(distinct_ids(catch_up.found), finished);
  EXPECT_EQ(catch_up.found.size(), finished.size());  // each once: the boundaries repeat nothing
  EXPECT_EQ(catch_up.pages, 3u);                      // 1,000 a page while catching up; stops at the position
  EXPECT_EQ(restarted.position().position, sweep_t0 + std::chrono::seconds{10 + 2'499});

  // Idle again: one small page, nothing found beyond the overlap's re-reads.
  EXPECT_EQ(restarted.begin().page_size, subscription_sweep::large_page);  // the last sweep read 3 pages
  const auto idle = sweep_once(restarted, list);
  EXPECT_EQ(idle.pages, 1u);
  EXPECT_EQ(restarted.begin().page_size, subscription_sweep::small_page);
  for (const auto& id : idle.found) EXPECT_TRUE(finished.contains(id)) << id;
}

TEST(subscription_sweep, equal_updated_at_values_across_a_page_boundary_are_all_found) {
  listed_runs list;
  list.set("history", "PROCESSED", sweep_t0);
  subscription_sweep sub{fresh_sub_position("extract_run"), 0ms};  // no overlap: equal values alone
  sweep_once(sub, list);
  sweep_once(sub, list);  // small pages from here

  // 150 runs stopped in the same millisecond: the page boundary (100) falls inside them.
  std::set<std::string> same_ms;
  for (int i = 0; i < 150; ++i) {
    same_ms.insert("exr_" + std::to_string(i));
    list.set("exr_" + std::to_string(i), "PROCESSED", sweep_t0 + 1s);
  }
  const auto swept = sweep_once(sub, list);
  EXPECT_EQ(swept.pages, 2u);
  EXPECT_EQ(distinct_ids(swept.found), same_ms);
  EXPECT_EQ(sub.position().position, sweep_t0 + 1s);

  // A run written in that same millisecond but visible only now: the stop point is not past it.
  list.set("exr_late", "PROCESSED", sweep_t0 + 1s);
  const auto again = sweep_once(sub, list);
  EXPECT_TRUE(distinct_ids(again.found).contains("exr_late"));
}

TEST(subscription_sweep, a_write_that_shows_up_late_is_found_within_the_overlap) {
  listed_runs list;
  list.set("history", "PROCESSED", sweep_t0);
  subscription_sweep sub{fresh_sub_position("extract_run")};  // 5 s overlap
  sweep_once(sub, list);
  list.set("exr_a", "PROCESSED", sweep_t0 + 10s);
  sweep_once(sub, list);
  ASSERT_EQ(sub.position().position, sweep_t0 + 10s);

  list.set("exr_racing", "FAILED", sweep_t0 + 7s);  // committed 3 s behind a newer write
  EXPECT_TRUE(distinct_ids(sweep_once(sub, list).found).contains("exr_racing"));
}

TEST(subscription_sweep, our_clock_never_moves_the_position) {
  // The same list swept by a daemon whose clock is a day ahead and by one a day behind.
  listed_runs list;
  list.set("history", "PROCESSED", sweep_t0);
  subscription_sweep ahead{fresh_sub_position("extract_run")};
  subscription_sweep behind{fresh_sub_position("extract_run")};
  sweep_once(ahead, list, sweep_t0 + 24h);
  sweep_once(behind, list, sweep_t0 - 24h);
  list.set("exr_1", "PROCESSED", sweep_t0 + 1s);
  list.set("exr_2", "PROCESSED", sweep_t0 + 2s);

  const auto a = sweep_once(ahead, list, sweep_t0 + 24h);
  const auto b = sweep_once(behind, list, sweep_t0 - 24h);
  EXPECT_EQ(distinct_ids(a.found), (std::set<std::string>{"exr_1", "exr_2"}));
  EXPECT_EQ(a.found, b.found);
  EXPECT_EQ(ahead.position().since, behind.position().since);
  EXPECT_EQ(ahead.position().position, behind.position().position);
  EXPECT_EQ(ahead.position().swept_at, sweep_t0 + 24h);  // our clock is only shown (the position's age)
  EXPECT_EQ(behind.position().swept_at, sweep_t0 - 24h);
}

TEST(subscription_sweep, a_page_out_of_order_keeps_the_position) {
  listed_runs list;
  list.set("history", "PROCESSED", sweep_t0);
  subscription_sweep sub{fresh_sub_position("extract_run")};
  sweep_once(sub, list);
  const auto before = sub.position();

  auto pass = sub.begin();
  const std::vector<run_summary> page{{.id = "exr_1", .status = "PROCESSED", .updated_at = sweep_t0 + 5s},
                                      {.id = "exr_2", .status = "PROCESSED", .updated_at = sweep_t0 + 9s}};
  const auto result = sub.take_page(pass, page, false);
  EXPECT_EQ(result.next, subscription_sweep::after_page::unsorted);
  EXPECT_NE(result.problem.find("exr_2"), std::string::npos) << result.problem;
  EXPECT_EQ(sub.position().position, before.position);

  // Once the list is sorted again, the next sweep reads back as far and finds both.
  list.set("exr_1", "PROCESSED", sweep_t0 + 5s);
  list.set("exr_2", "PROCESSED", sweep_t0 + 9s);
  EXPECT_EQ(distinct_ids(sweep_once(sub, list).found), (std::set<std::string>{"exr_1", "exr_2"}));
}

TEST(subscription_sweep, the_order_is_checked_across_pages_too) {
  listed_runs list;
  list.set("history", "PROCESSED", sweep_t0);
  subscription_sweep sub{fresh_sub_position("extract_run")};
  sweep_once(sub, list);
  auto pass = sub.begin();
  const std::vector<run_summary> first{{.id = "exr_9", .status = "PROCESSED", .updated_at = sweep_t0 + 9s}};
  ASSERT_EQ(sub.take_page(pass, first, true).next, subscription_sweep::after_page::next_page);
  const std::vector<run_summary> second{{.id = "exr_10", .status = "PROCESSED", .updated_at = sweep_t0 + 10s}};
  EXPECT_EQ(sub.take_page(pass, second, false).next, subscription_sweep::after_page::unsorted);
}

}  // namespace
}  // namespace hookless
