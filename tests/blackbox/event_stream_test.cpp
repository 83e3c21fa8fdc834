// Black box: GET /v1/events and `hooklessctl events`. Two followers (a raw socket and `hooklessctl
// events --follow`) receive every event of a mixed batch (workflows with needs_review then
// completed, extract runs) in order per run, after the recent events made before they connected,
// while a third reader that connects and never reads slows neither them nor the sinks and is
// dropped with a last too_slow line once its buffer is full. ?run= narrows a stream to one run; a
// hooklessctl whose own output stalls is dropped too and says so (exit 1); a followed stream that
// the daemon ends is an error. (Another uid's view is tested in-process with fake uids in
// tracker_backend_test.)
#include "tests/blackbox/blackbox_fixture.hpp"

#include <boost/json/parse.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

// A GET /v1/events over a plain Unix socket, read (or not) by a thread of its own.
class event_stream_reader {
 public:
  event_stream_reader(const fs::path& socket, const std::string& target) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("connect " + socket.string() + ": " + std::strerror(errno));
    }
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
      throw std::runtime_error("cannot send the request");
    }
  }
  ~event_stream_reader() {
    ::shutdown(fd_, SHUT_RDWR);
    if (reader_.joinable()) reader_.join();
    ::close(fd_);
  }
  event_stream_reader(const event_stream_reader&) = delete;
  event_stream_reader& operator=(const event_stream_reader&) = delete;

  // Reads everything from now on, as it comes.
  void start_reading() {
    reader_ = std::thread([this] {
      std::array<char, 64 * 1024> chunk{};
      for (;;) {
        const auto got = ::recv(fd_, chunk.data(), chunk.size(), 0);
        const std::lock_guard lock{mutex_};
        if (got <= 0) {
          ended_ = true;
          return;
        }
        data_.append(chunk.data(), static_cast<std::size_t>(got));
      }
    });
  }

  // The status line and headers, once they arrived.
  std::string head() const {
    const std::lock_guard lock{mutex_};
    const auto end = data_.find("\r\n\r\n");
    return end == std::string::npos ? std::string{} : data_.substr(0, end);
  }
  // The body's complete lines so far.
  std::vector<std::string> lines() const {
    const std::lock_guard lock{mutex_};
    std::vector<std::string> out;
    auto start = data_.find("\r\n\r\n");
    if (start == std::string::npos) return out;
    start += 4;
    for (auto end = data_.find('\n', start); end != std::string::npos; end = data_.find('\n', start)) {
      out.push_back(data_.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }
  bool ended() const {
    const std::lock_guard lock{mutex_};
    return ended_;
  }

 private:
  int fd_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::string data_;
  bool ended_ = false;
};

// (run ID, eventType) of each line that is an event, in order.
std::vector<std::pair<std::string, std::string>> stream_events_of(const std::vector<std::string>& lines) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& line : lines) {
    const auto value = json::parse(line).as_object();
    if (value.contains("error")) continue;
    out.emplace_back(string_field(object_field(value, "payload"), "id"), string_field(value, "eventType"));
  }
  return out;
}

constexpr std::size_t workflow_runs = 16;
constexpr std::size_t extract_runs = 16;
constexpr std::size_t batch_events = workflow_runs * 2 + extract_runs;
constexpr std::size_t filler_bytes = 80 * 1024;  // 48 events of ~80 KiB: well over a reader's 1 MiB

class event_stream_test : public blackbox_test {
 protected:
  daemon_process& start_daemon() {
    start_fake();
    auto c = base_config();
    c.requests_per_second = 100;
    auto& daemon = make_daemon(c);
    EXPECT_TRUE(daemon.start());
    return daemon;
  }

  // One run finished before any stream opens: every stream starts with its event.
  void make_an_early_event(daemon_process& daemon) {
    fake_->add_run({.id = "exr_es_early", .kind = "", .timeline = {{"PROCESSED", 0ms}}, .fields = {}});
    ASSERT_EQ(daemon.watch({"exr_es_early"}).status, 201u);
    ASSERT_TRUE(wait_for_file_events(1, 10s));
  }

  // The mixed batch, its first events 1.5 s after registration; returns the expected events per run.
  std::map<std::string, std::vector<std::string>> register_batch(daemon_process& daemon) {
    std::map<std::string, std::vector<std::string>> expected;
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < workflow_runs; ++i) {
      const auto id = "workflow_run_es_" + std::to_string(i);
      const auto step = std::chrono::milliseconds{40 * i};
      fake_->add_run({.id = id,
                      .kind = "",
                      .timeline = {{"PENDING", 0ms}, {"NEEDS_REVIEW", 1500ms + step}, {"PROCESSED", 2500ms + step}},
                      .fields = {},
                      .output_bytes = filler_bytes});
      expected[id] = {"workflow_run.needs_review", "workflow_run.completed"};
      ids.push_back(id);
    }
    for (std::size_t i = 0; i < extract_runs; ++i) {
      const auto id = "exr_es_" + std::to_string(i);
      fake_->add_run({.id = id,
                      .kind = "",
                      .timeline = {{"PROCESSING", 0ms}, {"PROCESSED", 1500ms + std::chrono::milliseconds{40 * i}}},
                      .fields = {},
                      .output_bytes = filler_bytes});
      expected[id] = {"extract_run.processed"};
      ids.push_back(id);
    }
    EXPECT_EQ(daemon.watch(ids).status, 201u);
    return expected;
  }

  child_process start_ctl_follow(const fs::path& out, const fs::path& err, const std::string& extra = {}) {
    spawn_spec spec;
    spec.program = hooklessctl_program();
    spec.args = {"--socket", daemon_->socket().string(), "events", "--follow"};
    if (!extra.empty()) {
      spec.args.push_back("--run");
      spec.args.push_back(extra);
    }
    spec.env = base_environment();
    spec.stdout_path = out;
    spec.stderr_path = err;
    return child_process{spec};
  }
};

TEST_F(event_stream_test, followers_get_every_event_in_order_while_a_stalled_reader_is_dropped) {
  auto& daemon = start_daemon();
  make_an_early_event(daemon);
  const auto expected = register_batch(daemon);

  event_stream_reader fast{daemon.socket(), "/v1/events?follow=1"};
  fast.start_reading();
  event_stream_reader stalled{daemon.socket(), "/v1/events?follow=1"};  // connects, never reads (yet)
  event_stream_reader one_run{daemon.socket(), "/v1/events?follow=1&run=workflow_run_es_3"};
  one_run.start_reading();
  const auto ctl_out = dir_ / "ctl-follow.out";
  const auto ctl_err = dir_ / "ctl-follow.err";
  auto ctl = start_ctl_follow(ctl_out, ctl_err);

  // Each stream starts with the recent events: here the early one.
  ASSERT_TRUE(wait_until([&] { return !fast.lines().empty(); }, 10s));
  EXPECT_NE(fast.head().find("HTTP/1.1 200"), std::string::npos) << fast.head();
  EXPECT_NE(fast.head().find("application/x-ndjson"), std::string::npos) << fast.head();
  EXPECT_EQ(stream_events_of(fast.lines()).front(),
            std::make_pair(std::string{"exr_es_early"}, std::string{"extract_run.processed"}));
  ASSERT_TRUE(wait_until([&] { return !text_lines(read_file(ctl_out)).empty(); }, 10s)) << read_file(ctl_err);

  // Every event reaches the sinks, and both followers, while the stalled reader reads nothing.
  ASSERT_TRUE(wait_for_file_events(1 + batch_events, 60s)) << file_event_count();
  const auto sinks_done = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return fast.lines().size() >= 1 + batch_events; }, 10s)) << fast.lines().size();
  ASSERT_TRUE(wait_until([&] { return text_lines(read_file(ctl_out)).size() >= 1 + batch_events; }, 10s))
      << text_lines(read_file(ctl_out)).size() << read_file(ctl_err);
  EXPECT_LT(std::chrono::steady_clock::now() - sinks_done, 5s) << "the followers lagged behind the sinks";

  for (const auto& lines : {fast.lines(), text_lines(read_file(ctl_out))}) {
    const auto events = stream_events_of(lines);
    ASSERT_EQ(events.size(), 1 + batch_events);
    std::map<std::string, std::vector<std::string>> seen;
    for (const auto& [run_id, type] : events) seen[run_id].push_back(type);
    auto all = expected;
    all["exr_es_early"] = {"extract_run.processed"};
    EXPECT_EQ(seen, all) << "every event once, in order per run";
  }
  ASSERT_TRUE(wait_until([&] { return one_run.lines().size() >= 2; }, 10s));
  EXPECT_EQ(stream_events_of(one_run.lines()),
            (std::vector<std::pair<std::string, std::string>>{{"workflow_run_es_3", "workflow_run.needs_review"},
                                                              {"workflow_run_es_3", "workflow_run.completed"}}));

  // The stalled reader, read at last: what fitted, then the too_slow line, then the end.
  stalled.start_reading();
  ASSERT_TRUE(wait_until([&] { return stalled.ended(); }, 20s)) << "the stalled reader was not dropped";
  const auto dropped = stalled.lines();
  ASSERT_FALSE(dropped.empty());
  const auto last = json::parse(dropped.back()).as_object();
  ASSERT_TRUE(last.contains("error")) << dropped.back();
  EXPECT_EQ(string_field(object_field(last, "error"), "code"), "too_slow");
  EXPECT_NE(string_field(object_field(last, "error"), "message").find("behind"), std::string::npos);
  EXPECT_LT(stream_events_of(dropped).size(), 1 + batch_events);
  EXPECT_NE(daemon.log().find("dropped an event stream"), std::string::npos);
  EXPECT_FALSE(fast.ended()) << "the fast follower stays";

  // Without --follow: the recent events, oldest first, and exit 0; --run narrows them.
  const auto recent = run_ctl(daemon.socket(), {"events"});
  EXPECT_EQ(recent.exit_code, 0) << recent.err;
  const auto recent_lines = text_lines(recent.out);
  EXPECT_EQ(recent_lines.size(), 1 + batch_events);
  std::string previous;
  for (const auto& line : recent_lines) {
    const auto at = string_field(object_field(json::parse(line).as_object(), "hookless"), "detectedAt");
    EXPECT_LE(previous, at) << "oldest first";
    previous = at;
  }
  const auto one = run_ctl(daemon.socket(), {"events", "--run", "workflow_run_es_3"});
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(stream_events_of(text_lines(one.out)),
            (std::vector<std::pair<std::string, std::string>>{{"workflow_run_es_3", "workflow_run.needs_review"},
                                                              {"workflow_run_es_3", "workflow_run.completed"}}));
  const auto unknown = run_ctl(daemon.socket(), {"events", "--run", "exr_es_nobody"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no run exr_es_nobody"), std::string::npos) << unknown.err;

  // A followed stream the daemon ends is an error for hooklessctl.
  ASSERT_EQ(daemon.terminate(), 0);
  EXPECT_EQ(ctl.wait_for(10s), 1);
  EXPECT_NE(read_file(ctl_err).find("ended the stream"), std::string::npos) << read_file(ctl_err);
}

// hooklessctl whose own output is not read falls behind like any reader: once read again it
// prints what it had, then says it was dropped, and exits 1.
TEST_F(event_stream_test, a_hooklessctl_that_falls_behind_is_dropped_and_says_so) {
  auto& daemon = start_daemon();
  const auto fifo = dir_ / "ctl.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  // Opened for reading first (so the child's open for writing does not block), and not read yet.
  const int drain = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(drain, 0) << std::strerror(errno);
  const auto ctl_err = dir_ / "ctl-slow.err";
  make_an_early_event(daemon);
  auto ctl = start_ctl_follow(fifo, ctl_err);
  // Its first line (the early event, a recent one) shows it follows; then nobody reads for a while.
  std::array<char, 64 * 1024> chunk{};
  std::size_t printed = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        const auto got = ::read(drain, chunk.data(), chunk.size());
        if (got > 0) printed += static_cast<std::size_t>(got);
        return printed > 0;
      },
      10s))
      << "hooklessctl running: " << ctl.running() << "; its stderr: " << read_file(ctl_err);
  register_batch(daemon);
  ASSERT_TRUE(wait_for_file_events(1 + batch_events, 60s)) << file_event_count();

  // Read the pipe now until hooklessctl exits.
  std::optional<int> code;
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  while (!code && std::chrono::steady_clock::now() < give_up) {
    const auto got = ::read(drain, chunk.data(), chunk.size());
    if (got > 0) printed += static_cast<std::size_t>(got);
    if (got <= 0) code = ctl.wait_for(20ms);
  }
  ::close(drain);
  ASSERT_TRUE(code.has_value()) << "hooklessctl was not dropped";
  EXPECT_EQ(*code, 1);
  EXPECT_GT(printed, 0u);
  const auto err = read_file(ctl_err);
  EXPECT_NE(err.find("hooklessd dropped this stream"), std::string::npos) << err;
  EXPECT_NE(err.find("behind"), std::string::npos) << err;
}

// `hooklessctl wait` on a terminal shows the run's status and polls on one updating stderr line;
// with stderr not a terminal it prints nothing there.
TEST_F(event_stream_test, wait_on_a_terminal_shows_status_and_polls) {
  auto& daemon = start_daemon();
  const std::string id = "exr_es_waited";
  fake_->add_run({.id = id, .kind = "", .timeline = {{"PROCESSING", 0ms}, {"PROCESSED", 3000ms}}, .fields = {}});
  ASSERT_EQ(daemon.watch({id}).status, 201u);

  const int terminal = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(terminal, 0) << std::strerror(errno);
  ASSERT_EQ(::grantpt(terminal), 0);
  ASSERT_EQ(::unlockpt(terminal), 0);
  const std::string side = ::ptsname(terminal);
  ::fcntl(terminal, F_SETFL, ::fcntl(terminal, F_GETFL) | O_NONBLOCK);
  spawn_spec spec;
  spec.program = hooklessctl_program();
  spec.args = {"--socket", daemon.socket().string(), "wait", id, "--timeout", "30s"};
  spec.env = base_environment();
  spec.stdout_path = dir_ / "wait.out";
  spec.stderr_path = side;
  child_process ctl{spec};
  std::string shown;
  std::optional<int> code;
  std::array<char, 4096> chunk{};
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  while (!code && std::chrono::steady_clock::now() < give_up) {
    const auto got = ::read(terminal, chunk.data(), chunk.size());
    if (got > 0) shown.append(chunk.data(), static_cast<std::size_t>(got));
    code = ctl.wait_for(50ms);
  }
  for (ssize_t got = 0; (got = ::read(terminal, chunk.data(), chunk.size())) > 0;) {
    shown.append(chunk.data(), static_cast<std::size_t>(got));
  }
  ::close(terminal);
  ASSERT_EQ(code, std::optional<int>{0}) << shown;
  EXPECT_NE(shown.find(id + ": PROCESSING, "), std::string::npos) << shown;
  EXPECT_NE(shown.find(" polls, "), std::string::npos) << shown;
  EXPECT_NE(shown.find("\r"), std::string::npos) << "one line, updated in place: " << shown;
  EXPECT_NE(read_file(dir_ / "wait.out").find("extract_run.processed"), std::string::npos);

  // Not a terminal: nothing but the final event.
  const std::string other = "exr_es_waited_quietly";
  fake_->add_run({.id = other, .kind = "", .timeline = {{"PROCESSING", 0ms}, {"PROCESSED", 1500ms}}, .fields = {}});
  ASSERT_EQ(daemon.watch({other}).status, 201u);
  const auto quiet = run_ctl(daemon.socket(), {"wait", other});
  EXPECT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
}

}  // namespace
}  // namespace hookless::blackbox
