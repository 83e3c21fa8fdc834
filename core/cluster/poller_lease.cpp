// The poller lease's trust arithmetic.
#include "core/cluster/poller_lease.hpp"

#include <algorithm>

namespace hookless {

poller_lease::poller_lease(std::chrono::milliseconds ttl, std::chrono::milliseconds margin)
    : ttl_(ttl), margin_(margin) {}

poller_lease::change poller_lease::answered(std::optional<std::uint64_t> term, steady_time sent, steady_time now) {
  const auto until = sent + ttl_ - margin_;
  if (!term || until <= now || (term_ && *term_ != *term)) return give_up();
  if (term_) {
    trusted_until_ = std::max(trusted_until_, until);
    return change::renewed;
  }
  term_ = term;
  trusted_until_ = until;
  return change::gained;
}

poller_lease::change poller_lease::check(steady_time now) {
  if (!holding() || now < trusted_until_) return change::none;
  return give_up();
}

poller_lease::change poller_lease::give_up() {
  if (!holding()) return change::none;
  term_.reset();
  return change::lost;
}

}  // namespace hookless
