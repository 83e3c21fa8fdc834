// Durations as users write them.
#include "core/formats/duration.hpp"

#include <gtest/gtest.h>

namespace hookless {
namespace {

using namespace std::chrono_literals;

TEST(duration, parses_every_unit) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("30s"), 30s);
  EXPECT_EQ(parse_duration("5m"), 5min);
  EXPECT_EQ(parse_duration("24h"), 24h);
  EXPECT_EQ(parse_duration("7d"), std::chrono::milliseconds{7LL * 86'400'000});
}

TEST(duration, refuses_anything_else) {
  for (const char* bad :
       {"", "s", "10", "1.5s", "-1s", "0s", "+5s", "5 s", "5sec", "s5", "1e3ms", "99999999999999999d"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(duration, formats_in_the_largest_exact_unit) {
  EXPECT_EQ(format_duration(7 * 24h), "7d");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(2min), "2m");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
}

}  // namespace
}  // namespace hookless
