// A request's turns of the request budget on a real io_context: a request sent has its answer
// recorded, one never sent does not; a request no longer wanted takes no turn, and a turn granted
// after it went is handed back (the probe passes on at once).
#include "core/extend/budget_turn.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <optional>

namespace hookless {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Takes one turn, as a run source does before its send; the result once it has one.
void take_turn(asio::io_context& io, budget_turn& turn, std::optional<bool>& result) {
  asio::co_spawn(
      io,
      [&turn, &result]() -> awaitable<void> {
        const auto wait_turn = turn.waiter();
        result = co_await wait_turn();
      },
      [](std::exception_ptr failure) {
        if (failure) std::rethrow_exception(failure);
      });
}

void run_for(asio::io_context& io, std::chrono::milliseconds how_long) {
  io.restart();
  io.run_for(how_long);
}

TEST(budget_turn, a_request_sent_has_its_answer_recorded_in_the_budget) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 1000}};
  asio::steady_timer wake{io};
  budget_turn turn{budget, wake, request_place::in_line};
  std::optional<bool> granted;
  take_turn(io, turn, granted);
  run_for(io, 10ms);
  EXPECT_EQ(granted, true);
  EXPECT_FALSE(turn.abandoned());
  turn.record(answer_kind::rate_limited, 50ms);
  EXPECT_TRUE(budget.paused_until().has_value()) << "a 429 pauses the budget";
  budget.stop();
  run_for(io, 10ms);
}

TEST(budget_turn, a_request_never_sent_records_nothing) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 1000}};
  asio::steady_timer wake{io};
  budget_turn turn{budget, wake, request_place::in_line};
  turn.record(answer_kind::rate_limited, 50ms);  // (its connection failed before the send)
  EXPECT_FALSE(budget.paused_until().has_value());
  EXPECT_FALSE(turn.abandoned());
  budget.stop();
  run_for(io, 10ms);
}

TEST(budget_turn, a_request_no_longer_wanted_takes_no_turn) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 1000}};
  asio::steady_timer wake{io};
  budget_turn turn{budget, wake, request_place::ahead, [] { return true; }};
  std::optional<bool> granted;
  take_turn(io, turn, granted);
  run_for(io, 10ms);
  EXPECT_EQ(granted, false);
  EXPECT_TRUE(turn.abandoned());
  EXPECT_EQ(budget.granted(), 0U);
  budget.stop();
  run_for(io, 10ms);
}

// The probe after a pause goes to a request that is stopped while it waits: it is handed back, and
// the next caller probes at once instead of waiting out the probe timeout.
TEST(budget_turn, a_turn_granted_after_the_request_went_is_handed_back) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 1000, .probe_timeout = 10s}};
  budget.record(refusal::rate_limited, 20ms);
  asio::steady_timer first_wake{io};
  bool first_gone = false;
  budget_turn first{budget, first_wake, request_place::in_line, [&] { return first_gone; }};
  asio::steady_timer second_wake{io};
  budget_turn second{budget, second_wake, request_place::in_line};
  std::optional<bool> first_granted;
  std::optional<bool> second_granted;
  take_turn(io, first, first_granted);
  take_turn(io, second, second_granted);
  run_for(io, 5ms);
  first_gone = true;  // stopped during the pause
  run_for(io, 100ms);
  EXPECT_EQ(first_granted, false);
  EXPECT_TRUE(first.abandoned());
  EXPECT_EQ(second_granted, true) << "the probe passed on";
  budget.stop();
  run_for(io, 10ms);
}

TEST(budget_turn, a_stopped_budget_abandons_the_request) {
  asio::io_context io;
  request_budget budget{io.get_executor(), {.requests_per_second = 1000}};
  budget.stop();
  asio::steady_timer wake{io};
  budget_turn turn{budget, wake, request_place::in_line};
  std::optional<bool> granted;
  take_turn(io, turn, granted);
  run_for(io, 10ms);
  EXPECT_EQ(granted, false);
  EXPECT_TRUE(turn.abandoned());
}

}  // namespace
}  // namespace hookless
