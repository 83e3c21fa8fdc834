// The HTTPS pool against real TLS servers on 127.0.0.1 (certificates made at test time) and through
// a real HTTP proxy (Debian's tinyproxy): reuse, limits, deadlines, cut and short answers, every
// certificate failure, CONNECT tunnels.
#include "core/net/https_pool.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <list>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "core/net/tls_context.hpp"
#include "tests/support/run_with_deadline.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_certs.hpp"

extern char** environ;

namespace hookless {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// What the test server does with each request.
enum class behaviour {
  answer,               // 200 (or `status`) with a body, kept alive
  never_answer,         // read the request and say nothing
  cut_after_request,    // close the TCP connection without a word (no close_notify)
  truncated_clean,      // promise 100 bytes, send 10, then close_notify and close
  truncated_abrupt,     // promise 100 bytes, send 10, then close the TCP connection
  close_when_idle,      // answer, then close_notify and close while the connection is idle
  drop_second_request,  // answer the first request on a connection, cut it at the second
  connection_close,     // answer with Connection: close, then close
};

// A TLS HTTP/1.1 server on 127.0.0.1:0 that counts what it sees. Runs on the test's io_context.
class tls_server {
 public:
  tls_server(asio::io_context& ioc, const test_certs& certs) : ioc_{ioc}, tls_{ssl::context::tls_server} {
    tls_.use_certificate_chain(asio::buffer(certs.cert_pem));
    tls_.use_private_key(asio::buffer(certs.key_pem), ssl::context::pem);
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(ioc_, accept_loop(), rethrow);
  }

  unsigned short port() const { return port_; }  // still known after stop()

  // Closes the listener and every connection, so that the io_context runs out of work.
  void stop() {
    acceptor_.close();
    for (auto& weak : sessions_) {
      if (auto stream = weak.lock()) beast::get_lowest_layer(*stream).close();
    }
  }

  behaviour mode = behaviour::answer;
  unsigned status = 200;
  std::chrono::milliseconds delay{0};  // before each answer

  int accepted = 0;    // TCP connections accepted
  int handshakes = 0;  // TLS handshakes completed
  int requests = 0;    // requests read
  int open = 0, max_open = 0;
  int in_flight = 0, max_in_flight = 0;
  std::vector<std::string> targets;
  std::vector<std::string> host_headers;
  std::vector<std::string> custom_headers;  // the x-test header of each request

 private:
  using stream_type = ssl::stream<beast::tcp_stream>;

  static void rethrow(const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
  }

  awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(use_awaitable));
      if (ec) co_return;
      ++accepted;
      auto stream = std::make_shared<stream_type>(beast::tcp_stream{std::move(socket)}, tls_);
      sessions_.push_back(stream);
      asio::co_spawn(ioc_, session(stream), rethrow);
    }
  }

  awaitable<void> send_raw(stream_type& stream, std::string text) {
    error_code ec;
    beast::get_lowest_layer(stream).expires_after(5s);
    co_await asio::async_write(stream, asio::buffer(text), asio::redirect_error(use_awaitable, ec));
  }

  awaitable<void> shutdown_tls(stream_type& stream) {
    error_code ec;
    beast::get_lowest_layer(stream).expires_after(1s);  // a peer that never answers close_notify
    co_await stream.async_shutdown(asio::redirect_error(use_awaitable, ec));
    beast::get_lowest_layer(stream).close();
  }

  awaitable<void> session(std::shared_ptr<stream_type> stream) {
    ++open;
    max_open = std::max(max_open, open);
    co_await serve(*stream);
    beast::get_lowest_layer(*stream).close();
    --open;
  }

  awaitable<void> serve(stream_type& stream) {
    error_code ec;
    beast::get_lowest_layer(stream).expires_after(5s);
    co_await stream.async_handshake(ssl::stream_base::server, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    ++handshakes;
    beast::flat_buffer buffer;
    for (int on_this_connection = 1;; ++on_this_connection) {
      http::request_parser<http::string_body> parser;  // fresh per request
      // Long enough for every test; the client closing its end ends the read sooner.
      beast::get_lowest_layer(stream).expires_after(10s);
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      const auto request = parser.release();
      ++requests;
      targets.emplace_back(request.target());
      host_headers.emplace_back(request[http::field::host]);
      custom_headers.emplace_back(request["x-test"]);

      switch (mode) {
        case behaviour::never_answer: continue;  // keep reading: the client's timeout closes the connection
        case behaviour::cut_after_request: co_return;
        case behaviour::truncated_clean:
          co_await send_raw(stream, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
          co_await shutdown_tls(stream);
          co_return;
        case behaviour::truncated_abrupt:
          co_await send_raw(stream, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
          co_return;
        case behaviour::drop_second_request:
          if (on_this_connection >= 2) co_return;
          break;
        default: break;
      }

      ++in_flight;
      max_in_flight = std::max(max_in_flight, in_flight);
      if (delay > 0ms) {
        asio::steady_timer timer{ioc_, delay};
        co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
      }
      http::response<http::string_body> response{static_cast<http::status>(status), 11};
      response.set("x-extend-request-id", "req-" + std::to_string(requests));
      response.set(http::field::retry_after, "7");
      response.body() = "reply to " + std::string{request.target()};
      response.keep_alive(mode != behaviour::connection_close);
      response.prepare_payload();
      beast::get_lowest_layer(stream).expires_after(5s);
      co_await http::async_write(stream, response, asio::redirect_error(use_awaitable, ec));
      --in_flight;
      if (ec) co_return;
      if (mode == behaviour::close_when_idle || mode == behaviour::connection_close) {
        co_await shutdown_tls(stream);
        co_return;
      }
    }
  }

  asio::io_context& ioc_;
  ssl::context tls_;
  tcp::acceptor acceptor_{ioc_};
  unsigned short port_ = 0;
  std::list<std::weak_ptr<stream_type>> sessions_;
};

// A port nobody listens on (bound, then released).
unsigned short free_port() {
  asio::io_context scratch;
  tcp::acceptor probe{scratch, {asio::ip::make_address("127.0.0.1"), 0}};
  return probe.local_endpoint().port();
}

class https_pool_test : public ::testing::Test {
 protected:
  // The trust anchors of certs written to a file, as extend.ca_file would name it.
  std::string ca_file(const test_certs& certs) {
    const auto path = dir_ / "ca.pem";
    write_text_file(path, certs.ca_pem);
    return path.string();
  }

  https_pool_options options_for(unsigned short port, std::string host = "127.0.0.1") {
    https_pool_options options;
    options.host = std::move(host);
    options.port = std::to_string(port);
    options.timeout = 5s;
    return options;
  }

  // Runs the test's coroutine on the io_context with a deadline; fails when it does not finish or
  // leaves work behind (every test stops its servers and pools at the end).
  void run(std::function<awaitable<void>()> body, std::chrono::seconds limit = 10s) {
    if (test::run_with_deadline(ioc_, std::move(body), limit, test::run_stop::work_ran_out)) {
      EXPECT_TRUE(ioc_.stopped()) << "work was left over";
    }
  }

  // Sleeps without blocking the io_context (the servers run on it too).
  awaitable<void> pause(std::chrono::milliseconds duration) {
    asio::steady_timer timer{ioc_, duration};
    co_await timer.async_wait(use_awaitable);
  }

  asio::io_context ioc_;
  test::temp_dir temp_{"https_pool_test"};
  std::filesystem::path dir_ = temp_.path();
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST_F(https_pool_test, answers_and_reuses_kept_alive_connections) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  tls_server server{ioc_, certs};
  server.status = 429;  // any status is a reply; what it means is the caller's business
  auto tls = make_client_tls_context(ca_file(certs));
  https_pool pool{ioc_.get_executor(), tls, options_for(server.port())};

  run([&]() -> awaitable<void> {
    for (int i = 0; i < 5; ++i) {
      // A named local: g++ 12 cannot build an initializer list inside a co_await expression.
      std::vector<std::pair<std::string, std::string>> headers{{"x-test", "v" + std::to_string(i)}};
      auto reply = co_await pool.get("/extract_runs/exr_" + std::to_string(i) + "?x=1", std::move(headers));
      if (!reply) {
        ADD_FAILURE() << reply.error().message();
        break;
      }
      EXPECT_EQ(reply->status, 429u);
      EXPECT_EQ(reply->body, "reply to /extract_runs/exr_" + std::to_string(i) + "?x=1");
      EXPECT_EQ(reply->retry_after, "7");
      EXPECT_EQ(reply->request_id, "req-" + std::to_string(i + 1));
      EXPECT_EQ(pool.open_connections(), 1u);
    }
    pool.close();
    EXPECT_EQ(pool.open_connections(), 0u);
    server.stop();
  });
  EXPECT_EQ(server.accepted, 1);
  EXPECT_EQ(server.requests, 5);
  EXPECT_EQ(server.custom_headers, (std::vector<std::string>{"v0", "v1", "v2", "v3", "v4"}));
  EXPECT_EQ(server.host_headers.at(0), "127.0.0.1:" + std::to_string(server.port()));
}

// Requests placed `ahead` (list sweeps, the polls they wake) pass every `in_line` one waiting for a
// connection, and keep their own order.
TEST_F(https_pool_test, ahead_requests_get_a_connection_before_those_in_line) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  tls_server server{ioc_, certs};
  server.delay = 20ms;
  auto tls = make_client_tls_context(ca_file(certs));
  auto options = options_for(server.port());
  options.max_connections = 1;
  https_pool pool{ioc_.get_executor(), tls, options};

  run([&]() -> awaitable<void> {
    int finished = 0;
    const std::vector<request_place> places{request_place::in_line, request_place::in_line, request_place::in_line,
                                            request_place::ahead,   request_place::in_line, request_place::ahead};
    for (std::size_t i = 0; i < places.size(); ++i) {
      auto one = [&, i]() -> awaitable<void> {
        // (Named locals: g++ 12 destroys some temporaries of a co_await's arguments twice.)
        auto target = "/r/" + std::to_string(i);
        https_pool::send_turn no_turn;
        auto reply = co_await pool.get(std::move(target), {}, std::move(no_turn), places[i]);
        if (!reply) ADD_FAILURE() << reply.error().message();
        ++finished;
      };
      asio::co_spawn(ioc_, std::move(one), [](const std::exception_ptr& e) {
        if (e) std::rethrow_exception(e);
      });
    }
    while (finished < static_cast<int>(places.size())) co_await pause(5ms);
    pool.close();
    server.stop();
  });
  // /r/0 took the only connection at once; the others waited for it.
  EXPECT_EQ(server.targets, (std::vector<std::string>{"/r/0", "/r/3", "/r/5", "/r/1", "/r/2", "/r/4"}));
}

TEST_F(https_pool_test, keeps_to_max_connections_under_twenty_concurrent_gets) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  tls_server server{ioc_, certs};
  server.delay = 30ms;
  auto tls = make_client_tls_context(ca_file(certs));
  auto options = options_for(server.port());
  options.max_connections = 4;
  https_pool pool{ioc_.get_executor(), tls, options};

  std::size_t max_open_seen = 0;
  run([&]() -> awaitable<void> {
    int finished = 0, succeeded = 0;
    for (int i = 0; i < 20; ++i) {
      auto one = [&, i]() -> awaitable<void> {
        auto reply = co_await pool.get("/r/" + std::to_string(i), {});
        if (reply && reply->body == "reply to /r/" + std::to_string(i))
          ++succeeded;
        else
          ADD_FAILURE() << (reply ? reply->body : reply.error().message());
        max_open_seen = std::max(max_open_seen, pool.open_connections());
        ++finished;
      };
      asio::co_spawn(ioc_, std::move(one), [](const std::exception_ptr& e) {
        if (e) std::rethrow_exception(e);
      });
    }
    while (finished < 20) co_await pause(5ms);
    EXPECT_EQ(succeeded, 20);
    pool.close();
    server.stop();
  });
  EXPECT_EQ(server.requests, 20);
  EXPECT_LE(server.max_in_flight, 4);
  EXPECT_GE(server.max_in_flight, 2);  // the gets did run side by side
  EXPECT_LE(server.max_open, 4);
  EXPECT_LE(server.accepted, 4);
  EXPECT_LE(max_open_seen, 4u);
}

TEST_F(https_pool_test, times_out_on_a_server_that_never_answers) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  tls_server server{ioc_, certs};
  server.mode = behaviour::never_answer;
  auto tls = make_client_tls_context(ca_file(certs));
  auto options = options_for(server.port());
  options.timeout = 300ms;
  https_pool pool{ioc_.get_executor(), tls, options};

  run([&]() -> awaitable<void> {
    const auto start = std::chrono::steady_clock::now();
    auto reply = co_await pool.get("/slow", {});
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_FALSE(reply);
    if (!reply) {
      EXPECT_EQ(reply.error().code(), beast::error::timeout);
      EXPECT_TRUE(reply.error().message().starts_with("timeout after 300ms")) << reply.error().message();
    }
    EXPECT_GE(elapsed, 290ms);
    EXPECT_LT(elapsed, 2s);
    EXPECT_EQ(pool.open_connections(), 0u);  // a timed-out connection is closed, never reused
    pool.close();
    server.stop();
  });
  EXPECT_EQ(server.requests, 1);
}

TEST_F(https_pool_test, a_cut_connection_is_an_error_not_retried_forever) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  tls_server server{ioc_, certs};
  server.mode = behaviour::cut_after_request;
  auto tls = make_client_tls_context(ca_file(certs));
  https_pool pool{ioc_.get_executor(), tls, options_for(server.port())};

  run([&]() -> awaitable<void> {
    auto reply = co_await pool.get("/cut", {});
    EXPECT_FALSE(reply);
    if (!reply) {
      EXPECT_TRUE(contains(reply.error().message(), "read response from 127.0.0.1")) << reply.error().message();
    }
    EXPECT_EQ(pool.open_connections(), 0u);
    pool.close();
    server.stop();
  });
  EXPECT_EQ(server.accepted, 1);  // a fresh connection that fails is not retried
}

TEST_F(https_pool_test, a_truncated_body_is_an_error_whether_or_not_tls_closes_cleanly) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  tls_server server{ioc_, certs};
  auto tls = make_client_tls_context(ca_file(certs));
  https_pool pool{ioc_.get_executor(), tls, options_for(server.port())};

  run([&]() -> awaitable<void> {
    for (auto mode : {behaviour::truncated_clean, behaviour::truncated_abrupt}) {
      server.mode = mode;
      auto reply = co_await pool.get("/short", {});
      EXPECT_FALSE(reply) << "a short body was taken for a reply: " << (reply ? reply->body : "");
      if (!reply) {
        EXPECT_TRUE(contains(reply.error().message(), "before the response was complete")) << reply.error().message();
      }
      EXPECT_EQ(pool.open_connections(), 0u);
    }
    pool.close();
    server.stop();
  });
  EXPECT_EQ(server.accepted, 2);
}

TEST_F(https_pool_test, a_connection_the_server_closed_while_idle_is_replaced) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  tls_server server{ioc_, certs};
  server.mode = behaviour::close_when_idle;
  auto tls = make_client_tls_context(ca_file(certs));
  https_pool pool{ioc_.get_executor(), tls, options_for(server.port())};

  run([&]() -> awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      auto reply = co_await pool.get("/again", {});
      EXPECT_TRUE(reply) << (reply ? "" : reply.error().message());
      co_await pause(50ms);  // lets the server's close_notify and FIN arrive
    }
    pool.close();
    server.stop();
  });
  EXPECT_EQ(server.requests, 3);
  EXPECT_EQ(server.accepted, 3);
}

TEST_F(https_pool_test, a_request_cut_on_a_reused_connection_is_retried_once_on_a_fresh_one) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  tls_server server{ioc_, certs};
  server.mode = behaviour::drop_second_request;
  auto tls = make_client_tls_context(ca_file(certs));
  https_pool pool{ioc_.get_executor(), tls, options_for(server.port())};

  run([&]() -> awaitable<void> {
    auto first = co_await pool.get("/one", {});
    EXPECT_TRUE(first) << (first ? "" : first.error().message());
    auto second = co_await pool.get("/two", {});
    EXPECT_TRUE(second) << (second ? "" : second.error().message());
    if (second) {
      EXPECT_EQ(second->body, "reply to /two");
    }
    pool.close();
    server.stop();
  });
  EXPECT_EQ(server.accepted, 2);
  EXPECT_EQ(server.targets, (std::vector<std::string>{"/one", "/two", "/two"}));
}

TEST_F(https_pool_test, connection_close_is_honoured) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  tls_server server{ioc_, certs};
  server.mode = behaviour::connection_close;
  auto tls = make_client_tls_context(ca_file(certs));
  https_pool pool{ioc_.get_executor(), tls, options_for(server.port())};

  run([&]() -> awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      auto reply = co_await pool.get("/close", {});
      EXPECT_TRUE(reply) << (reply ? "" : reply.error().message());
      EXPECT_EQ(pool.open_connections(), 0u);
    }
    pool.close();
    server.stop();
  });
  EXPECT_EQ(server.accepted, 3);
  EXPECT_EQ(server.requests, 3);
}

TEST_F(https_pool_test, names_a_refused_connection) {
  const auto port = free_port();
  auto tls = make_client_tls_context(std::nullopt);
  https_pool pool{ioc_.get_executor(), tls, options_for(port)};
  run([&]() -> awaitable<void> {
    auto reply = co_await pool.get("/", {});
    EXPECT_FALSE(reply);
    if (!reply) {
      EXPECT_EQ(reply.error().code(), asio::error::connection_refused);
      EXPECT_EQ(reply.error().message(), "connect 127.0.0.1:" + std::to_string(port) + ": Connection refused");
    }
    pool.close();
  });
}

// The TLS failures: each must fail closed with a message that says why.
struct tls_failure_case {
  const char* name;
  std::vector<std::string> dns, ips;
  std::chrono::seconds not_before, not_after;
  bool trust_test_ca;
  const char* expected;  // in the message
};

TEST_F(https_pool_test, certificate_problems_fail_closed_with_a_reason) {
  const std::vector<tls_failure_case> cases = {
      {"unknown CA",
       {"localhost"},
       {"127.0.0.1"},
       -1h,
       24h,
       false,
       "certificate verify failed (unable to get local issuer certificate)"},
      {"wrong host", {"localhost"}, {}, -1h, 24h, true, "certificate verify failed (IP address mismatch)"},
      {"expired",
       {"localhost"},
       {"127.0.0.1"},
       -48h,
       -24h,
       true,
       "certificate verify failed (certificate has expired)"},
      {"not yet valid",
       {"localhost"},
       {"127.0.0.1"},
       24h,
       48h,
       true,
       "certificate verify failed (certificate is not yet valid)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto certs = make_test_certs(c.dns, c.ips, c.not_before, c.not_after);
    tls_server server{ioc_, certs};
    auto tls = make_client_tls_context(c.trust_test_ca ? std::optional{ca_file(certs)} : std::nullopt);
    https_pool pool{ioc_.get_executor(), tls, options_for(server.port())};
    run([&]() -> awaitable<void> {
      auto reply = co_await pool.get("/", {});
      EXPECT_FALSE(reply);
      if (!reply) {
        EXPECT_EQ(reply.error().message(),
                  "TLS handshake with 127.0.0.1:" + std::to_string(server.port()) + ": " + c.expected);
      }
      EXPECT_EQ(pool.open_connections(), 0u);
      pool.close();
      server.stop();
    });
    ioc_.restart();
    EXPECT_EQ(server.requests, 0);  // nothing was sent over an unverified connection
  }
}

TEST_F(https_pool_test, verifies_the_host_name_and_sends_sni) {
  const auto certs = make_test_certs({"localhost"}, {});
  tls_server server{ioc_, certs};
  auto tls = make_client_tls_context(ca_file(certs));
  https_pool good{ioc_.get_executor(), tls, options_for(server.port(), "localhost")};
  run([&]() -> awaitable<void> {
    auto reply = co_await good.get("/by-name", {});
    EXPECT_TRUE(reply) << (reply ? "" : reply.error().message());
    good.close();
    server.stop();
  });
  EXPECT_EQ(server.host_headers, (std::vector<std::string>{"localhost:" + std::to_string(server.port())}));
}

TEST_F(https_pool_test, close_fails_waiters_and_later_gets) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  tls_server server{ioc_, certs};
  server.delay = 200ms;
  auto tls = make_client_tls_context(ca_file(certs));
  auto options = options_for(server.port());
  options.max_connections = 1;
  https_pool pool{ioc_.get_executor(), tls, options};
  run([&]() -> awaitable<void> {
    int done = 0;
    std::vector<std::string> outcomes(2);
    for (int i = 0; i < 2; ++i) {
      auto one = [&, i]() -> awaitable<void> {
        auto reply = co_await pool.get("/", {});
        outcomes[static_cast<std::size_t>(i)] = reply ? "reply" : reply.error().message();
        if (!reply && i == 1) {
          EXPECT_EQ(reply.error().code(), https_error::pool_closed);
        }
        ++done;
      };
      asio::co_spawn(ioc_, std::move(one), [](const std::exception_ptr& e) {
        if (e) std::rethrow_exception(e);
      });
    }
    co_await pause(50ms);  // the first is in flight, the second waits for its slot
    pool.close();
    while (done < 2) co_await pause(5ms);
    EXPECT_EQ(outcomes[0], "reply");  // in flight: finishes
    EXPECT_TRUE(contains(outcomes[1], "connection pool closed")) << outcomes[1];
    auto later = co_await pool.get("/", {});
    EXPECT_FALSE(later);
    EXPECT_EQ(pool.open_connections(), 0u);  // the in-flight one closed instead of going idle
    server.stop();
  });
  EXPECT_EQ(server.requests, 1);
}

TEST_F(https_pool_test, a_cancelled_waiter_leaves_the_queue_without_leaking_its_slot) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  tls_server server{ioc_, certs};
  server.delay = 150ms;
  auto tls = make_client_tls_context(ca_file(certs));
  auto options = options_for(server.port());
  options.max_connections = 1;
  https_pool pool{ioc_.get_executor(), tls, options};
  run([&]() -> awaitable<void> {
    bool first_done = false;
    auto first = [&]() -> awaitable<void> {
      auto reply = co_await pool.get("/first", {});
      EXPECT_TRUE(reply) << (reply ? "" : reply.error().message());
      first_done = true;
    };
    asio::co_spawn(ioc_, std::move(first), [](const std::exception_ptr& e) {
      if (e) std::rethrow_exception(e);
    });
    co_await pause(20ms);  // /first holds the only slot

    // /second waits for the slot; a 30 ms timer wins the race and cancels it.
    asio::steady_timer timer{ioc_, 30ms};
    auto [order, exception, second, timer_ec] =
        co_await asio::experimental::make_parallel_group(asio::co_spawn(ioc_, pool.get("/second", {}), asio::deferred),
                                                         timer.async_wait(asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), use_awaitable);
    EXPECT_EQ(order[0], 1u);  // the timer finished first
    EXPECT_FALSE(exception);
    EXPECT_FALSE(second);
    if (!second) {
      EXPECT_EQ(second.error().code(), asio::error::operation_aborted);
    }
    EXPECT_FALSE(first_done);

    // The slot is free again once /first is done: /third gets it and reuses the connection.
    auto third = co_await pool.get("/third", {});
    EXPECT_TRUE(third) << (third ? "" : third.error().message());
    EXPECT_TRUE(first_done);
    EXPECT_EQ(pool.open_connections(), 1u);
    pool.close();
    server.stop();
  });
  EXPECT_EQ(server.targets, (std::vector<std::string>{"/first", "/third"}));
  EXPECT_EQ(server.accepted, 1);
}

TEST(tls_context, refuses_an_unusable_ca_file) {
  try {
    make_client_tls_context(std::string{"/nonexistent/ca.pem"});
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e.what(), "/nonexistent/ca.pem")) << e.what();
  }
  const auto garbage = std::filesystem::temp_directory_path() / ("garbage_ca_" + std::to_string(::getpid()) + ".pem");
  write_text_file(garbage, "not a certificate\n");
  EXPECT_THROW(make_client_tls_context(garbage.string()), std::runtime_error);
  std::filesystem::remove(garbage);
}

// ---- through tinyproxy ---------------------------------------------------------------------------

// tinyproxy in the foreground as a child process on a free port, stopped (and reaped) at the end.
class tinyproxy_process {
 public:
  static constexpr const char* program = "/usr/bin/tinyproxy";

  tinyproxy_process(const std::filesystem::path& dir, unsigned short allowed_connect_port,
                    const std::string& basic_auth)
      : port_{free_port()}, log_{dir / "tinyproxy.log"} {
    const auto conf = dir / "tinyproxy.conf";
    std::ostringstream text;
    text << "Port " << port_ << "\nListen 127.0.0.1\nTimeout 10\nMaxClients 50\nAllow 127.0.0.1\n"
         << "ConnectPort " << allowed_connect_port << "\nLogLevel Info\n";
    if (!basic_auth.empty()) text << "BasicAuth " << basic_auth << "\n";
    write_text_file(conf, text.str());

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    std::string arg0 = program, arg1 = "-d", arg2 = "-c", arg3 = conf.string();
    char* argv[] = {arg0.data(), arg1.data(), arg2.data(), arg3.data(), nullptr};
    const int rc = posix_spawn(&pid_, program, &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start tinyproxy");
    wait_until_listening();
  }
  ~tinyproxy_process() { stop(); }
  tinyproxy_process(const tinyproxy_process&) = delete;
  tinyproxy_process& operator=(const tinyproxy_process&) = delete;

  unsigned short port() const { return port_; }

  // Stops it and returns its log.
  std::string stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    std::ifstream in{log_};
    return {std::istreambuf_iterator<char>{in}, {}};
  }

 private:
  void wait_until_listening() const {
    asio::io_context scratch;
    for (int i = 0; i < 300; ++i) {
      tcp::socket probe{scratch};
      error_code ec;
      probe.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
      if (!ec) return;
      std::this_thread::sleep_for(10ms);
    }
    throw std::runtime_error("tinyproxy did not start listening");
  }

  unsigned short port_;
  std::filesystem::path log_;
  pid_t pid_ = -1;
};

TEST_F(https_pool_test, tunnels_through_an_http_proxy_with_connect) {
  if (!std::filesystem::exists(tinyproxy_process::program)) {
    GTEST_SKIP() << "tinyproxy is not installed (apt-get install tinyproxy-bin)";
  }
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  tls_server server{ioc_, certs};
  tinyproxy_process proxy{dir_, server.port(), "hook less"};
  auto tls = make_client_tls_context(ca_file(certs));
  const auto proxy_url = "http://hook:less@127.0.0.1:" + std::to_string(proxy.port());

  auto through = options_for(server.port());
  through.proxy = parse_proxy_url(proxy_url);
  https_pool pool{ioc_.get_executor(), tls, through};

  auto without_credentials = through;
  without_credentials.proxy->authorization.reset();
  https_pool unauthorized{ioc_.get_executor(), tls, without_credentials};

  const auto closed_port = free_port();  // tinyproxy only allows CONNECT to the server's port
  auto forbidden_options = options_for(closed_port);
  forbidden_options.proxy = through.proxy;
  https_pool forbidden{ioc_.get_executor(), tls, forbidden_options};

  run([&]() -> awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      auto reply = co_await pool.get("/via-proxy", {});
      EXPECT_TRUE(reply) << (reply ? "" : reply.error().message());
      if (reply) {
        EXPECT_EQ(reply->body, "reply to /via-proxy");
      }
    }
    EXPECT_EQ(pool.open_connections(), 1u);  // the tunnel is kept alive and reused

    auto refused = co_await unauthorized.get("/no-auth", {});
    EXPECT_FALSE(refused);
    if (!refused) {
      EXPECT_EQ(refused.error().code(), https_error::proxy_refused);
      EXPECT_TRUE(contains(refused.error().message(), "proxy answered 407")) << refused.error().message();
    }
    auto blocked = co_await forbidden.get("/blocked", {});
    EXPECT_FALSE(blocked);
    if (!blocked) {
      EXPECT_EQ(blocked.error().code(), https_error::proxy_refused);
      EXPECT_TRUE(contains(blocked.error().message(), "proxy answered 403")) << blocked.error().message();
    }
    pool.close();
    unauthorized.close();
    forbidden.close();
    server.stop();
  });
  const auto log = proxy.stop();
  EXPECT_EQ(server.accepted, 1);
  EXPECT_EQ(server.targets, (std::vector<std::string>{"/via-proxy", "/via-proxy"}));
  EXPECT_TRUE(contains(log, "CONNECT 127.0.0.1:" + std::to_string(server.port()))) << log;
}

}  // namespace
}  // namespace hookless
