// hooklessd put together: the state store, the Extend client, the budget, the tracker, the sinks
// and the control server on one io_context, with signals for stop and reopen.
#pragma once

#include "core/model/settings.hpp"

#include <optional>
#include <string>

namespace hookless {

struct daemon_options {
  std::string config_path;                        // re-read on SIGHUP
  std::optional<std::string> log_level_override;  // --log-level: wins over logging.level, reloads too
};

// The exit status when another process took this daemon's cluster.node (EX_CONFIG: the names are
// not unique); the systemd unit does not restart it.
inline constexpr int exit_node_replaced = 78;

// Runs the daemon until SIGTERM or SIGINT (exit status 0; with a database, after giving the poller
// lease up) or a failure it cannot continue from, such as a state store that may have lost data
// (non-zero, for systemd to restart it) or another daemon taking its node name (exit_node_replaced).
// A database that cannot be reached at start is waited for (open_state.hpp). SIGHUP reopens file
// sinks and reloads the config from options.config_path. Under systemd it sends READY=1, STATUS=,
// WATCHDOG=1 and STOPPING=1, and serves a socket-activated control socket.
int run_daemon(const config& settings, const std::string& api_key, const daemon_options& options);

}  // namespace hookless
