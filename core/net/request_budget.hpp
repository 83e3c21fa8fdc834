// One request budget shared by every request to Extend, so the daemon never causes a 429: callers
// queue in order and are let through at most `requests_per_second`, evenly spaced. Turns are taken
// inside a connection-pool slot just before the request leaves, so the pool alone bounds the
// requests in flight. Callers that ask to go `ahead` (change-feed sweeps and the polls of the runs
// they wake; the pool's slots honour the same request_place) queue in front of the others, so a
// backlog of polls cannot starve change detection. When a turn may go (the spacing, the pauses
// after a 429 or an auth failure, the probe after a pause, the rate cut by 429s and grown back) is
// request_pacer's arithmetic; this is its queue and its timers.
//
// Several daemons on one database share the organisation's one rate limit because only the poller
// asks Extend: the budget has a gate, open (for ever) unless a cluster runtime closes it, and open
// only until the poller's trust deadline while it is the poller. No turn is granted at or after the
// deadline; waiters wait meanwhile. Every request to Extend takes a turn here, so none leaves a
// daemon that is not the trusted poller. The pacer grants no initial burst (the first turn goes at
// once, the next ones spaced), so a new poller's first second stays within the rate too.
#pragma once

#include "core/model/answer_kind.hpp"
#include "core/net/request_pacer.hpp"
#include "core/net/request_place.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <list>
#include <optional>

namespace hookless {

class request_budget {
 public:
  using steady_clock = std::chrono::steady_clock;
  using options = request_pacer::options;

  request_budget(boost::asio::any_io_executor executor, options settings);
  request_budget(const request_budget&) = delete;
  request_budget& operator=(const request_budget&) = delete;
  ~request_budget();

  using place = request_place;

  // Waits, in order with every other caller, until one request may be sent; `ahead` waits only
  // behind other `ahead` callers. `wake` is the caller's own timer: cancelling it abandons the
  // wait, and then this returns false (as it does once the budget is stopped).
  boost::asio::awaitable<bool> acquire(boost::asio::steady_timer& wake, place where = place::in_line);

  // Every request sent ends here with what its answer (or transport failure) means for the budget:
  // a refusal (429, auth failure) pauses it; anything else ends a probe.
  void record(refusal answer, std::optional<std::chrono::milliseconds> retry_after);
  // A granted turn that was not used: if it was a probe, the next grant probes instead.
  void release();

  // A new configured rate (a reload); it is also the rate from now on.
  void set_rate(double requests_per_second);
  // The rate granted now: the configured one, or less after 429s.
  double rate() const { return pacer_.rate(steady_clock::now()); }
  double configured_rate() const { return pacer_.configured_rate(); }
  void stop();  // fails every waiter; for shutdown

  // The gate (several daemons): turns are granted only before `until` on the steady clock (the
  // poller's trust deadline; a renewal moves it on). close(): none from now on, until opened again.
  void open_until(steady_clock::time_point until);
  void close() { open_until(steady_clock::time_point::min()); }
  bool open(steady_clock::time_point now = steady_clock::now()) const { return now < open_until_; }
  // When the last turn was granted (nullopt: never), so a poller that resigns can let the second
  // of its last request pass before another daemon starts sending.
  std::optional<steady_clock::time_point> last_grant() const { return last_grant_; }

  std::size_t waiting() const { return queue_.size(); }
  std::optional<steady_clock::time_point> paused_until() const { return pacer_.paused_until(steady_clock::now()); }
  std::uint64_t granted() const { return pacer_.granted(); }

 private:
  struct waiter {
    boost::asio::steady_timer* wake;
    place where = place::in_line;
    bool granted = false;
  };

  boost::asio::awaitable<void> dispatch();
  void grant(steady_clock::time_point now);

  request_pacer pacer_;
  boost::asio::steady_timer kick_;  // the dispatcher's: cancelled when the queue or the pacer changes
  std::list<waiter*> queue_;        // `ahead` waiters first
  std::size_t ahead_ = 0;           // how many of them
  bool stopped_ = false;
  steady_clock::time_point open_until_ = steady_clock::time_point::max();  // the gate: open for ever by default
  std::optional<steady_clock::time_point> last_grant_;
};

}  // namespace hookless
