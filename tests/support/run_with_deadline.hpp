// Driving a test's io_context with a deadline, so a bug fails the test instead of hanging it: run
// until a condition holds, or run one coroutine (the test's body) until it returns; and, inside such
// a body, wait for a condition or a while.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>

namespace hookless::test {

// Runs `io` in short slices until `done()` holds or `limit` passed; returns `done()`. Other work
// on `io` (servers, trackers that never run out of work) keeps running meanwhile.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit);

// When run_with_deadline stops driving `io`.
enum class run_stop {
  body_returned,  // as soon as the body has returned
  work_ran_out,   // once `io` has no work left at all (the body returned and nothing else runs)
};

// Runs `body` as a coroutine on `io` until `stop` (or `limit` passes). A body that did not return
// in time fails the calling test; what the body threw is rethrown here. Returns whether it returned.
// The body outlives a missed deadline safely: it may still finish in a later run of `io`.
bool run_with_deadline(boost::asio::io_context& io, std::function<boost::asio::awaitable<void>()> body,
                       std::chrono::milliseconds limit, run_stop stop = run_stop::body_returned);

// Inside a coroutine on the io_context: lets other work run until `done()` holds (true) or `limit`
// passed (false), checking every 5 ms.
boost::asio::awaitable<bool> eventually(std::function<bool()> done, std::chrono::milliseconds limit);

// Inside a coroutine on the io_context: lets other work run for `how_long`.
boost::asio::awaitable<void> pause_for(std::chrono::milliseconds how_long);

}  // namespace hookless::test
