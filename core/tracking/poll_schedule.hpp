// When to poll a run next: the official SDKs' cadence (every fast_interval for fast_period, then
// growing by `backoff` per poll up to max_interval, each interval jittered), and the retry delays
// after errors. Pure functions: the caller passes the time and the random draw.
#pragma once

#include "core/model/settings.hpp"

#include <chrono>

namespace hookless {

// The un-jittered interval before the next poll of a run registered `age` ago. It depends only on
// the age, so a restarted daemon resumes every run at the same point of its cadence.
std::chrono::milliseconds base_interval(const polling_config& polling, std::chrono::milliseconds age);

// `base` times 1 + jitter * draw, where draw is uniform in [-1, 1]; never below 1 ms.
std::chrono::milliseconds jittered(std::chrono::milliseconds base, double jitter, double draw);

// The delay before retrying after `consecutive_failures` (>= 1) failed polls of one run (5xx,
// timeouts, cut connections): doubling from fast_interval, capped at max_interval. A Retry-After
// from the server, when longer, wins.
std::chrono::milliseconds retry_delay(const polling_config& polling, unsigned consecutive_failures);

}  // namespace hookless
