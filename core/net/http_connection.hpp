// One HTTP/1.1 client connection over TCP, TLS over TCP or a Unix socket, shared by the HTTPS pool
// (Extend) and the http sink (webhook receivers): DNS that stops at a deadline, connect, the TLS
// handshake with SNI and full verification (certificate chain and host name: there is no switch to
// turn it off), one request/response exchange at a time with a deadline on every step, the check an
// idle kept-alive connection passes before it is reused, and the rule for sending once more on a fresh
// connection. Proxies, budgets, limits on connections and what a reply means are the callers'.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookless {

enum class transport { tcp, tls, unix_socket };

// Where opening a connection failed, so each caller can say it in its own words.
enum class open_stage { resolve, connect, tls_setup, handshake };

struct open_failure {
  open_stage stage = open_stage::connect;
  boost::system::error_code code;  // beast::error::timeout when the deadline passed
  std::string detail;              // more than code.message() says, when there is more (e.g. why verification failed)
  std::string message() const { return detail.empty() ? code.message() : detail; }
};

// Caps on a response; more is a broken or hostile server, never a reply.
struct response_limits {
  std::uint64_t body = 1 << 20;
  std::uint32_t header = 8 * 1024;
};

// What one request/response exchange came to: a complete response, or why not.
struct exchange_result {
  std::optional<boost::beast::http::response<boost::beast::http::string_body>> response;
  bool keep_alive = false;  // the response lets the connection carry another request
  boost::system::error_code error;
  bool while_sending = false;     // the error came while writing the request (else while reading)
  bool partial = false;           // part of a response had been parsed when it failed
  bool nothing_received = false;  // no byte of a response had arrived when it failed
};

using connection_deadline = std::chrono::steady_clock::time_point;

// What a raw exchange (exchange_bytes: another protocol over the same connection) came to.
struct byte_exchange_result {
  std::string reply;  // the bytes read, when there is no error
  boost::system::error_code error;
  bool while_sending = false;
  bool nothing_received = false;
};

// What an http_connection sends: one request type for every caller (a GET's body is empty), since
// each further body type would instantiate Beast's writer for every transport again, the costliest
// code to compile in the project.
using http_request = boost::beast::http::request<boost::beast::http::string_body>;

class http_connection {
 public:
  // `tls` is needed for transport::tls only and must outlive the connection.
  http_connection(const boost::asio::any_io_executor& executor, transport kind, boost::asio::ssl::context* tls);
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  // tcp, tls: looks up host:port (stops waiting at the deadline: timeout; or cancelled) and connects.
  boost::asio::awaitable<std::optional<open_failure>> connect(const std::string& host, const std::string& port,
                                                              connection_deadline deadline);
  // unix_socket: connects to the socket file.
  boost::asio::awaitable<std::optional<open_failure>> connect(const std::string& socket_path,
                                                              connection_deadline deadline);
  // tls: SNI for a host name (never for an IP literal), then the handshake, verifying the chain
  // against the context's trust store and the certificate against `host` (a name or an IP literal).
  boost::asio::awaitable<std::optional<open_failure>> handshake(const std::string& host, connection_deadline deadline);

  // One request and its complete response, each step by the deadline. A connection whose exchange
  // failed must be closed, never reused.
  boost::asio::awaitable<exchange_result> exchange(const http_request& request, connection_deadline deadline,
                                                   response_limits limits);

  // Another protocol on the same connection (the redis sink's RESP): writes `request`, then reads
  // until `enough` says the bytes read make a whole reply (or an invalid one, for the caller to
  // tell), each step by the deadline; more than `max_reply` bytes is boost::asio::error::message_size.
  boost::asio::awaitable<byte_exchange_result> exchange_bytes(std::string_view request, connection_deadline deadline,
                                                              const std::function<bool(std::string_view)>& enough,
                                                              std::size_t max_reply);

  // Whether an idle kept-alive connection may carry another request: open, no stray bytes and no end
  // of stream waiting in the socket. A peek cannot catch every stale connection, which is what
  // retry_on_fresh_connection is for.
  bool still_usable();
  // The TCP stream (tcp, tls): for a proxy's CONNECT before handshake(), and its timer.
  boost::beast::tcp_stream& tcp();
  void expires_never();
  void close();

 private:
  using unix_stream = boost::beast::basic_stream<boost::asio::local::stream_protocol, boost::asio::any_io_executor,
                                                 boost::beast::unlimited_rate_policy>;

  template <typename Stream, typename Lowest>
  boost::asio::awaitable<exchange_result> exchange_on(Stream& stream, Lowest& lowest, const http_request& request,
                                                      connection_deadline deadline, response_limits limits);
  template <typename Stream, typename Lowest>
  boost::asio::awaitable<byte_exchange_result> exchange_bytes_on(Stream& stream, Lowest& lowest,
                                                                 std::string_view request, connection_deadline deadline,
                                                                 const std::function<bool(std::string_view)>& enough,
                                                                 std::size_t max_reply);

  boost::asio::any_io_executor executor_;
  std::optional<boost::beast::tcp_stream> tcp_;
  std::optional<boost::asio::ssl::stream<boost::beast::tcp_stream>> tls_;
  std::optional<unix_stream> unix_;
  boost::beast::flat_buffer buffer_;  // bytes read past a message; empty between requests
};

// Kept-alive connections between requests, the most recently used last (it is the least likely to
// have been closed by the server while idle). `Connection` is http_connection or a type built on it.
template <typename Connection>
class idle_connections {
 public:
  // The most recently used connection that is still_usable(), or null; stale ones are closed.
  std::unique_ptr<Connection> take() {
    while (!kept_.empty()) {
      auto conn = std::move(kept_.back());
      kept_.pop_back();
      if (conn->still_usable()) return conn;
      conn->close();
    }
    return nullptr;
  }

  // Keeps `conn` for the next request, with no deadline while it waits; closes it instead when
  // `at_most` are kept already.
  void keep(std::unique_ptr<Connection> conn, std::size_t at_most = std::numeric_limits<std::size_t>::max()) {
    if (kept_.size() >= at_most) {
      conn->close();
      return;
    }
    conn->expires_never();
    kept_.push_back(std::move(conn));
  }

  void close_all() {
    for (auto& conn : kept_) conn->close();
    kept_.clear();
  }

 private:
  std::vector<std::unique_ptr<Connection>> kept_;
};

// Whether a request that failed on a kept-alive connection goes once more on a fresh one: the
// server may have closed it while idle, so only when the connection was reused, nothing of a reply
// had arrived, and it was neither a timeout nor a cancellation (receivers and Extend take a second
// copy of such a request: GETs are idempotent, callbacks carry an idempotency-key).
bool retry_on_fresh_connection(bool reused, const exchange_result& result);
// The same rule for a raw exchange (the redis sink: a command sent twice appends twice, which the
// at-least-once contract allows; consumers de-duplicate on eventId).
bool retry_on_fresh_connection(bool reused, const byte_exchange_result& result);

}  // namespace hookless
