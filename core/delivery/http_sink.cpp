// The http sink's I/O: one http_connection (TCP, TLS or a Unix socket) per request in flight, a
// whole-request deadline on every step, a few idle connections kept for reuse. Everything runs on
// the daemon's one io_context thread.
#include "core/delivery/http_sink.hpp"

#include "core/delivery/connection_sink.hpp"
#include "core/formats/retry_after.hpp"
#include "core/net/http_connection.hpp"

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/string_body.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <variant>
#include <vector>

namespace hookless {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

std::string read_signing_secret(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) throw std::runtime_error("cannot read the signing secret file " + path + ": " + std::strerror(errno));
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
  if (status >= 200 && status < 300)
    return delivery_result{.delivered = true, .error = {}, .retry_after = std::nullopt};
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

// A webhook reply is a few bytes; more is a broken receiver.
constexpr response_limits reply_limits{.body = 1 << 20, .header = 8 * 1024};

// The sink's shared internals: in-flight deliveries hold a reference, so they outlive the sink object.
struct http_state : std::enable_shared_from_this<http_state> {
  http_state(asio::any_io_executor ex, std::shared_ptr<asio::ssl::context> context, http_sink_options opts)
      : executor(std::move(ex)), tls(std::move(context)), options(std::move(opts)) {}

  asio::any_io_executor executor;
  std::shared_ptr<asio::ssl::context> tls;
  http_sink_options options;
  idle_connections<http_connection> idle;

  std::string where() const { return describe(options.target); }

  transport kind() const {
    switch (options.target.scheme) {
      case target_scheme::https: return transport::tls;
      case target_scheme::unix_socket: return transport::unix_socket;
      case target_scheme::http: break;
    }
    return transport::tcp;
  }

  // A new connection, or the reason there is none.
  awaitable<opened_connection> open(steady::time_point deadline) {
    const auto& target = options.target;
    if (kind() == transport::tls && tls == nullptr) co_return std::string{"no TLS context for an https target"};
    const auto shown = kind() == transport::unix_socket ? where() : fmt::format("{}:{}", target.host, target.port);
    // Named: a temporary with a destructor inside a co_await expression is destroyed twice by GCC 12.
    const connection_address address{
        .kind = kind(), .host = target.host, .port = target.port, .socket_path = target.socket_path, .shown = shown};
    auto opened = co_await open_connection(executor, tls.get(), address, deadline);
    co_return opened;
  }

  std::string timeout_text() const { return fmt::format("timeout after {}ms", options.timeout.count()); }

  awaitable<delivery_result> deliver(const delivery_job& job) {
    const auto deadline = steady::now() + options.timeout;
    const auto timestamp =
        std::chrono::duration_cast<std::chrono::seconds>(clock_type::now().time_since_epoch()).count();
    http::request<http::string_body> request{http::verb::post, options.target.target, 11};
    request.set(http::field::host, options.target.host_header);
    for (const auto& [name, value] : callback_headers(options.signing, job.record.event_id, timestamp, job.body)) {
      request.set(name, value);
    }
    request.body() = job.body;  // byte for byte what was signed
    request.keep_alive(true);
    request.prepare_payload();

    auto opener = [this](steady::time_point until) { return open(until); };
    const auto timeout = timeout_text();
    for (int round = 0; round < 2; ++round) {
      bool reused = false;
      auto got = co_await connection_for_round(idle, round, reused, opener, deadline, timeout);
      if (auto* why = std::get_if<std::string>(&got)) {
        co_return delivery_result{.delivered = false, .error = std::move(*why), .retry_after = std::nullopt};
      }
      auto conn = std::move(std::get<std::unique_ptr<http_connection>>(got));
      auto result = co_await conn->exchange(request, deadline, reply_limits);
      if (!result.response) {
        conn->close();
        // A kept-alive connection the receiver closed while idle: once more on a new one.
        if (retry_on_fresh_connection(reused, result)) continue;
        const auto& ec = result.error;
        const auto what = ec == beast::error::timeout ? timeout_text() : ec.message();
        const auto* step = result.while_sending ? "writing the request" : "reading the reply";
        co_return delivery_result{.delivered = false,
                                  .error = fmt::format("{} ({} to {})", what, step, where()),
                                  .retry_after = std::nullopt};
      }
      if (result.keep_alive) {
        idle.keep(std::move(conn), options.limits.max_in_flight);
      } else {
        conn->close();
      }
      const auto& reply = *result.response;
      std::optional<std::string_view> retry_after;
      if (const auto found = reply.find(http::field::retry_after); found != reply.end()) retry_after = found->value();
      co_return judge_reply(reply.result_int(), reply.body(), retry_after, clock_type::now());
    }
    co_return delivery_result{
        .delivered = false, .error = "connection closed by " + where(), .retry_after = std::nullopt};
  }
};

}  // namespace

std::unique_ptr<sink> make_http_sink(asio::any_io_executor executor, std::shared_ptr<asio::ssl::context> tls,
                                     http_sink_options options) {
  return std::make_unique<connection_sink<http_state>>(
      std::make_shared<http_state>(std::move(executor), std::move(tls), std::move(options)));
}

}  // namespace hookless
