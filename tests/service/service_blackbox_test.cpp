// Black box: hooklessd run the ways a service manager runs it. Readiness, status and watchdog
// through a fake NOTIFY_SOCKET (a datagram socket the test reads); socket activation through
// systemd-socket-activate; SIGHUP reloads with an invalid and a valid config while runs are
// pending and a long-poll is open, and a rejected reload as health and /metrics show it; GET
// /metrics read by a Prometheus text checker; JSON logs with run_id/event_id fields; log lines
// under a JOURNAL_STREAM; the unit's ExecReload= lines and the check they run; the API key never
// printed anywhere.
#include "core/formats/timestamp.hpp"
#include "tests/blackbox/blackbox_fixture.hpp"
#include "tests/service/prometheus_check.hpp"
#include "tests/support/test_certs.hpp"

#include <gmock/gmock.h>
#include <boost/json/parse.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <future>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// The systemd side of sd_notify: a Unix datagram socket whose messages the test reads.
class notify_listener {
 public:
  struct message {
    std::chrono::steady_clock::time_point at;
    std::string text;
  };

  explicit notify_listener(fs::path path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("cannot bind the notify socket " + path_.string());
    }
  }
  ~notify_listener() { ::close(fd_); }
  notify_listener(const notify_listener&) = delete;
  notify_listener& operator=(const notify_listener&) = delete;

  const fs::path& path() const { return path_; }

  // The next message, or nullopt after `limit`.
  std::optional<message> next(std::chrono::milliseconds limit) {
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return std::nullopt;
    char buffer[4096];
    const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0) return std::nullopt;
    message m{std::chrono::steady_clock::now(), std::string(buffer, static_cast<std::size_t>(n))};
    seen_.push_back(m);
    return m;
  }
  // Reads until a message containing `text` arrives (true) or `limit` passes (false).
  bool wait_for(const std::string& text, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      const auto m = next(std::max(left, std::chrono::milliseconds{1}));
      if (m && m->text.find(text) != std::string::npos) return true;
    }
    return false;
  }
  const std::vector<message>& seen() const { return seen_; }

 private:
  fs::path path_;
  int fd_ = -1;
  std::vector<message> seen_;
};

class service_test : public blackbox_test {
 protected:
  void TearDown() override {
    if (HasFailure() && !extra_log_.empty()) {
      std::cerr << "---- hooklessd log ----\n" << read_file(extra_log_) << "\n---- end ----\n";
    }
    child_.reset();
    blackbox_test::TearDown();
  }

  // hooklessd started as a child with `config_text`, outside daemon_process (whose start() writes
  // its own config), optionally behind a launcher (systemd-socket-activate).
  void spawn_daemon(const std::string& config_text, std::map<std::string, std::string> env,
                    std::vector<std::string> launcher = {}) {
    write_text_file(dir_ / "service.yaml", config_text);
    spawn_spec spec;
    spec.env = base_environment();
    spec.env["EXTEND_API_KEY"] = "sk_test_hookless";
    for (auto& [key, value] : env) spec.env[key] = value;
    std::vector<std::string> command{hooklessd_program().string(), "--config", (dir_ / "service.yaml").string()};
    if (launcher.empty()) {
      spec.program = command.front();
      spec.args.assign(command.begin() + 1, command.end());
    } else {
      spec.program = launcher.front();
      spec.args.assign(launcher.begin() + 1, launcher.end());
      spec.args.insert(spec.args.end(), command.begin(), command.end());
    }
    extra_log_ = dir_ / "service.stderr";
    spec.stdout_path = dir_ / "service.stdout";
    spec.stderr_path = extra_log_;
    child_.emplace(spec);
  }

  bool wait_healthy(const fs::path& socket, std::chrono::milliseconds limit = 10s) {
    return wait_until(
        [&] {
          try {
            return socket_accepts(socket) && control_request(socket, "GET", "/v1/health").status == 200;
          } catch (const std::exception&) {
            return false;
          }
        },
        limit);
  }

  std::string service_log() const { return read_file(extra_log_); }
  fs::path config_path() const { return dir_ / "service.yaml"; }
  json_lines service_stdout() const { return read_json_lines(dir_ / "service.stdout"); }

  static bool wait_for_events_in(const fs::path& file, std::size_t n, std::chrono::milliseconds limit) {
    return wait_until([&] { return read_json_lines(file).events.size() >= n; }, limit);
  }

  // A run in the fake that finishes (PROCESSED) `after` its creation.
  void add_finishing_run(const std::string& id, std::chrono::milliseconds after) {
    fake_->add_run(
        run_script{.id = id, .kind = "", .timeline = {{"PROCESSING", 0ms}, {"PROCESSED", after}}, .fields = {}});
  }

  std::optional<child_process> child_;
  fs::path extra_log_;
};

// ---- readiness, status, watchdog, stopping --------------------------------------------------

TEST_F(service_test, ready_only_when_the_socket_accepts_then_watchdog_and_status_until_stopping) {
  start_fake();
  const auto c = base_config();
  add_finishing_run("exr_slow_1", 600s);
  add_finishing_run("exr_slow_2", 600s);
  notify_listener notify{dir_ / "notify.sock"};
  spawn_daemon(render_config(c), {{"NOTIFY_SOCKET", notify.path().string()}, {"WATCHDOG_USEC", "400000"}});

  ASSERT_TRUE(notify.wait_for("READY=1", 10s)) << service_log();
  // READY=1 comes after the state is recovered and the socket accepts: usable at once.
  EXPECT_TRUE(socket_accepts(c.socket));
  EXPECT_EQ(control_request(c.socket, "GET", "/v1/health").status, 200u);
  const auto ready_at = notify.seen().back().at;
  EXPECT_THAT(notify.seen().back().text, HasSubstr("STATUS=0 pending runs"));

  ASSERT_EQ(
      control_request(c.socket, "POST", "/v1/runs", R"({"runs":[{"id":"exr_slow_1"},{"id":"exr_slow_2"}]})").status,
      201u);
  ASSERT_TRUE(notify.wait_for("STATUS=2 pending runs", 3s));

  // WATCHDOG=1 every WATCHDOG_USEC/2 (200 ms) from the event loop.
  while (std::chrono::steady_clock::now() - ready_at < 2200ms) notify.next(100ms);
  std::vector<std::chrono::steady_clock::time_point> beats;
  for (const auto& m : notify.seen()) {
    if (m.text.find("WATCHDOG=1") != std::string::npos) beats.push_back(m.at);
  }
  ASSERT_GE(beats.size(), 7u);
  EXPECT_LE(beats.size(), 16u);
  for (std::size_t i = 1; i < beats.size(); ++i) {
    EXPECT_LT(beats[i] - beats[i - 1], 390ms) << "a heartbeat came too late: the watchdog would fire";
  }

  child_->signal(SIGTERM);
  EXPECT_TRUE(notify.wait_for("STOPPING=1", 5s));
  EXPECT_EQ(child_->wait_for(10s), 0);
}

TEST_F(service_test, no_watchdog_messages_without_watchdog_usec) {
  start_fake();
  const auto c = base_config();
  notify_listener notify{dir_ / "notify.sock"};
  spawn_daemon(render_config(c), {{"NOTIFY_SOCKET", notify.path().string()}});
  ASSERT_TRUE(notify.wait_for("READY=1", 10s)) << service_log();
  while (notify.next(700ms)) {
  }
  for (const auto& m : notify.seen()) EXPECT_THAT(m.text, Not(HasSubstr("WATCHDOG=1")));
  child_->signal(SIGTERM);
  EXPECT_TRUE(notify.wait_for("STOPPING=1", 5s));
  EXPECT_EQ(child_->wait_for(10s), 0);
}

// ---- socket activation ----------------------------------------------------------------------

TEST_F(service_test, serves_the_socket_systemd_socket_activate_passes) {
  const fs::path launcher = "/usr/bin/systemd-socket-activate";
  ASSERT_TRUE(fs::exists(launcher)) << "systemd-socket-activate is missing: install the Debian package systemd";
  start_fake();
  auto c = base_config();
  c.socket = dir_ / "configured.sock";  // what the daemon would bind itself: it must not
  const auto activated = dir_ / "activated.sock";
  add_finishing_run("exr_activated", 200ms);
  const auto env = base_environment();
  spawn_daemon(render_config(c), {},
               {launcher.string(), "--listen=" + activated.string(), "-E", "PATH=" + env.at("PATH"), "-E",
                "EXTEND_API_KEY=sk_test_hookless"});

  ASSERT_TRUE(wait_healthy(activated)) << service_log();
  EXPECT_FALSE(fs::exists(c.socket)) << "the daemon bound its own socket despite LISTEN_FDS";
  EXPECT_THAT(service_log(), HasSubstr("socket activation"));

  ASSERT_EQ(control_request(activated, "POST", "/v1/runs", R"({"id":"exr_activated"})").status, 201u);
  ASSERT_TRUE(wait_for_events_in(c.events_file, 1, 10s));
  const auto answer = control_request(activated, "GET", "/v1/runs/exr_activated");
  EXPECT_EQ(answer.status, 200u);
  EXPECT_EQ(string_field(answer.json().as_object(), "state"), "finished");

  child_->signal(SIGTERM);
  EXPECT_EQ(child_->wait_for(10s), 0);
}

// ---- reload ---------------------------------------------------------------------------------

TEST_F(service_test, reload_rejects_an_invalid_config_and_applies_a_valid_one_while_runs_are_pending) {
  start_fake();
  const auto c = base_config();
  const auto call = [&](const std::string& method, const std::string& target, const std::string& body = {}) {
    return control_request(c.socket, method, target, body);
  };
  std::vector<std::string> ids;
  json::array registrations;
  for (int i = 0; i < 20; ++i) {
    ids.push_back("exr_reload_" + std::to_string(i));
    add_finishing_run(ids.back(), 4s);
    registrations.push_back(json::object{{"id", ids.back()}});
  }
  spawn_daemon(render_config(c), {});
  ASSERT_TRUE(wait_healthy(c.socket)) << service_log();
  ASSERT_EQ(call("POST", "/v1/runs", json::serialize(json::object{{"runs", registrations}})).status, 201u);
  // A connection that must survive both reloads: a long-poll for the first run.
  auto long_poll = std::async(std::launch::async, [&] {
    return control_request(c.socket, "GET", "/v1/runs/" + ids[0] + "?wait=30s", {}, 40s);
  });
  EXPECT_EQ(call("POST", "/v1/runs", R"({"id":"exr_for_second","sinks":["second"]})").status, 400u);

  // Invalid: a negative budget and an unknown key. Rejected with its problems; nothing changes.
  auto bad = render_config(c);
  bad.replace(bad.find("requests_per_second: 50"), std::string{"requests_per_second: 50"}.size(),
              "requests_per_second: -5");
  write_text_file(config_path(), bad + "bogus_section: 1\n");
  child_->signal(SIGHUP);
  ASSERT_TRUE(
      wait_until([&] { return service_log().find("the running configuration stays") != std::string::npos; }, 5s))
      << service_log();
  EXPECT_THAT(service_log(), HasSubstr("reload rejected"));
  EXPECT_THAT(service_log(), HasSubstr("requests_per_second"));
  EXPECT_THAT(service_log(), HasSubstr("bogus_section"));
  EXPECT_EQ(call("GET", "/v1/health").status, 200u);
  auto metrics = metrics_check::parse_prometheus(call("GET", "/metrics").body);
  EXPECT_EQ(metrics.value("hookless_budget_requests_per_second"), 50);
  EXPECT_EQ(call("POST", "/v1/runs", R"({"id":"exr_for_second","sinks":["second"]})").status, 400u);

  // Valid: the archive moves to a new file, a sink "second" appears, the budget and level change.
  auto next = c;
  next.requests_per_second = 20;
  next.events_file = dir_ / "events-after-reload.jsonl";
  next.extra_file_sinks.push_back({"second", dir_ / "second.jsonl"});
  auto next_text = render_config(next);
  next_text.replace(next_text.find("level: debug"), std::string{"level: debug"}.size(), "level: info");
  write_text_file(config_path(), next_text);
  child_->signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return service_log().find("reloaded ") != std::string::npos; }, 5s)) << service_log();
  EXPECT_THAT(service_log(), HasSubstr("1 added, 0 removed, 1 changed"));
  metrics = metrics_check::parse_prometheus(call("GET", "/metrics").body);
  EXPECT_EQ(metrics.value("hookless_budget_requests_per_second"), 20);
  EXPECT_EQ(metrics.value("hookless_budget_current_requests_per_second"), 20) << "no 429: the configured rate";

  // The new sink takes registrations now.
  add_finishing_run("exr_for_second", 100ms);
  EXPECT_EQ(call("POST", "/v1/runs", R"({"id":"exr_for_second","sinks":["second"]})").status, 201u);

  // Every pending run still finishes, once, in the stdout sink, and the archive's events are in
  // the old file (before the reload) or the new one (after it), none lost.
  ASSERT_TRUE(wait_until([&] { return service_stdout().events.size() >= ids.size(); }, 20s)) << service_log();
  ASSERT_TRUE(wait_until(
      [&] {
        return read_json_lines(c.events_file).events.size() + read_json_lines(next.events_file).events.size() >=
               ids.size();
      },
      10s));
  std::multiset<std::string> archived;
  for (const fs::path& path : {c.events_file, next.events_file}) {
    for (const auto& e : read_json_lines(path).events) archived.insert(string_field(e.at("payload").as_object(), "id"));
  }
  for (const auto& id : ids) EXPECT_EQ(archived.count(id), 1u) << id;
  EXPECT_GE(read_json_lines(next.events_file).events.size(), 1u) << "the changed sink was not used";
  EXPECT_TRUE(wait_for_events_in(dir_ / "second.jsonl", 1, 10s));

  // The long-poll's connection outlived both reloads and answered with the finished run.
  ASSERT_EQ(long_poll.wait_for(30s), std::future_status::ready);
  const auto polled = long_poll.get();
  EXPECT_EQ(polled.status, 200u);
  EXPECT_EQ(string_field(polled.json().as_object(), "state"), "finished");

  // After the level went from debug to info, no more debug lines.
  const auto log_now = service_log();
  EXPECT_THAT(log_now.substr(log_now.find("reloaded ")), Not(HasSubstr(" debug ")));
  child_->signal(SIGTERM);
  EXPECT_EQ(child_->wait_for(10s), 0);
}

// The 1-based line of the first line of `text` holding `part`.
int line_holding(const std::string& text, const std::string& part) {
  const auto at = text.find(part);
  if (at == std::string::npos) throw std::runtime_error("no line holds " + part);
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
}

// `text` with its first `from` replaced by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  if (at == std::string::npos) throw std::runtime_error("nothing to replace: " + from);
  return text.replace(at, from.size(), to);
}

TEST_F(service_test, a_rejected_reload_shows_in_health_and_metrics_and_the_old_config_keeps_working) {
  start_fake();
  const auto c = base_config();
  const auto call = [&](const std::string& method, const std::string& target, const std::string& body = {}) {
    return control_request(c.socket, method, target, body);
  };
  const auto config_in_health = [&] { return call("GET", "/v1/health").json().as_object().at("config").as_object(); };
  const auto metrics = [&] { return metrics_check::parse_prometheus(call("GET", "/metrics").body); };
  const auto good = render_config(c);
  notify_listener notify{dir_ / "notify.sock"};
  spawn_daemon(good, {{"NOTIFY_SOCKET", notify.path().string()}});
  ASSERT_TRUE(notify.wait_for("READY=1", 10s)) << service_log();

  // At start: the file, when it was read, no reload yet; the metrics say the load succeeded.
  auto health = config_in_health();
  EXPECT_EQ(string_field(health, "path"), config_path().string());
  const auto started_at = string_field(health, "loaded_at");
  ASSERT_TRUE(parse_time(started_at).has_value()) << started_at;
  EXPECT_TRUE(health.at("last_reload").is_null());
  auto m = metrics();
  EXPECT_THAT(m.problems, IsEmpty());
  EXPECT_EQ(m.value("hookless_config_last_reload_successful"), 1);
  const auto started_seconds = m.value("hookless_config_last_reload_success_timestamp_seconds").value_or(0);
  EXPECT_NEAR(started_seconds, std::chrono::duration<double>(parse_time(started_at)->time_since_epoch()).count(), 0.01);

  // Broken: a negative budget. The reload is rejected with the file and line; the old config runs.
  const auto bad = replaced(good, "requests_per_second: 50", "requests_per_second: -5");
  const auto bad_line = line_holding(bad, "requests_per_second: -5");
  write_text_file(config_path(), bad);
  child_->signal(SIGHUP);
  ASSERT_TRUE(notify.wait_for("RELOADING=1", 5s));
  ASSERT_TRUE(notify.wait_for("READY=1", 5s)) << service_log();
  health = config_in_health();
  ASSERT_TRUE(health.at("last_reload").is_object()) << json::serialize(health);
  const auto& rejected = health.at("last_reload").as_object();
  EXPECT_FALSE(rejected.at("ok").as_bool());
  const auto where = config_path().string() + ":" + std::to_string(bad_line) + ": extend.requests_per_second";
  EXPECT_THAT(string_field(rejected, "error"), HasSubstr(where));
  EXPECT_THAT(service_log(), HasSubstr("reload rejected: " + where));
  EXPECT_EQ(string_field(health, "loaded_at"), started_at) << "the config read at start still runs";
  EXPECT_EQ(call("GET", "/v1/health").json().as_object().at("status").as_string(), "ok");
  m = metrics();
  EXPECT_EQ(m.value("hookless_config_last_reload_successful"), 0);
  EXPECT_EQ(m.value("hookless_config_last_reload_success_timestamp_seconds"), started_seconds);
  EXPECT_EQ(m.value("hookless_budget_requests_per_second"), 50);
  // hooklessctl health says so in its text.
  const auto text = run_ctl(c.socket, {"health"});
  EXPECT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_THAT(text.out, HasSubstr("was rejected"));
  EXPECT_THAT(text.out, HasSubstr(where));

  // The daemon still works: a run registered now is polled and delivered.
  add_finishing_run("exr_after_bad_reload", 100ms);
  ASSERT_EQ(call("POST", "/v1/runs", R"({"id":"exr_after_bad_reload"})").status, 201u);
  ASSERT_TRUE(wait_for_events_in(c.events_file, 1, 10s)) << service_log();

  // Fixed (with a new budget): accepted, and health and metrics say so.
  std::this_thread::sleep_for(20ms);  // the new loaded_at must differ from the start's
  write_text_file(config_path(), replaced(good, "requests_per_second: 50", "requests_per_second: 30"));
  child_->signal(SIGHUP);
  ASSERT_TRUE(notify.wait_for("RELOADING=1", 5s));
  ASSERT_TRUE(notify.wait_for("READY=1", 5s)) << service_log();
  health = config_in_health();
  const auto& accepted = health.at("last_reload").as_object();
  EXPECT_TRUE(accepted.at("ok").as_bool()) << json::serialize(health);
  EXPECT_TRUE(accepted.at("error").is_null());
  EXPECT_EQ(string_field(health, "loaded_at"), string_field(accepted, "at"));
  EXPECT_GT(parse_time(string_field(health, "loaded_at")), parse_time(started_at));
  m = metrics();
  EXPECT_EQ(m.value("hookless_config_last_reload_successful"), 1);
  EXPECT_GT(m.value("hookless_config_last_reload_success_timestamp_seconds").value_or(0), started_seconds);
  EXPECT_EQ(m.value("hookless_budget_requests_per_second"), 30);
  EXPECT_THAT(run_ctl(c.socket, {"health"}).out, Not(HasSubstr("rejected")));

  child_->signal(SIGTERM);
  EXPECT_EQ(child_->wait_for(10s), 0);
}

// ---- the unit's reload ----------------------------------------------------------------------

// The values of `key=` in the [Service] section of a unit file, in order.
std::vector<std::string> unit_values(const fs::path& unit, const std::string& key) {
  std::ifstream in{unit};
  std::vector<std::string> values;
  std::string section;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("[")) section = line;
    if (section == "[Service]" && line.starts_with(key + "=")) values.push_back(line.substr(key.size() + 1));
  }
  return values;
}

TEST_F(service_test, systemctl_reload_checks_the_config_before_the_daemon_is_signalled) {
  const fs::path units = fs::path{HOOKLESS_SOURCE_DIR} / "systemd";
  const auto reload = unit_values(units / "hookless.service", "ExecReload");
  const auto start = unit_values(units / "hookless.service", "ExecStart");
  // First the check (a failure stops the reload there), then the signal.
  ASSERT_THAT(reload, ::testing::ElementsAre("/usr/bin/hooklessd --check-config --config /etc/hookless/hookless.yaml",
                                             "/bin/kill -HUP $MAINPID"));
  // The same program and file as the daemon's, where the .deb installs them (/usr/bin).
  ASSERT_THAT(start, ::testing::ElementsAre("/usr/bin/hooklessd --config /etc/hookless/hookless.yaml"));

  // systemd reads the units as written (with the program pointed at the built one).
  const fs::path analyze = "/usr/bin/systemd-analyze";
  ASSERT_TRUE(fs::exists(analyze)) << "systemd-analyze is missing: install the Debian package systemd";
  const auto copies = dir_ / "units";
  fs::create_directories(copies);
  for (const char* name : {"hookless.service", "hookless.socket"}) {
    std::string text = read_file(units / name);
    for (auto at = text.find("/usr/bin/hooklessd"); at != std::string::npos; at = text.find("/usr/bin/hooklessd")) {
      text.replace(at, std::string{"/usr/bin/hooklessd"}.size(), hooklessd_program().string());
    }
    write_text_file(copies / name, text);
  }
  const auto verified =
      run_program(analyze, {"verify", (copies / "hookless.service").string(), (copies / "hookless.socket").string()});
  EXPECT_EQ(verified.exit_code, 0) << verified.err;
  EXPECT_EQ(verified.out + verified.err, "");

  // The check itself, on a broken and on a valid file: exit 1 naming the line, then exit 0.
  auto args = std::vector<std::string>{"--check-config", "--config", (dir_ / "reloaded.yaml").string()};
  start_fake();
  const auto good = render_config(base_config());
  const auto bad = replaced(good, "  timeout: 5s", "  timeout: soon");
  write_text_file(dir_ / "reloaded.yaml", bad);
  const auto failed = run_program(hooklessd_program(), args);
  EXPECT_EQ(failed.exit_code, 1);
  EXPECT_THAT(failed.err, HasSubstr((dir_ / "reloaded.yaml").string() + ":" +
                                    std::to_string(line_holding(bad, "  timeout: soon")) + ": extend.timeout"));
  EXPECT_THAT(failed.err, HasSubstr("the configuration was rejected"));
  write_text_file(dir_ / "reloaded.yaml", good);
  const auto passed = run_program(hooklessd_program(), args);
  EXPECT_EQ(passed.exit_code, 0) << passed.err;
  EXPECT_THAT(passed.out, HasSubstr("valid"));
}

// ---- logs under journald --------------------------------------------------------------------

class journal_test : public service_test {
 protected:
  // hooklessd with its stderr on a file, $JOURNAL_STREAM naming that file (or, `matching` false,
  // another one), logging in `format`; it starts, delivers a run, and a reload logs a warning and
  // another an error.
  std::vector<std::string> log_lines(bool matching, const std::string& format = "text") {
    start_fake();
    const auto c = base_config();
    write_text_file(dir_ / "service.stderr", "");
    struct stat file {};
    if (::stat((dir_ / "service.stderr").c_str(), &file) != 0) throw std::runtime_error("cannot stat the log file");
    const auto inode = static_cast<unsigned long long>(file.st_ino) + (matching ? 0 : 1);
    const auto stream = std::to_string(static_cast<unsigned long long>(file.st_dev)) + ":" + std::to_string(inode);
    const auto good = replaced(render_config(c), "format: text", "format: " + format);
    spawn_daemon(good, {{"JOURNAL_STREAM", stream}});
    EXPECT_TRUE(wait_healthy(c.socket)) << service_log();
    add_finishing_run("exr_journal", 100ms);
    EXPECT_EQ(control_request(c.socket, "POST", "/v1/runs", R"({"id":"exr_journal"})").status, 201u);
    EXPECT_TRUE(wait_for_events_in(c.events_file, 1, 10s)) << service_log();
    // A restart-only key changed: a warning. Then an invalid file: errors.
    write_text_file(config_path(), replaced(good, "  timeout: 5s", "  timeout: 6s"));
    child_->signal(SIGHUP);
    EXPECT_TRUE(wait_until([&] { return service_log().find("reloaded ") != std::string::npos; }, 5s));
    write_text_file(config_path(), replaced(good, "  timeout: 5s", "  timeout: soon"));
    child_->signal(SIGHUP);
    EXPECT_TRUE(wait_until([&] { return service_log().find("configuration stays") != std::string::npos; }, 5s));
    child_->signal(SIGTERM);
    EXPECT_EQ(child_->wait_for(10s), 0);
    std::vector<std::string> lines;
    std::istringstream in{service_log()};
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
};

TEST_F(journal_test, under_journald_each_line_starts_with_its_priority_and_has_no_time) {
  const auto lines = log_lines(true);
  ASSERT_GT(lines.size(), 5u);
  const std::map<std::string, std::string> priority_of{{"trace", "<7>"},   {"debug", "<7>"}, {"info", "<6>"},
                                                       {"warning", "<4>"}, {"error", "<3>"}, {"critical", "<3>"}};
  const std::regex shape{"<([0-7])>([a-z]+) (.*)"};
  const std::regex time{"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"};
  std::set<std::string> seen;
  for (const auto& line : lines) {
    std::smatch parts;
    ASSERT_TRUE(std::regex_match(line, parts, shape)) << "no priority in front: " << line;
    ASSERT_TRUE(priority_of.contains(parts[2].str())) << line;
    EXPECT_EQ(priority_of.at(parts[2].str()), "<" + parts[1].str() + ">") << line;
    EXPECT_FALSE(std::regex_search(line, time)) << "a time of its own: " << line;
    seen.insert(parts[2].str());
  }
  for (const char* level : {"debug", "info", "warning", "error"}) EXPECT_TRUE(seen.contains(level)) << level;
  const auto log = service_log();
  EXPECT_THAT(log, HasSubstr("<6>info hooklessd "));
  EXPECT_THAT(log, HasSubstr("<4>warning reload: extend.timeout changed"));
  EXPECT_THAT(log, HasSubstr("<3>error reload rejected: " + config_path().string() + ":"));
  EXPECT_THAT(log, HasSubstr("<7>debug delivered event_id="));
}

TEST_F(journal_test, json_lines_under_journald_start_with_the_priority_and_have_no_time_field) {
  const auto lines = log_lines(true, "json");
  ASSERT_GT(lines.size(), 5u);
  const std::map<std::string, std::string> priority_of{
      {"debug", "<7>"}, {"info", "<6>"}, {"warning", "<4>"}, {"error", "<3>"}};
  std::set<std::string> seen;
  for (const auto& line : lines) {
    ASSERT_GE(line.size(), 3u);
    json::object entry;
    ASSERT_NO_THROW(entry = json::parse(line.substr(3)).as_object()) << line;
    const auto level = string_field(entry, "level");
    ASSERT_TRUE(priority_of.contains(level)) << line;
    EXPECT_EQ(line.substr(0, 3), priority_of.at(level)) << line;
    EXPECT_FALSE(entry.contains("time")) << line;
    seen.insert(level);
  }
  for (const char* level : {"debug", "info", "warning", "error"}) EXPECT_TRUE(seen.contains(level)) << level;
}

TEST_F(journal_test, a_journal_stream_naming_another_file_changes_nothing) {
  const auto lines = log_lines(false);
  ASSERT_GT(lines.size(), 5u);
  const std::regex shape{"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z [a-z]+ .*"};
  for (const auto& line : lines) EXPECT_TRUE(std::regex_match(line, shape)) << line;
  EXPECT_THAT(service_log(), Not(HasSubstr("<3>")));
}

// ---- metrics --------------------------------------------------------------------------------

TEST_F(service_test, metrics_parse_as_prometheus_text_and_count_what_happened) {
  start_fake();
  const auto c = base_config();
  spawn_daemon(render_config(c), {});
  ASSERT_TRUE(wait_healthy(c.socket)) << service_log();
  add_finishing_run("exr_done_1", 100ms);
  add_finishing_run("exr_done_2", 100ms);
  add_finishing_run("exr_waits", 600s);
  add_finishing_run("clr_waits", 600s);
  fake_->inject(fault{.kind = fault_kind::status_429, .run_id = "exr_done_1", .count = 1, .delay = 0ms});
  ASSERT_EQ(
      control_request(c.socket, "POST", "/v1/runs",
                      R"({"runs":[{"id":"exr_done_1"},{"id":"exr_done_2"},{"id":"exr_waits"},{"id":"clr_waits"}]})")
          .status,
      201u);
  ASSERT_TRUE(wait_for_events_in(c.events_file, 2, 15s));
  ASSERT_TRUE(wait_for_events_in(dir_ / "service.stdout", 2, 5s));
  // The delivery records are written just after the lines: give them a moment.
  ASSERT_TRUE(wait_until(
      [&] {
        const auto m = metrics_check::parse_prometheus(control_request(c.socket, "GET", "/metrics").body);
        return m.value("hookless_deliveries_total", {{"sink", "archive"}, {"state", "done"}}) == 2 &&
               m.value("hookless_deliveries_total", {{"sink", "out"}, {"state", "done"}}) == 2;
      },
      5s));

  const auto answer = control_request(c.socket, "GET", "/metrics");
  ASSERT_EQ(answer.status, 200u);
  const auto m = metrics_check::parse_prometheus(answer.body);
  EXPECT_THAT(m.problems, IsEmpty()) << answer.body;
  EXPECT_EQ(m.value("hookless_pending_runs", {{"kind", "extract_run"}}), 1) << answer.body;
  EXPECT_EQ(m.value("hookless_pending_runs", {{"kind", "classify_run"}}), 1);
  EXPECT_GE(m.value("hookless_polls_total", {{"result", "run"}}).value_or(0), 2);
  EXPECT_GE(m.value("hookless_polls_total", {{"result", "rate_limited"}}).value_or(0), 1);
  EXPECT_GE(m.value("hookless_rate_limited_total").value_or(0), 1);
  EXPECT_GE(m.value("hookless_extend_request_duration_seconds_count").value_or(0), 3);
  EXPECT_EQ(m.types.at("hookless_extend_request_duration_seconds"), "histogram");
  EXPECT_GE(m.value("hookless_store_commit_duration_seconds_count").value_or(0), 2);
  EXPECT_EQ(m.types.at("hookless_store_commit_duration_seconds"), "histogram");
  EXPECT_EQ(m.value("hookless_deliveries_total", {{"sink", "archive"}, {"state", "done"}}), 2);
  EXPECT_EQ(m.value("hookless_deliveries_total", {{"sink", "out"}, {"state", "done"}}), 2);
  EXPECT_EQ(m.value("hookless_deliveries_total", {{"sink", "archive"}, {"state", "dead"}}), 0);
  EXPECT_EQ(m.value("hookless_dead_deliveries", {{"sink", "archive"}}), 0);
  EXPECT_EQ(m.value("hookless_budget_requests_per_second"), 50);
  EXPECT_GE(m.value("hookless_budget_granted_total").value_or(0), 3);
  EXPECT_TRUE(m.value("hookless_budget_waiting").has_value());
  EXPECT_TRUE(m.value("hookless_budget_paused").has_value());
  EXPECT_EQ(m.types.at("hookless_polls_total"), "counter");
  EXPECT_EQ(m.types.at("hookless_pending_runs"), "gauge");
}

// ---- logs -----------------------------------------------------------------------------------

TEST_F(service_test, json_logs_carry_run_and_event_ids_as_fields_and_never_the_api_key) {
  const std::string key = "sk_live_do_not_print_7f3a9c1e5b";
  fake_extend_options options;
  options.api_key = key;
  start_fake(options);
  auto c = base_config();
  auto text = render_config(c);
  text.replace(text.find("format: text"), std::string{"format: text"}.size(), "format: json");
  text.replace(text.find("level: debug"), std::string{"level: debug"}.size(), "level: trace");
  add_finishing_run("exr_logged", 100ms);
  add_finishing_run("exr_refused", 100ms);
  fake_->inject(fault{.kind = fault_kind::unauthorized, .run_id = "exr_refused", .count = 1, .delay = 0ms});
  spawn_daemon(text, {{"EXTEND_API_KEY", key}});
  ASSERT_TRUE(wait_healthy(c.socket)) << service_log();
  ASSERT_EQ(control_request(c.socket, "POST", "/v1/runs", R"({"id":"exr_logged"})").status, 201u);
  ASSERT_TRUE(wait_for_events_in(c.events_file, 1, 10s)) << service_log();
  // Then a 401 (which pauses the budget), so the error paths log too.
  ASSERT_EQ(control_request(c.socket, "POST", "/v1/runs", R"({"id":"exr_refused"})").status, 201u);
  ASSERT_TRUE(wait_until(
      [&] {
        const auto m = metrics_check::parse_prometheus(control_request(c.socket, "GET", "/metrics").body);
        return m.value("hookless_polls_total", {{"result", "unauthorized"}}).value_or(0) >= 1;
      },
      10s))
      << service_log();
  const auto health = control_request(c.socket, "GET", "/v1/health").body;
  const auto metrics = control_request(c.socket, "GET", "/metrics").body;
  const auto listed = run_ctl(c.socket, {"--json", "ls", "--state", "all"});
  child_->signal(SIGTERM);
  ASSERT_EQ(child_->wait_for(10s), 0);

  const auto log = service_log();
  for (const auto& [what, text_seen] :
       std::map<std::string, std::string>{{"log", log},
                                          {"stdout", read_file(dir_ / "service.stdout")},
                                          {"events", read_file(c.events_file)},
                                          {"health", health},
                                          {"metrics", metrics},
                                          {"ls", listed.out + listed.err}}) {
    EXPECT_EQ(text_seen.find(key), std::string::npos) << "the API key appears in " << what;
    EXPECT_EQ(text_seen.find("7f3a9c1e5b"), std::string::npos) << "part of the API key appears in " << what;
  }

  // Every line is a JSON object; the event line names the run and the event as fields.
  const auto events = read_json_lines(c.events_file);
  std::string event_id;
  for (const auto& e : events.events) {
    if (string_field(e.at("payload").as_object(), "id") == "exr_logged") event_id = string_field(e, "eventId");
  }
  ASSERT_FALSE(event_id.empty());
  bool found = false;
  std::size_t lines = 0;
  std::istringstream in{log};
  for (std::string line; std::getline(in, line);) {
    ++lines;
    json::object entry;
    ASSERT_NO_THROW(entry = json::parse(line).as_object()) << line;
    EXPECT_TRUE(entry.contains("time") && entry.contains("level") && entry.contains("message")) << line;
    if (string_field(entry, "run_id") == "exr_logged" && string_field(entry, "event_id") == event_id) found = true;
  }
  EXPECT_GT(lines, 3u);
  EXPECT_TRUE(found) << "no log line with run_id and event_id fields for the run's event:\n" << log;
}

}  // namespace
}  // namespace hookless::blackbox
