// The control server on a real Unix socket in a temp dir, against a fake backend: socket file
// handling, SO_PEERCRED, keep-alive, limits, deadlines, long-polls, shutdown; and hooklessctl run
// as a child process against it for its exit codes.
#include "daemon/control/control_server.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace hookless {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using steady = std::chrono::steady_clock;

run_event make_event(const std::string& run_id, const std::string& type) {
  run_event event;
  event.event_id = "event_" + run_id + "_" + type;
  event.event_type = type;
  event.body = json::serialize(
      json::object{{"eventId", event.event_id}, {"eventType", type}, {"payload", json::object{{"id", run_id}}}});
  return event;
}

// The server calls it on the io thread; tests arrange and inspect it from theirs, hence the lock.
class fake_backend : public control_backend {
 public:
  void add_run(const std::string& id) {
    std::lock_guard lock{mutex_};
    run_record run;
    run.id = id;
    run.kind = "extract_run";
    run.owner_uid = ::getuid();
    runs_[id] = run;
  }
  void finish(const std::string& id, const std::string& outcome, std::vector<std::string> event_types) {
    std::lock_guard lock{mutex_};
    auto& run = runs_.at(id);
    run.state = run_state::finished;
    run.outcome = outcome;
    run.finished_at = clock_type::now();
    for (const auto& type : event_types) run.events.push_back(make_event(id, type));
  }
  void set_healthy(bool ok) {
    std::lock_guard lock{mutex_};
    report_.ok = ok;
  }
  void set_health(health_report report) {
    std::lock_guard lock{mutex_};
    report_ = std::move(report);
  }
  std::vector<caller> callers() {
    std::lock_guard lock{mutex_};
    return callers_;
  }
  std::vector<registration> registered() {
    std::lock_guard lock{mutex_};
    return registered_;
  }

  awaitable<registration_result> register_runs(caller who, std::vector<registration> batch) override {
    std::lock_guard lock{mutex_};
    callers_.push_back(who);
    registration_result result;
    for (const auto& one : batch) {
      registered_.push_back(one);
      auto [it, added] = runs_.try_emplace(one.id);
      if (added) {
        it->second.id = one.id;
        it->second.kind = one.kind;
        result.any_new = true;
      }
      result.runs.push_back(it->second);
    }
    co_return result;
  }
  awaitable<std::optional<run_record>> get_run(caller who, std::string id) override {
    std::lock_guard lock{mutex_};
    callers_.push_back(who);
    co_return find(id);
  }
  awaitable<std::optional<run_record>> wait_run(caller who, std::string id, std::chrono::milliseconds limit) override {
    const auto give_up = steady::now() + limit;
    asio::steady_timer tick(co_await asio::this_coro::executor);
    for (;;) {
      {
        std::lock_guard lock{mutex_};
        callers_.push_back(who);
        auto run = find(id);
        if (!run || run->state == run_state::finished || steady::now() >= give_up) co_return run;
      }
      tick.expires_after(10ms);
      co_await tick.async_wait(asio::use_awaitable);
    }
  }
  awaitable<std::vector<run_record>> list_runs(caller who, run_query query) override {
    std::lock_guard lock{mutex_};
    callers_.push_back(who);
    std::vector<run_record> out;
    // Newest first: the map is ordered by ID, and these tests name runs in registration order.
    for (auto it = runs_.rbegin(); it != runs_.rend() && out.size() < query.limit; ++it) {
      if (query.after && it->first >= *query.after) continue;
      out.push_back(it->second);
    }
    co_return out;
  }
  awaitable<bool> forget_run(caller who, std::string id) override {
    std::lock_guard lock{mutex_};
    callers_.push_back(who);
    co_return runs_.erase(id) == 1;
  }
  // `count` pending deliveries, IDs event_<n>:app, listed in that order.
  void add_deliveries(int count) {
    std::lock_guard lock{mutex_};
    for (int n = 0; n < count; ++n) {
      const auto event_id = "event_" + std::to_string(n);
      deliveries_.push_back(delivery{.id = event_id + ":app",
                                     .event_id = event_id,
                                     .run_id = "exr_1",
                                     .sink = "app",
                                     .state = delivery_state::pending,
                                     .attempts = 0,
                                     .last_error = std::nullopt,
                                     .next_attempt_at = std::nullopt,
                                     .redelivered_at = std::nullopt});
    }
  }
  // Pages as the store does: after the delivery named by `after`, at most `limit`.
  awaitable<std::vector<delivery>> list_deliveries(caller, delivery_query query) override {
    std::lock_guard lock{mutex_};
    auto from = deliveries_.begin();
    if (query.after) {
      from =
          std::find_if(deliveries_.begin(), deliveries_.end(), [&](const delivery& d) { return d.id == *query.after; });
      if (from != deliveries_.end()) ++from;
    }
    const auto left = static_cast<std::size_t>(deliveries_.end() - from);
    co_return std::vector<delivery>(from,
                                    from + static_cast<std::ptrdiff_t>(std::min(left, query.limit.value_or(left))));
  }
  awaitable<bool> retry_delivery(caller, std::string) override { co_return false; }
  awaitable<std::size_t> retry_dead_deliveries(caller) override { co_return 0; }
  health_report health() const override {
    std::lock_guard lock{mutex_};
    return report_;
  }
  std::vector<subscription_status> subscriptions() const override { return {}; }
  std::string metrics() const override { return "hookless_up 1\n"; }
  std::optional<std::string> kind_for(std::string_view run_id) const override {
    if (run_id.starts_with("exr_")) return "extract_run";
    return std::nullopt;
  }
  std::vector<std::string> known_kinds() const override { return {"extract_run", "workflow_run"}; }

 private:
  std::optional<run_record> find(const std::string& id) const {
    if (auto it = runs_.find(id); it != runs_.end()) return it->second;
    return std::nullopt;
  }
  mutable std::mutex mutex_;
  std::map<std::string, run_record> runs_;
  std::vector<caller> callers_;
  std::vector<registration> registered_;
  std::vector<delivery> deliveries_;
  health_report report_;
};

// A blocking HTTP client for the test thread; every read has a deadline so a bug fails, not hangs.
class test_client {
 public:
  explicit test_client(const std::string& path) : socket_(context_) {
    socket_.connect(asio::local::stream_protocol::endpoint(path));
  }

  void send_raw(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes.data(), bytes.size())); }

  void send(http::verb method, const std::string& target, const std::string& body = {}, bool keep_alive = true) {
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "localhost");
    request.body() = body;
    request.prepare_payload();
    request.keep_alive(keep_alive);
    http::write(socket_, request);
  }

  // The next response, or nullopt when the connection ends or nothing comes within `timeout`.
  std::optional<http::response<http::string_body>> read(std::chrono::milliseconds timeout = 5s) {
    http::response<http::string_body> response;
    std::optional<boost::system::error_code> result;
    http::async_read(socket_, buffer_, response, [&result](boost::system::error_code ec, std::size_t) { result = ec; });
    context_.restart();
    context_.run_for(timeout);
    if (!result) {
      socket_.close();
      context_.restart();
      context_.run();
      return std::nullopt;
    }
    if (*result) return std::nullopt;
    return response;
  }

  http::response<http::string_body> request(http::verb method, const std::string& target,
                                            const std::string& body = {}) {
    send(method, target, body);
    auto response = read();
    if (!response) throw std::runtime_error("no answer to " + target);
    return std::move(*response);
  }

  // True when the server closes the connection within `timeout`.
  bool closed_within(std::chrono::milliseconds timeout) {
    std::array<char, 512> scratch{};
    std::optional<boost::system::error_code> result;
    socket_.async_read_some(asio::buffer(scratch),
                            [&result](boost::system::error_code ec, std::size_t) { result = ec; });
    context_.restart();
    context_.run_for(timeout);
    if (!result) {
      socket_.close();
      context_.restart();
      context_.run();
      return false;
    }
    return static_cast<bool>(*result);
  }

 private:
  asio::io_context context_;
  asio::local::stream_protocol::socket socket_;
  beast::flat_buffer buffer_;
};

json::object body_of(const http::response<http::string_body>& response) {
  return json::parse(response.body()).as_object();
}

class control_server_test : public ::testing::Test {
 protected:
  void SetUp() override { socket_path_ = (dir_ / "hookless.sock").string(); }

  void TearDown() override { stop_server(); }

  control_config config() const {
    control_config out;
    out.socket = socket_path_;
    out.socket_mode = 0600;
    out.admin_uids = {};
    return out;
  }

  void start(control_config settings, control_server_limits limits = {}) {
    server_ = std::make_unique<control_server>(context_.get_executor(), backend_, settings, limits);
    server_->start();
    guard_.emplace(context_.get_executor());
    runner_ = std::thread([this] {
      context_.run();
      ran_out_.set_value();
    });
  }
  void start() { start(config()); }

  // Stops the server within its bound, then checks that no work is left on the io_context.
  void stop_server() {
    if (!server_) return;
    auto stopped = asio::co_spawn(context_, server_->stop(2s), asio::use_future);
    EXPECT_EQ(stopped.wait_for(5s), std::future_status::ready);
    guard_.reset();
    if (ran_out_.get_future().wait_for(3s) != std::future_status::ready) {
      ADD_FAILURE() << "work was left on the io_context after stop()";
      context_.stop();
    }
    runner_.join();
    server_.reset();
  }

  template <typename F>
  auto on_io_thread(F function) {
    std::promise<decltype(function())> result;
    asio::post(context_, [&] { result.set_value(function()); });
    return result.get_future().get();
  }

  // Runs hooklessctl against the test socket; returns its exit code and stdout.
  std::pair<int, std::string> ctl(const std::string& arguments, const std::string& stdin_text = {}) const {
    std::string command;
    if (!stdin_text.empty()) command = "printf '" + stdin_text + "' | ";
    command += std::string{HOOKLESSCTL_PATH} + " --socket " + socket_path_ + " " + arguments + " 2>/dev/null";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) throw std::runtime_error("popen failed");
    std::string output;
    std::array<char, 4096> chunk{};
    while (const auto got = std::fread(chunk.data(), 1, chunk.size(), pipe)) output.append(chunk.data(), got);
    const int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
  }

  test::temp_dir temp_{"hookless-control"};
  std::filesystem::path dir_ = temp_.path();
  std::string socket_path_;
  asio::io_context context_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  fake_backend backend_;
  std::unique_ptr<control_server> server_;
  std::thread runner_;
  std::promise<void> ran_out_;
};

TEST_F(control_server_test, replaces_a_stale_socket_and_applies_the_mode) {
  // A socket file left behind by a daemon that died: bound, then closed without unlinking.
  const int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path_.c_str());
  ASSERT_EQ(::bind(stale, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  ::close(stale);

  auto settings = config();
  settings.socket_mode = 0640;
  start(settings);
  struct stat info {};
  ASSERT_EQ(::stat(socket_path_.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0640u);
  test_client client(socket_path_);
  EXPECT_EQ(client.request(http::verb::get, "/v1/health").result_int(), 200u);

  stop_server();
  EXPECT_FALSE(std::filesystem::exists(socket_path_)) << "stop() removes the socket file it made";
}

TEST_F(control_server_test, refuses_a_socket_another_daemon_answers_on) {
  start();
  asio::io_context other;
  try {
    control_server second(other.get_executor(), backend_, config());
    FAIL() << "a second server started on a live socket";
  } catch (const std::runtime_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("another daemon"));
  }
  test_client client(socket_path_);
  EXPECT_EQ(client.request(http::verb::get, "/v1/health").result_int(), 200u) << "the first server still serves";
}

TEST_F(control_server_test, refuses_a_path_that_is_not_a_socket_and_an_unknown_group) {
  asio::io_context other;
  std::ofstream{socket_path_} << "precious";
  EXPECT_THROW(control_server(other.get_executor(), backend_, config()), std::runtime_error);
  EXPECT_TRUE(std::filesystem::is_regular_file(socket_path_)) << "a regular file is never removed";

  auto settings = config();
  settings.socket = (dir_ / "grouped.sock").string();
  settings.socket_group = "no-such-group-hookless";
  try {
    control_server grouped(other.get_executor(), backend_, settings);
    FAIL() << "started with an unknown group";
  } catch (const std::runtime_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("no-such-group-hookless"));
  }
  EXPECT_FALSE(std::filesystem::exists(settings.socket)) << "a failed start leaves no socket file";
}

TEST_F(control_server_test, serves_an_inherited_listening_socket) {
  // What systemd socket activation hands over: a bound, listening fd.
  const int listening = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path_.c_str());
  ASSERT_EQ(::bind(listening, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listening, 16), 0);
  server_ = std::make_unique<control_server>(context_.get_executor(), backend_, config(), listening);
  server_->start();
  guard_.emplace(context_.get_executor());
  runner_ = std::thread([this] {
    context_.run();
    ran_out_.set_value();
  });
  test_client client(socket_path_);
  EXPECT_EQ(client.request(http::verb::get, "/v1/health").result_int(), 200u);
  stop_server();
  EXPECT_TRUE(std::filesystem::exists(socket_path_)) << "an inherited socket file belongs to systemd";
}

TEST_F(control_server_test, the_peer_uid_reaches_the_backend) {
  backend_.add_run("exr_1");
  start();
  test_client client(socket_path_);
  EXPECT_EQ(client.request(http::verb::get, "/v1/runs/exr_1").result_int(), 200u);
  const auto callers = backend_.callers();
  ASSERT_FALSE(callers.empty());
  EXPECT_EQ(callers.back().uid, ::getuid());
  EXPECT_FALSE(callers.back().admin);
}

TEST_F(control_server_test, admin_uids_make_the_caller_an_admin) {
  backend_.add_run("exr_1");
  auto settings = config();
  settings.admin_uids = {::getuid()};
  start(settings);
  test_client client(socket_path_);
  EXPECT_EQ(client.request(http::verb::get, "/v1/runs/exr_1").result_int(), 200u);
  ASSERT_FALSE(backend_.callers().empty());
  EXPECT_TRUE(backend_.callers().back().admin);
}

TEST_F(control_server_test, keeps_a_connection_alive_across_requests) {
  start();
  test_client client(socket_path_);
  for (int round = 0; round < 3; ++round) {
    const auto response =
        client.request(http::verb::post, "/v1/runs", R"({"id":"exr_)" + std::to_string(round) + "\"}");
    EXPECT_EQ(response.result_int(), 201u);
    EXPECT_TRUE(response.keep_alive());
  }
  EXPECT_EQ(on_io_thread([this] { return server_->connection_count(); }), 1u);
  EXPECT_EQ(client.request(http::verb::get, "/nope").result_int(), 404u);
  const auto wrong = client.request(http::verb::put, "/v1/health");
  EXPECT_EQ(wrong.result_int(), 405u);
  EXPECT_EQ(wrong[http::field::allow], "GET");
}

TEST_F(control_server_test, a_declared_body_over_the_limit_is_413_before_it_is_sent) {
  start();
  test_client client(socket_path_);
  client.send_raw(
      "POST /v1/runs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
      "Content-Length: 3145728\r\n\r\n");
  const auto response = client.read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->result_int(), 413u);
  EXPECT_EQ(body_of(*response).at("error").at("code").as_string(), "too_large");
  EXPECT_TRUE(client.closed_within(2s));
}

TEST_F(control_server_test, a_chunked_body_growing_over_the_limit_is_413) {
  start();
  test_client client(socket_path_);
  client.send_raw("POST /v1/runs HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
  try {
    for (int sent = 0; sent < 40; ++sent) client.send_raw(chunk);  // 2.5 MiB
  } catch (const boost::system::system_error&) {
    // The server may close before everything is sent; its answer is already on the way.
  }
  const auto response = client.read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->result_int(), 413u);
}

TEST_F(control_server_test, expect_100_continue_is_answered_before_the_body) {
  start();
  test_client client(socket_path_);
  const std::string body = R"({"id":"exr_1"})";
  client.send_raw(
      "POST /v1/runs HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  const auto go_on = client.read();
  ASSERT_TRUE(go_on.has_value());
  EXPECT_EQ(go_on->result_int(), 100u);
  client.send_raw(body);
  const auto created = client.read();
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(created->result_int(), 201u);
}

TEST_F(control_server_test, headers_over_16_kib_are_refused) {
  start();
  test_client client(socket_path_);
  client.send_raw("GET /v1/health HTTP/1.1\r\nHost: localhost\r\nX-Filler: " + std::string(17 * 1024, 'a') +
                  "\r\n\r\n");
  const auto response = client.read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->result_int(), 431u);
}

TEST_F(control_server_test, idle_and_slow_clients_do_not_hold_up_others) {
  start();
  std::vector<std::unique_ptr<test_client>> idle;
  for (int index = 0; index < 100; ++index) idle.push_back(std::make_unique<test_client>(socket_path_));

  test_client slow(socket_path_);
  const std::string request = "GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n";
  std::thread trickle([&slow, &request] {
    for (const char byte : request) {
      slow.send_raw(std::string_view{&byte, 1});
      std::this_thread::sleep_for(15ms);
    }
  });

  std::this_thread::sleep_for(100ms);  // the slow request is half-sent by now
  for (int round = 0; round < 5; ++round) {
    const auto started = steady::now();
    test_client quick(socket_path_);
    EXPECT_EQ(quick.request(http::verb::get, "/v1/health").result_int(), 200u);
    EXPECT_LT(steady::now() - started, 500ms);
  }
  trickle.join();
  const auto answer = slow.read();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->result_int(), 200u);
}

TEST_F(control_server_test, a_request_that_never_completes_is_cut_at_the_deadline) {
  control_server_limits limits;
  limits.request_timeout = 300ms;
  limits.idle_timeout = 300ms;
  start(config(), limits);

  test_client stalled(socket_path_);
  stalled.send_raw("GET /v1/hea");
  const auto started = steady::now();
  EXPECT_TRUE(stalled.closed_within(3s));
  EXPECT_GE(steady::now() - started, 200ms);

  test_client idle(socket_path_);
  EXPECT_EQ(idle.request(http::verb::get, "/v1/health").result_int(), 200u);
  EXPECT_TRUE(idle.closed_within(3s)) << "an idle kept-alive connection is closed";
}

// A connection over a limit is answered 503 busy, naming the limit, and closed.
void expect_busy(test_client& client, const std::string& naming) {
  const auto answer = client.request(http::verb::get, "/v1/health");
  EXPECT_EQ(answer.result_int(), 503u);
  const auto error = body_of(answer).at("error");
  EXPECT_EQ(error.at("code").as_string(), "busy");
  EXPECT_THAT(std::string{error.at("message").as_string()}, HasSubstr(naming));
  EXPECT_TRUE(client.closed_within(3s));
}

TEST_F(control_server_test, connections_beyond_the_cap_are_refused_busy) {
  control_server_limits limits;
  limits.max_connections = 2;
  limits.reserved_for_admins = 0;
  start(config(), limits);
  test_client first(socket_path_);
  test_client second(socket_path_);
  EXPECT_EQ(first.request(http::verb::get, "/v1/health").result_int(), 200u);
  EXPECT_EQ(second.request(http::verb::get, "/v1/health").result_int(), 200u);
  test_client third(socket_path_);
  expect_busy(third, "its limit");
  EXPECT_EQ(first.request(http::verb::get, "/v1/health").result_int(), 200u);
}

// One user holding connections (idle ones, or long-polls) reaches its own cap, not the server's.
TEST_F(control_server_test, one_uid_is_capped_below_the_server_limit) {
  control_server_limits limits;
  limits.max_connections = 100;
  limits.max_connections_per_uid = 3;
  limits.reserved_for_admins = 10;
  start(config(), limits);  // the test's uid is not an admin here
  backend_.add_run("exr_1");
  std::vector<std::unique_ptr<test_client>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<test_client>(socket_path_));
    EXPECT_EQ(held.back()->request(http::verb::get, "/v1/health").result_int(), 200u);
  }
  held.front()->send(http::verb::get, "/v1/runs/exr_1?wait=1h");  // a long-poll holds its connection too
  test_client fourth(socket_path_);
  expect_busy(fourth, "uid " + std::to_string(::getuid()) + " has 3 control connections open");
  held.pop_back();  // one closes: the user may connect again
  const auto give_up = steady::now() + 3s;
  while (on_io_thread([this] { return server_->connection_count(); }) != 2 && steady::now() < give_up) {
    std::this_thread::sleep_for(10ms);
  }
  test_client again(socket_path_);
  EXPECT_EQ(again.request(http::verb::get, "/v1/health").result_int(), 200u);
}

// Users together cannot take the last connections: they are kept for admin_uids.
TEST_F(control_server_test, the_last_connections_are_kept_for_admins) {
  control_server_limits limits;
  limits.max_connections = 4;
  limits.max_connections_per_uid = 100;
  limits.reserved_for_admins = 2;
  start(config(), limits);  // not an admin: two connections at most
  test_client first(socket_path_);
  test_client second(socket_path_);
  EXPECT_EQ(first.request(http::verb::get, "/v1/health").result_int(), 200u);
  EXPECT_EQ(second.request(http::verb::get, "/v1/health").result_int(), 200u);
  test_client third(socket_path_);
  expect_busy(third, "kept for control.admin_uids");
}

TEST_F(control_server_test, an_admin_may_use_the_reserved_connections_and_has_no_per_uid_cap) {
  control_server_limits limits;
  limits.max_connections = 4;
  limits.max_connections_per_uid = 1;
  limits.reserved_for_admins = 2;
  auto settings = config();
  settings.admin_uids = {static_cast<std::uint32_t>(::getuid())};
  start(settings, limits);
  std::vector<std::unique_ptr<test_client>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<test_client>(socket_path_));
    EXPECT_EQ(held.back()->request(http::verb::get, "/v1/health").result_int(), 200u) << i;
  }
  test_client fifth(socket_path_);
  expect_busy(fifth, "its limit");
}

TEST_F(control_server_test, wait_answers_when_the_run_finishes_and_is_not_cut_by_the_read_deadline) {
  control_server_limits limits;
  limits.request_timeout = 300ms;
  start(config(), limits);
  backend_.add_run("exr_1");
  backend_.add_run("exr_2");

  test_client waiting(socket_path_);
  const auto started = steady::now();
  waiting.send(http::verb::get, "/v1/runs/exr_1?wait=10s");
  std::this_thread::sleep_for(400ms);
  backend_.finish("exr_1", "processed", {"extract_run.processed"});
  const auto finished = waiting.read();
  ASSERT_TRUE(finished.has_value());
  EXPECT_EQ(finished->result_int(), 200u);
  EXPECT_EQ(body_of(*finished).at("state").as_string(), "finished");
  EXPECT_GE(steady::now() - started, 400ms);
  EXPECT_LT(steady::now() - started, 3s);

  const auto before = steady::now();
  const auto pending = waiting.request(http::verb::get, "/v1/runs/exr_2?wait=1s");
  EXPECT_EQ(pending.result_int(), 200u);
  EXPECT_EQ(body_of(pending).at("state").as_string(), "pending");
  EXPECT_GE(steady::now() - before, 900ms);
}

TEST_F(control_server_test, stop_ends_long_polls_promptly) {
  start();
  backend_.add_run("exr_1");
  test_client waiting(socket_path_);
  waiting.send(http::verb::get, "/v1/runs/exr_1?wait=1h");
  test_client idle(socket_path_);
  std::this_thread::sleep_for(100ms);
  const auto started = steady::now();
  stop_server();
  EXPECT_LT(steady::now() - started, 1500ms);
  EXPECT_FALSE(waiting.read(2s).has_value());
  EXPECT_TRUE(idle.closed_within(2s));
}

// --- hooklessctl against the server ---------------------------------------------------------

TEST_F(control_server_test, ctl_get_exits_0_for_a_known_run_and_1_for_an_unknown_one) {
  backend_.add_run("exr_1");
  start();
  const auto [code, output] = ctl("get exr_1");
  EXPECT_EQ(code, 0);
  EXPECT_THAT(output, HasSubstr("id: exr_1"));
  EXPECT_EQ(ctl("get exr_2").first, 1);
  const auto [json_code, json_output] = ctl("--json get exr_1");
  EXPECT_EQ(json_code, 0);
  EXPECT_EQ(json::parse(json_output).at("id").as_string(), "exr_1");
}

TEST_F(control_server_test, ctl_wait_exit_codes) {
  backend_.add_run("exr_ok");
  backend_.finish("exr_ok", "processed", {"extract_run.processed"});
  backend_.add_run("exr_bad");
  backend_.finish("exr_bad", "failed", {"extract_run.failed"});
  backend_.add_run("exr_slow");
  backend_.add_run("exr_later");
  start();

  const auto [ok_code, ok_output] = ctl("wait exr_ok");
  EXPECT_EQ(ok_code, 0);
  EXPECT_EQ(json::parse(ok_output).at("eventType").as_string(), "extract_run.processed");
  EXPECT_EQ(ctl("wait exr_bad").first, 3);
  const auto started = steady::now();
  EXPECT_EQ(ctl("wait exr_slow --timeout 300ms").first, 4);
  EXPECT_GE(steady::now() - started, 300ms);
  EXPECT_EQ(ctl("wait exr_unknown --timeout 1s").first, 1);

  std::thread finisher([this] {
    std::this_thread::sleep_for(300ms);
    backend_.finish("exr_later", "processed", {"extract_run.processed"});
  });
  const auto [later_code, later_output] = ctl("wait exr_later --timeout 10s");
  finisher.join();
  EXPECT_EQ(later_code, 0);
  EXPECT_THAT(later_output, HasSubstr("extract_run.processed"));
}

TEST_F(control_server_test, ctl_health_exit_codes) {
  start();
  const auto [ok_code, ok_output] = ctl("health");
  EXPECT_EQ(ok_code, 0);
  EXPECT_THAT(ok_output, HasSubstr("ok"));
  backend_.set_healthy(false);
  EXPECT_EQ(ctl("health").first, 1);
  stop_server();
  EXPECT_EQ(ctl("health").first, 2) << "no daemon on the socket";
}

TEST_F(control_server_test, ctl_health_prints_the_store_and_the_cluster) {
  start();
  EXPECT_THAT(ctl("health").second, HasSubstr("store (sqlite): healthy"));
  health_report report;
  report.ok = false;
  report.store = store_health{.state = "unreachable", .backend = "postgresql"};
  report.cluster =
      cluster_status{.node = "web-2", .poller = true, .term = 4, .live_nodes = {"web-1", "web-2"}, .homes = {"web-2"}};
  backend_.set_health(report);
  const auto [code, output] = ctl("health");
  EXPECT_EQ(code, 1);
  EXPECT_THAT(output, HasSubstr("store (postgresql): unreachable"));
  EXPECT_THAT(output,
              HasSubstr("cluster: node web-2 is the poller (term 4); live nodes web-1, web-2; delivers for web-2"));
}

TEST_F(control_server_test, ctl_watch_registers_ids_from_arguments_and_stdin) {
  start();
  EXPECT_EQ(ctl("watch exr_a exr_b --sink app --context '{\"order\":7}' --deadline 24h").first, 0);
  EXPECT_EQ(ctl("watch -", "exr_c\\n\\nexr_d\\n").first, 0);
  const auto registered = backend_.registered();
  ASSERT_EQ(registered.size(), 4u);
  EXPECT_EQ(registered[0].sinks, std::vector<std::string>{"app"});
  EXPECT_EQ(registered[0].context.at("order").as_int64(), 7);
  EXPECT_EQ(registered[0].deadline, std::chrono::milliseconds{24h});
  EXPECT_EQ(registered[3].id, "exr_d");
  EXPECT_EQ(ctl("watch bad.id").first, 1);
  EXPECT_EQ(ctl("watch zzz_1").first, 1) << "a kind that cannot be told is refused";

  const auto [ls_code, table] = ctl("ls");
  EXPECT_EQ(ls_code, 0);
  EXPECT_THAT(table, HasSubstr("ID"));
  EXPECT_THAT(table, HasSubstr("exr_d"));
  EXPECT_LT(table.find("exr_d"), table.find("exr_a")) << "newest first";
  EXPECT_EQ(ctl("forget exr_a").first, 0);
  EXPECT_EQ(ctl("forget exr_a").first, 1);
}

// The control API pages deliveries (at most 1000 a page); hooklessctl follows the pages to list all.
TEST_F(control_server_test, ctl_deliveries_lists_every_page) {
  backend_.add_deliveries(2'500);
  start();
  const auto [code, lines] = ctl("deliveries --json");
  EXPECT_EQ(code, 0);
  std::istringstream in{lines};
  int n = 0;
  for (std::string line; std::getline(in, line); ++n) {
    ASSERT_THAT(line, HasSubstr("\"id\":\"event_" + std::to_string(n) + ":app\"")) << "line " << n;
  }
  EXPECT_EQ(n, 2'500);
  const auto [table_code, table] = ctl("deliveries --state pending");
  EXPECT_EQ(table_code, 0);
  EXPECT_THAT(table, HasSubstr("event_2499:app"));
}

TEST_F(control_server_test, ctl_deliveries_and_redeliver_exit_codes) {
  start();
  const auto [code, table] = ctl("deliveries --state dead");
  EXPECT_EQ(code, 0);
  EXPECT_THAT(table, HasSubstr("LAST ERROR"));
  EXPECT_EQ(ctl("deliveries --state done").first, 1) << "a bad --state is a usage error";
  EXPECT_EQ(ctl("redeliver event_x:app").first, 1) << "no such delivery";
  EXPECT_EQ(ctl("redeliver --all-dead").first, 0);
  EXPECT_EQ(ctl("redeliver").first, 1);
  EXPECT_EQ(ctl("--version").first, 0);
}

}  // namespace
}  // namespace hookless
