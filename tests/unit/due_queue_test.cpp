// The due queue: earliest first, each item at most once, moved and taken out where it stands, and
// nothing kept for an item taken out (a finished run's memory goes at once).
#include "core/tracking/due_queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

namespace hookless {
namespace {

struct item {
  explicit item(int n) : id(n) {}
  int id;
  std::uint32_t due_slot = due_slot_none;
};

using queue = due_queue<item, int>;

std::vector<int> drain(queue& q) {
  std::vector<int> order;
  while (!q.empty()) order.push_back(q.pop()->id);
  return order;
}

TEST(due_queue, pops_earliest_first) {
  queue q;
  std::vector<std::shared_ptr<item>> items;
  for (const int at : {5, 1, 4, 2, 3}) {
    items.push_back(std::make_shared<item>(at));
    q.schedule(items.back(), at);
  }
  EXPECT_EQ(q.size(), 5U);
  EXPECT_EQ(q.next_at(), 1);
  EXPECT_EQ(drain(q), (std::vector<int>{1, 2, 3, 4, 5}));
  for (const auto& i : items) EXPECT_FALSE(q.contains(*i));
}

TEST(due_queue, moving_an_item_keeps_it_once) {
  queue q;
  auto a = std::make_shared<item>(1);
  auto b = std::make_shared<item>(2);
  q.schedule(a, 100);
  q.schedule(b, 50);
  q.schedule(a, 10);  // sooner: made due at once
  EXPECT_EQ(q.size(), 2U) << "moved, not added a second time";
  EXPECT_EQ(q.next()->id, 1);
  q.schedule(a, 200);  // later again
  EXPECT_EQ(q.size(), 2U);
  EXPECT_EQ(q.next()->id, 2);
  EXPECT_EQ(drain(q), (std::vector<int>{2, 1}));
}

TEST(due_queue, an_item_taken_out_is_no_longer_referenced) {
  queue q;
  auto finished = std::make_shared<item>(1);
  const std::weak_ptr<item> watch = finished;
  auto other = std::make_shared<item>(2);
  q.schedule(finished, 300);  // a safety-net poll far ahead
  q.schedule(other, 20);
  q.remove(*finished);
  finished.reset();
  EXPECT_TRUE(watch.expired()) << "the queue held on to a run that left it";
  EXPECT_EQ(q.size(), 1U);
  q.remove(*other);
  q.remove(*other);  // not in: nothing happens
  EXPECT_TRUE(q.empty());
}

// Random schedules, moves and removals against a plain model: the order always holds.
TEST(due_queue, keeps_its_order_through_random_moves_and_removals) {
  std::minstd_rand random{12};
  queue q;
  std::vector<std::shared_ptr<item>> items;
  std::vector<int> at(200, -1);  // the model: each item's time, -1 when out
  for (int i = 0; i < 200; ++i) items.push_back(std::make_shared<item>(i));
  for (int step = 0; step < 20'000; ++step) {
    const auto i = static_cast<std::size_t>(random() % items.size());
    if (random() % 3 == 0) {
      q.remove(*items[i]);
      at[i] = -1;
    } else {
      const int when = static_cast<int>(random() % 1000);
      q.schedule(items[i], when);
      at[i] = when;
    }
    ASSERT_EQ(q.size(), static_cast<std::size_t>(std::ranges::count_if(at, [](int t) { return t >= 0; })));
    const auto earliest = std::ranges::min_element(at, [](int x, int y) {
      return (x < 0 ? 1'000'000 : x) < (y < 0 ? 1'000'000 : y);  // (items out last)
    });
    if (!q.empty()) {
      ASSERT_EQ(q.next_at(), *earliest);
    }
  }
  int last = -1;
  while (!q.empty()) {
    const int when = q.next_at();
    const auto popped = q.pop();
    EXPECT_GE(when, last);
    EXPECT_EQ(when, at[static_cast<std::size_t>(popped->id)]);
    last = when;
  }
}

}  // namespace
}  // namespace hookless
