// The shared request budget: a FIFO of waiters released by one dispatcher coroutine.
#include "core/net/request_budget.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace hookless {

namespace asio = boost::asio;
using steady_clock = std::chrono::steady_clock;

namespace {

// R requests are spread over a second and a little more, so that the network's jitter (a slow
// connect or a delayed packet, up to this much) never puts R + 1 arrivals into one second at Extend.
constexpr std::chrono::duration<double> jitter_allowance{0.05};

steady_clock::duration spacing_for(double requests_per_second) {
  const auto spacing = (std::chrono::seconds{1} + jitter_allowance) / requests_per_second;
  return std::chrono::duration_cast<steady_clock::duration>(spacing);
}

}  // namespace

request_budget::request_budget(asio::any_io_executor executor, options settings)
    : settings_(settings),
      configured_rate_(settings.requests_per_second),
      cut_rate_(settings.requests_per_second),
      kick_(executor),
      next_rate_limited_pause_(settings.rate_limited_pause) {
  asio::co_spawn(executor, dispatch(), [](std::exception_ptr failure) {
    if (failure) std::rethrow_exception(failure);  // a bug: let the io_context report it
  });
}

request_budget::~request_budget() { stop(); }

steady_clock::time_point request_budget::gate() const {
  auto at = std::max(next_free_, paused_until_);
  if (probe_deadline_) at = std::max(at, *probe_deadline_);
  return at;
}

void request_budget::grant(waiter& w, steady_clock::time_point now) {
  w.granted = true;
  next_free_ = std::max(now, next_free_) + spacing_for(rate_at(now));
  ++granted_;
  if (probe_due_) {
    probe_due_ = false;
    probe_deadline_ = now + settings_.probe_timeout;
  }
}

asio::awaitable<bool> request_budget::acquire(asio::steady_timer& wake, place where) {
  if (stopped_) co_return false;
  const auto now = steady_clock::now();
  waiter self{&wake, where};
  if (queue_.empty() && gate() <= now) {
    grant(self, now);
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
    if (queue_.empty()) {
      kick_.expires_at(steady_clock::time_point::max());  // until a waiter comes
    } else if (probe_deadline_ && *probe_deadline_ <= now) {
      probe_deadline_.reset();  // the probe never reported: do not hold everyone forever
      continue;
    } else if (const auto at = gate(); at > now) {
      kick_.expires_at(at);
    } else {
      waiter* next = queue_.front();
      queue_.pop_front();
      if (next->where == place::ahead) --ahead_;
      grant(*next, now);
      next->wake->cancel();
      continue;
    }
    co_await kick_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void request_budget::pause(steady_clock::time_point until) {
  paused_until_ = std::max(paused_until_, until);
  probe_due_ = true;
  probe_deadline_.reset();
  kick_.cancel();
}

// While a probe is out nothing else is granted, so a turn handed back then is the probe's.
void request_budget::release() {
  if (!probe_deadline_) return;
  probe_deadline_.reset();
  probe_due_ = true;
  kick_.cancel();
}

void request_budget::record(answer_kind answer, std::optional<std::chrono::milliseconds> retry_after) {
  const auto now = steady_clock::now();
  switch (answer) {
    case answer_kind::rate_limited: {
      if (paused_until_ <= now) slow_down(now);  // during a pause: a request sent before it
      const auto delay = retry_after.value_or(next_rate_limited_pause_);
      next_rate_limited_pause_ = std::min(next_rate_limited_pause_ * 2, settings_.longest_rate_limited_pause);
      pause(now + std::max(delay, std::chrono::milliseconds{1}));
      return;
    }
    case answer_kind::unauthorized:
      pause(now + settings_.unauthorized_pause);
      return;
    default:
      next_rate_limited_pause_ = settings_.rate_limited_pause;
      if (probe_deadline_) {
        probe_deadline_.reset();
        kick_.cancel();
      }
      return;
  }
}

void request_budget::set_rate(double requests_per_second) {
  configured_rate_ = requests_per_second;
  cut_rate_ = requests_per_second;
  kick_.cancel();
}

double request_budget::rate_at(steady_clock::time_point now) const {
  if (cut_rate_ >= configured_rate_) return configured_rate_;
  const auto periods = (now - cut_at_) / settings_.regrowth_period;
  const auto regrown = configured_rate_ * settings_.regrowth_share * static_cast<double>(periods);
  return std::min(configured_rate_, cut_rate_ + regrown);
}

void request_budget::slow_down(steady_clock::time_point now) {
  const auto lowest = configured_rate_ * settings_.lowest_rate_share;
  cut_rate_ = std::max(lowest, rate_at(now) * settings_.rate_kept_after_429);
  cut_at_ = now;
  spdlog::warn("Extend answered 429: down to {:.2f} requests/s (configured {}), growing back while no 429 comes",
               cut_rate_, configured_rate_);
}

std::optional<steady_clock::time_point> request_budget::paused_until() const {
  if (paused_until_ > steady_clock::now()) return paused_until_;
  return std::nullopt;
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
