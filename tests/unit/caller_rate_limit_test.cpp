// The per-uid token bucket behind control.requests_per_second_per_user: a burst of one second per
// uid, refilled at the configured rate, with idle uids forgotten.
#include "daemon/control/caller_rate_limit.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace hookless {
namespace {

using namespace std::chrono_literals;

TEST(caller_rate_limit, allows_a_burst_of_one_second_then_refuses_until_refilled) {
  caller_rate_limit limit{5};
  const auto t0 = caller_rate_limit::clock::time_point{} + 1h;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limit.allow(1000, t0)) << i;
  EXPECT_FALSE(limit.allow(1000, t0));
  EXPECT_FALSE(limit.allow(1000, t0 + 100ms));  // 0.5 of a token
  EXPECT_TRUE(limit.allow(1000, t0 + 200ms));   // one token back after 1/5 s
  EXPECT_FALSE(limit.allow(1000, t0 + 200ms));
}

TEST(caller_rate_limit, each_uid_has_its_own_bucket) {
  caller_rate_limit limit{1};
  const auto t0 = caller_rate_limit::clock::time_point{} + 1h;
  EXPECT_TRUE(limit.allow(1000, t0));
  EXPECT_FALSE(limit.allow(1000, t0));
  EXPECT_TRUE(limit.allow(1001, t0));  // a busy neighbour does not cost another user anything
}

TEST(caller_rate_limit, a_rate_below_one_still_allows_one_request) {
  caller_rate_limit limit{0.5};
  const auto t0 = caller_rate_limit::clock::time_point{} + 1h;
  EXPECT_TRUE(limit.allow(7, t0));
  EXPECT_FALSE(limit.allow(7, t0 + 1s));
  EXPECT_TRUE(limit.allow(7, t0 + 2s));
}

TEST(caller_rate_limit, forgets_idle_uids_but_keeps_busy_ones) {
  caller_rate_limit limit{1};
  const auto t0 = caller_rate_limit::clock::time_point{} + 1h;
  EXPECT_TRUE(limit.allow(0xffff'0000u, t0));
  for (std::uint32_t uid = 0; uid < 5000; ++uid) EXPECT_TRUE(limit.allow(uid, t0 + 10s));
  // uid 4999 spent its only token at t0+10s and must still be refused: pruning must not reset it.
  EXPECT_FALSE(limit.allow(4999, t0 + 10s));
}

}  // namespace
}  // namespace hookless
