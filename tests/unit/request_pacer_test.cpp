// The request budget's arithmetic with the time passed in: spacing at the rate, pauses and the
// probe after them, the 429 cut and its regrowth, Retry-After, a reload's new rate.
#include "core/net/request_pacer.hpp"

#include <gtest/gtest.h>

namespace hookless {
namespace {

using namespace std::chrono_literals;
using steady_time = request_pacer::steady_time;

const steady_time pacer_start = steady_time{} + 1000s;

// (The spacing is computed in floating point: compared to the microsecond.)
double ms_between(steady_time from, steady_time to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Grants every turn as soon as it may go, from `now` on; returns the times of the grants.
std::vector<steady_time> grant_turns(request_pacer& pacer, int turns, steady_time now) {
  std::vector<steady_time> times;
  for (int i = 0; i < turns; ++i) {
    now = std::max(now, pacer.next_turn_at(now));
    pacer.grant(now);
    times.push_back(now);
  }
  return times;
}

TEST(request_pacer, spaces_turns_a_little_more_than_one_over_the_rate_apart) {
  request_pacer pacer{{.requests_per_second = 20}};
  EXPECT_LE(pacer.next_turn_at(pacer_start), pacer_start) << "the first turn goes at once";
  const auto times = grant_turns(pacer, 41, pacer_start);
  for (std::size_t i = 1; i < times.size(); ++i)
    EXPECT_NEAR(ms_between(times[i - 1], times[i]), 52.5, 0.001) << "turn " << i;
  EXPECT_GT(times[20] - times[0], 1s) << "never 21 turns within one second";
  EXPECT_EQ(pacer.granted(), 41U);
}

TEST(request_pacer, a_turn_after_a_quiet_spell_goes_at_once_and_spaces_from_then) {
  request_pacer pacer{{.requests_per_second = 10}};
  pacer.grant(pacer_start);
  EXPECT_NEAR(ms_between(pacer_start, pacer.next_turn_at(pacer_start)), 105, 0.001);
  pacer.grant(pacer_start + 5s);
  EXPECT_NEAR(ms_between(pacer_start + 5s, pacer.next_turn_at(pacer_start + 5s)), 105, 0.001)
      << "no credit saved up while quiet";
}

TEST(request_pacer, a_429_pauses_every_turn_then_one_probe_goes_until_it_reports) {
  request_pacer pacer{{.requests_per_second = 1000, .probe_timeout = 35s}};
  pacer.record(refusal::rate_limited, 300ms, pacer_start);
  EXPECT_EQ(pacer.paused_until(pacer_start), pacer_start + 300ms);
  EXPECT_EQ(pacer.next_turn_at(pacer_start), pacer_start + 300ms) << "nobody goes during the pause";
  pacer.grant(pacer_start + 300ms);  // the probe
  EXPECT_FALSE(pacer.paused_until(pacer_start + 300ms).has_value());
  EXPECT_EQ(pacer.next_turn_at(pacer_start + 310ms), pacer_start + 300ms + 35s)
      << "the rest wait for the probe's answer";
  pacer.record(refusal::none, std::nullopt, pacer_start + 320ms);
  EXPECT_LE(pacer.next_turn_at(pacer_start + 320ms), pacer_start + 320ms) << "the probe answered: the rest go";
  pacer.grant(pacer_start + 320ms);
  EXPECT_LT(pacer.next_turn_at(pacer_start + 320ms), pacer_start + 322ms) << "only the first turn after a pause probes";
}

TEST(request_pacer, a_probe_that_never_reports_frees_the_turns_after_its_timeout) {
  request_pacer pacer{{.requests_per_second = 1000, .probe_timeout = 200ms, .unauthorized_pause = 50ms}};
  pacer.record(refusal::unauthorized, std::nullopt, pacer_start);
  EXPECT_EQ(pacer.next_turn_at(pacer_start), pacer_start + 50ms);
  pacer.grant(pacer_start + 50ms);
  EXPECT_EQ(pacer.next_turn_at(pacer_start + 100ms), pacer_start + 250ms);
  EXPECT_LE(pacer.next_turn_at(pacer_start + 250ms), pacer_start + 250ms);
  pacer.grant(pacer_start + 250ms);
  EXPECT_LT(pacer.next_turn_at(pacer_start + 250ms), pacer_start + 252ms)
      << "the probe is given up on, not started again";
}

// A probe granted but never sent (its poll was stopped) hands the probe to the next turn.
TEST(request_pacer, an_unused_probe_passes_the_probe_on) {
  request_pacer pacer{{.requests_per_second = 1000, .probe_timeout = 10s}};
  pacer.record(refusal::rate_limited, 20ms, pacer_start);
  pacer.grant(pacer_start + 20ms);
  EXPECT_EQ(pacer.next_turn_at(pacer_start + 30ms), pacer_start + 20ms + 10s);
  pacer.release();
  EXPECT_LE(pacer.next_turn_at(pacer_start + 30ms), pacer_start + 30ms) << "the next turn may go at once...";
  pacer.grant(pacer_start + 30ms);
  EXPECT_EQ(pacer.next_turn_at(pacer_start + 31ms), pacer_start + 30ms + 10s) << "...as the probe";
  pacer.record(refusal::none, std::nullopt, pacer_start + 40ms);
  EXPECT_LE(pacer.next_turn_at(pacer_start + 40ms), pacer_start + 40ms);
}

TEST(request_pacer, a_released_turn_that_was_no_probe_changes_nothing) {
  request_pacer pacer{{.requests_per_second = 10}};
  pacer.grant(pacer_start);
  pacer.release();
  EXPECT_NEAR(ms_between(pacer_start, pacer.next_turn_at(pacer_start)), 105, 0.001);
  pacer.grant(pacer_start + 105ms);
  EXPECT_NEAR(ms_between(pacer_start, pacer.next_turn_at(pacer_start + 105ms)), 210, 0.002)
      << "and the next grant is no probe";
}

TEST(request_pacer, an_auth_failure_pauses_for_the_unauthorized_pause_and_never_cuts_the_rate) {
  request_pacer pacer{{.requests_per_second = 100, .unauthorized_pause = 30s}};
  EXPECT_FALSE(pacer.record(refusal::unauthorized, 5s, pacer_start)) << "(Retry-After is for 429s)";
  EXPECT_EQ(pacer.paused_until(pacer_start), pacer_start + 30s);
  EXPECT_DOUBLE_EQ(pacer.rate(pacer_start), 100);
}

// Retry-After sets the pause; without it the pause doubles from rate_limited_pause up to
// longest_rate_limited_pause, and starts over after any other answer.
TEST(request_pacer, a_429_pauses_for_its_retry_after_or_a_doubling_pause) {
  request_pacer pacer{{.requests_per_second = 1000, .rate_limited_pause = 1s, .longest_rate_limited_pause = 3s}};
  auto now = pacer_start;
  const auto pause_after_429 = [&](std::optional<std::chrono::milliseconds> retry_after) {
    pacer.record(refusal::rate_limited, retry_after, now);
    const auto until = pacer.paused_until(now).value();
    const auto paused = until - now;
    now = until;
    return paused;
  };
  EXPECT_EQ(pause_after_429(7s), 7s);
  EXPECT_EQ(pause_after_429(std::nullopt), 2s) << "a Retry-After counts as a pause in the doubling";
  EXPECT_EQ(pause_after_429(std::nullopt), 3s) << "up to the longest";
  EXPECT_EQ(pause_after_429(std::nullopt), 3s);
  EXPECT_EQ(pause_after_429(0ms), 1ms) << "never no pause at all";
  pacer.record(refusal::none, std::nullopt, now);
  EXPECT_EQ(pause_after_429(std::nullopt), 1s) << "an answer starts the doubling over";
}

// A 429 cuts the rate by a quarter; the 429s of requests sent before the pause it started count once.
TEST(request_pacer, a_429_cuts_the_rate_once_per_pause) {
  request_pacer pacer{{.requests_per_second = 100, .regrowth_period = 5s}};
  EXPECT_TRUE(pacer.record(refusal::rate_limited, 50ms, pacer_start));
  EXPECT_FALSE(pacer.record(refusal::rate_limited, 50ms, pacer_start + 10ms))
      << "sent before the pause: the same event";
  EXPECT_DOUBLE_EQ(pacer.rate(pacer_start + 10ms), 75);
  EXPECT_DOUBLE_EQ(pacer.configured_rate(), 100);
  EXPECT_TRUE(pacer.record(refusal::rate_limited, 1ms, pacer_start + 60ms)) << "after the pause: another one";
  EXPECT_DOUBLE_EQ(pacer.rate(pacer_start + 60ms), 56.25);

  pacer.grant(pacer_start + 61ms);  // the probe
  pacer.record(refusal::none, std::nullopt, pacer_start + 62ms);
  const auto times = grant_turns(pacer, 5, pacer_start + 62ms);
  for (std::size_t i = 1; i < times.size(); ++i) {
    EXPECT_NEAR(ms_between(times[i - 1], times[i]), 1050 / 56.25, 0.001) << "spaced for 56.25/s, not 100/s: turn " << i;
  }
}

// Without a 429 the rate grows back by a twentieth of the configured one per period; it never
// falls below a tenth.
TEST(request_pacer, the_rate_grows_back_and_has_a_floor) {
  request_pacer pacer{{.requests_per_second = 100, .regrowth_period = 40ms}};
  pacer.record(refusal::rate_limited, 1ms, pacer_start);
  EXPECT_DOUBLE_EQ(pacer.rate(pacer_start), 75);
  EXPECT_DOUBLE_EQ(pacer.rate(pacer_start + 39ms), 75);
  EXPECT_DOUBLE_EQ(pacer.rate(pacer_start + 40ms), 80);
  EXPECT_DOUBLE_EQ(pacer.rate(pacer_start + 80ms), 85);
  EXPECT_DOUBLE_EQ(pacer.rate(pacer_start + 200ms), 100) << "five periods bring it back";
  EXPECT_DOUBLE_EQ(pacer.rate(pacer_start + 1h), 100) << "and no further";

  auto now = pacer_start + 200ms;
  for (int i = 0; i < 20; ++i) {
    pacer.record(refusal::rate_limited, 1ms, now);
    now += 2ms;
  }
  EXPECT_DOUBLE_EQ(pacer.rate(now), 10) << "never below a tenth";
}

// A cut that grew back part of the way is cut by a quarter of where it got to.
TEST(request_pacer, a_429_cuts_the_rate_granted_now) {
  request_pacer pacer{{.requests_per_second = 100, .regrowth_period = 40ms}};
  pacer.record(refusal::rate_limited, 1ms, pacer_start);
  pacer.record(refusal::rate_limited, 1ms, pacer_start + 80ms);  // at 85/s
  EXPECT_DOUBLE_EQ(pacer.rate(pacer_start + 80ms), 63.75);
}

TEST(request_pacer, a_new_configured_rate_holds_at_once_and_ends_a_cut) {
  request_pacer pacer{{.requests_per_second = 100, .regrowth_period = 40ms}};
  pacer.record(refusal::rate_limited, 1ms, pacer_start);
  pacer.set_rate(40);
  EXPECT_DOUBLE_EQ(pacer.rate(pacer_start), 40);
  EXPECT_DOUBLE_EQ(pacer.configured_rate(), 40);
  pacer.set_rate(200);
  EXPECT_DOUBLE_EQ(pacer.rate(pacer_start), 200) << "up too: no regrowth from the cut";

  request_pacer uncut{{.requests_per_second = 100}};
  uncut.set_rate(40);
  uncut.grant(pacer_start);
  EXPECT_NEAR(ms_between(pacer_start, uncut.next_turn_at(pacer_start)), 26.25, 0.001) << "spaced at the new rate";
}

}  // namespace
}  // namespace hookless
