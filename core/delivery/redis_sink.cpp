// The redis sink's I/O: connections opened by http_connection (TCP, TLS or a Unix socket), RESP
// commands from formats/resp, a deadline over the whole attempt, a few idle connections kept.
// Everything runs on the daemon's one io_context thread.
#include "core/delivery/redis_sink.hpp"

#include "core/delivery/connection_sink.hpp"
#include "core/formats/resp.hpp"
#include "core/net/http_connection.hpp"

#include <boost/beast/core/error.hpp>

#include <fmt/format.h>

#include <functional>
#include <variant>
#include <vector>

namespace hookless {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

std::string redis_xadd_command(const redis_sink_options& options, const delivery_job& job) {
  std::vector<std::string_view> arguments{"XADD", options.stream};
  const auto maxlen = options.maxlen ? std::to_string(*options.maxlen) : std::string{};
  if (options.maxlen) arguments.insert(arguments.end(), {"MAXLEN", "~", maxlen});
  arguments.insert(arguments.end(), {"*", "eventId", job.record.event_id, "eventType", job.event_type, "runId",
                                     job.record.run_id, "event", job.body});
  return resp_command(arguments);
}

namespace {

// A reply to the sink's commands is an entry ID, OK or an error line.
constexpr std::size_t redis_reply_max = 64 * 1024;

// What a RESP reply came to: the reply, or why the connection cannot be trusted any more.
using redis_answer = std::variant<resp_reply, std::string>;

// Shows a Redis error reply: one line, cut to a readable length.
std::string redis_error_text(std::string_view text) {
  constexpr std::size_t shown = 200;
  return std::string{text.substr(0, shown)} + (text.size() > shown ? "..." : "");
}

struct redis_state {
  redis_state(asio::any_io_executor ex, std::shared_ptr<asio::ssl::context> context, redis_sink_options opts)
      : executor(std::move(ex)), tls(std::move(context)), options(std::move(opts)) {}

  asio::any_io_executor executor;
  std::shared_ptr<asio::ssl::context> tls;
  redis_sink_options options;
  idle_connections<http_connection> idle;

  std::string where() const { return describe(options.target); }
  std::string timeout_text() const { return fmt::format("timeout after {}ms", options.timeout.count()); }

  transport kind() const {
    switch (options.target.scheme) {
      case redis_scheme::tls: return transport::tls;
      case redis_scheme::unix_socket: return transport::unix_socket;
      case redis_scheme::tcp: break;
    }
    return transport::tcp;
  }

  // One command and its reply. `result` carries the transport's error, if any.
  awaitable<redis_answer> command(http_connection& conn, const std::string& bytes, steady::time_point deadline,
                                  byte_exchange_result& result) {
    // Named: a temporary with a destructor inside a co_await expression is destroyed twice by GCC 12.
    const std::function<bool(std::string_view)> enough = [](std::string_view have) {
      return parse_resp(have).state != resp_state::incomplete;
    };
    result = co_await conn.exchange_bytes(bytes, deadline, enough, redis_reply_max);
    if (result.error) {
      const auto what = result.error == boost::beast::error::timeout ? timeout_text() : result.error.message();
      const auto* step = result.while_sending ? "writing to" : "reading the reply from";
      co_return fmt::format("{} ({} {})", what, step, where());
    }
    auto parsed = parse_resp(result.reply);
    if (parsed.state != resp_state::complete) co_return "not a Redis reply from " + where() + ": " + parsed.problem;
    if (parsed.length != result.reply.size()) co_return "more than one reply from " + where();
    co_return std::move(parsed.reply);
  }

  // A new connection, authenticated and on its database, or the reason there is none.
  awaitable<opened_connection> open(steady::time_point deadline) {
    const auto& target = options.target;
    if (kind() == transport::tls && tls == nullptr) co_return std::string{"no TLS context for a rediss:// server"};
    const connection_address address{
        .kind = kind(), .host = target.host, .port = target.port, .socket_path = target.socket_path, .shown = where()};
    auto opened = co_await open_connection(executor, tls.get(), address, deadline);
    auto* connected = std::get_if<std::unique_ptr<http_connection>>(&opened);
    if (connected == nullptr) co_return opened;
    auto conn = std::move(*connected);
    std::vector<std::pair<std::string, std::string>> setup;  // what it is for, the command
    if (!options.password.empty()) {
      setup.emplace_back("AUTH", target.user.empty() ? resp_command({"AUTH", options.password})
                                                     : resp_command({"AUTH", target.user, options.password}));
    }
    if (target.db != 0)
      setup.emplace_back("SELECT " + std::to_string(target.db), resp_command({"SELECT", std::to_string(target.db)}));
    for (const auto& [what, bytes] : setup) {
      byte_exchange_result result;
      auto answer = co_await command(*conn, bytes, deadline, result);
      if (auto* why = std::get_if<std::string>(&answer)) co_return what + ": " + *why;
      const auto& reply = std::get<resp_reply>(answer);
      if (reply.type == resp_type::error)
        co_return what + " refused by " + where() + ": " + redis_error_text(reply.text);
    }
    co_return conn;
  }

  awaitable<delivery_result> deliver(const delivery_job& job) {
    const auto deadline = steady::now() + options.timeout;
    const auto xadd = redis_xadd_command(options, job);
    const auto failed = [](std::string error) {
      return delivery_result{.delivered = false, .error = std::move(error), .retry_after = std::nullopt};
    };
    auto opener = [this](steady::time_point until) { return open(until); };
    const auto timeout = timeout_text();
    for (int round = 0; round < 2; ++round) {
      bool reused = false;
      auto got = co_await connection_for_round(idle, round, reused, opener, deadline, timeout);
      if (auto* why = std::get_if<std::string>(&got)) co_return failed(std::move(*why));
      auto conn = std::move(std::get<std::unique_ptr<http_connection>>(got));
      byte_exchange_result result;
      auto answer = co_await command(*conn, xadd, deadline, result);
      if (auto* why = std::get_if<std::string>(&answer)) {
        conn->close();
        // A kept-alive connection the server closed while idle (a restart): once more on a new one.
        if (retry_on_fresh_connection(reused, result)) continue;
        co_return failed(std::move(*why));
      }
      idle.keep(std::move(conn), options.limits.max_in_flight);
      const auto& reply = std::get<resp_reply>(answer);
      if (reply.type == resp_type::bulk && !reply.text.empty()) {
        co_return delivery_result{.delivered = true, .error = {}, .retry_after = std::nullopt};
      }
      if (reply.type == resp_type::error)
        co_return failed("XADD refused by " + where() + ": " + redis_error_text(reply.text));
      co_return failed("XADD answered without an entry ID by " + where());
    }
    co_return failed("connection closed by " + where());
  }
};

}  // namespace

std::unique_ptr<sink> make_redis_sink(asio::any_io_executor executor, std::shared_ptr<asio::ssl::context> tls,
                                      redis_sink_options options) {
  return std::make_unique<connection_sink<redis_state>>(
      std::make_shared<redis_state>(std::move(executor), std::move(tls), std::move(options)));
}

}  // namespace hookless
