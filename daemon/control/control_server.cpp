// The control server: one coroutine per connection on the daemon's io_context, each with its own
// deadlines, so that a slow or idle client never holds up anyone else.
#include "daemon/control/control_server.hpp"

#include "core/net/accept_loop.hpp"
#include "daemon/control/caller_rate_limit.hpp"
#include "daemon/control/control_routes.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <spdlog/spdlog.h>

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

namespace hookless {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local_stream = beast::basic_stream<asio::local::stream_protocol>;
using asio::use_awaitable;

namespace {

// Connections being answered 503 at once; beyond this a refused connection is closed unanswered,
// so a flood of them costs no more than this many coroutines.
constexpr std::size_t most_refusals_at_once = 32;

// One accepted client.
struct connection {
  explicit connection(asio::local::stream_protocol::socket socket) : stream(std::move(socket)) {}
  local_stream stream;
  asio::cancellation_signal cancel;  // server stop: ends a long-poll the backend is running
  caller who;
};

std::runtime_error system_failure(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

// Removes a socket file left by a daemon that is gone; refuses when one still answers there.
void remove_stale_socket(const std::string& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return;
    throw system_failure("control.socket " + path);
  }
  if (!S_ISSOCK(info.st_mode)) throw std::runtime_error("control.socket " + path + " exists and is not a socket");
  asio::io_context probe_context;
  asio::local::stream_protocol::socket probe(probe_context);
  boost::system::error_code ec;
  probe.connect(asio::local::stream_protocol::endpoint(path), ec);
  if (!ec) throw std::runtime_error("control.socket " + path + ": another daemon is answering on it");
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    throw system_failure("control.socket " + path + ": cannot remove the stale socket");
  spdlog::info("control: removed stale socket {}", path);
}

void apply_socket_group(const std::string& path, const std::string& group) {
  std::vector<char> scratch(16 * 1024);
  struct group entry {};
  struct group* found = nullptr;
  const int error = ::getgrnam_r(group.c_str(), &entry, scratch.data(), scratch.size(), &found);
  if (error != 0 || found == nullptr) {
    throw std::runtime_error("control.socket_group: no group named '" + group + "'");
  }
  if (::chown(path.c_str(), static_cast<uid_t>(-1), found->gr_gid) != 0) {
    throw system_failure("control.socket_group: cannot give " + path + " to group '" + group + "'");
  }
}

bool closes_quietly(const boost::system::error_code& ec) {
  return ec == beast::error::timeout || ec == http::error::end_of_stream || ec == http::error::partial_message ||
         ec == asio::error::eof || ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::bad_descriptor;
}

// A follower of GET /v1/events sends nothing after its request: a read that ends (EOF, reset,
// the socket closed at stop) means it hung up, and its stream's writer is woken to end too.
struct event_stream_hangup_watch : std::enable_shared_from_this<event_stream_hangup_watch> {
  event_stream_hangup_watch(std::shared_ptr<connection> watched, std::shared_ptr<asio::steady_timer> to_wake)
      : client(std::move(watched)), wake(std::move(to_wake)) {}
  std::shared_ptr<connection> client;
  std::shared_ptr<asio::steady_timer> wake;
  std::array<char, 512> scratch{};
  bool gone = false;

  void start() {
    client->stream.socket().async_read_some(
        asio::buffer(scratch), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
          if (ec) {
            self->gone = true;
            self->wake->cancel();
            return;
          }
          self->start();  // bytes after the request are ignored
        });
  }
};

}  // namespace

struct control_server::impl : std::enable_shared_from_this<impl> {
  impl(asio::any_io_executor executor, control_backend& served_backend, const control_config& config,
       control_server_limits server_limits)
      : backend(served_backend),
        admin_uids(config.admin_uids),
        limits(server_limits),
        request_rate(config.requests_per_second_per_user),
        acceptor(executor),
        all_done(executor) {}

  control_backend& backend;
  std::vector<std::uint32_t> admin_uids;
  control_server_limits limits;
  caller_rate_limit request_rate;  // control.requests_per_second_per_user; admins are exempt
  asio::local::stream_protocol::acceptor acceptor;
  std::string owned_path;  // the socket file this server created and removes at stop
  std::map<std::uint64_t, std::shared_ptr<connection>> connections;
  std::map<std::uint32_t, std::size_t> connections_by_uid;  // open connections of non-admin uids
  std::size_t refusing = 0;                                 // turn_away() coroutines running
  std::uint64_t next_connection_id = 0;
  std::size_t live_tasks = 0;  // the accept loop and every connection coroutine
  bool stopping = false;
  asio::steady_timer all_done;  // cancelled when the last task ends during stop()

  // The completion of every task the server spawns: it logs and keeps count.
  auto task_done(std::string name) {
    ++live_tasks;
    return [self = shared_from_this(), name = std::move(name)](std::exception_ptr failure) {
      if (failure) {
        try {
          std::rethrow_exception(failure);
        } catch (const boost::system::system_error& error) {
          // A client that hangs up mid-answer is routine; anything else is worth a warning.
          if (closes_quietly(error.code())) {
            spdlog::debug("control: {} ended: {}", name, error.what());
          } else {
            spdlog::warn("control: {} ended: {}", name, error.what());
          }
        } catch (const std::exception& error) {
          spdlog::error("control: {} failed: {}", name, error.what());
        }
      }
      if (--self->live_tasks == 0 && self->stopping) self->all_done.cancel();
    };
  }

  void close_connection(connection& client) {
    boost::system::error_code ignored;
    client.stream.socket().shutdown(asio::socket_base::shutdown_both, ignored);
    client.stream.close();
  }

  awaitable<void> write_response(local_stream& stream, const control_response& answer, unsigned version,
                                 bool keep_alive) {
    http::response<http::string_body> response{static_cast<http::status>(answer.status), version};
    if (answer.status != 204) response.set(http::field::content_type, answer.content_type);
    if (!answer.allow.empty()) response.set(http::field::allow, answer.allow);
    response.keep_alive(keep_alive);
    response.body() = answer.body;
    response.prepare_payload();
    stream.expires_after(limits.write_timeout);
    co_await http::async_write(stream, response, use_awaitable);
  }

  // Answers an unusable request and ends the connection (its remaining bytes cannot be trusted).
  awaitable<void> refuse(local_stream& stream, const control_response& answer) {
    try {
      co_await write_response(stream, answer, 11, false);
    } catch (const boost::system::system_error& error) {
      spdlog::debug("control: could not send {}: {}", answer.status, error.what());
    }
  }

  awaitable<void> serve(std::shared_ptr<connection> client) {
    auto& stream = client->stream;
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
      // Wait for the start of the next request: a kept-alive connection may idle for a while.
      if (buffer.size() == 0) {
        stream.expires_after(first ? limits.request_timeout : limits.idle_timeout);
        auto [ec, read] = co_await stream.async_read_some(buffer.prepare(4096), asio::as_tuple(use_awaitable));
        if (ec) co_return;
        buffer.commit(read);
      }
      first = false;

      // A fresh parser per message; the deadline covers headers and body together.
      stream.expires_after(limits.request_timeout);
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
      parser.body_limit(boost::none);  // decided below from Content-Length, then enforced while reading
      auto [header_ec, header_bytes] =
          co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(use_awaitable));
      if (header_ec) {
        if (header_ec == http::error::header_limit) {
          co_await refuse(stream, error_response(431, "too_large", "the request headers are larger than 16 KiB"));
        } else if (!closes_quietly(header_ec)) {
          co_await refuse(stream,
                          error_response(400, "invalid_request", "malformed HTTP request: " + header_ec.message()));
        }
        co_return;
      }
      const auto declared = parser.content_length();
      if (auto too_large = check_content_length(declared ? std::optional<std::uint64_t>{*declared} : std::nullopt)) {
        co_await refuse(stream, *too_large);
        co_return;
      }
      parser.body_limit(max_request_body_bytes);
      const auto version = parser.get().version();
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        http::response<http::empty_body> go_on{http::status::continue_, version};
        co_await http::async_write(stream, go_on, use_awaitable);
      }
      if (!parser.is_done()) {
        auto [body_ec, body_bytes] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(use_awaitable));
        if (body_ec == http::error::body_limit) {
          co_await refuse(stream, body_too_large_response());
          co_return;
        }
        if (body_ec) {
          if (!closes_quietly(body_ec)) {
            co_await refuse(stream,
                            error_response(400, "invalid_request", "malformed HTTP request: " + body_ec.message()));
          }
          co_return;
        }
      }

      auto message = parser.release();
      const bool keep_alive = message.keep_alive();
      control_request request{message.method(), std::string{message.target()}, std::move(message.body()), client->who};
      // Handling (a ?wait long-poll included) does not count against the read deadline.
      stream.expires_never();
      control_response answer;
      if (!client->who.admin && !request_rate.allow(client->who.uid, caller_rate_limit::clock::now())) {
        answer = over_limit_response(fmt::format(
            "uid {} sent more than {:g} requests per second (control.requests_per_second_per_user); try again shortly",
            client->who.uid, request_rate.rate()));
      } else {
        answer = co_await handle_control_request(backend, std::move(request));
      }
      if (answer.stream) {
        co_await stream_events(client, std::move(*answer.stream), version);
        close_connection(*client);
        co_return;
      }
      co_await write_response(stream, answer, version, keep_alive && !stopping);
      if (!keep_alive || stopping) {
        close_connection(*client);
        co_return;
      }
    }
  }

  // Writes `lines`, each ending in a newline, within the write timeout.
  awaitable<void> write_lines(local_stream& stream, const std::vector<std::string>& lines) {
    static constexpr char newline = '\n';
    std::vector<asio::const_buffer> pieces;
    pieces.reserve(lines.size() * 2);
    for (const auto& line : lines) {
      pieces.emplace_back(asio::buffer(line));
      pieces.emplace_back(asio::buffer(&newline, 1));
    }
    stream.expires_after(limits.write_timeout);
    co_await asio::async_write(stream, pieces, use_awaitable);
  }

  // GET /v1/events: the headers, the recent events, then (follow) each new event as the tracker
  // publishes it, until the client hangs up, the server stops, or the reader falls too far behind
  // (a last too_slow line). The body ends with the connection.
  awaitable<void> stream_events(std::shared_ptr<connection> client, event_stream events, unsigned version) {
    auto& stream = client->stream;
    const std::string head = std::string{version == 10 ? "HTTP/1.0" : "HTTP/1.1"} +
                             " 200 OK\r\nContent-Type: application/x-ndjson\r\nCache-Control: no-store\r\n"
                             "Connection: close\r\n\r\n";
    stream.expires_after(limits.write_timeout);
    co_await asio::async_write(stream, asio::buffer(head), use_awaitable);
    co_await write_lines(stream, events.recent);
    events.recent = {};
    if (!events.live) co_return;

    auto wake = std::make_shared<asio::steady_timer>(stream.get_executor());
    auto watch = std::make_shared<event_stream_hangup_watch>(client, wake);
    watch->start();
    events.live->on_ready([wake] { wake->cancel(); });
    for (;;) {
      if (watch->gone || stopping) break;
      const auto lines = events.live->take();
      if (!lines.empty()) {
        co_await write_lines(stream, lines);
        continue;
      }
      if (events.live->too_slow()) {
        spdlog::info("control: dropped an event stream of uid {}: more than {} events or {} bytes behind",
                     client->who.uid, events.live->bounds().max_events, events.live->bounds().max_bytes);
        const std::vector<std::string> last{too_slow_line(events.live->bounds())};
        co_await write_lines(stream, last);
        break;
      }
      wake->expires_at(asio::steady_timer::time_point::max());
      co_await wake->async_wait(asio::as_tuple(use_awaitable));
    }
    events.live->on_ready({});
  }

  // Why a new connection from `who` may not be served now, or nullopt when it may.
  std::optional<std::string> over_connection_limit(const caller& who) const {
    if (connections.size() >= limits.max_connections) {
      return fmt::format("the control socket has {} connections open, its limit; try again shortly",
                         connections.size());
    }
    if (who.admin) return std::nullopt;
    if (connections.size() + limits.reserved_for_admins >= limits.max_connections) {
      return fmt::format(
          "the control socket has {} connections open; the last {} of {} are kept for control.admin_uids; "
          "try again shortly",
          connections.size(), limits.reserved_for_admins, limits.max_connections);
    }
    const auto mine = connections_by_uid.find(who.uid);
    if (mine != connections_by_uid.end() && mine->second >= limits.max_connections_per_uid) {
      return fmt::format(
          "uid {} has {} control connections open, the most one user may have; close some (idle or "
          "waiting ones) and try again",
          who.uid, mine->second);
    }
    return std::nullopt;
  }

  // Answers a connection over a limit with 503 busy and closes it, after letting the client read
  // the answer: the write side is shut and what the client sent is drained for a moment (closing
  // at once could fail its request write before it reads the answer).
  awaitable<void> turn_away(std::shared_ptr<connection> client, control_response answer) {
    co_await refuse(client->stream, answer);
    boost::system::error_code ignored;
    client->stream.socket().shutdown(asio::socket_base::shutdown_send, ignored);
    client->stream.expires_after(std::chrono::seconds{1});
    std::array<char, 4096> sink{};
    for (;;) {
      auto [ec, read] = co_await client->stream.async_read_some(asio::buffer(sink), asio::as_tuple(use_awaitable));
      if (ec) break;
    }
    client->stream.close();
  }

  void spawn_connection(asio::local::stream_protocol::socket socket) {
    ucred credentials{};
    socklen_t size = sizeof credentials;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0) {
      spdlog::warn("control: closing a connection without peer credentials: {}", std::strerror(errno));
      return;
    }
    auto client = std::make_shared<connection>(std::move(socket));
    client->who.uid = credentials.uid;
    client->who.admin = std::find(admin_uids.begin(), admin_uids.end(), credentials.uid) != admin_uids.end();
    if (credentials.uid == no_owner_uid) {
      // (uid_t)-1 is no user's: the owner of the runs subscriptions find, which only admins see.
      spdlog::warn("control: closing a connection from uid {}, which is no user's", credentials.uid);
      return;
    }
    if (const auto why = over_connection_limit(client->who)) {
      spdlog::warn("control: refusing a connection from uid {}: {}", credentials.uid, *why);
      if (refusing >= most_refusals_at_once) return;  // closed unanswered
      ++refusing;
      auto body = [](std::shared_ptr<impl> self, std::shared_ptr<connection> refused,
                     control_response answer) -> awaitable<void> {
        try {
          co_await self->turn_away(std::move(refused), std::move(answer));
        } catch (...) {
          --self->refusing;
          throw;
        }
        --self->refusing;
      };
      asio::co_spawn(acceptor.get_executor(), body(shared_from_this(), client, error_response(503, "busy", *why)),
                     task_done("refusal of uid " + std::to_string(credentials.uid)));
      return;
    }
    const auto id = next_connection_id++;
    connections.emplace(id, client);
    if (!client->who.admin) ++connections_by_uid[client->who.uid];

    auto body = [](std::shared_ptr<impl> self, std::shared_ptr<connection> served,
                   std::uint64_t served_id) -> awaitable<void> {
      try {
        co_await self->serve(served);
      } catch (...) {
        self->forget_connection(served_id);
        throw;
      }
      self->forget_connection(served_id);
    };
    asio::co_spawn(acceptor.get_executor(), body(shared_from_this(), client, id),
                   asio::bind_cancellation_slot(client->cancel.slot(),
                                                task_done("connection from uid " + std::to_string(credentials.uid))));
  }

  void forget_connection(std::uint64_t id) {
    if (auto it = connections.find(id); it != connections.end()) {
      close_connection(*it->second);
      if (!it->second->who.admin) {
        const auto mine = connections_by_uid.find(it->second->who.uid);
        if (--mine->second == 0) connections_by_uid.erase(mine);
      }
      connections.erase(it);
    }
  }

  awaitable<void> accept_loop() {
    co_await accept_connections(acceptor, stopping, "control", [this](asio::local::stream_protocol::socket socket) {
      spawn_connection(std::move(socket));
    });
  }

  void close_everything() {
    stopping = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    // Copy first: a cancelled connection may leave the map while we walk it.
    std::vector<std::shared_ptr<connection>> open;
    for (auto& [id, client] : connections) open.push_back(client);
    for (auto& client : open) {
      client->cancel.emit(asio::cancellation_type::terminal);
      close_connection(*client);
    }
    if (!owned_path.empty()) {
      ::unlink(owned_path.c_str());
      owned_path.clear();
    }
  }
};

control_server::control_server(asio::any_io_executor executor, control_backend& backend, const control_config& config,
                               control_server_limits limits)
    : impl_(std::make_shared<impl>(executor, backend, config, limits)) {
  const auto& path = config.socket;
  remove_stale_socket(path);
  const asio::local::stream_protocol::endpoint endpoint(path);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol());
  boost::system::error_code ec;
  acceptor.bind(endpoint, ec);
  if (ec) throw std::runtime_error("control.socket " + path + ": cannot bind: " + ec.message());
  impl_->owned_path = path;
  try {
    if (::chmod(path.c_str(), static_cast<mode_t>(config.socket_mode)) != 0) {
      throw system_failure("control.socket_mode: cannot set the mode of " + path);
    }
    if (config.socket_group) apply_socket_group(path, *config.socket_group);
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("control.socket " + path + ": cannot listen: " + ec.message());
  } catch (...) {
    // No destructor runs for a constructor that throws: leave no socket file behind.
    impl_->close_everything();
    throw;
  }
  spdlog::info("control: listening on {}", path);
}

control_server::control_server(asio::any_io_executor executor, control_backend& backend, const control_config& config,
                               int listening_fd, control_server_limits limits)
    : impl_(std::make_shared<impl>(executor, backend, config, limits)) {
  boost::system::error_code ec;
  impl_->acceptor.assign(asio::local::stream_protocol(), listening_fd, ec);
  if (ec) throw std::runtime_error("control: cannot use the inherited socket: " + ec.message());
  spdlog::info("control: serving the socket handed over by systemd");
}

control_server::~control_server() {
  if (!impl_->stopping) impl_->close_everything();
}

void control_server::start() {
  asio::co_spawn(impl_->acceptor.get_executor(), impl_->accept_loop(), impl_->task_done("accept loop"));
}

awaitable<void> control_server::stop(std::chrono::milliseconds bound) {
  auto self = impl_;
  self->close_everything();
  if (self->live_tasks == 0) co_return;
  self->all_done.expires_after(bound);
  co_await self->all_done.async_wait(asio::as_tuple(use_awaitable));
  if (self->live_tasks != 0) {
    spdlog::warn("control: {} connection tasks still running after {} ms of shutdown", self->live_tasks, bound.count());
  }
}

std::size_t control_server::connection_count() const { return impl_->connections.size(); }

}  // namespace hookless
