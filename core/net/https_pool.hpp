// A small pool of kept-alive HTTPS/1.1 connections to one origin (Extend), optionally through an
// HTTP proxy (CONNECT), with a whole-request deadline and a cap on connections in flight. It is the
// only place hookless speaks TLS to Extend; what a reply means is decided by its callers.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "core/net/proxy_choice.hpp"
#include "core/net/request_place.hpp"

namespace hookless {

struct https_pool_options {
  std::string host;                          // the origin's host name or IP literal (from extend.base_url)
  std::string port = "443";                  // the origin's port
  std::optional<proxy_endpoint> proxy;       // CONNECT through this HTTP proxy when set
  std::size_t max_connections = 4;           // kept-alive TLS connections, and the most requests in flight
  std::chrono::milliseconds timeout{30000};  // whole request: connect + proxy + handshake + write + read
};

// A complete HTTP response (any status: 4xx and 5xx are replies too, callers decide what they mean).
struct http_reply {
  unsigned status = 0;
  std::string body;
  std::optional<std::string> retry_after;  // the Retry-After header, verbatim
  std::optional<std::string> request_id;   // the x-extend-request-id header
};

// The pool's own failure codes (category "hookless.https"); the others come from Asio, Beast and OpenSSL.
enum class https_error {
  pool_closed = 1,  // close() was called (or the pool destroyed) before the get() had a slot
  proxy_refused,    // the proxy answered CONNECT with a non-2xx status
  proxy_protocol,   // the proxy's answer to CONNECT was not usable
};
const boost::system::error_category& https_category() noexcept;
boost::system::error_code make_error_code(https_error e) noexcept;

// Why a request produced no reply. code() is for branching (beast::error::timeout,
// asio::error::connection_refused, an ssl category error, http::error::partial_message, ...);
// message() is the readable account for logs and health's last_error, e.g.
// "TLS handshake with api.extend.ai:443: certificate verify failed (certificate has expired)",
// "connect 127.0.0.1:443: Connection refused", "timeout after 30s (reading the response from ...)".
class fetch_error {
 public:
  fetch_error() = default;  // result<T, E>::error() needs it; a default one means "no error"
  fetch_error(boost::system::error_code code, std::string message) : code_{code}, message_{std::move(message)} {}
  const boost::system::error_code& code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

 private:
  boost::system::error_code code_;
  std::string message_;
};

// Lets result<T, fetch_error>::value() throw a boost::system::system_error carrying the message.
[[noreturn]] void throw_exception_from_error(const fetch_error& error, const boost::source_location& location);

using fetch_result = boost::system::result<http_reply, fetch_error>;

// Owns up to max_connections TLS connections to options.host:options.port. Single-threaded: use it
// from the one thread running its executor. Every connection verifies the server's certificate
// against the context's trust store and the host name (there is no switch to turn that off) and sends
// SNI for host names. In-flight get() calls keep the pool's internals alive, so destroying the
// pool object early is safe; the ssl::context must outlive every get().
class https_pool {
 public:
  https_pool(boost::asio::any_io_executor ex, boost::asio::ssl::context& tls, https_pool_options options);
  ~https_pool();
  https_pool(const https_pool&) = delete;
  https_pool& operator=(const https_pool&) = delete;

  // One GET of target (path and query) with these extra headers (Host is set by the pool). Waits
  // for a free slot while max_connections requests are in flight, in FIFO order except that
  // `ahead` requests pass the `in_line` ones; the timeout runs from when the slot is granted. Reuses an idle kept-alive
  // connection when there is one; a request that fails on a reused connection before any byte of the reply arrived is
  // retried once on a fresh connection (the server may have closed it while idle; GET is idempotent). Returns a
  // complete reply, or an error: timeout, DNS / connect / proxy / TLS failure (certificate problems included),
  // connection cut, truncated or oversized (64 MiB) body. A short body is never a reply.
  // Cancelling the calling coroutine (e.g. from a parallel_group) yields an error whose code is
  // asio::error::operation_aborted (never retried); should another Asio step start after the
  // cancellation, Asio's throw_if_cancelled default throws instead. Either way the slot is released
  // and the connection closed.
  //
  // `wait_turn`, when given, is awaited once the connection is ready and just before each send
  // (a retry sends again), so a rate budget spaces the moments requests leave, not the moments
  // they were allowed to start: a slow connect cannot bunch them up. When it returns false the
  // request is abandoned (operation_aborted). The timeout for the exchange starts after it.
  using send_turn = std::function<boost::asio::awaitable<bool>()>;
  boost::asio::awaitable<fetch_result> get(std::string target, std::vector<std::pair<std::string, std::string>> headers,
                                           send_turn wait_turn = {}, request_place where = request_place::in_line);

  // For shutdown: closes the idle connections, fails every waiting get() ("pool closed") and every
  // later one; requests in flight finish and then close their connections.
  void close();

  // Connections open now (idle plus in use).
  std::size_t open_connections() const;

 private:
  struct state;  // the internals, shared with in-flight requests so they outlive the pool object
  std::shared_ptr<state> state_;
};

}  // namespace hookless

template <>
struct boost::system::is_error_code_enum<hookless::https_error> : std::true_type {};
