// One request to Extend within the request budget, as the scheduler and the start-up key check
// make it: the run source awaits a turn just before the request leaves (after any connect, so a
// slow connect cannot bunch requests up; a retry on a fresh connection takes another turn); a turn
// is not taken, or handed back, once the request is no longer wanted; and the answer is recorded in
// the budget only when a request was sent.
#pragma once

#include "core/extend/run_source.hpp"
#include "core/net/request_budget.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <optional>

namespace hookless {

class budget_turn {
 public:
  // `wake` is the caller's timer: cancelling it abandons the wait for a turn. `gone` says the
  // request is no longer wanted (its run stopped, its feed started over).
  budget_turn(
      request_budget& budget, boost::asio::steady_timer& wake, request_place where,
      std::function<bool()> gone = [] { return false; });

  // What the run source awaits before each send. Valid while this lives.
  run_source::send_turn waiter();
  // The answer (or transport failure) of the request: recorded in the budget if one was sent.
  void record(answer_kind kind, std::optional<std::chrono::milliseconds> retry_after);
  // The last turn asked for was not taken: the budget stopped, the wait was cut short, or the
  // request was no longer wanted.
  bool abandoned() const { return abandoned_; }

 private:
  awaitable<bool> take();

  request_budget& budget_;
  boost::asio::steady_timer& wake_;
  request_place where_;
  std::function<bool()> gone_;
  bool sent_ = false;
  bool abandoned_ = false;
};

}  // namespace hookless
