// hooklessctl's HTTP client over the control socket: Beast on a private io_context, so that a
// deadline covers connecting, writing and reading alike.
#include "daemon/ctl/ctl_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <exception>
#include <optional>

namespace hookless {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

using ctl_stream = beast::basic_stream<asio::local::stream_protocol>;

// Connects (within `timeout`) and sends one request that closes the connection after its answer.
asio::awaitable<void> send_ctl_request(ctl_stream& stream, const std::string& socket_path, http::verb method,
                                       std::string target, std::string body, std::chrono::milliseconds timeout) {
  stream.expires_after(timeout);
  try {
    co_await stream.async_connect(asio::local::stream_protocol::endpoint(socket_path), asio::use_awaitable);
  } catch (const boost::system::system_error& error) {
    throw daemon_unreachable("cannot reach hooklessd at " + socket_path + ": " + error.code().message());
  }

  http::request<http::string_body> request{method, target, 11};
  request.set(http::field::host, "localhost");
  request.set(http::field::user_agent, "hooklessctl");
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  request.body() = std::move(body);
  request.prepare_payload();
  request.keep_alive(false);
  co_await http::async_write(stream, request, asio::use_awaitable);
}

asio::awaitable<ctl_response> exchange(std::string socket_path, http::verb method, std::string target, std::string body,
                                       std::chrono::milliseconds timeout) {
  ctl_stream stream(co_await asio::this_coro::executor);
  co_await send_ctl_request(stream, socket_path, method, std::move(target), std::move(body), timeout);

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);  // lists of many runs can be large; the daemon bounds them
  co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::socket_base::shutdown_both, ignored);
  co_return ctl_response{parser.get().result_int(), std::move(parser.get().body())};
}

asio::awaitable<ctl_response> exchange_lines(std::string socket_path, std::string target,
                                             std::chrono::milliseconds timeout,
                                             std::function<void(std::string_view)> line) {
  ctl_stream stream(co_await asio::this_coro::executor);
  std::string no_body;
  co_await send_ctl_request(stream, socket_path, http::verb::get, std::move(target), std::move(no_body), timeout);

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  co_await http::async_read_header(stream, buffer, parser, asio::use_awaitable);
  stream.expires_never();  // the events come when they come
  ctl_response out{parser.get().result_int(), {}};
  const bool lines = out.status == 200;
  std::array<char, 64 * 1024> chunk{};
  std::string pending;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    // read_some, not read: a line is handed on as soon as it arrives, not once 64 KiB have.
    auto [ec, read] = co_await http::async_read_some(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (ec && ec != http::error::need_buffer) throw boost::system::system_error(ec);
    const auto got = chunk.size() - parser.get().body().size;
    if (!lines) {
      out.body.append(chunk.data(), got);
      continue;
    }
    pending.append(chunk.data(), got);
    std::size_t start = 0;
    for (auto end = pending.find('\n'); end != std::string::npos; end = pending.find('\n', start)) {
      line(std::string_view{pending}.substr(start, end - start));
      start = end + 1;
    }
    pending.erase(0, start);
  }
  if (lines && !pending.empty()) line(pending);  // a last line without its newline
  co_return out;
}

// Runs one exchange on a private io_context; its failures in hooklessctl's words.
template <typename Exchange>
ctl_response run_exchange(Exchange exchange) {
  asio::io_context context;
  std::optional<ctl_response> answer;
  std::exception_ptr failure;
  asio::co_spawn(context, std::move(exchange), [&answer, &failure](std::exception_ptr error, ctl_response response) {
    if (error) {
      failure = error;
    } else {
      answer = std::move(response);
    }
  });
  context.run();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const daemon_unreachable&) {
      throw;
    } catch (const boost::system::system_error& error) {
      if (error.code() == beast::error::timeout) throw std::runtime_error("hooklessd did not answer in time");
      throw std::runtime_error("talking to hooklessd failed: " + error.code().message());
    }
  }
  return std::move(*answer);
}

}  // namespace

ctl_response send_control_request(const std::string& socket_path, http::verb method, const std::string& target,
                                  const std::string& body, std::chrono::milliseconds timeout) {
  return run_exchange(exchange(socket_path, method, target, body, timeout));
}

ctl_response stream_control_lines(const std::string& socket_path, const std::string& target,
                                  std::chrono::milliseconds timeout,
                                  const std::function<void(std::string_view)>& line) {
  return run_exchange(exchange_lines(socket_path, target, timeout, line));
}

}  // namespace hookless
