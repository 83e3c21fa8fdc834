// The metrics listener: one coroutine per connection on the daemon's io_context, each with its own
// deadlines, as the control server does, but with no caller identity, no body and one route.
#include "daemon/service/metrics_listener.hpp"

#include "core/net/accept_loop.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <spdlog/spdlog.h>

#include <map>
#include <stdexcept>
#include <vector>

namespace hookless {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// A few scrapers (an HA pair of Prometheus servers, a curl) at once; more are closed at once.
constexpr std::size_t most_metrics_connections = 32;
constexpr std::chrono::seconds metrics_request_timeout{10};
constexpr std::chrono::seconds metrics_idle_timeout{90};  // Prometheus keeps its connection between scrapes

// What the listener answers to one request: the status, its content type and body.
http::response<http::string_body> metrics_answer(const http::request<http::empty_body>& request,
                                                 const std::function<std::string()>& render) {
  http::response<http::string_body> response{http::status::ok, request.version()};
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  const auto target = std::string_view{request.target()};
  const auto path = target.substr(0, target.find('?'));
  if (path != "/metrics") {
    response.result(http::status::not_found);
    response.body() = "not found: this port serves GET /metrics only\n";
  } else if (request.method() != http::verb::get) {
    response.result(http::status::method_not_allowed);
    response.set(http::field::allow, "GET");
    response.body() = "method not allowed: GET /metrics\n";
  } else {
    response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    response.body() = render();
  }
  response.prepare_payload();
  return response;
}

}  // namespace

struct metrics_listener::impl : std::enable_shared_from_this<impl> {
  impl(asio::any_io_executor executor, std::function<std::string()> render_text)
      : render(std::move(render_text)), acceptor(std::move(executor)) {}

  std::function<std::string()> render;
  asio::ip::tcp::acceptor acceptor;
  std::string where;  // "127.0.0.1:9464", for logs
  std::map<std::uint64_t, std::shared_ptr<beast::tcp_stream>> connections;
  std::uint64_t next_id = 0;
  bool stopping = false;

  auto task_done(std::string name) {
    return [self = shared_from_this(), name = std::move(name)](std::exception_ptr failure) {
      if (!failure) return;
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& error) {
        // A scraper that hangs up mid-answer is routine.
        spdlog::debug("metrics: {} ended: {}", name, error.what());
      }
    };
  }

  awaitable<void> serve(std::shared_ptr<beast::tcp_stream> stream) {
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
      stream->expires_after(first ? metrics_request_timeout : metrics_idle_timeout);
      first = false;
      // A fresh parser per message; a body is not expected, and refused beyond a few bytes.
      http::request_parser<http::empty_body> parser;
      parser.header_limit(8 * 1024);
      auto [ec, read] = co_await http::async_read(*stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      const auto& request = parser.get();
      auto response = metrics_answer(request, render);
      const bool keep_alive = request.keep_alive() && !stopping;
      response.keep_alive(keep_alive);
      stream->expires_after(metrics_request_timeout);
      co_await http::async_write(*stream, response, asio::use_awaitable);
      if (!keep_alive) co_return;
    }
  }

  void spawn_connection(asio::ip::tcp::socket socket) {
    if (connections.size() >= most_metrics_connections) {
      spdlog::warn("metrics: {} connections open on {}, the most it serves; closing a new one", connections.size(),
                   where);
      return;
    }
    const auto id = next_id++;
    auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
    connections.emplace(id, stream);
    auto body = [](std::shared_ptr<impl> self, std::shared_ptr<beast::tcp_stream> served,
                   std::uint64_t served_id) -> awaitable<void> {
      try {
        co_await self->serve(served);
      } catch (...) {
        self->forget(served_id);
        throw;
      }
      self->forget(served_id);
    };
    asio::co_spawn(acceptor.get_executor(), body(shared_from_this(), stream, id), task_done("a scrape connection"));
  }

  void forget(std::uint64_t id) {
    if (auto found = connections.find(id); found != connections.end()) {
      found->second->close();
      connections.erase(found);
    }
  }

  awaitable<void> accept_loop() {
    co_await accept_connections(acceptor, stopping, "metrics " + where,
                                [this](asio::ip::tcp::socket socket) { spawn_connection(std::move(socket)); });
  }

  void close_everything() {
    stopping = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    std::vector<std::shared_ptr<beast::tcp_stream>> open;
    for (auto& [id, stream] : connections) open.push_back(stream);
    for (auto& stream : open) stream->close();
  }
};

metrics_listener::metrics_listener(asio::any_io_executor executor, const listen_address& address,
                                   std::function<std::string()> render)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(render))) {
  impl_->where = to_string(address);
  const auto fail = [&](const char* what, const boost::system::error_code& ec) {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    return std::runtime_error("metrics.listen " + impl_->where + ": cannot " + what + ": " + ec.message());
  };
  boost::system::error_code ec;
  const asio::ip::tcp::endpoint endpoint{asio::ip::make_address(address.host, ec), address.port};
  if (ec) throw fail("use the address", ec);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (ec) throw fail("open a socket", ec);
  // A restart right after a stop finds the port in TIME_WAIT: take it anyway, as servers do.
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) throw fail("set SO_REUSEADDR", ec);
  acceptor.bind(endpoint, ec);
  if (ec) throw fail("bind", ec);
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw fail("listen", ec);
  spdlog::info("metrics: serving http://{}/metrics", impl_->where);
}

metrics_listener::~metrics_listener() {
  if (!impl_->stopping) impl_->close_everything();
}

void metrics_listener::start() {
  asio::co_spawn(impl_->acceptor.get_executor(), impl_->accept_loop(), impl_->task_done("the accept loop"));
}

void metrics_listener::stop() { impl_->close_everything(); }

std::uint16_t metrics_listener::port() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

}  // namespace hookless
