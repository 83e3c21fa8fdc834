// The poller lease's trust on the daemon's own clock, without a database or a clock: trusted from a
// granted claim until its send time + TTL - margin, renewed by each answer in time, and lost when
// another process holds it, when a grant answers too late to trust, or when the trust runs out.
#include "core/cluster/poller_lease.hpp"

#include <gtest/gtest.h>

namespace hookless {
namespace {

using namespace std::chrono_literals;
using change = poller_lease::change;
const auto lease_start = std::chrono::steady_clock::time_point{} + 1h;

TEST(poller_lease, a_grant_is_trusted_until_its_send_time_plus_ttl_less_the_margin) {
  poller_lease lease{6s, 1500ms};
  EXPECT_FALSE(lease.trusted(lease_start));
  EXPECT_EQ(lease.answered(7, lease_start, lease_start + 100ms), change::gained);
  EXPECT_EQ(lease.term(), 7U);
  EXPECT_EQ(lease.trusted_until(), lease_start + 4500ms) << "counted from the send, not the answer";
  EXPECT_TRUE(lease.trusted(lease_start + 4499ms));
  EXPECT_FALSE(lease.trusted(lease_start + 4500ms));
  EXPECT_EQ(lease.check(lease_start + 4499ms), change::none);
  EXPECT_EQ(lease.check(lease_start + 4500ms), change::lost);
  EXPECT_FALSE(lease.holding());
  EXPECT_EQ(lease.check(lease_start + 5s), change::none) << "lost once";
}

TEST(poller_lease, renewals_in_time_keep_the_term_trusted) {
  poller_lease lease{6s, 1500ms};
  ASSERT_EQ(lease.answered(3, lease_start, lease_start + 10ms), change::gained);
  for (int i = 1; i <= 5; ++i) {
    const auto sent = lease_start + i * 2s;
    EXPECT_EQ(lease.check(sent), change::none);
    EXPECT_EQ(lease.answered(3, sent, sent + 50ms), change::renewed);
    EXPECT_EQ(lease.trusted_until(), sent + 4500ms);
  }
}

TEST(poller_lease, another_holder_or_another_term_loses_it) {
  poller_lease lease{6s, 1500ms};
  EXPECT_EQ(lease.answered(std::nullopt, lease_start, lease_start), change::none) << "never held";
  ASSERT_EQ(lease.answered(3, lease_start, lease_start), change::gained);
  EXPECT_EQ(lease.answered(std::nullopt, lease_start + 2s, lease_start + 2s), change::lost);
  ASSERT_EQ(lease.answered(5, lease_start + 4s, lease_start + 4s), change::gained);
  EXPECT_EQ(lease.answered(6, lease_start + 6s, lease_start + 6s), change::lost)
      << "a new term means the lease was lost meanwhile";
  EXPECT_EQ(lease.answered(6, lease_start + 8s, lease_start + 8s), change::gained);
}

TEST(poller_lease, a_grant_answered_after_its_trust_ran_out_is_not_trusted) {
  poller_lease lease{6s, 1500ms};
  EXPECT_EQ(lease.answered(1, lease_start, lease_start + 4500ms), change::none);
  EXPECT_FALSE(lease.holding());
  ASSERT_EQ(lease.answered(1, lease_start + 5s, lease_start + 5s), change::gained);
  EXPECT_EQ(lease.answered(1, lease_start + 7s, lease_start + 12s), change::lost) << "a renewal that took too long";
}

TEST(poller_lease, giving_up_ends_the_trust_at_once) {
  poller_lease lease{6s, 1500ms};
  ASSERT_EQ(lease.answered(2, lease_start, lease_start), change::gained);
  EXPECT_EQ(lease.give_up(), change::lost);
  EXPECT_FALSE(lease.trusted(lease_start + 1ms));
  EXPECT_EQ(lease.give_up(), change::none);
}

}  // namespace
}  // namespace hookless
