// The fake Extend API's servers: HTTPS (Beast over asio::ssl, keep-alive) for the API and plain HTTP
// for the /_fake/ control API, both on one io_context on the fake's own thread.
#include "tests/support/fake_extend.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <cstdio>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>

namespace hookless {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::use_awaitable;
using namespace std::chrono_literals;

namespace {

constexpr auto handshake_timeout = 10s;
constexpr auto idle_timeout = 120s;  // a kept-alive connection may wait this long for its next request
constexpr auto write_timeout = 10s;
constexpr auto shutdown_timeout = 2s;

std::optional<std::string> header(const http::request<http::string_body>& req, http::field field) {
  const auto found = req.find(field);
  if (found == req.end()) return std::nullopt;
  return std::string{found->value()};
}

std::optional<std::string> header(const http::request<http::string_body>& req, std::string_view name) {
  const auto found = req.find(name);
  if (found == req.end()) return std::nullopt;
  return std::string{found->value()};
}

http::response<http::string_body> make_response(const fake_response& answer, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(answer.status), version};
  res.set(http::field::server, "hookless-fake-extend");
  res.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : answer.headers) res.set(name, value);
  res.keep_alive(keep_alive);
  res.body() = answer.body;
  res.prepare_payload();
  return res;
}

// The head of a response as written by hand, so the body can be cut short of its Content-Length.
std::string truncated_message(const fake_response& answer) {
  std::string text = "HTTP/1.1 " + std::to_string(answer.status) + " " +
                     std::string{http::obsolete_reason(static_cast<http::status>(answer.status))} + "\r\n";
  text += "Server: hookless-fake-extend\r\nContent-Type: application/json\r\n";
  for (const auto& [name, value] : answer.headers) text += name + ": " + value + "\r\n";
  text += "Content-Length: " + std::to_string(answer.body.size()) + "\r\n\r\n";
  text += answer.body.substr(0, answer.body.size() / 2);
  return text;
}

void log_failure(const char* what, std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const boost::system::system_error& e) {
    if (e.code() != asio::error::operation_aborted) std::fprintf(stderr, "fake-extend: %s: %s\n", what, e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fake-extend: %s: %s\n", what, e.what());
  }
}

}  // namespace

struct fake_extend::impl {
  explicit impl(fake_extend_options opts)
      : certs{opts.certs ? *opts.certs : make_test_certs({"localhost"}, {"127.0.0.1"})}, model{std::move(opts)} {
    ssl.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3);
    ssl.use_certificate_chain(asio::buffer(certs.cert_pem));
    ssl.use_private_key(asio::buffer(certs.key_pem), asio::ssl::context::pem);
  }

  // The fake's time: the monotonic clock plus how far advance_clock() moved it. Called under mutex.
  fake_clock::time_point now() const { return fake_clock::now() + clock_advance; }

  test_certs certs;
  mutable std::mutex mutex;
  fake_extend_model model;                // guarded by mutex
  fake_clock::duration clock_advance{0};  // guarded by mutex
  asio::ssl::context ssl{asio::ssl::context::tls_server};
  // Closers of the open connections; touched on the io thread only.
  std::map<std::uint64_t, std::function<void()>> closers;
  std::uint64_t next_connection = 0;
  // Declared after what the connections use, so destroying it (and any coroutine frames left in
  // it) happens while they still exist.
  asio::io_context ioc{1};
  tcp::acceptor api_acceptor{ioc};
  tcp::acceptor control_acceptor{ioc};
  std::uint16_t api_port = 0;
  std::optional<std::uint16_t> ctl_port;
  std::thread thread;
  std::future<void> finished;

  // Counts a connection open in the stats and lets stop() close it, for the guard's lifetime.
  struct connection_guard {
    connection_guard(impl& s, std::function<void()> closer, bool counted)
        : self{s}, id{s.next_connection++}, count{counted} {
      self.closers.emplace(id, std::move(closer));
      if (count) {
        const std::lock_guard lock{self.mutex};
        self.model.connection_opened();
      }
    }
    ~connection_guard() {
      self.closers.erase(id);
      if (count) {
        const std::lock_guard lock{self.mutex};
        self.model.connection_closed();
      }
    }
    connection_guard(const connection_guard&) = delete;
    connection_guard& operator=(const connection_guard&) = delete;
    impl& self;
    std::uint64_t id;
    bool count;
  };

  fake_response decide(const http::request<http::string_body>& req) {
    fake_request request{std::string{req.method_string()},
                         std::string{req.target()},
                         header(req, http::field::authorization),
                         header(req, "x-extend-api-version"),
                         header(req, "x-extend-workspace-id"),
                         header(req, http::field::user_agent),
                         req.method() == http::verb::post ? req.body() : std::string{}};
    const std::lock_guard lock{mutex};
    auto answer = model.handle(request, now());
    if (model.options().log_requests) {
      const char* how = answer.what == fake_response::action::cut        ? " (cut)"
                        : answer.what == fake_response::action::truncate ? " (truncated)"
                                                                         : "";
      std::fprintf(stderr, "fake-extend: %s %s version=%s -> %u%s%s\n", request.method.c_str(), request.target.c_str(),
                   request.api_version.value_or("-").c_str(), answer.status, how,
                   answer.delay.count() > 0 ? " (slow)" : "");
    }
    return answer;
  }

  asio::awaitable<void> serve_api(tcp::socket socket) {
    asio::ssl::stream<beast::tcp_stream> stream{beast::tcp_stream{std::move(socket)}, ssl};
    asio::steady_timer delay{ioc};
    const connection_guard guard{*this,
                                 [&] {
                                   beast::error_code ignored;
                                   beast::get_lowest_layer(stream).socket().close(ignored);
                                   delay.cancel();
                                 },
                                 true};

    beast::get_lowest_layer(stream).expires_after(handshake_timeout);
    if (auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(use_awaitable));
        ec) {
      co_return;  // clients that fail verification hang up here; that is their test passing
    }
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;  // a fresh parser per message
      parser.body_limit(1 << 20);
      beast::get_lowest_layer(stream).expires_after(idle_timeout);
      if (auto [ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(use_awaitable)); ec)
        co_return;
      const auto& req = parser.get();
      const fake_response answer = decide(req);

      if (answer.delay.count() > 0) {
        delay.expires_after(answer.delay);
        if (auto [ec] = co_await delay.async_wait(asio::as_tuple(use_awaitable)); ec) co_return;
      }
      beast::get_lowest_layer(stream).expires_after(write_timeout);
      if (answer.what == fake_response::action::cut) co_return;  // the guard's socket closes unanswered
      if (answer.what == fake_response::action::truncate) {
        const std::string text = truncated_message(answer);
        co_await asio::async_write(stream, asio::buffer(text), asio::as_tuple(use_awaitable));
        co_return;  // closed without close_notify: the client sees a cut message
      }
      const bool keep_alive = req.keep_alive();
      auto res = make_response(answer, req.version(), keep_alive);
      if (auto [ec, n] = co_await http::async_write(stream, res, asio::as_tuple(use_awaitable)); ec) co_return;
      if (!keep_alive) break;
    }
    beast::get_lowest_layer(stream).expires_after(shutdown_timeout);
    co_await stream.async_shutdown(asio::as_tuple(use_awaitable));
  }

  asio::awaitable<void> serve_control(tcp::socket socket) {
    beast::tcp_stream stream{std::move(socket)};
    const connection_guard guard{*this,
                                 [&] {
                                   beast::error_code ignored;
                                   stream.socket().close(ignored);
                                 },
                                 false};
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(1 << 20);
      stream.expires_after(idle_timeout);
      if (auto [ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(use_awaitable)); ec)
        co_return;
      const auto& req = parser.get();
      fake_response answer;
      {
        const std::lock_guard lock{mutex};
        answer = model.handle_control(std::string{req.method_string()}, std::string{req.target()}, req.body(), now());
      }
      const bool keep_alive = req.keep_alive();
      auto res = make_response(answer, req.version(), keep_alive);
      stream.expires_after(write_timeout);
      if (auto [ec, n] = co_await http::async_write(stream, res, asio::as_tuple(use_awaitable)); ec) co_return;
      if (!keep_alive) co_return;
    }
  }

  // Accepts until the acceptor closes; each connection is its own task with its own catch-all.
  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, bool tls) {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(use_awaitable));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) continue;  // e.g. the client gave up mid-accept
      auto serve = tls ? serve_api(std::move(socket)) : serve_control(std::move(socket));
      asio::co_spawn(ioc, std::move(serve), [](std::exception_ptr e) { log_failure("connection", e); });
    }
  }

  static std::uint16_t listen(tcp::acceptor& acceptor, std::uint16_t port) {
    const tcp::endpoint endpoint{asio::ip::make_address_v4("127.0.0.1"), port};
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
    return acceptor.local_endpoint().port();
  }
};

fake_extend::fake_extend(fake_extend_options options) : impl_{std::make_unique<impl>(std::move(options))} {}

fake_extend::~fake_extend() { stop(); }

void fake_extend::start() {
  auto& s = *impl_;
  if (s.thread.joinable()) return;
  s.api_port = impl::listen(s.api_acceptor, s.model.options().port);
  if (const auto control = s.model.options().control_port) s.ctl_port = impl::listen(s.control_acceptor, *control);
  asio::co_spawn(s.ioc, s.accept_loop(s.api_acceptor, true), [](std::exception_ptr e) { log_failure("accept", e); });
  if (s.ctl_port) {
    asio::co_spawn(s.ioc, s.accept_loop(s.control_acceptor, false),
                   [](std::exception_ptr e) { log_failure("control accept", e); });
  }
  std::promise<void> done;
  s.finished = done.get_future();
  s.thread = std::thread{[&s, done = std::move(done)]() mutable {
    try {
      s.ioc.run();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fake-extend: io thread: %s\n", e.what());
    }
    done.set_value();
  }};
}

void fake_extend::stop() {
  auto& s = *impl_;
  if (!s.thread.joinable()) return;
  asio::post(s.ioc, [&s] {
    beast::error_code ignored;
    s.api_acceptor.close(ignored);
    s.control_acceptor.close(ignored);
    // Copy first: a closer may end its connection, which erases itself from the map.
    auto closers = s.closers;
    for (auto& [id, close] : closers) close();
  });
  // Everything winds down once closed; should some task not, stop the loop rather than hang a test.
  if (s.finished.wait_for(5s) != std::future_status::ready) s.ioc.stop();
  s.thread.join();
}

std::uint16_t fake_extend::port() const { return impl_->api_port; }
std::optional<std::uint16_t> fake_extend::control_port() const { return impl_->ctl_port; }
std::string fake_extend::base_url() const { return "https://127.0.0.1:" + std::to_string(impl_->api_port); }
const std::string& fake_extend::ca_pem() const { return impl_->certs.ca_pem; }
void fake_extend::write_ca(const std::filesystem::path& path) const { write_text_file(path, impl_->certs.ca_pem); }

void fake_extend::add_run(run_script script) {
  const std::lock_guard lock{impl_->mutex};
  impl_->model.add_run(std::move(script), impl_->now());
}

fake_clock::time_point fake_extend::add_runs(std::vector<run_script> scripts) {
  const std::lock_guard lock{impl_->mutex};
  const auto now = impl_->now();
  for (auto& script : scripts) impl_->model.add_run(std::move(script), now);
  return now;
}

bool fake_extend::set_status_now(const std::string& id, const std::string& status) {
  const std::lock_guard lock{impl_->mutex};
  return impl_->model.set_status_now(id, status, impl_->now());
}

void fake_extend::advance_clock(std::chrono::milliseconds by) {
  const std::lock_guard lock{impl_->mutex};
  impl_->clock_advance += by;
}

void fake_extend::inject(fault f) {
  const std::lock_guard lock{impl_->mutex};
  impl_->model.inject(std::move(f));
}

void fake_extend::clear_faults() {
  const std::lock_guard lock{impl_->mutex};
  impl_->model.clear_faults();
}

fake_extend_stats fake_extend::stats() const {
  const std::lock_guard lock{impl_->mutex};
  return impl_->model.stats();
}

boost::json::object fake_extend::stats_json() const {
  const std::lock_guard lock{impl_->mutex};
  return impl_->model.stats_json();
}

}  // namespace hookless
