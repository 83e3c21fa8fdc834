// One client connection: resolve, connect, verify, exchange (see http_connection.hpp).
#include "core/net/http_connection.hpp"

#include "core/model/awaitable.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/result.hpp>

namespace hookless {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::use_awaitable;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

// DNS with the request's deadline. getaddrinfo runs on Asio's resolver thread and cannot be
// interrupted (async_resolve ignores per-operation cancellation, and a parallel_group would wait for
// it), so the lookup reports into a shared record and the caller stops waiting at the deadline; a
// late answer is dropped.
awaitable<boost::system::result<tcp::resolver::results_type>> resolve(const asio::any_io_executor& executor,
                                                                      const std::string& host, const std::string& port,
                                                                      connection_deadline deadline) {
  struct lookup {
    lookup(const asio::any_io_executor& ex, connection_deadline until) : resolver{ex}, wake{ex, until} {}
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
  record->resolver.async_resolve(host, port, std::move(on_resolved));
  error_code wait_ec;
  co_await record->wake.async_wait(asio::redirect_error(use_awaitable, wait_ec));
  if (record->done) {
    if (record->ec) co_return record->ec;
    co_return record->results;
  }
  record->resolver.cancel();
  co_return steady::now() >= deadline ? error_code{beast::error::timeout} : error_code{asio::error::operation_aborted};
}

// Open, and neither a byte nor the end of the stream waiting to be read.
template <typename Socket>
bool nothing_waiting(Socket& socket) {
  if (!socket.is_open()) return false;
  char byte = 0;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

http_connection::http_connection(const asio::any_io_executor& executor, transport kind, ssl::context* tls)
    : executor_{executor} {
  switch (kind) {
    case transport::tcp: tcp_.emplace(executor); break;
    case transport::tls: tls_.emplace(beast::tcp_stream{executor}, *tls); break;
    case transport::unix_socket: unix_.emplace(executor); break;
  }
}

beast::tcp_stream& http_connection::tcp() { return tls_ ? tls_->next_layer() : *tcp_; }

awaitable<std::optional<open_failure>> http_connection::connect(const std::string& host, const std::string& port,
                                                                connection_deadline deadline) {
  auto resolved = co_await resolve(executor_, host, port, deadline);
  if (!resolved) co_return open_failure{.stage = open_stage::resolve, .code = resolved.error(), .detail = {}};
  error_code ec;
  tcp().expires_at(deadline);
  co_await tcp().async_connect(*resolved, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return open_failure{.stage = open_stage::connect, .code = ec, .detail = {}};
  co_return std::nullopt;
}

awaitable<std::optional<open_failure>> http_connection::connect(const std::string& socket_path,
                                                                connection_deadline deadline) {
  error_code ec;
  unix_->expires_at(deadline);
  co_await unix_->async_connect(asio::local::stream_protocol::endpoint{socket_path},
                                asio::redirect_error(use_awaitable, ec));
  if (ec) co_return open_failure{.stage = open_stage::connect, .code = ec, .detail = {}};
  co_return std::nullopt;
}

awaitable<std::optional<open_failure>> http_connection::handshake(const std::string& host,
                                                                  connection_deadline deadline) {
  SSL* handle = tls_->native_handle();
  const bool ip = is_ip_literal(host);
  // SNI carries host names only (RFC 6066 forbids IP literals there). SSL_ctrl rather than the
  // SSL_set_tlsext_host_name macro, whose C cast -Wold-style-cast refuses.
  if (!ip &&
      SSL_ctrl(handle, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host.c_str())) != 1) {
    co_return open_failure{.stage = open_stage::tls_setup,
                           .code = error_code{static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()},
                           .detail = "cannot set SNI for " + host};
  }
  // OpenSSL checks the name itself too, so a mismatch is reported as "hostname mismatch" rather
  // than a bare verify failure; host_name_verification is the Asio-level check of the same thing.
  X509_VERIFY_PARAM* param = SSL_get0_param(handle);
  const int name_set = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                          : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  if (name_set != 1) {
    co_return open_failure{
        .stage = open_stage::tls_setup, .code = {}, .detail = "cannot set the expected host name " + host};
  }
  tls_->set_verify_mode(ssl::verify_peer);
  tls_->set_verify_callback(ssl::host_name_verification(host));

  error_code ec;
  tcp().expires_at(deadline);
  co_await tls_->async_handshake(ssl::stream_base::client, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    std::string detail;
    if (const long verify = SSL_get_verify_result(handle); verify != X509_V_OK) {
      detail = std::string{"certificate verify failed ("} + X509_verify_cert_error_string(verify) + ")";
    }
    co_return open_failure{.stage = open_stage::handshake, .code = ec, .detail = std::move(detail)};
  }
  co_return std::nullopt;
}

template <typename Stream, typename Lowest>
awaitable<exchange_result> http_connection::exchange_on(Stream& stream, Lowest& lowest, const http_request& request,
                                                        connection_deadline deadline, response_limits limits) {
  exchange_result result;
  lowest.expires_at(deadline);
  co_await http::async_write(stream, request, asio::redirect_error(use_awaitable, result.error));
  if (result.error) {
    result.while_sending = true;
    result.nothing_received = buffer_.size() == 0;
    co_return result;
  }
  http::response_parser<http::string_body> parser;  // a fresh parser per response
  parser.body_limit(limits.body);
  parser.header_limit(limits.header);
  lowest.expires_at(deadline);
  co_await http::async_read(stream, buffer_, parser, asio::redirect_error(use_awaitable, result.error));
  if (result.error) {
    result.partial = parser.got_some();
    result.nothing_received = !parser.got_some() && buffer_.size() == 0;
    co_return result;
  }
  auto response = parser.release();
  result.keep_alive = response.keep_alive() && !response.need_eof() && buffer_.size() == 0;
  result.response = std::move(response);
  co_return result;
}

awaitable<exchange_result> http_connection::exchange(const http_request& request, connection_deadline deadline,
                                                     response_limits limits) {
  if (tls_) {
    auto result = co_await exchange_on(*tls_, tls_->next_layer(), request, deadline, limits);
    co_return result;
  }
  if (unix_) {
    auto result = co_await exchange_on(*unix_, *unix_, request, deadline, limits);
    co_return result;
  }
  auto result = co_await exchange_on(*tcp_, *tcp_, request, deadline, limits);
  co_return result;
}

template <typename Stream, typename Lowest>
awaitable<byte_exchange_result> http_connection::exchange_bytes_on(Stream& stream, Lowest& lowest,
                                                                   std::string_view request,
                                                                   connection_deadline deadline,
                                                                   const std::function<bool(std::string_view)>& enough,
                                                                   std::size_t max_reply) {
  byte_exchange_result result;
  lowest.expires_at(deadline);
  co_await asio::async_write(stream, asio::buffer(request.data(), request.size()),
                             asio::redirect_error(use_awaitable, result.error));
  if (result.error) {
    result.while_sending = true;
    result.nothing_received = buffer_.size() == 0;
    co_return result;
  }
  const auto have = [this] {
    return std::string_view{static_cast<const char*>(buffer_.data().data()), buffer_.size()};
  };
  while (buffer_.size() == 0 || !enough(have())) {
    if (buffer_.size() >= max_reply) {
      result.error = asio::error::message_size;
      co_return result;
    }
    constexpr std::size_t chunk = 4096;
    lowest.expires_at(deadline);
    const auto got = co_await stream.async_read_some(buffer_.prepare(std::min(chunk, max_reply - buffer_.size())),
                                                     asio::redirect_error(use_awaitable, result.error));
    buffer_.commit(got);
    if (result.error) {
      result.nothing_received = buffer_.size() == 0;
      co_return result;
    }
  }
  result.reply = std::string{have()};
  buffer_.consume(buffer_.size());
  co_return result;
}

awaitable<byte_exchange_result> http_connection::exchange_bytes(std::string_view request, connection_deadline deadline,
                                                                const std::function<bool(std::string_view)>& enough,
                                                                std::size_t max_reply) {
  if (tls_) {
    auto result = co_await exchange_bytes_on(*tls_, tls_->next_layer(), request, deadline, enough, max_reply);
    co_return result;
  }
  if (unix_) {
    auto result = co_await exchange_bytes_on(*unix_, *unix_, request, deadline, enough, max_reply);
    co_return result;
  }
  auto result = co_await exchange_bytes_on(*tcp_, *tcp_, request, deadline, enough, max_reply);
  co_return result;
}

bool http_connection::still_usable() {
  if (buffer_.size() != 0) return false;
  return unix_ ? nothing_waiting(unix_->socket()) : nothing_waiting(tcp().socket());
}

void http_connection::expires_never() {
  if (unix_) {
    unix_->expires_never();
  } else {
    tcp().expires_never();
  }
}

void http_connection::close() {
  // basic_stream::close cancels the stream's timer too and ignores errors.
  if (unix_) {
    unix_->close();
  } else {
    tcp().close();
  }
}

namespace {

bool fresh_connection_helps(bool reused, const error_code& error, bool nothing_received) {
  return reused && error && nothing_received && error != beast::error::timeout &&
         error != asio::error::operation_aborted;
}

}  // namespace

bool retry_on_fresh_connection(bool reused, const exchange_result& result) {
  return fresh_connection_helps(reused, result.error, result.nothing_received);
}

bool retry_on_fresh_connection(bool reused, const byte_exchange_result& result) {
  return fresh_connection_helps(reused, result.error, result.nothing_received);
}

}  // namespace hookless
