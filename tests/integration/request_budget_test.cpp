// The shared request budget on a real io_context: its queue and timers. Grants go in order, spaced
// so that no second ever carries more than the rate; `ahead` callers pass the line; a pause holds
// every waiter until the probe after it answers; abandoned waiters leave; stop fails them all.
// When a turn may go (the arithmetic) is request_pacer's, tested without a clock in
// unit/request_pacer_test.cpp.
#include "core/net/request_budget.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <functional>
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

// Runs the io_context until `grants` turns were granted (or `limit` passed).
void run_until_granted(asio::io_context& io, const grant_log& log, std::size_t grants, steady::duration limit) {
  const auto give_up = steady::now() + limit;
  while (log.order.size() < grants && steady::now() < give_up) run_for(io, 5ms);
}

TEST(request_budget, grants_in_order_and_never_more_than_the_rate_in_any_second) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 20}};
  grant_log log;
  constexpr int callers = 25;  // more than a second's worth
  for (int i = 0; i < callers; ++i) spawn_acquirer(io, budget, log, i);
  run_until_granted(io, log, callers, 3s);
  ASSERT_EQ(log.order.size(), static_cast<std::size_t>(callers));
  for (int i = 0; i < callers; ++i) EXPECT_EQ(log.order[static_cast<std::size_t>(i)], i);
  for (std::size_t i = 1; i < log.times.size(); ++i) {
    EXPECT_GE(log.times[i] - log.times[i - 1], 50ms) << "grant " << i;
  }
  for (std::size_t i = 0; i < log.times.size(); ++i) {
    const auto in_window = std::count_if(log.times.begin() + static_cast<std::ptrdiff_t>(i), log.times.end(),
                                         [&](steady::time_point t) { return t - log.times[i] < 1s; });
    EXPECT_LE(in_window, 20) << "window starting at grant " << i;
  }
  budget.stop();
  run_for(io, 10ms);
}

// A 429 holds everyone for its Retry-After; then one probe goes, and the rest wait for its answer.
// A probe handed back unused passes the probe on.
TEST(request_budget, a_pause_holds_every_waiter_until_the_probe_after_it_answers) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 1000}};
  grant_log log;
  const auto paused_at = steady::now();  // record() counts the pause from its own call
  budget.record(refusal::rate_limited, 50ms);
  EXPECT_TRUE(budget.paused_until().has_value());
  EXPECT_DOUBLE_EQ(budget.rate(), 750);
  for (int i = 0; i < 5; ++i) spawn_acquirer(io, budget, log, i);
  run_for(io, 30ms);
  EXPECT_TRUE(log.order.empty()) << "nobody goes during the pause";
  run_until_granted(io, log, 1, 1s);
  ASSERT_EQ(log.order.size(), 1U);
  EXPECT_GE(log.times[0] - paused_at, 50ms);
  run_for(io, 30ms);
  ASSERT_EQ(log.order.size(), 1U) << "only the probe goes until it reports";
  budget.release();
  run_until_granted(io, log, 2, 1s);
  run_for(io, 20ms);
  ASSERT_EQ(log.order.size(), 2U) << "the next one probes in its place";
  budget.record(refusal::none, std::nullopt);
  run_until_granted(io, log, 5, 1s);
  EXPECT_EQ(log.order, (std::vector<int>{0, 1, 2, 3, 4}));
  budget.stop();
  run_for(io, 10ms);
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
  run_until_granted(io, log, 2, 1s);
  EXPECT_EQ(log.order, (std::vector<int>{0, 2}));
  budget.stop();
  run_for(io, 10ms);
}

// Sweeps of the change feed go ahead of queued polls, in their own order, and behind none of them.
TEST(request_budget, ahead_callers_pass_the_line_but_not_each_other) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 20}};  // a grant every 52.5 ms
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
  run_until_granted(io, log, 8, 2s);
  EXPECT_EQ(log.order, (std::vector<int>{0, 10, 12, 13, 1, 2, 3, 4}));
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

// Several daemons: the gate. Closed, nobody is granted a turn, however long they wait; opened
// until a deadline, turns go at the rate and none at or after the deadline; the waiters then wait
// for the gate to open again.
TEST(request_budget, a_closed_gate_grants_nothing_and_an_open_one_nothing_after_its_deadline) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 50}};
  budget.close();
  grant_log log;
  constexpr int callers = 40;
  for (int i = 0; i < callers; ++i) spawn_acquirer(io, budget, log, i);
  run_for(io, 200ms);
  EXPECT_TRUE(log.order.empty()) << "nothing while the gate is closed";
  EXPECT_EQ(budget.waiting(), static_cast<std::size_t>(callers));

  const auto deadline = steady::now() + 300ms;
  budget.open_until(deadline);
  run_for(io, 600ms);
  ASSERT_FALSE(log.order.empty());
  EXPECT_LT(log.order.size(), static_cast<std::size_t>(callers)) << "300 ms at 50/s grants about 15";
  for (const auto granted_at : log.times) EXPECT_LT(granted_at, deadline);
  const auto before = log.order.size();
  EXPECT_EQ(budget.waiting(), callers - before) << "the others wait for the gate";

  budget.open_until(steady::now() + 10s);  // a renewal
  run_until_granted(io, log, callers, 3s);
  EXPECT_EQ(log.order.size(), static_cast<std::size_t>(callers));
  for (int i = 0; i < callers; ++i) EXPECT_EQ(log.order[static_cast<std::size_t>(i)], i) << "still in order";
  budget.stop();
  run_for(io, 10ms);
}

// A new poller's first second: a crowd of waiters queued while the gate was closed gets no burst
// when it opens (the first turn at once, the next spaced), so its first second stays within the
// rate. (A poller that lost its lease stopped sending more than its trust margin, > 1 s, before.)
TEST(request_budget, the_gate_opening_on_a_waiting_crowd_grants_no_burst) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 10}};
  budget.close();
  grant_log log;
  for (int i = 0; i < 30; ++i) spawn_acquirer(io, budget, log, i);
  run_for(io, 1200ms);  // idle long enough that a token bucket would have filled
  ASSERT_TRUE(log.order.empty());
  const auto opened = steady::now();
  budget.open_until(opened + 10s);
  run_for(io, 1500ms);
  const auto first_second =
      std::count_if(log.times.begin(), log.times.end(), [&](steady::time_point t) { return t - opened < 1s; });
  EXPECT_LE(first_second, 10);
  EXPECT_GE(first_second, 9) << "and it does grant at the rate";
  ASSERT_TRUE(budget.last_grant().has_value());
  EXPECT_GT(*budget.last_grant(), opened);
  EXPECT_LE(*budget.last_grant(), log.times.back());
  budget.stop();
  run_for(io, 10ms);
}

}  // namespace
}  // namespace hookless
