// Retry-After: seconds or an HTTP date, as a delay capped at an hour.
#include "core/formats/retry_after.hpp"

#include <gtest/gtest.h>

#include <ctime>

namespace hookless {
namespace {

using namespace std::chrono_literals;

const auto received_at = std::chrono::system_clock::from_time_t(1'790'000'000);  // Mon, 21 Sep 2026 14:13:20 GMT

TEST(retry_after, seconds_and_dates) {
  EXPECT_EQ(parse_retry_after("120", received_at), 120s);
  EXPECT_EQ(parse_retry_after(" 0 ", received_at), 0s);
  EXPECT_EQ(parse_retry_after("999999", received_at), 1h);
  EXPECT_FALSE(parse_retry_after("-1", received_at));
  EXPECT_FALSE(parse_retry_after("soon", received_at));
  // The date 30 s later, written by strftime itself.
  const std::time_t later = 1'790'000'030;
  char text[64];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", std::gmtime(&later));
  EXPECT_EQ(parse_retry_after(text, received_at), 30s);
  EXPECT_EQ(parse_retry_after("Mon, 01 Jan 2001 00:00:00 GMT", received_at), 0s);
}

TEST(retry_after, other_seconds_and_dates) {
  const auto earlier = std::chrono::system_clock::from_time_t(1'700'000'000);  // Tue, 14 Nov 2023 22:13:20 GMT
  EXPECT_EQ(parse_retry_after(" 5 ", earlier), 5s);
  EXPECT_EQ(parse_retry_after("0", earlier), 0s);
  EXPECT_EQ(parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", earlier), 30s);
  EXPECT_EQ(parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", earlier), 0s);
  EXPECT_FALSE(parse_retry_after("-3", earlier));
  EXPECT_FALSE(parse_retry_after("", earlier));
}

// A far Retry-After date once overflowed std::chrono (UB found with UBSan); it is capped at an hour.
TEST(retry_after, far_and_ancient_dates_are_clamped_without_overflow) {
  EXPECT_EQ(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", received_at), std::chrono::milliseconds{3'600'000});
  EXPECT_EQ(parse_retry_after("Mon, 01 Jan 1900 00:00:00 GMT", received_at), std::chrono::milliseconds{0});
  EXPECT_EQ(parse_retry_after("Mon, 21 Sep 2026 14:13:40 GMT", received_at), std::chrono::milliseconds{20'000});
}

}  // namespace
}  // namespace hookless
