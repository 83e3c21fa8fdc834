// The SDK cadence, jitter and retry delays.
#include "core/tracking/poll_schedule.hpp"

#include <gtest/gtest.h>

namespace hookless {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

TEST(poll_schedule, fast_interval_during_the_fast_period) {
  const polling_config polling;
  EXPECT_EQ(base_interval(polling, 0ms), 1s);
  EXPECT_EQ(base_interval(polling, 29'999ms), 1s);
}

TEST(poll_schedule, grows_by_backoff_per_poll_then_caps) {
  const polling_config polling;
  // Walk the cadence poll by poll, the way the SDK helper does, and compare with the closed form.
  milliseconds age = 30s;
  double expected = 1000;
  for (int poll = 0; poll < 40; ++poll) {
    expected = std::min(expected * 1.15, 30'000.0);
    const auto interval = base_interval(polling, age);
    EXPECT_NEAR(static_cast<double>(interval.count()), expected, 2.0) << "poll " << poll;
    age += interval + 1ms;  // just past the poll, as a real clock would be
  }
  EXPECT_EQ(base_interval(polling, 24h), 30s);
}

TEST(poll_schedule, reaches_the_cap_after_about_four_minutes) {
  const polling_config polling;
  EXPECT_LT(base_interval(polling, 3min), 30s);
  EXPECT_EQ(base_interval(polling, 5min), 30s);
}

TEST(poll_schedule, no_backoff_keeps_the_fast_interval) {
  polling_config polling;
  polling.backoff = 1.0;
  EXPECT_EQ(base_interval(polling, 1h), 1s);
}

TEST(poll_schedule, jitter_stays_within_bounds) {
  EXPECT_EQ(jittered(1000ms, 0.25, -1.0), 750ms);
  EXPECT_EQ(jittered(1000ms, 0.25, 1.0), 1250ms);
  EXPECT_EQ(jittered(1000ms, 0.25, 0.0), 1000ms);
  EXPECT_EQ(jittered(1000ms, 0.0, 1.0), 1000ms);
  EXPECT_EQ(jittered(1ms, 1.0, -1.0), 1ms);
}

TEST(poll_schedule, retry_delay_doubles_up_to_the_cap) {
  const polling_config polling;
  EXPECT_EQ(retry_delay(polling, 1), 1s);
  EXPECT_EQ(retry_delay(polling, 2), 2s);
  EXPECT_EQ(retry_delay(polling, 3), 4s);
  EXPECT_EQ(retry_delay(polling, 6), 30s);
  EXPECT_EQ(retry_delay(polling, 1000), 30s);
}

}  // namespace
}  // namespace hookless
