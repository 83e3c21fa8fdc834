// The http sink's I/O: Beast over TCP, TLS or a Unix socket, a whole-request deadline on every step,
// a few idle connections kept for reuse. Everything runs on the daemon's one io_context thread.
#include "core/http_sink.hpp"

#include "core/extend_answer.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <openssl/ssl.h>

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace hookless {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

std::string read_signing_secret(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) throw std::runtime_error("cannot read the signing secret file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  auto secret = text.str();
  const auto first = secret.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) throw std::runtime_error("the signing secret file " + path + " is empty");
  const auto last = secret.find_last_not_of(" \t\r\n");
  return secret.substr(first, last - first + 1);
}

delivery_result judge_reply(unsigned status, std::string_view body, std::optional<std::string_view> retry_after,
                            time_point now) {
  if (status >= 200 && status < 300) return delivery_result{.delivered = true, .error = {}, .retry_after = std::nullopt};
  std::string error = fmt::format("HTTP {}", status);
  if (!body.empty()) {
    constexpr std::size_t shown = 200;
    error += ": ";
    for (const char c : body.substr(0, shown)) error += (c == '\n' || c == '\r') ? ' ' : c;
    if (body.size() > shown) error += "...";
  }
  std::optional<milliseconds> delay;
  if (retry_after) delay = parse_retry_after(*retry_after, now);
  return delivery_result{.delivered = false, .error = std::move(error), .retry_after = delay};
}

namespace {

using unix_stream = beast::basic_stream<asio::local::stream_protocol, asio::any_io_executor, beast::unlimited_rate_policy>;
using tls_stream = asio::ssl::stream<beast::tcp_stream>;

constexpr std::size_t reply_body_limit = 1 << 20;  // a webhook reply is a few bytes; more is a broken receiver

// One connection to the target, of whichever kind it needs.
struct connection {
  std::optional<beast::tcp_stream> tcp;
  std::optional<unix_stream> local;
  std::optional<tls_stream> tls;
  beast::flat_buffer buffer;
  bool reused = false;

  void close() {
    error_code ignored;
    if (tcp) tcp->socket().close(ignored);
    if (local) local->socket().close(ignored);
    if (tls) tls->next_layer().socket().close(ignored);
  }
  bool is_open() const {
    if (tcp) return tcp->socket().is_open();
    if (local) return local->socket().is_open();
    if (tls) return tls->next_layer().socket().is_open();
    return false;
  }
};

// What one request/response exchange came to.
struct exchange_outcome {
  error_code ec;
  std::string step;           // where it failed: "writing the request", "reading the reply"
  bool reply_started = false;  // some byte of a reply arrived (then a retry is not "free")
  unsigned status = 0;
  std::string body;
  std::optional<std::string> retry_after;
  bool keep_alive = false;
};

template <typename Stream, typename Lowest>
awaitable<exchange_outcome> exchange(Stream& stream, Lowest& lowest, beast::flat_buffer& buffer,
                                     http::request<http::string_body>& request, steady::time_point deadline) {
  exchange_outcome out;
  lowest.expires_at(deadline);
  co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, out.ec));
  if (out.ec) {
    out.step = "writing the request";
    co_return out;
  }
  http::response_parser<http::string_body> parser;  // a fresh parser per message
  parser.body_limit(reply_body_limit);
  const auto before = buffer.size();
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, out.ec));
  out.reply_started = parser.got_some() || buffer.size() != before;
  if (out.ec) {
    out.step = "reading the reply";
    co_return out;
  }
  auto reply = parser.release();
  out.status = reply.result_int();
  out.body = std::move(reply.body());
  if (const auto found = reply.find(http::field::retry_after); found != reply.end()) {
    out.retry_after = std::string{found->value()};
  }
  out.keep_alive = reply.keep_alive();
  co_return out;
}

// The sink's shared internals: in-flight deliveries hold a reference, so they outlive the sink object.
struct http_state : std::enable_shared_from_this<http_state> {
  http_state(asio::any_io_executor ex, std::shared_ptr<asio::ssl::context> context, http_sink_options opts)
      : executor(std::move(ex)), tls(std::move(context)), options(std::move(opts)) {}

  asio::any_io_executor executor;
  std::shared_ptr<asio::ssl::context> tls;
  http_sink_options options;
  std::vector<std::unique_ptr<connection>> idle;

  std::string where() const { return describe(options.target); }

  // A lookup that stops waiting at the deadline (getaddrinfo itself cannot be interrupted; a late
  // answer is dropped), as in https_pool.
  awaitable<boost::system::result<tcp::resolver::results_type>> resolve(steady::time_point deadline) {
    struct lookup {
      lookup(const asio::any_io_executor& ex, steady::time_point until) : resolver{ex}, wake{ex, until} {}
      tcp::resolver resolver;
      asio::steady_timer wake;
      bool done = false;
      error_code ec;
      tcp::resolver::results_type results;
    };
    auto record = std::make_shared<lookup>(executor, deadline);
    auto on_resolved = [record](const error_code& ec, tcp::resolver::results_type results) {
      record->done = true;
      record->ec = ec;
      record->results = std::move(results);
      record->wake.cancel();
    };
    record->resolver.async_resolve(options.target.host, options.target.port, std::move(on_resolved));
    error_code wait_ec;
    co_await record->wake.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
    if (record->done) {
      if (record->ec) co_return record->ec;
      co_return record->results;
    }
    record->resolver.cancel();
    co_return error_code{beast::error::timeout};
  }

  // A new connection, or the reason there is none.
  awaitable<std::variant<std::unique_ptr<connection>, std::string>> open(steady::time_point deadline) {
    auto conn = std::make_unique<connection>();
    const auto& target = options.target;
    error_code ec;
    if (target.scheme == target_scheme::unix_socket) {
      conn->local.emplace(executor);
      conn->local->expires_at(deadline);
      co_await conn->local->async_connect(asio::local::stream_protocol::endpoint{target.socket_path},
                                          asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return "connect " + where() + ": " + ec.message();
      co_return conn;
    }
    auto resolved = co_await resolve(deadline);
    if (!resolved) co_return "resolve " + target.host + ": " + resolved.error().message();
    beast::tcp_stream* tcp_layer = nullptr;
    if (target.scheme == target_scheme::https) {
      if (tls == nullptr) co_return std::string{"no TLS context for an https target"};
      conn->tls.emplace(beast::tcp_stream{executor}, *tls);
      tcp_layer = &conn->tls->next_layer();
    } else {
      conn->tcp.emplace(executor);
      tcp_layer = &*conn->tcp;
    }
    tcp_layer->expires_at(deadline);
    co_await tcp_layer->async_connect(*resolved, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return fmt::format("connect {}:{}: {}", target.host, target.port, ec.message());
    if (conn->tls) {
      error_code parse_ec;
      asio::ip::make_address(target.host, parse_ec);
      // SSL_ctrl rather than the SSL_set_tlsext_host_name macro, whose C cast -Wold-style-cast refuses.
      auto* host_name = const_cast<char*>(target.host.c_str());
      if (parse_ec && SSL_ctrl(conn->tls->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                               host_name) != 1) {
        co_return std::string{"cannot set TLS SNI"};
      }
      conn->tls->set_verify_mode(asio::ssl::verify_peer);
      conn->tls->set_verify_callback(asio::ssl::host_name_verification(target.host));
      tcp_layer->expires_at(deadline);
      co_await conn->tls->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return fmt::format("TLS handshake with {}:{}: {}", target.host, target.port, ec.message());
    }
    co_return conn;
  }

  awaitable<exchange_outcome> send(connection& conn, http::request<http::string_body>& request,
                                   steady::time_point deadline) {
    if (conn.tls) co_return co_await exchange(*conn.tls, conn.tls->next_layer(), conn.buffer, request, deadline);
    if (conn.local) co_return co_await exchange(*conn.local, *conn.local, conn.buffer, request, deadline);
    co_return co_await exchange(*conn.tcp, *conn.tcp, conn.buffer, request, deadline);
  }

  std::unique_ptr<connection> take_idle() {
    while (!idle.empty()) {
      auto conn = std::move(idle.back());
      idle.pop_back();
      if (conn->is_open() && conn->buffer.size() == 0) {
        conn->reused = true;
        return conn;
      }
      conn->close();
    }
    return nullptr;
  }

  void give_back(std::unique_ptr<connection> conn) {
    if (idle.size() >= options.limits.max_in_flight) {
      conn->close();
      return;
    }
    idle.push_back(std::move(conn));
  }

  std::string timeout_text() const {
    return fmt::format("timeout after {}ms", options.timeout.count());
  }

  awaitable<delivery_result> deliver(const delivery_job& job) {
    const auto deadline = steady::now() + options.timeout;
    const auto timestamp = std::chrono::duration_cast<std::chrono::seconds>(clock_type::now().time_since_epoch()).count();
    http::request<http::string_body> request{http::verb::post, options.target.target, 11};
    request.set(http::field::host, options.target.host_header);
    for (const auto& [name, value] : callback_headers(options.signing, job.record.event_id, timestamp, job.body)) {
      request.set(name, value);
    }
    request.body() = job.body;  // byte for byte what was signed
    request.keep_alive(true);
    request.prepare_payload();

    for (int round = 0; round < 2; ++round) {
      auto conn = take_idle();
      if (!conn) {
        auto opened = co_await open(deadline);
        if (auto* why = std::get_if<std::string>(&opened)) {
          const bool timed_out = steady::now() >= deadline;
          co_return delivery_result{.delivered = false, .error = timed_out ? timeout_text() + " (" + *why + ")" : *why,
                                    .retry_after = std::nullopt};
        }
        conn = std::move(std::get<std::unique_ptr<connection>>(opened));
      }
      auto outcome = co_await send(*conn, request, deadline);
      if (outcome.ec) {
        const bool reused = conn->reused;
        conn->close();
        // A kept-alive connection the receiver closed while idle: once more on a new one.
        if (reused && !outcome.reply_started && outcome.ec != beast::error::timeout) continue;
        const auto what = outcome.ec == beast::error::timeout ? timeout_text() : outcome.ec.message();
        co_return delivery_result{.delivered = false,
                                  .error = fmt::format("{} ({} to {})", what, outcome.step, where()),
                                  .retry_after = std::nullopt};
      }
      if (outcome.keep_alive) {
        give_back(std::move(conn));
      } else {
        conn->close();
      }
      std::optional<std::string_view> retry_after;
      if (outcome.retry_after) retry_after = *outcome.retry_after;
      co_return judge_reply(outcome.status, outcome.body, retry_after, clock_type::now());
    }
    co_return delivery_result{.delivered = false, .error = "connection closed by " + where(), .retry_after = std::nullopt};
  }
};

class http_sink final : public sink, public limited_sink {
 public:
  http_sink(asio::any_io_executor executor, std::shared_ptr<asio::ssl::context> tls, http_sink_options options)
      : state_(std::make_shared<http_state>(std::move(executor), std::move(tls), std::move(options))) {}
  ~http_sink() override {
    for (auto& conn : state_->idle) conn->close();
  }

  awaitable<delivery_result> deliver(const delivery_job& job) override {
    const auto state = state_;  // keeps the internals alive while this delivery is in flight
    co_return co_await state->deliver(job);
  }

  delivery_limits limits() const override { return state_->options.limits; }

 private:
  std::shared_ptr<http_state> state_;
};

}  // namespace

std::unique_ptr<sink> make_http_sink(asio::any_io_executor executor, std::shared_ptr<asio::ssl::context> tls,
                                     http_sink_options options) {
  return std::make_unique<http_sink>(std::move(executor), std::move(tls), std::move(options));
}

}  // namespace hookless
