// Opening a sink's connection (see connection_sink.hpp).
#include "core/delivery/connection_sink.hpp"

#include <fmt/format.h>

namespace hookless {

awaitable<opened_connection> open_connection(const boost::asio::any_io_executor& executor,
                                             boost::asio::ssl::context* tls, const connection_address& to,
                                             std::chrono::steady_clock::time_point deadline) {
  auto conn = std::make_unique<http_connection>(executor, to.kind, tls);
  if (to.kind == transport::unix_socket) {
    auto failed = co_await conn->connect(to.socket_path, deadline);
    if (failed) co_return "connect " + to.shown + ": " + failed->message();
    co_return conn;
  }
  auto failed = co_await conn->connect(to.host, to.port, deadline);
  if (failed && failed->stage == open_stage::resolve) co_return "resolve " + to.host + ": " + failed->message();
  if (failed) co_return fmt::format("connect {}: {}", to.shown, failed->message());
  if (to.kind == transport::tls) {
    auto refused = co_await conn->handshake(to.host, deadline);
    if (refused && refused->stage == open_stage::tls_setup) co_return "TLS: " + refused->message();
    if (refused) co_return fmt::format("TLS handshake with {}: {}", to.shown, refused->message());
  }
  co_return conn;
}

}  // namespace hookless
