// hooklessd put together: the state store, the Extend client, the budget, the tracker, the sinks
// and the control server on one io_context, with signals for stop and reopen.
#pragma once

#include "config/config.hpp"

#include <string>

namespace hookless {

// Runs the daemon until SIGTERM or SIGINT (exit status 0) or a failure it cannot continue from,
// such as a state store that may have lost data (non-zero, for systemd to restart it).
int run_daemon(const config& settings, const std::string& api_key);

}  // namespace hookless
