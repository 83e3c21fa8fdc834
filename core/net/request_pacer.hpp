// The request budget's arithmetic, without timers or a queue (request_budget has those): when the
// next request may go. Turns are spaced evenly at the rate, a little more than 1/rate apart. A 429
// or an auth failure pauses every turn; the first turn after a pause is a probe, and no other goes
// until it reports (or its timeout passes), so a pause never ends in a burst of refusals. A 429 cuts
// the rate by a quarter (429s answering requests sent before the pause it started count once),
// never below a tenth of the configured rate, and it grows back by a twentieth of the configured
// rate every 5 s without one. Pure: every call is given the time (steady clock).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace hookless {

// What the answer to a granted request tells the budget: a refusal for everyone, or nothing of the
// kind (any other answer, or no answer at all).
enum class refusal { none, rate_limited, unauthorized };

class request_pacer {
 public:
  using steady_time = std::chrono::steady_clock::time_point;

  struct options {
    double requests_per_second = 10;
    std::chrono::milliseconds probe_timeout{35'000};       // a probe that never reports frees the queue after this
    std::chrono::milliseconds unauthorized_pause{30'000};  // how often a rejected key is tried again
    std::chrono::milliseconds rate_limited_pause{1'000};   // after a 429 without Retry-After, doubling...
    std::chrono::milliseconds longest_rate_limited_pause{60'000};  // ...up to this
    double rate_kept_after_429 = 0.75;                             // a 429 cuts the rate to this share of what it was,
    double lowest_rate_share = 0.1;                                // never below this share of requests_per_second;
    std::chrono::milliseconds regrowth_period{5'000};              // every this long without one it grows back
    double regrowth_share = 0.05;                                  // by this share of requests_per_second
  };

  explicit request_pacer(options settings);

  // The earliest time the next turn may be granted: spaced after the last one, after any pause,
  // and while a probe is out, when its timeout passes (a probe out past it is given up on).
  steady_time next_turn_at(steady_time now);
  // A turn is granted at `now` (not before next_turn_at): the next is spaced from it; the first
  // after a pause is the probe.
  void grant(steady_time now);
  // A granted turn that was not used: if it was the probe, the next grant probes instead.
  void release();
  // The answer to a granted request (`retry_after` from its Retry-After header): a refusal pauses
  // every turn, anything else ends a probe. True when a 429 cut the rate.
  bool record(refusal answer, std::optional<std::chrono::milliseconds> retry_after, steady_time now);

  // A new configured rate (a reload); it is also the rate from now on.
  void set_rate(double requests_per_second);
  // The rate granted at `now`: the configured one, or less after 429s.
  double rate(steady_time now) const;
  double configured_rate() const { return configured_rate_; }
  std::optional<steady_time> paused_until(steady_time now) const;
  std::uint64_t granted() const { return granted_; }

 private:
  void pause(steady_time until);
  void slow_down(steady_time now);

  options settings_;
  double configured_rate_;
  double cut_rate_;          // the rate right after the last 429 (or the configured one)
  steady_time cut_at_{};     // when; it grows back from there
  steady_time next_free_{};  // spacing: the next turn not before this
  steady_time paused_until_{};
  bool probe_due_ = false;                     // the next grant is a probe
  std::optional<steady_time> probe_deadline_;  // a probe is out until it reports or this passes
  std::chrono::milliseconds next_rate_limited_pause_;
  std::uint64_t granted_ = 0;
};

}  // namespace hookless
