// The poller lease as this daemon trusts it, on its own monotonic clock: pure, every call is given
// the time. The database grants the lease until its own clock_timestamp() + ttl, which is later than
// the moment the claim was sent + ttl; this daemon trusts it only until that moment + ttl - margin,
// so it stops sending to Extend at least `margin` before any other daemon can take the lease (a
// margin of more than a second keeps the last second of one poller and the first of the next apart,
// so no second sees more than the one rate limit).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace hookless {

class poller_lease {
 public:
  using steady_time = std::chrono::steady_clock::time_point;

  enum class change {
    none,     // nothing this daemon must act on
    gained,   // it is the poller now, under term()
    renewed,  // still the poller; trusted longer
    lost,     // no longer the poller: stop sending and polling at once
  };

  poller_lease(std::chrono::milliseconds ttl, std::chrono::milliseconds margin);

  // A claim sent at `sent` answered at `now` with the term it holds (nullopt: another process holds
  // the lease). A grant whose trust ran out before it answered is not trusted; a term other than the
  // one held means the lease was lost meanwhile (the next claim gains it afresh).
  change answered(std::optional<std::uint64_t> term, steady_time sent, steady_time now);
  // The trust runs out at trusted_until() unless a renewal answered in time.
  change check(steady_time now);
  // Resigning, or a fenced write was refused: not the poller any more.
  change give_up();

  bool holding() const { return term_.has_value(); }
  bool trusted(steady_time now) const { return holding() && now < trusted_until_; }
  std::optional<std::uint64_t> term() const { return term_; }
  steady_time trusted_until() const { return trusted_until_; }

 private:
  std::chrono::milliseconds ttl_;
  std::chrono::milliseconds margin_;
  std::optional<std::uint64_t> term_;  // held and trusted (until trusted_until_)
  steady_time trusted_until_{};
};

}  // namespace hookless
