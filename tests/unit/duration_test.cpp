// Durations as users write them: one parser for the config, the control API and hooklessctl.
#include "core/formats/duration.hpp"

#include <gtest/gtest.h>

namespace hookless {
namespace {

using namespace std::chrono_literals;

// The message of a refused duration (the test fails when it was accepted).
std::string refusal(std::string_view text) {
  auto parsed = parse_duration_text(text);
  if (auto* message = std::get_if<std::string>(&parsed)) return *message;
  ADD_FAILURE() << "accepted " << text;
  return {};
}

TEST(duration, parses_every_unit) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("30s"), 30s);
  EXPECT_EQ(parse_duration("5m"), 5min);
  EXPECT_EQ(parse_duration("24h"), 24h);
  EXPECT_EQ(parse_duration("7d"), std::chrono::milliseconds{7LL * 86'400'000});
}

TEST(duration, parses_compound_durations) {
  EXPECT_EQ(parse_duration("1m30s"), 90s);
  EXPECT_EQ(parse_duration("1h30m"), 90min);
  EXPECT_EQ(parse_duration("1d12h"), 36h);
  EXPECT_EQ(parse_duration("2s500ms"), 2500ms);
  EXPECT_EQ(parse_duration("1d2h3m4s5ms"), 1 * 24h + 2h + 3min + 4s + 5ms);
  EXPECT_EQ(parse_duration("0m30s"), 30s);
}

TEST(duration, parses_fractions) {
  EXPECT_EQ(parse_duration("1.5h"), 90min);
  EXPECT_EQ(parse_duration("0.5s"), 500ms);
  EXPECT_EQ(parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_duration("0.25d"), 6h);
  EXPECT_EQ(parse_duration("1m0.5s"), 60500ms);
  EXPECT_EQ(parse_duration("2.000ms"), 2ms);
  EXPECT_EQ(parse_duration("0.001s"), 1ms);
}

TEST(duration, refuses_anything_else) {
  for (const char* bad : {"",      "s",  "10",  "-1s", "+5s",   "5 s", " 5s", "5s ",  "5sec",   "s5",
                          "1e3ms", "5S", "1.s", ".5s", "1..5s", "1.5", "5w",  "1m30", "1h 30m", "1h,30m"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
    EXPECT_EQ(refusal(bad), "expected a duration like 250ms, 30s, 1m30s, 1.5h or 7d (units d, h, m, s, ms); got \"" +
                                std::string{bad} + "\"");
  }
}

TEST(duration, refuses_zero) {
  for (const char* zero : {"0s", "000ms", "0d0h", "0.0s"}) {
    EXPECT_EQ(refusal(zero), "must be greater than 0; got \"" + std::string{zero} + "\"");
  }
}

TEST(duration, refuses_units_out_of_order_or_twice) {
  for (const char* bad : {"30s1m", "1m1m", "5ms1s", "1h2d"}) {
    EXPECT_EQ(refusal(bad),
              "expected the units from the largest to the smallest, each once (d, h, m, s, ms), as in 1h30m; got \"" +
                  std::string{bad} + "\"");
  }
}

TEST(duration, refuses_fractions_of_a_millisecond) {
  EXPECT_EQ(refusal("0.5ms"), "must be a whole number of milliseconds; got \"0.5ms\"");
  EXPECT_EQ(refusal("1.0001s"), "must be a whole number of milliseconds; got \"1.0001s\"");
  EXPECT_EQ(refusal("1.0000000001d"), "must be a whole number of milliseconds; got \"1.0000000001d\"");
}

TEST(duration, caps_absurd_values) {
  EXPECT_EQ(parse_duration("36500d"), longest_duration);
  EXPECT_EQ(parse_duration("36499d24h"), longest_duration);
  for (const char* huge : {"36500d1ms", "36501d", "100000d", "99999999999999999d", "99999999999999999999999999ms",
                           "36499d25h", "876001h"}) {
    EXPECT_EQ(refusal(huge), "must be at most 36500d; got \"" + std::string{huge} + "\"");
  }
}

TEST(duration, formats_in_the_largest_exact_unit) {
  EXPECT_EQ(format_duration(7 * 24h), "7d");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(2min), "2m");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
}

TEST(duration, formatted_durations_parse_back) {
  for (const std::chrono::milliseconds value :
       {1ms, 999ms, 1500ms, 1000ms * 90, 120'000ms, 36 * 3'600'000ms, longest_duration}) {
    EXPECT_EQ(parse_duration(format_duration(value)), value);
  }
}

}  // namespace
}  // namespace hookless
