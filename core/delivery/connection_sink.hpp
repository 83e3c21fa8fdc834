// What the http and redis sinks share: their internals live in a State that each delivery in flight
// keeps alive (shared_state_sink: a sink replaced by a reload can go while deliveries finish), and an attempt takes
// a kept-alive connection (net/http_connection) or opens one, and replaces an idle one that turned
// out stale once (retry_on_fresh_connection).
#pragma once

#include "core/delivery/shared_state_sink.hpp"
#include "core/net/http_connection.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <variant>

namespace hookless {

// A new connection, or why there is none.
using opened_connection = std::variant<std::unique_ptr<http_connection>, std::string>;

// Where a sink connects, and how its errors name the place.
struct connection_address {
  transport kind = transport::tcp;
  std::string host;         // tcp, tls
  std::string port;         // tcp, tls
  std::string socket_path;  // unix_socket
  std::string shown;        // in errors: "connect <shown>: ...", "TLS handshake with <shown>: ..."
};

// Connects (and for tls verifies the server as `host`) by the deadline: the connection, or why not
// ("resolve HOST: ...", "connect SHOWN: ...", "TLS: ...", "TLS handshake with SHOWN: ..."). `tls` is
// needed for transport::tls only and must outlive the connection.
awaitable<opened_connection> open_connection(const boost::asio::any_io_executor& executor,
                                             boost::asio::ssl::context* tls, const connection_address& to,
                                             std::chrono::steady_clock::time_point deadline);

// A sink whose work State does (shared_state_sink), with the connections it keeps: State::idle
// (idle_connections<http_connection>) is closed with the sink.
template <typename State>
class connection_sink final : public shared_state_sink<State> {
 public:
  using shared_state_sink<State>::shared_state_sink;
  ~connection_sink() override { this->state().idle.close_all(); }
  connection_sink(const connection_sink&) = delete;
  connection_sink& operator=(const connection_sink&) = delete;
};

// The connection for round `round` of an attempt: in round 0 the most recently used idle one when
// there is one (`reused` is then true), else a new one from `open(deadline)`; the second round always
// takes a new one (other idle ones may be just as stale). A connection that cannot be opened says
// why, after `timeout_text` when the deadline has passed.
template <typename Open>
awaitable<opened_connection> connection_for_round(idle_connections<http_connection>& idle, int round, bool& reused,
                                                  Open& open, std::chrono::steady_clock::time_point deadline,
                                                  const std::string& timeout_text) {
  auto conn = round == 0 ? idle.take() : nullptr;
  reused = conn != nullptr;
  if (conn) co_return conn;
  auto opened = co_await open(deadline);
  if (const auto* why = std::get_if<std::string>(&opened); why && std::chrono::steady_clock::now() >= deadline) {
    co_return timeout_text + " (" + *why + ")";
  }
  co_return opened;
}

}  // namespace hookless
