// Registering many runs through a daemon's control socket as fast as it takes them, for the figures
// that count registrations per second or time from a moment on.
#pragma once

#include "tests/blackbox/blackbox_support.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

namespace hookless::bench {

// Seconds from `start` to now.
double seconds_since(std::chrono::steady_clock::time_point start);

// Registers runs 0 to runs - 1, named by `id_of`, in batches of 10,000 (the control API's most per
// request) one after the other. Returns runs per second; throws when a batch is refused.
double register_batched(const blackbox::daemon_process& daemon, std::size_t runs,
                        const std::function<std::string(std::size_t)>& id_of);

}  // namespace hookless::bench
