// One request budget shared by every request to Extend, so the daemon never causes a 429: callers
// queue in order and are let through at most `requests_per_second`, evenly spaced, and never more
// than `max_in_flight` at once (so no request waits for a connection after its turn and then
// goes out bunched with the next ones). A 429 or an
// auth failure pauses everyone; after a pause one request goes first as a probe, and the rest wait
// for its answer, so a pause never ends in a burst of refusals.
#pragma once

#include "core/extend_answer.hpp"

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

  struct options {
    double requests_per_second = 10;
    std::size_t max_in_flight = 4;                          // the connection pool's size
    std::chrono::milliseconds probe_timeout{35'000};        // a probe that never reports frees the queue after this
    std::chrono::milliseconds unauthorized_pause{30'000};   // how often a rejected key is tried again
    std::chrono::milliseconds rate_limited_pause{1'000};    // after a 429 without Retry-After, doubling...
    std::chrono::milliseconds longest_rate_limited_pause{60'000};  // ...up to this
  };

  request_budget(boost::asio::any_io_executor executor, options settings);
  request_budget(const request_budget&) = delete;
  request_budget& operator=(const request_budget&) = delete;
  ~request_budget();

  // Waits, in order with every other caller, until one request may be sent. `wake` is the
  // caller's own timer: cancelling it abandons the wait, and then this returns false (as it does
  // once the budget is stopped).
  boost::asio::awaitable<bool> acquire(boost::asio::steady_timer& wake);

  // Every granted request ends here with its answer (or transport failure): 429s and auth
  // failures pause the budget; anything else ends a probe.
  void record(answer_kind answer, std::optional<std::chrono::milliseconds> retry_after);
  // A granted request that was not sent after all.
  void release();

  void set_rate(double requests_per_second);
  void stop();  // fails every waiter; for shutdown

  std::size_t waiting() const { return queue_.size(); }
  std::optional<steady_clock::time_point> paused_until() const;
  std::uint64_t granted() const { return granted_; }

 private:
  struct waiter {
    boost::asio::steady_timer* wake;
    bool granted = false;
  };

  boost::asio::awaitable<void> dispatch();
  steady_clock::time_point gate() const;
  void grant(waiter& w, steady_clock::time_point now);
  void pause(steady_clock::time_point until);

  options settings_;
  steady_clock::duration spacing_;
  boost::asio::steady_timer kick_;
  std::list<waiter*> queue_;
  steady_clock::time_point next_free_{};
  steady_clock::time_point paused_until_{};
  bool probe_due_ = false;                // the next grant is a probe
  std::optional<steady_clock::time_point> probe_deadline_;  // a probe is out until it reports or this passes
  std::chrono::milliseconds next_rate_limited_pause_;
  std::uint64_t granted_ = 0;
  std::size_t in_flight_ = 0;
  bool stopped_ = false;
};

}  // namespace hookless
