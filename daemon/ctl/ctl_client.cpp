// hooklessctl's HTTP client over the control socket: Beast on a private io_context, so that a
// deadline covers connecting, writing and reading alike.
#include "daemon/ctl/ctl_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <exception>
#include <optional>

namespace hookless {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

asio::awaitable<ctl_response> exchange(std::string socket_path, http::verb method, std::string target, std::string body,
                                       std::chrono::milliseconds timeout) {
  beast::basic_stream<asio::local::stream_protocol> stream(co_await asio::this_coro::executor);
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

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);  // lists of many runs can be large; the daemon bounds them
  co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::socket_base::shutdown_both, ignored);
  co_return ctl_response{parser.get().result_int(), std::move(parser.get().body())};
}

}  // namespace

ctl_response send_control_request(const std::string& socket_path, http::verb method, const std::string& target,
                                  const std::string& body, std::chrono::milliseconds timeout) {
  asio::io_context context;
  std::optional<ctl_response> answer;
  std::exception_ptr failure;
  asio::co_spawn(context, exchange(socket_path, method, target, body, timeout),
                 [&answer, &failure](std::exception_ptr error, ctl_response response) {
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

}  // namespace hookless
