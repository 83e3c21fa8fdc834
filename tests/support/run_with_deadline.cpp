// The deadline runners of run_with_deadline.hpp.
#include "tests/support/run_with_deadline.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <memory>

namespace hookless::test {

using namespace std::chrono_literals;

bool run_until(boost::asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < until) {
    io.restart();
    io.run_for(5ms);
  }
  return done();
}

bool run_with_deadline(boost::asio::io_context& io, std::function<boost::asio::awaitable<void>()> body,
                       std::chrono::milliseconds limit, run_stop stop) {
  // Shared, not on this frame: a body that missed its deadline may still finish during a later run
  // of `io`, after this frame is gone (AddressSanitizer: stack-use-after-return).
  struct outcome {
    bool returned = false;
    std::exception_ptr error;
  };
  const auto result = std::make_shared<outcome>();
  auto finished = [result](std::exception_ptr e) {
    result->returned = true;
    result->error = e;
  };
  boost::asio::co_spawn(io, std::move(body), finished);
  if (stop == run_stop::work_ran_out) {
    io.restart();
    io.run_for(limit);
  } else {
    run_until(
        io, [&] { return result->returned; }, limit);
  }
  EXPECT_TRUE(result->returned) << "the test body did not finish within " << limit.count() << " ms";
  if (result->error) std::rethrow_exception(result->error);
  return result->returned;
}

boost::asio::awaitable<bool> eventually(std::function<bool()> done, std::chrono::milliseconds limit) {
  boost::asio::steady_timer tick{co_await boost::asio::this_coro::executor};
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= give_up) co_return false;
    tick.expires_after(5ms);
    co_await tick.async_wait(boost::asio::use_awaitable);
  }
  co_return true;
}

boost::asio::awaitable<void> pause_for(std::chrono::milliseconds how_long) {
  boost::asio::steady_timer tick{co_await boost::asio::this_coro::executor, how_long};
  co_await tick.async_wait(boost::asio::use_awaitable);
}

}  // namespace hookless::test
