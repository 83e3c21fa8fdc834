// One request budget shared by every request to Extend, so the daemon never causes a 429: callers
// queue in order and are let through at most `requests_per_second`, evenly spaced. Turns are taken
// inside a connection-pool slot just before the request leaves, so the pool alone bounds the
// requests in flight. Callers that ask to go `ahead` (change-feed sweeps and the polls of the runs
// they wake; the pool's slots honour the same request_place) queue in front of the others, so a
// backlog of polls cannot starve change detection. A 429 or an auth failure pauses
// everyone; after a pause one request goes first as a probe, and the rest wait for its answer, so a
// pause never ends in a burst of refusals. A 429 also means something else spends the same
// organisation's limit (another client, a lower plan than configured): the rate drops by a quarter
// for each one (429s answering requests sent before the pause count once), never below a tenth, and
// grows back by a twentieth of the configured rate every 5 s without one.
#pragma once

#include "core/model/answer_kind.hpp"
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

  struct options {
    double requests_per_second = 10;
    std::chrono::milliseconds probe_timeout{35'000};        // a probe that never reports frees the queue after this
    std::chrono::milliseconds unauthorized_pause{30'000};   // how often a rejected key is tried again
    std::chrono::milliseconds rate_limited_pause{1'000};    // after a 429 without Retry-After, doubling...
    std::chrono::milliseconds longest_rate_limited_pause{60'000};  // ...up to this
    double rate_kept_after_429 = 0.75;              // a 429 cuts the rate to this share of what it was,
    double lowest_rate_share = 0.1;                 // never below this share of requests_per_second;
    std::chrono::milliseconds regrowth_period{5'000};  // every this long without one it grows back
    double regrowth_share = 0.05;                   // by this share of requests_per_second
  };

  request_budget(boost::asio::any_io_executor executor, options settings);
  request_budget(const request_budget&) = delete;
  request_budget& operator=(const request_budget&) = delete;
  ~request_budget();

  using place = request_place;

  // Waits, in order with every other caller, until one request may be sent; `ahead` waits only
  // behind other `ahead` callers. `wake` is the caller's own timer: cancelling it abandons the
  // wait, and then this returns false (as it does once the budget is stopped).
  boost::asio::awaitable<bool> acquire(boost::asio::steady_timer& wake, place where = place::in_line);

  // Every request sent ends here with its answer (or transport failure): 429s and auth failures
  // pause the budget; anything else ends a probe.
  void record(answer_kind answer, std::optional<std::chrono::milliseconds> retry_after);
  // A granted turn that was not used: if it was a probe, the next grant probes instead.
  void release();

  // A new configured rate (a reload); it is also the rate from now on.
  void set_rate(double requests_per_second);
  // The rate granted now: the configured one, or less after 429s.
  double rate() const { return rate_at(steady_clock::now()); }
  double configured_rate() const { return configured_rate_; }
  void stop();  // fails every waiter; for shutdown

  std::size_t waiting() const { return queue_.size(); }
  std::optional<steady_clock::time_point> paused_until() const;
  std::uint64_t granted() const { return granted_; }

 private:
  struct waiter {
    boost::asio::steady_timer* wake;
    place where = place::in_line;
    bool granted = false;
  };

  boost::asio::awaitable<void> dispatch();
  steady_clock::time_point gate() const;
  void grant(waiter& w, steady_clock::time_point now);
  void pause(steady_clock::time_point until);
  void slow_down(steady_clock::time_point now);
  double rate_at(steady_clock::time_point now) const;

  options settings_;
  double configured_rate_;
  double cut_rate_;                            // the rate right after the last 429 (or the configured one)
  steady_clock::time_point cut_at_{};          // when; it grows back from there
  boost::asio::steady_timer kick_;
  std::list<waiter*> queue_;  // `ahead` waiters first
  std::size_t ahead_ = 0;     // how many of them
  steady_clock::time_point next_free_{};
  steady_clock::time_point paused_until_{};
  bool probe_due_ = false;                // the next grant is a probe
  std::optional<steady_clock::time_point> probe_deadline_;  // a probe is out until it reports or this passes
  std::chrono::milliseconds next_rate_limited_pause_;
  std::uint64_t granted_ = 0;
  bool stopped_ = false;
};

}  // namespace hookless
