// Durations as users write them.
#include "core/formats/duration.hpp"

#include <gtest/gtest.h>

namespace hookless {
namespace {

using namespace std::chrono_literals;

std::chrono::milliseconds one_day() { return 24h; }

TEST(duration, parses_every_unit) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("30s"), 30s);
  EXPECT_EQ(parse_duration("5m"), 5min);
  EXPECT_EQ(parse_duration("24h"), 24h);
  EXPECT_EQ(parse_duration("7d"), std::chrono::milliseconds{7LL * 86'400'000});
}

TEST(duration, parses_compounds_and_fractions) {
  EXPECT_EQ(parse_duration("1m30s"), 90s);
  EXPECT_EQ(parse_duration("1h30m"), 90min);
  EXPECT_EQ(parse_duration("1d2h3m4s5ms"), one_day() + 2h + 3min + 4s + 5ms);
  EXPECT_EQ(parse_duration("1.5h"), 90min);
  EXPECT_EQ(parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_duration("0.25s"), 250ms);
  EXPECT_EQ(parse_duration("2m0.5s"), 120500ms);
  EXPECT_EQ(parse_duration("0m30s"), 30s);
  EXPECT_EQ(parse_duration("1.500000000s"), 1500ms);
}

TEST(duration, refuses_anything_else) {
  for (const char* bad : {"",      "s",       "10",     "-1s",    "0s",           "0m0s",
                          "+5s",   "5 s",     "5sec",   "s5",     "1e3ms",        "99999999999999999d",
                          "1.5ms", "1.0001s", "30s1m",  "1m1m",   "1m30",         ".5h",
                          "1.h",   "1..5h",   "1h 30m", "1.5.5h", "106751991168d"}) {
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
