// The receiver: one Asio thread, a coroutine per connection, a fresh parser per request.
#include "tests/integration/callback_receiver.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <list>
#include <mutex>
#include <thread>

namespace hookless::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

std::string received_request::header(const std::string& name) const {
  const auto found = headers.find(name);
  return found == headers.end() ? std::string{} : found->second;
}

namespace {

using tls_socket = asio::ssl::stream<asio::ip::tcp::socket>;

template <typename Socket>
void close_socket(Socket& socket) {
  error_code ignored;
  socket.close(ignored);
}

void close_socket(tls_socket& socket) {
  error_code ignored;
  socket.next_layer().close(ignored);
}

}  // namespace

struct callback_receiver::impl : std::enable_shared_from_this<impl> {
  asio::io_context io{1};
  std::optional<asio::ip::tcp::acceptor> tcp_acceptor;
  std::optional<asio::local::stream_protocol::acceptor> unix_acceptor;
  std::optional<asio::ssl::context> tls;  // set: the TCP acceptor serves HTTPS
  std::thread thread;
  std::uint16_t port = 0;

  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  policy decide = [](const received_request&, std::size_t) { return receiver_answer{}; };
  std::vector<received_request> log;
  std::size_t accepted = 0;
  std::size_t busy = 0;
  std::size_t most_busy = 0;
  std::size_t failed_handshakes = 0;
  // io-thread only:
  std::list<asio::steady_timer*> hung;
  std::list<std::function<void()>> idle_closers;
  // Connections up to this one are closed when they next go idle: one that was still sending its
  // answer when close_idle_connections() came was not idle yet, and must not be kept alive.
  std::uint64_t close_when_idle_up_to = 0;

  template <typename Socket>
  asio::awaitable<void> serve(Socket socket, std::uint64_t connection) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 << 20);
      error_code ec;
      if (connection <= close_when_idle_up_to) co_return;
      auto closer = idle_closers.insert(idle_closers.end(), [&socket] { close_socket(socket); });
      co_await http::async_read(socket, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      idle_closers.erase(closer);
      if (ec) co_return;
      auto request = parser.release();
      received_request record;
      record.method = std::string{request.method_string()};
      record.target = std::string{request.target()};
      for (const auto& field : request) {
        std::string name{field.name_string()};
        std::ranges::transform(name, name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        record.headers[name] = std::string{field.value()};
      }
      record.body = request.body();
      record.connection = connection;
      record.at = std::chrono::steady_clock::now();
      record.received_unix =
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
      receiver_answer answer;
      {
        std::lock_guard lock{mutex};
        const auto n = log.size();
        answer = decide(record, n);
        log.push_back(record);
        ++busy;
        most_busy = std::max(most_busy, busy);
      }
      changed.notify_all();
      const auto done = [this] {
        std::lock_guard lock{mutex};
        --busy;
      };
      if (answer.what == receiver_answer::action::close) {
        done();
        co_return;
      }
      if (answer.what == receiver_answer::action::hang) {
        asio::steady_timer wait{io, std::chrono::steady_clock::time_point::max()};
        auto entry = hung.insert(hung.end(), &wait);
        co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
        hung.erase(entry);
        answer = receiver_answer{};
      }
      http::response<http::string_body> reply{static_cast<http::status>(answer.status), 11};
      reply.set(http::field::content_type, "text/plain");
      if (answer.retry_after) reply.set(http::field::retry_after, *answer.retry_after);
      if (answer.status != 204 && answer.status != 304) reply.body() = answer.body;  // those have no body
      reply.keep_alive(request.keep_alive());
      reply.prepare_payload();
      co_await http::async_write(socket, reply, asio::redirect_error(asio::use_awaitable, ec));
      done();
      if (ec || !request.keep_alive()) co_return;
    }
  }

  template <typename Acceptor>
  asio::awaitable<void> accept_loop(Acceptor& acceptor) {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      std::uint64_t id = 0;
      {
        std::lock_guard lock{mutex};
        id = ++accepted;
      }
      // The test's own server: a failure here ends one connection, which the test then sees.
      if constexpr (std::is_same_v<Acceptor, asio::ip::tcp::acceptor>) {
        if (tls) {
          asio::co_spawn(io, serve_tls(std::move(socket), id), report_failure);
          continue;
        }
      }
      asio::co_spawn(io, serve(std::move(socket), id), report_failure);
    }
  }

  asio::awaitable<void> serve_tls(asio::ip::tcp::socket socket, std::uint64_t connection) {
    tls_socket stream{std::move(socket), *tls};
    error_code ec;
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      {
        std::lock_guard lock{mutex};
        ++failed_handshakes;
      }
      changed.notify_all();
      co_return;
    }
    co_await serve(std::move(stream), connection);
  }

  void run() {
    thread = std::thread{[self = shared_from_this()] { self->io.run(); }};
  }

  // Not detached: a bug in the receiver must show in the test's output, not vanish.
  static void report_failure(std::exception_ptr failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "callback_receiver: %s\n", e.what());
    }
  }

  void stop() {
    asio::post(io, [this] {
      error_code ignored;
      if (tcp_acceptor) tcp_acceptor->close(ignored);
      if (unix_acceptor) unix_acceptor->close(ignored);
      for (auto& close : idle_closers) close();
      for (auto* timer : hung) timer->cancel();
      io.stop();
    });
    if (thread.joinable()) thread.join();
  }
};

callback_receiver::callback_receiver(std::uint16_t port) : impl_{std::make_shared<impl>()} {
  auto& acceptor =
      impl_->tcp_acceptor.emplace(impl_->io, asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), port});
  impl_->port = acceptor.local_endpoint().port();
  asio::co_spawn(impl_->io, impl_->accept_loop(acceptor), &impl::report_failure);
  impl_->run();
}

callback_receiver::callback_receiver(const std::filesystem::path& socket_path) : impl_{std::make_shared<impl>()} {
  std::filesystem::remove(socket_path);
  auto& acceptor =
      impl_->unix_acceptor.emplace(impl_->io, asio::local::stream_protocol::endpoint{socket_path.string()});
  asio::co_spawn(impl_->io, impl_->accept_loop(acceptor), &impl::report_failure);
  impl_->run();
}

callback_receiver::callback_receiver(const tls_identity& identity) : impl_{std::make_shared<impl>()} {
  auto& context = impl_->tls.emplace(asio::ssl::context::tls_server);
  context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  context.use_certificate_chain(asio::buffer(identity.cert_pem));
  context.use_private_key(asio::buffer(identity.key_pem), asio::ssl::context::pem);
  auto& acceptor =
      impl_->tcp_acceptor.emplace(impl_->io, asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0});
  impl_->port = acceptor.local_endpoint().port();
  asio::co_spawn(impl_->io, impl_->accept_loop(acceptor), &impl::report_failure);
  impl_->run();
}

callback_receiver::~callback_receiver() { stop(); }

void callback_receiver::stop() { impl_->stop(); }

void callback_receiver::set_policy(policy p) {
  std::lock_guard lock{impl_->mutex};
  impl_->decide = std::move(p);
}

void callback_receiver::answer_always(unsigned status, std::optional<std::string> retry_after) {
  set_policy([status, retry_after](const received_request&, std::size_t) {
    return receiver_answer::reply(status, retry_after);
  });
}

void callback_receiver::release_hung() {
  asio::post(impl_->io, [state = impl_] {
    for (auto* timer : state->hung) timer->cancel();
  });
}

void callback_receiver::close_idle_connections() {
  std::mutex done_mutex;
  std::condition_variable done_signal;
  bool done = false;
  asio::post(impl_->io, [&, state = impl_] {
    state->close_when_idle_up_to = state->accepted;
    for (auto& close : state->idle_closers) close();
    std::lock_guard lock{done_mutex};
    done = true;
    done_signal.notify_all();
  });
  std::unique_lock lock{done_mutex};
  done_signal.wait_for(lock, std::chrono::seconds{5}, [&] { return done; });
}

std::uint16_t callback_receiver::port() const { return impl_->port; }

std::string callback_receiver::url(const std::string& path) const {
  return (impl_->tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(impl_->port) + path;
}

std::vector<received_request> callback_receiver::requests() const {
  std::lock_guard lock{impl_->mutex};
  return impl_->log;
}

std::size_t callback_receiver::count() const {
  std::lock_guard lock{impl_->mutex};
  return impl_->log.size();
}

std::size_t callback_receiver::connections_accepted() const {
  std::lock_guard lock{impl_->mutex};
  return impl_->accepted;
}

std::size_t callback_receiver::max_concurrent() const {
  std::lock_guard lock{impl_->mutex};
  return impl_->most_busy;
}

std::size_t callback_receiver::handshakes_failed() const {
  std::lock_guard lock{impl_->mutex};
  return impl_->failed_handshakes;
}

std::size_t callback_receiver::in_progress() const {
  std::lock_guard lock{impl_->mutex};
  return impl_->busy;
}

bool callback_receiver::wait_for_count(std::size_t n, std::chrono::milliseconds limit) const {
  std::unique_lock lock{impl_->mutex};
  return impl_->changed.wait_for(lock, limit, [&] { return impl_->log.size() >= n; });
}

}  // namespace hookless::testing
