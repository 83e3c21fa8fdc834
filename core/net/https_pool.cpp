// The HTTPS connection pool: connect (optionally through a CONNECT proxy), verify, send one GET,
// read one complete response, keep the connection when both sides allow it.
#include "core/net/https_pool.hpp"

#include <deque>
#include <stdexcept>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/system_error.hpp>

#include "core/formats/duration.hpp"
#include "core/model/awaitable.hpp"
#include "core/net/http_connection.hpp"

namespace hookless {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::use_awaitable;
using boost::system::error_code;
using pool_clock = std::chrono::steady_clock;

namespace {

// Extend's answers are JSON documents well below this; anything larger is a fault, not a reply.
constexpr response_limits extend_limits{.body = 64ULL * 1024 * 1024, .header = 64 * 1024};

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

// "host:port", with brackets around an IPv6 literal, as CONNECT and messages want it.
std::string authority_of(const std::string& host, const std::string& port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + port;
}

// One kept-alive TLS connection. Counts itself in the pool's open-connection total.
struct connection : http_connection {
  connection(const asio::any_io_executor& ex, ssl::context& tls, std::size_t& live)
      : http_connection{ex, transport::tls, &tls}, live_{live} {
    ++live_;
  }
  ~connection() { --live_; }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

 private:
  std::size_t& live_;
};

// A waiting get(): woken by cancelling its timer; granted says whether it got a slot.
struct waiter {
  waiter(const asio::any_io_executor& ex, request_place where)
      : timer{ex, pool_clock::time_point::max()}, place{where} {}
  asio::steady_timer timer;
  request_place place;
  bool granted = false;
};

// What one request/response exchange on a connection came to.
struct exchange_outcome {
  std::optional<http_reply> reply;
  bool keep_alive = false;      // the connection may be reused
  bool retry_on_fresh = false;  // failed in a way worth one more try on a fresh connection
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
        host_header{options.port == "443" ? authority.substr(0, authority.size() - 4) : authority} {
    if (options.host.empty()) throw std::invalid_argument("https_pool: empty host");
    if (options.max_connections == 0) throw std::invalid_argument("https_pool: max_connections must be at least 1");
    if (options.timeout <= std::chrono::milliseconds::zero())
      throw std::invalid_argument("https_pool: timeout must be positive");
  }

  asio::any_io_executor ex;
  ssl::context& tls;
  https_pool_options options;
  std::string authority;      // host:port of the origin
  std::string host_header;    // the Host header: the port only when it is not 443
  std::size_t live = 0;       // open connections (declared before idle: connections decrement it)
  std::size_t in_flight = 0;  // slots held by get() calls
  bool closed = false;
  idle_connections<connection> idle;
  std::deque<std::shared_ptr<waiter>> waiters;  // FIFO, `ahead` waiters first
  std::size_t ahead_waiters = 0;                // how many of them

  fetch_error failure(const error_code& ec, const std::string& step, std::string detail = {}) const {
    if (ec == beast::error::timeout) {
      return {ec, "timeout after " + format_duration(options.timeout) + " (" + step + ")"};
    }
    return {ec, step + ": " + (detail.empty() ? ec.message() : std::move(detail))};
  }

  // ---- slots -----------------------------------------------------------------------------------

  // Empty when a slot is granted; pool_closed, or operation_aborted when the caller was cancelled.
  awaitable<error_code> acquire_slot(request_place where) {
    if (in_flight < options.max_connections && waiters.empty()) {
      ++in_flight;
      co_return error_code{};
    }
    auto me = std::make_shared<waiter>(ex, where);
    if (where == request_place::ahead) {
      waiters.insert(waiters.begin() + static_cast<std::ptrdiff_t>(ahead_waiters++), me);
    } else {
      waiters.push_back(me);
    }
    error_code ec;
    co_await me->timer.async_wait(asio::redirect_error(use_awaitable, ec));
    if (me->granted) co_return error_code{};  // release_slot() handed its slot over; in_flight counts it
    // (close() has emptied the queue already when it woke us.)
    if (std::erase(waiters, me) > 0 && where == request_place::ahead) --ahead_waiters;
    co_return closed ? error_code{https_error::pool_closed} : error_code{asio::error::operation_aborted};
  }

  void release_slot() {
    if (!waiters.empty()) {
      auto next = std::move(waiters.front());
      waiters.pop_front();
      if (next->place == request_place::ahead) --ahead_waiters;
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

  awaitable<std::optional<fetch_error>> open(connection& conn, pool_clock::time_point deadline) {
    const auto& dial_host = options.proxy ? options.proxy->host : options.host;
    const auto& dial_port = options.proxy ? options.proxy->port : options.port;
    const auto dial = authority_of(dial_host, dial_port);
    const std::string via = options.proxy ? "proxy " : "";

    auto connect_failure = co_await conn.connect(dial_host, dial_port, deadline);
    if (connect_failure) {
      const auto& ec = connect_failure->code;
      const bool timed_out = ec == beast::error::timeout;
      const bool resolving = connect_failure->stage == open_stage::resolve;
      if (resolving) co_return failure(ec, (timed_out ? "resolving " : "resolve ") + via + dial);
      co_return failure(ec, (timed_out ? "connecting to " : "connect ") + via + dial);
    }

    if (options.proxy) {
      // (Awaited into a named local: g++ 12 mishandles non-trivial co_await temporaries in conditions.)
      auto tunnel_failure = co_await open_tunnel(conn, deadline, dial);
      if (tunnel_failure) co_return tunnel_failure;
    }

    auto handshake_failure = co_await conn.handshake(options.host, deadline);
    if (handshake_failure) {
      if (handshake_failure->stage == open_stage::tls_setup) {
        co_return fetch_error{handshake_failure->code, "TLS: " + handshake_failure->detail};
      }
      co_return failure(handshake_failure->code, "TLS handshake with " + authority, handshake_failure->detail);
    }
    co_return std::nullopt;
  }

  // CONNECT host:port through the proxy; on success the TCP stream is a tunnel to the origin.
  awaitable<std::optional<fetch_error>> open_tunnel(connection& conn, pool_clock::time_point deadline,
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
      co_return failure(
          https_error::proxy_refused, step,
          "proxy answered " + std::to_string(response.result_int()) + " " + std::string{response.reason()});
    }
    if (buffer.size() != 0) {
      // Bytes after the CONNECT answer would be taken for the server's TLS records.
      co_return failure(https_error::proxy_protocol, step, "proxy sent data after its 2xx answer");
    }
    co_return std::nullopt;
  }

  awaitable<exchange_outcome> exchange(connection& conn, bool reused, const http_request& request,
                                       pool_clock::time_point deadline) {
    exchange_outcome outcome;
    auto result = co_await conn.exchange(request, deadline, extend_limits);
    outcome.retry_on_fresh = retry_on_fresh_connection(reused, result);
    const auto& ec = result.error;
    if (ec && result.while_sending) {
      outcome.error =
          failure(ec, (ec == beast::error::timeout ? "sending the request to " : "send request to ") + authority);
      co_return outcome;
    }
    if (ec) {
      std::string detail;
      if (ec == http::error::partial_message || (ec == ssl::error::stream_truncated && result.partial)) {
        detail = "connection closed before the response was complete (" + ec.message() + ")";
      } else if (result.nothing_received && (ec == asio::error::eof || ec == ssl::error::stream_truncated)) {
        detail = "connection closed by the server without a response (" + ec.message() + ")";
      } else if (ec == http::error::body_limit) {
        detail = "response body larger than " + std::to_string(extend_limits.body / (1024 * 1024)) + " MiB";
      }
      outcome.error =
          failure(ec, (ec == beast::error::timeout ? "reading the response from " : "read response from ") + authority,
                  std::move(detail));
      co_return outcome;
    }

    auto& response = *result.response;
    http_reply reply;
    reply.status = response.result_int();
    if (auto it = response.find(http::field::retry_after); it != response.end())
      reply.retry_after = std::string{it->value()};
    if (auto it = response.find("x-extend-request-id"); it != response.end())
      reply.request_id = std::string{it->value()};
    outcome.keep_alive = result.keep_alive;
    reply.body = std::move(response.body());
    outcome.reply = std::move(reply);
    co_return outcome;
  }

  // ---- the request -----------------------------------------------------------------------------

  awaitable<fetch_result> get(std::string target, std::vector<std::pair<std::string, std::string>> headers,
                              https_pool::send_turn wait_turn, request_place where) {
    if (closed) co_return fetch_error{https_error::pool_closed, "request to " + authority + ": connection pool closed"};
    const auto ec = co_await acquire_slot(where);
    if (ec) {
      co_return fetch_error{ec, "request to " + authority + ": " +
                                    (ec == https_error::pool_closed ? "connection pool closed"
                                                                    : "cancelled while waiting for a connection")};
    }
    slot_guard guard{*this};
    const auto deadline = pool_clock::now() + options.timeout;

    http_request request{http::verb::get, target, 11};  // no body, and so no content-length
    request.set(http::field::host, host_header);
    for (const auto& [name, value] : headers) request.set(name, value);

    for (int attempt = 0;; ++attempt) {
      // The retry always takes a fresh connection: other idle ones may be just as stale.
      auto conn = attempt == 0 ? idle.take() : nullptr;
      const bool reused = conn != nullptr;
      if (!conn) {
        conn = std::make_unique<connection>(ex, tls, live);
        auto open_failure = co_await open(*conn, deadline);
        if (open_failure) {
          conn->close();
          co_return *open_failure;
        }
      }
      auto exchange_deadline = deadline;
      if (wait_turn) {
        const bool may_send = co_await wait_turn();
        if (!may_send) {
          if (!closed) idle.keep(std::move(conn));  // unused: still good for the next request
          co_return fetch_error{asio::error::operation_aborted,
                                "request to " + authority + ": abandoned before sending"};
        }
        exchange_deadline = pool_clock::now() + options.timeout;
      }
      auto outcome = co_await exchange(*conn, reused, request, exchange_deadline);
      if (outcome.reply) {
        if (outcome.keep_alive && !closed) {
          idle.keep(std::move(conn));
        } else {
          conn->close();
        }
        co_return std::move(*outcome.reply);
      }
      // A connection that saw an error or a timeout is never reused.
      conn->close();
      const bool may_retry = attempt == 0 && outcome.retry_on_fresh && !closed && pool_clock::now() < exchange_deadline;
      if (!may_retry) co_return std::move(*outcome.error);
    }
  }

  void close() {
    closed = true;
    idle.close_all();
    auto failed = std::move(waiters);
    waiters.clear();
    ahead_waiters = 0;
    for (auto& w : failed) w->timer.cancel();  // granted stays false: the waiter answers "pool closed"
  }
};

https_pool::https_pool(asio::any_io_executor ex, ssl::context& tls, https_pool_options options)
    : state_{std::make_shared<state>(std::move(ex), tls, std::move(options))} {}

https_pool::~https_pool() { state_->close(); }

awaitable<fetch_result> https_pool::get(std::string target, std::vector<std::pair<std::string, std::string>> headers,
                                        send_turn wait_turn, request_place where) {
  // The frame keeps the internals alive even if this pool object is destroyed meanwhile.
  const auto internals = state_;
  co_return co_await internals->get(std::move(target), std::move(headers), std::move(wait_turn), where);
}

void https_pool::close() { state_->close(); }

std::size_t https_pool::open_connections() const { return state_->live; }

}  // namespace hookless
