// The HTTPS connection pool: connect (optionally through a CONNECT proxy), verify, send one GET,
// read one complete response, keep the connection when both sides allow it.
#include "core/https_pool.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <deque>
#include <stdexcept>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/system_error.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "core/duration.hpp"

namespace hookless {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

// Extend's answers are JSON documents well below this; anything larger is a fault, not a reply.
constexpr std::uint64_t body_limit = 64ULL * 1024 * 1024;
constexpr std::uint32_t header_limit = 64 * 1024;

// error_category's destructor is protected and non-virtual by design; categories are never deleted.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class https_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "hookless.https"; }
  std::string message(int value) const override {
    switch (static_cast<https_error>(value)) {
      case https_error::pool_closed: return "connection pool closed";
      case https_error::proxy_refused: return "proxy refused CONNECT";
      case https_error::proxy_protocol: return "unusable answer from the proxy";
    }
    return "unknown https pool error";
  }
};
#pragma GCC diagnostic pop

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// "host:port", with brackets around an IPv6 literal, as CONNECT and messages want it.
std::string authority_of(const std::string& host, const std::string& port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + port;
}

// One kept-alive TLS connection. Counts itself in the pool's open-connection total.
struct connection {
  connection(const asio::any_io_executor& ex, ssl::context& tls, std::size_t& live) : stream{ex, tls}, live_{live} {
    ++live_;
  }
  ~connection() { --live_; }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream); }

  ssl::stream<beast::tcp_stream> stream;
  beast::flat_buffer buffer;  // bytes read past a message; must be empty between requests

 private:
  std::size_t& live_;
};

// Whether an idle connection may carry another request: no stray bytes (a server's close_notify or
// anything else unexpected) and no end of stream waiting in the socket. A peek cannot catch every
// stale connection, which is why a request that fails on a reused one is retried once.
bool still_usable(connection& conn) {
  if (conn.buffer.size() != 0 || !conn.tcp().socket().is_open()) return false;
  char byte = 0;
  const auto n = ::recv(conn.tcp().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// A waiting get(): woken by cancelling its timer; granted says whether it got a slot.
struct waiter {
  explicit waiter(const asio::any_io_executor& ex) : timer{ex, clock_type::time_point::max()} {}
  asio::steady_timer timer;
  bool granted = false;
};

// What one request/response exchange on a connection came to.
struct exchange_outcome {
  std::optional<http_reply> reply;
  bool keep_alive = false;        // the connection may be reused
  bool nothing_received = false;  // failed before any byte of the reply arrived
  std::optional<fetch_error> error;
};

}  // namespace

const boost::system::error_category& https_category() noexcept {
  static const https_category_impl category;
  return category;
}

error_code make_error_code(https_error e) noexcept { return {static_cast<int>(e), https_category()}; }

void throw_exception_from_error(const fetch_error& error, const boost::source_location& location) {
  boost::throw_exception(boost::system::system_error(error.code(), error.message()), location);
}

struct https_pool::state {
  state(asio::any_io_executor executor, ssl::context& context, https_pool_options opts)
      : ex{std::move(executor)},
        tls{context},
        options{std::move(opts)},
        authority{authority_of(options.host, options.port)},
        host_header{options.port == "443" ? authority.substr(0, authority.size() - 4) : authority},
        host_is_ip{is_ip_literal(options.host)} {
    if (options.host.empty()) throw std::invalid_argument("https_pool: empty host");
    if (options.max_connections == 0) throw std::invalid_argument("https_pool: max_connections must be at least 1");
    if (options.timeout <= std::chrono::milliseconds::zero()) throw std::invalid_argument("https_pool: timeout must be positive");
  }

  asio::any_io_executor ex;
  ssl::context& tls;
  https_pool_options options;
  std::string authority;    // host:port of the origin
  std::string host_header;  // the Host header: the port only when it is not 443
  bool host_is_ip;
  std::size_t live = 0;       // open connections (declared before idle: connections decrement it)
  std::size_t in_flight = 0;  // slots held by get() calls
  bool closed = false;
  std::vector<std::unique_ptr<connection>> idle;  // most recently used last
  std::deque<std::shared_ptr<waiter>> waiters;   // FIFO

  fetch_error failure(const error_code& ec, const std::string& step, std::string detail = {}) const {
    if (ec == beast::error::timeout) {
      return {ec, "timeout after " + format_duration(options.timeout) + " (" + step + ")"};
    }
    return {ec, step + ": " + (detail.empty() ? ec.message() : std::move(detail))};
  }

  // ---- slots -----------------------------------------------------------------------------------

  // Empty when a slot is granted; pool_closed, or operation_aborted when the caller was cancelled.
  awaitable<error_code> acquire_slot() {
    if (in_flight < options.max_connections && waiters.empty()) {
      ++in_flight;
      co_return error_code{};
    }
    auto me = std::make_shared<waiter>(ex);
    waiters.push_back(me);
    error_code ec;
    co_await me->timer.async_wait(asio::redirect_error(use_awaitable, ec));
    if (me->granted) co_return error_code{};  // release_slot() handed its slot over; in_flight counts it
    std::erase(waiters, me);
    co_return closed ? error_code{https_error::pool_closed} : error_code{asio::error::operation_aborted};
  }

  void release_slot() {
    if (!waiters.empty()) {
      auto next = std::move(waiters.front());
      waiters.pop_front();
      next->granted = true;
      next->timer.cancel();
      return;
    }
    --in_flight;
  }

  // Holds a slot for the duration of one get(), also when it ends by an exception.
  struct slot_guard {
    state& owner;
    ~slot_guard() { owner.release_slot(); }
  };

  // ---- connections -----------------------------------------------------------------------------

  std::unique_ptr<connection> take_idle() {
    while (!idle.empty()) {
      auto conn = std::move(idle.back());
      idle.pop_back();
      if (still_usable(*conn)) return conn;
      conn->tcp().close();
    }
    return nullptr;
  }

  // DNS with the request's deadline. getaddrinfo runs on Asio's resolver thread and cannot be
  // interrupted (async_resolve ignores per-operation cancellation, and a parallel_group would wait for
  // it), so the lookup reports into a shared record and the request stops waiting at the deadline; a
  // late answer is dropped.
  awaitable<boost::system::result<tcp::resolver::results_type>> resolve(const std::string& host, const std::string& port,
                                                                         clock_type::time_point deadline) {
    struct lookup {
      lookup(const asio::any_io_executor& executor, clock_type::time_point until) : resolver{executor}, wake{executor, until} {}
      tcp::resolver resolver;
      asio::steady_timer wake;
      bool done = false;
      error_code ec;
      tcp::resolver::results_type results;
    };
    auto record = std::make_shared<lookup>(ex, deadline);
    auto on_resolved = [record](const error_code& ec, tcp::resolver::results_type results) {
      record->done = true;
      record->ec = ec;
      record->results = std::move(results);
      record->wake.cancel();
    };
    record->resolver.async_resolve(host, port, std::move(on_resolved));
    error_code wait_ec;
    co_await record->wake.async_wait(asio::redirect_error(use_awaitable, wait_ec));
    if (record->done) {
      if (record->ec) co_return record->ec;
      co_return record->results;
    }
    record->resolver.cancel();
    co_return clock_type::now() >= deadline ? error_code{beast::error::timeout} : error_code{asio::error::operation_aborted};
  }

  awaitable<std::optional<fetch_error>> open(connection& conn, clock_type::time_point deadline) {
    const auto& dial_host = options.proxy ? options.proxy->host : options.host;
    const auto& dial_port = options.proxy ? options.proxy->port : options.port;
    const auto dial = authority_of(dial_host, dial_port);
    const std::string via = options.proxy ? "proxy " : "";

    auto resolved = co_await resolve(dial_host, dial_port, deadline);
    if (!resolved) {
      const auto& ec = resolved.error();
      co_return failure(ec, (ec == beast::error::timeout ? "resolving " : "resolve ") + via + dial);
    }
    const auto& endpoints = *resolved;

    error_code ec;
    conn.tcp().expires_at(deadline);
    co_await conn.tcp().async_connect(endpoints, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return failure(ec, (ec == beast::error::timeout ? "connecting to " : "connect ") + via + dial);

    if (options.proxy) {
      // (Awaited into a named local: g++ 12 mishandles non-trivial co_await temporaries in conditions.)
      auto tunnel_failure = co_await open_tunnel(conn, deadline, dial);
      if (tunnel_failure) co_return tunnel_failure;
    }

    // SNI carries host names only (RFC 6066 forbids IP literals there).
    SSL* ssl_handle = conn.stream.native_handle();
    if (!host_is_ip &&
        SSL_ctrl(ssl_handle, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, options.host.data()) != 1) {
      co_return fetch_error{error_code{static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()},
                            "TLS: cannot set SNI for " + options.host};
    }
    // OpenSSL checks the name itself too, so a mismatch is reported as "hostname mismatch" rather
    // than a bare verify failure; host_name_verification is the Asio-level check of the same thing.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
    const int name_set = host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, options.host.c_str())
                                    : X509_VERIFY_PARAM_set1_host(param, options.host.c_str(), options.host.size());
    if (name_set != 1) co_return fetch_error{error_code{}, "TLS: cannot set the expected host name " + options.host};
    conn.stream.set_verify_callback(ssl::host_name_verification(options.host));

    conn.tcp().expires_at(deadline);
    co_await conn.stream.async_handshake(ssl::stream_base::client, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      std::string detail;
      if (const long verify = SSL_get_verify_result(ssl_handle); verify != X509_V_OK) {
        detail = std::string{"certificate verify failed ("} + X509_verify_cert_error_string(verify) + ")";
      }
      co_return failure(ec, "TLS handshake with " + authority, std::move(detail));
    }
    co_return std::nullopt;
  }

  // CONNECT host:port through the proxy; on success the TCP stream is a tunnel to the origin.
  awaitable<std::optional<fetch_error>> open_tunnel(connection& conn, clock_type::time_point deadline,
                                                    const std::string& proxy_authority) {
    const std::string step = "proxy " + proxy_authority + " CONNECT " + authority;
    http::request<http::empty_body> request{http::verb::connect, authority, 11};
    request.set(http::field::host, authority);
    if (options.proxy->authorization) request.set(http::field::proxy_authorization, *options.proxy->authorization);

    error_code ec;
    conn.tcp().expires_at(deadline);
    co_await http::async_write(conn.tcp(), request, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return failure(ec, step);

    // Only the header matters: a 2xx answer to CONNECT has no body, and after a refusal the
    // connection is dropped anyway.
    http::response_parser<http::empty_body> parser;
    parser.skip(true);
    beast::flat_buffer buffer;
    co_await http::async_read_header(conn.tcp(), buffer, parser, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return failure(ec, step);
    const auto& response = parser.get();
    if (response.result_int() / 100 != 2) {
      co_return failure(https_error::proxy_refused, step,
                        "proxy answered " + std::to_string(response.result_int()) + " " + std::string{response.reason()});
    }
    if (buffer.size() != 0) {
      // Bytes after the CONNECT answer would be taken for the server's TLS records.
      co_return failure(https_error::proxy_protocol, step, "proxy sent data after its 2xx answer");
    }
    co_return std::nullopt;
  }

  awaitable<exchange_outcome> exchange(connection& conn, const http::request<http::empty_body>& request,
                                       clock_type::time_point deadline) {
    exchange_outcome outcome;
    error_code ec;
    conn.tcp().expires_at(deadline);
    co_await http::async_write(conn.stream, request, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      outcome.nothing_received = conn.buffer.size() == 0;
      outcome.error = failure(ec, (ec == beast::error::timeout ? "sending the request to " : "send request to ") + authority);
      co_return outcome;
    }

    http::response_parser<http::string_body> parser;  // fresh per response
    parser.body_limit(body_limit);
    parser.header_limit(header_limit);
    conn.tcp().expires_at(deadline);
    co_await http::async_read(conn.stream, conn.buffer, parser, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      outcome.nothing_received = !parser.got_some() && conn.buffer.size() == 0;
      std::string detail;
      if (ec == http::error::partial_message || (ec == ssl::error::stream_truncated && parser.got_some())) {
        detail = "connection closed before the response was complete (" + ec.message() + ")";
      } else if (outcome.nothing_received && (ec == asio::error::eof || ec == ssl::error::stream_truncated)) {
        detail = "connection closed by the server without a response (" + ec.message() + ")";
      } else if (ec == http::error::body_limit) {
        detail = "response body larger than " + std::to_string(body_limit / (1024 * 1024)) + " MiB";
      }
      outcome.error = failure(ec, (ec == beast::error::timeout ? "reading the response from " : "read response from ") + authority,
                              std::move(detail));
      co_return outcome;
    }

    auto response = parser.release();
    http_reply reply;
    reply.status = response.result_int();
    if (auto it = response.find(http::field::retry_after); it != response.end()) reply.retry_after = std::string{it->value()};
    if (auto it = response.find("x-extend-request-id"); it != response.end()) reply.request_id = std::string{it->value()};
    outcome.keep_alive = response.keep_alive() && !response.need_eof() && conn.buffer.size() == 0;
    reply.body = std::move(response.body());
    outcome.reply = std::move(reply);
    co_return outcome;
  }

  // ---- the request -----------------------------------------------------------------------------

  awaitable<fetch_result> get(std::string target, std::vector<std::pair<std::string, std::string>> headers,
                              https_pool::send_turn wait_turn) {
    if (closed) co_return fetch_error{https_error::pool_closed, "request to " + authority + ": connection pool closed"};
    const auto ec = co_await acquire_slot();
    if (ec) {
      co_return fetch_error{ec, "request to " + authority + ": " +
                                    (ec == https_error::pool_closed ? "connection pool closed" : "cancelled while waiting for a connection")};
    }
    slot_guard guard{*this};
    const auto deadline = clock_type::now() + options.timeout;

    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, host_header);
    for (const auto& [name, value] : headers) request.set(name, value);

    for (int attempt = 0;; ++attempt) {
      // The retry always takes a fresh connection: other idle ones may be just as stale.
      auto conn = attempt == 0 ? take_idle() : nullptr;
      const bool reused = conn != nullptr;
      if (!conn) {
        conn = std::make_unique<connection>(ex, tls, live);
        auto open_failure = co_await open(*conn, deadline);
        if (open_failure) {
          conn->tcp().close();
          co_return *open_failure;
        }
      }
      auto exchange_deadline = deadline;
      if (wait_turn) {
        const bool may_send = co_await wait_turn();
        if (!may_send) {
          if (!closed) {
            conn->tcp().expires_never();
            idle.push_back(std::move(conn));  // unused: still good for the next request
          }
          co_return fetch_error{asio::error::operation_aborted, "request to " + authority + ": abandoned before sending"};
        }
        exchange_deadline = clock_type::now() + options.timeout;
      }
      auto outcome = co_await exchange(*conn, request, exchange_deadline);
      if (outcome.reply) {
        if (outcome.keep_alive && !closed) {
          conn->tcp().expires_never();
          idle.push_back(std::move(conn));
        } else {
          conn->tcp().close();
        }
        co_return std::move(*outcome.reply);
      }
      // A connection that saw an error or a timeout is never reused.
      conn->tcp().close();
      const auto& code = outcome.error->code();
      const bool may_retry = attempt == 0 && reused && outcome.nothing_received && !closed &&
                             code != beast::error::timeout && code != asio::error::operation_aborted &&
                             clock_type::now() < exchange_deadline;
      if (!may_retry) co_return std::move(*outcome.error);
    }
  }

  void close() {
    closed = true;
    for (auto& conn : idle) conn->tcp().close();
    idle.clear();
    auto failed = std::move(waiters);
    waiters.clear();
    for (auto& w : failed) w->timer.cancel();  // granted stays false: the waiter answers "pool closed"
  }
};

https_pool::https_pool(asio::any_io_executor ex, ssl::context& tls, https_pool_options options)
    : state_{std::make_shared<state>(std::move(ex), tls, std::move(options))} {}

https_pool::~https_pool() { state_->close(); }

awaitable<fetch_result> https_pool::get(std::string target, std::vector<std::pair<std::string, std::string>> headers,
                                        send_turn wait_turn) {
  // The frame keeps the internals alive even if this pool object is destroyed meanwhile.
  const auto internals = state_;
  co_return co_await internals->get(std::move(target), std::move(headers), std::move(wait_turn));
}

void https_pool::close() { state_->close(); }

std::size_t https_pool::open_connections() const { return state_->live; }

}  // namespace hookless
