// The control server: HTTP/1.1 over the control Unix socket (docs/control-api.md). It accepts
// connections, reads each caller's uid with SO_PEERCRED, parses requests under size and time
// limits, and hands them to control_routes; it knows nothing about runs itself.
#pragma once

#include "core/model/settings.hpp"
#include "daemon/control/control_backend.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace hookless {

// A connection over a limit is answered 503 busy (naming the limit) and closed. One user cannot
// hold every connection: each non-admin uid has its own cap, and the last ones are kept for
// control.admin_uids, so an admin can always look in.
struct control_server_limits {
  std::size_t max_connections = 1024;                 // open connections, admins' included
  std::size_t max_connections_per_uid = 256;          // open connections of one non-admin uid
  std::size_t reserved_for_admins = 64;               // of max_connections, only admins may use these
  std::size_t max_header_bytes = 16 * 1024;           // request line and headers of one request
  std::chrono::milliseconds request_timeout{10'000};  // headers and body of one request (not a ?wait)
  std::chrono::milliseconds idle_timeout{60'000};     // a kept-alive connection with no new request
  std::chrono::milliseconds write_timeout{10'000};    // writing one response
};

class control_server {
 public:
  // Listens on config.socket: removes a stale socket file (refusing when another daemon answers
  // on it or the path is not a socket), then applies socket_mode and socket_group.
  // Throws std::runtime_error naming the path or group on failure.
  control_server(boost::asio::any_io_executor executor, control_backend& backend, const control_config& config,
                 control_server_limits limits = {});
  // Serves a socket that is already bound and listening (systemd socket activation); its mode and
  // group are the socket unit's business. Takes ownership of the fd.
  control_server(boost::asio::any_io_executor executor, control_backend& backend, const control_config& config,
                 int listening_fd, control_server_limits limits = {});
  // Closes the listening socket and every connection; call stop() first for an orderly end.
  ~control_server();
  control_server(const control_server&) = delete;
  control_server& operator=(const control_server&) = delete;

  // Starts accepting. Every task it spawns logs its own failure; nothing is detached.
  void start();
  // Stops accepting, closes every connection (cancelling long-polls), and waits up to `bound`
  // for their coroutines to end. Removes the socket file it created.
  awaitable<void> stop(std::chrono::milliseconds bound = std::chrono::milliseconds{5'000});

  std::size_t connection_count() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace hookless
