// The SDK polling cadence as a closed form of the run's age.
#include "core/tracking/poll_schedule.hpp"

#include <algorithm>
#include <cmath>

namespace hookless {

using std::chrono::milliseconds;

milliseconds base_interval(const polling_config& polling, milliseconds age) {
  const auto fast = static_cast<double>(polling.fast_interval.count());
  const auto cap = static_cast<double>(polling.max_interval.count());
  if (age < polling.fast_period || polling.backoff <= 1.0) return std::min(polling.fast_interval, polling.max_interval);
  // After the fast period the intervals are fast*b, fast*b^2, ...; the first k of them add up to
  // fast*b*(b^k - 1)/(b - 1). The next interval is fast*b^(k+1) for the largest k that fits.
  const double b = polling.backoff;
  const auto elapsed = static_cast<double>((age - polling.fast_period).count());
  // The epsilon keeps an age that lands exactly on a poll from rounding down to the previous one.
  const double k = std::floor(std::log1p(elapsed * (b - 1) / (fast * b)) / std::log(b) + 1e-9);
  const double interval = fast * std::pow(b, k + 1);
  return milliseconds{static_cast<milliseconds::rep>(std::min(interval, cap))};
}

milliseconds jittered(milliseconds base, double jitter, double draw) {
  const double factor = 1.0 + jitter * std::clamp(draw, -1.0, 1.0);
  const auto value = static_cast<milliseconds::rep>(static_cast<double>(base.count()) * factor);
  return milliseconds{std::max<milliseconds::rep>(value, 1)};
}

milliseconds retry_delay(const polling_config& polling, unsigned consecutive_failures) {
  const unsigned doublings = std::min(consecutive_failures, 20U) - (consecutive_failures > 0 ? 1 : 0);
  const auto delay = polling.fast_interval * (1LL << doublings);
  return std::min<milliseconds>(delay, std::max(polling.max_interval, polling.fast_interval));
}

}  // namespace hookless
