// The black-box tests' HTTP clients, synchronous Beast: the control API over hooklessd's Unix
// socket, plain HTTP over TCP (metrics.listen, Prometheus' API), and direct GETs from the fake
// Extend API over verified TLS (to know what it answered).
#include "tests/blackbox/blackbox_support.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <sys/socket.h>
#include <sys/time.h>

namespace hookless::blackbox {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// Synchronous reads and writes give up after `limit` (EAGAIN), so a hung daemon fails the test
// instead of hanging it.
void set_io_timeout(int fd, std::chrono::milliseconds limit) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(limit.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((limit.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

http::verb verb_of(const std::string& method) {
  const auto verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) throw std::invalid_argument("unknown HTTP method " + method);
  return verb;
}

template <typename Stream>
http_answer exchange(Stream& stream, http::request<http::string_body>& request) {
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  http::read(stream, buffer, parser);
  return http_answer{parser.get().result_int(), std::move(parser.get().body())};
}

}  // namespace

http_answer control_request(const fs::path& socket, const std::string& method, const std::string& target,
                            const std::string& body, std::chrono::milliseconds timeout) {
  asio::io_context io;
  asio::local::stream_protocol::socket stream{io};
  stream.connect(asio::local::stream_protocol::endpoint{socket.string()});
  set_io_timeout(stream.native_handle(), timeout);
  http::request<http::string_body> request{verb_of(method), target, 11};
  request.set(http::field::host, "localhost");
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  request.body() = body;
  request.prepare_payload();
  request.keep_alive(false);
  auto answer = exchange(stream, request);
  boost::system::error_code ignored;
  stream.shutdown(asio::socket_base::shutdown_both, ignored);
  return answer;
}

http_answer tcp_request(const std::string& host, unsigned short port, const std::string& method,
                        const std::string& target, std::chrono::milliseconds timeout) {
  asio::io_context io;
  asio::ip::tcp::socket stream{io};
  stream.connect({asio::ip::make_address(host), port});
  set_io_timeout(stream.native_handle(), timeout);
  http::request<http::string_body> request{verb_of(method), target, 11};
  request.set(http::field::host, host + ":" + std::to_string(port));
  request.keep_alive(false);
  auto answer = exchange(stream, request);
  boost::system::error_code ignored;
  stream.shutdown(asio::socket_base::shutdown_both, ignored);
  return answer;
}

bool socket_accepts(const fs::path& socket) {
  asio::io_context io;
  asio::local::stream_protocol::socket stream{io};
  boost::system::error_code ec;
  stream.connect(asio::local::stream_protocol::endpoint{socket.string()}, ec);
  return !ec;
}

http_answer fetch_from_fake(const fake_extend& fake, const std::string& target, const std::string& api_version,
                            const std::string& api_key) {
  asio::io_context io;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  tls.add_certificate_authority(asio::buffer(fake.ca_pem()));
  tls.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<asio::ip::tcp::socket> stream{io, tls};
  stream.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), fake.port()});
  set_io_timeout(stream.lowest_layer().native_handle(), std::chrono::seconds{10});
  stream.handshake(asio::ssl::stream_base::client);

  http::request<http::string_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::authorization, "Bearer " + api_key);
  request.set("x-extend-api-version", api_version);
  request.set(http::field::user_agent, "hookless-blackbox-test");
  request.keep_alive(false);
  auto answer = exchange(stream, request);
  boost::system::error_code ignored;
  stream.lowest_layer().close(ignored);
  return answer;
}

}  // namespace hookless::blackbox
