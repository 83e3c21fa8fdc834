// The shared request budget on a real io_context: spacing, order (ahead of the line too), pauses,
// probes, abandonment.
#include "core/net/request_budget.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <vector>

namespace hookless {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

struct grant_log {
  std::vector<int> order;
  std::vector<steady::time_point> times;
};

void spawn_acquirer(asio::io_context& io, request_budget& budget, grant_log& log, int id,
                    asio::steady_timer* wake = nullptr, request_budget::place where = request_budget::place::in_line) {
  asio::co_spawn(
      io,
      [&io, &budget, &log, id, wake, where]() -> asio::awaitable<void> {
        asio::steady_timer own{io};
        auto& timer = wake != nullptr ? *wake : own;
        const bool granted = co_await budget.acquire(timer, where);
        if (granted) {
          log.order.push_back(id);
          log.times.push_back(steady::now());
        }
      },
      [](std::exception_ptr failure) {
        if (failure) std::rethrow_exception(failure);
      });
}

void run_for(asio::io_context& io, steady::duration how_long) {
  io.restart();
  io.run_for(how_long);
}

TEST(request_budget, spaces_requests_in_order) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 50}};
  grant_log log;
  for (int i = 0; i < 10; ++i) spawn_acquirer(io, budget, log, i);
  run_for(io, 400ms);
  ASSERT_EQ(log.order.size(), 10U);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(log.order[static_cast<std::size_t>(i)], i);
  for (std::size_t i = 1; i < log.times.size(); ++i) {
    EXPECT_GE(log.times[i] - log.times[i - 1], 19ms) << "grant " << i;
  }
  budget.stop();
  run_for(io, 10ms);
}

TEST(request_budget, never_more_than_the_rate_in_any_second) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 20}};
  grant_log log;
  for (int i = 0; i < 60; ++i) spawn_acquirer(io, budget, log, i);
  run_for(io, 2500ms);
  ASSERT_GE(log.times.size(), 45U);
  for (std::size_t i = 0; i < log.times.size(); ++i) {
    const auto in_window = std::count_if(log.times.begin() + static_cast<std::ptrdiff_t>(i), log.times.end(),
                                         [&](steady::time_point t) { return t - log.times[i] < 1s; });
    EXPECT_LE(in_window, 20) << "window starting at grant " << i;
  }
  budget.stop();
  run_for(io, 10ms);
}

TEST(request_budget, a_429_pauses_everyone_then_one_probe_goes_first) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 1000}};
  grant_log log;
  const auto paused_at = steady::now();  // record() counts the pause from its own call
  budget.record(answer_kind::rate_limited, 300ms);
  for (int i = 0; i < 5; ++i) spawn_acquirer(io, budget, log, i);
  run_for(io, 250ms);
  EXPECT_TRUE(log.order.empty()) << "nobody goes during the pause";
  run_for(io, 200ms);
  ASSERT_EQ(log.order.size(), 1U) << "only the probe goes until it reports";
  EXPECT_GE(log.times[0] - paused_at, 300ms);
  budget.record(answer_kind::run, std::nullopt);  // the probe got an answer
  run_for(io, 100ms);
  EXPECT_EQ(log.order.size(), 5U);
  budget.stop();
  run_for(io, 10ms);
}

// A 429 cuts the rate by a quarter; the 429s of requests sent before the pause it started count once.
TEST(request_budget, a_429_slows_the_rate_down) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 100, .regrowth_period = 300ms}};
  budget.record(answer_kind::rate_limited, 50ms);
  budget.record(answer_kind::rate_limited, 50ms);  // sent before the pause: the same event
  EXPECT_DOUBLE_EQ(budget.rate(), 75);
  EXPECT_DOUBLE_EQ(budget.configured_rate(), 100);
  run_for(io, 60ms);
  budget.record(answer_kind::rate_limited, 1ms);  // after the pause: another one
  const auto cut = steady::now();
  EXPECT_DOUBLE_EQ(budget.rate(), 56.25);

  grant_log log;
  for (int i = 0; i < 20; ++i) spawn_acquirer(io, budget, log, i);
  run_for(io, 30ms);
  budget.record(answer_kind::run, std::nullopt);  // the probe's answer
  run_for(io, 200ms);
  ASSERT_GE(log.times.size(), 5U);
  for (std::size_t i = 2; i < log.times.size() && log.times[i] < cut + 290ms; ++i) {
    EXPECT_GE(log.times[i] - log.times[i - 1], 18ms) << "spaced for 56/s, not 100/s: grant " << i;
  }
  budget.stop();
  run_for(io, 10ms);
}

// Without a 429 the rate grows back by a twentieth of the configured one per period; it never
// falls below a tenth; a reload starts from the new configured rate.
TEST(request_budget, the_rate_grows_back_and_has_a_floor) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 100, .regrowth_period = 40ms}};
  budget.record(answer_kind::rate_limited, 1ms);
  EXPECT_DOUBLE_EQ(budget.rate(), 75);
  run_for(io, 50ms);
  EXPECT_GT(budget.rate(), 75);
  EXPECT_LT(budget.rate(), 100);
  run_for(io, 250ms);
  EXPECT_DOUBLE_EQ(budget.rate(), 100) << "five periods bring it back";

  for (int i = 0; i < 20; ++i) {
    budget.record(answer_kind::rate_limited, 1ms);
    run_for(io, 2ms);
  }
  EXPECT_DOUBLE_EQ(budget.rate(), 10) << "never below a tenth";
  budget.set_rate(40);
  EXPECT_DOUBLE_EQ(budget.rate(), 40);
  budget.stop();
  run_for(io, 10ms);
}

TEST(request_budget, a_probe_that_never_reports_frees_the_queue) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 1000, .probe_timeout = 200ms}};
  grant_log log;
  budget.record(answer_kind::unauthorized, std::nullopt);
  EXPECT_TRUE(budget.paused_until().has_value());
  budget.stop();
  run_for(io, 10ms);

  asio::io_context io2;
  request_budget short_pause{io2.get_executor(),
                             {.requests_per_second = 1000, .probe_timeout = 200ms, .unauthorized_pause = 50ms}};
  short_pause.record(answer_kind::unauthorized, std::nullopt);
  for (int i = 0; i < 3; ++i) spawn_acquirer(io2, short_pause, log, i);
  run_for(io2, 150ms);
  EXPECT_EQ(log.order.size(), 1U);
  run_for(io2, 300ms);
  EXPECT_EQ(log.order.size(), 3U);
  short_pause.stop();
  run_for(io2, 10ms);
}

TEST(request_budget, abandoned_waiters_leave_the_queue) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 10}};
  grant_log log;
  asio::steady_timer wake{io};
  spawn_acquirer(io, budget, log, 0);         // granted at once
  spawn_acquirer(io, budget, log, 1, &wake);  // will be abandoned
  spawn_acquirer(io, budget, log, 2);
  run_for(io, 20ms);
  EXPECT_EQ(budget.waiting(), 2U);
  wake.cancel();
  run_for(io, 20ms);
  EXPECT_EQ(budget.waiting(), 1U);
  run_for(io, 150ms);
  EXPECT_EQ(log.order, (std::vector<int>{0, 2}));
  budget.stop();
  run_for(io, 10ms);
}

// Sweeps of the change feed go ahead of queued polls, in their own order, and behind none of them.
TEST(request_budget, ahead_callers_pass_the_line_but_not_each_other) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 10}};  // a grant every 105 ms
  grant_log log;
  for (int i = 0; i < 4; ++i) spawn_acquirer(io, budget, log, i);  // 0 is granted at once
  run_for(io, 5ms);
  spawn_acquirer(io, budget, log, 10, nullptr, request_budget::place::ahead);
  asio::steady_timer abandoned{io};
  spawn_acquirer(io, budget, log, 11, &abandoned, request_budget::place::ahead);
  spawn_acquirer(io, budget, log, 12, nullptr, request_budget::place::ahead);
  spawn_acquirer(io, budget, log, 4);
  run_for(io, 5ms);
  abandoned.cancel();
  run_for(io, 5ms);
  spawn_acquirer(io, budget, log, 13, nullptr, request_budget::place::ahead);
  run_for(io, 1000ms);
  EXPECT_EQ(log.order, (std::vector<int>{0, 10, 12, 13, 1, 2, 3, 4}));
  budget.stop();
  run_for(io, 10ms);
}

// A probe granted but never sent (its poll was stopped) hands the probe to the next caller at
// once instead of holding everyone until the probe timeout.
TEST(request_budget, an_unused_probe_passes_the_probe_on) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 1000, .probe_timeout = 10s}};
  grant_log log;
  budget.record(answer_kind::rate_limited, 20ms);
  for (int i = 0; i < 3; ++i) spawn_acquirer(io, budget, log, i);
  run_for(io, 100ms);
  ASSERT_EQ(log.order.size(), 1U) << "the probe only";
  budget.release();
  run_for(io, 50ms);
  ASSERT_EQ(log.order.size(), 2U) << "the next one probes in its place";
  budget.record(answer_kind::run, std::nullopt);
  run_for(io, 50ms);
  EXPECT_EQ(log.order.size(), 3U);
  budget.stop();
  run_for(io, 10ms);
}

TEST(request_budget, stop_fails_every_waiter) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 1}};
  grant_log log;
  for (int i = 0; i < 4; ++i) spawn_acquirer(io, budget, log, i);
  run_for(io, 20ms);
  EXPECT_EQ(log.order.size(), 1U);
  budget.stop();
  run_for(io, 20ms);
  EXPECT_EQ(log.order.size(), 1U);
  EXPECT_EQ(budget.waiting(), 0U);
}

}  // namespace
}  // namespace hookless
