// The shared request budget: a FIFO of waiters released by one dispatcher coroutine when the pacer
// says the next turn may go.
#include "core/net/request_budget.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hookless {

namespace asio = boost::asio;
using steady_clock = std::chrono::steady_clock;

request_budget::request_budget(asio::any_io_executor executor, options settings) : pacer_(settings), kick_(executor) {
  asio::co_spawn(executor, dispatch(), [](std::exception_ptr failure) {
    if (failure) std::rethrow_exception(failure);  // a bug: let the io_context report it
  });
}

request_budget::~request_budget() { stop(); }

asio::awaitable<bool> request_budget::acquire(asio::steady_timer& wake, place where) {
  if (stopped_) co_return false;
  const auto now = steady_clock::now();
  waiter self{&wake, where};
  if (queue_.empty() && open(now) && pacer_.next_turn_at(now) <= now) {
    grant(now);
    co_return true;
  }
  const bool ahead = where == place::ahead;
  const auto before = ahead ? std::next(queue_.begin(), static_cast<std::ptrdiff_t>(ahead_)) : queue_.end();
  const auto position = queue_.insert(before, &self);
  if (ahead) ++ahead_;
  kick_.cancel();
  wake.expires_at(steady_clock::time_point::max());
  co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!self.granted) {
    // Abandoned by the caller or by stop(); the dispatcher never hands out a removed waiter.
    if (!stopped_) {
      queue_.erase(position);
      if (ahead) --ahead_;
    }
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> request_budget::dispatch() {
  while (!stopped_) {
    const auto now = steady_clock::now();
    if (queue_.empty() || !open(now)) {
      kick_.expires_at(steady_clock::time_point::max());  // until a waiter comes or the gate opens
    } else if (const auto at = pacer_.next_turn_at(now); at > now) {
      kick_.expires_at(at);
    } else {
      waiter* next = queue_.front();
      queue_.pop_front();
      if (next->where == place::ahead) --ahead_;
      grant(now);
      next->granted = true;
      next->wake->cancel();
      continue;
    }
    co_await kick_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void request_budget::grant(steady_clock::time_point now) {
  pacer_.grant(now);
  last_grant_ = now;
}

void request_budget::open_until(steady_clock::time_point until) {
  open_until_ = until;
  kick_.cancel();  // the dispatcher looks again: it may grant now, or must wait for the gate
}

void request_budget::release() {
  pacer_.release();
  kick_.cancel();
}

void request_budget::record(refusal answer, std::optional<std::chrono::milliseconds> retry_after) {
  const auto now = steady_clock::now();
  if (pacer_.record(answer, retry_after, now)) {
    spdlog::warn("Extend answered 429: down to {:.2f} requests/s (configured {}), growing back while no 429 comes",
                 pacer_.rate(now), pacer_.configured_rate());
  }
  kick_.cancel();  // a pause holds the next turn, an answer to the probe frees it
}

void request_budget::set_rate(double requests_per_second) {
  pacer_.set_rate(requests_per_second);
  kick_.cancel();
}

void request_budget::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (waiter* w : queue_) w->wake->cancel();
  queue_.clear();
  ahead_ = 0;
  kick_.cancel();
}

}  // namespace hookless
