// The black-box helpers without Beast: child processes, hooklessd's config and life
// cycle, the sinks' JSON Lines, tinyproxy. (The HTTP clients are in blackbox_http.cpp.)
#include "tests/blackbox/blackbox_support.hpp"

#include "tests/support/test_certs.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace hookless::blackbox {

namespace json = boost::json;

fs::path hooklessd_program() { return HOOKLESSD_PATH; }
fs::path hooklessctl_program() { return HOOKLESSCTL_PATH; }

// ---- files and time -------------------------------------------------------------------------

std::string read_file(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> text_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit, std::chrono::milliseconds step) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= give_up) return done();
    std::this_thread::sleep_for(step);
  }
}

unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// ---- child processes ------------------------------------------------------------------------

std::map<std::string, std::string> base_environment() {
  std::map<std::string, std::string> env{{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"LANG", "C.UTF-8"}};
  for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"}) {
    if (const char* value = std::getenv(name)) env[name] = value;
  }
  return env;
}

child_process::child_process(const spawn_spec& spec) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string in = spec.stdin_path ? spec.stdin_path->string() : std::string{"/dev/null"};
  const std::string out = spec.stdout_path.empty() ? std::string{"/dev/null"} : spec.stdout_path.string();
  const std::string err = spec.stderr_path.empty() ? std::string{"/dev/null"} : spec.stderr_path.string();
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);

  // The test runner may block or ignore signals; the child starts with the defaults.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (const int signo : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD}) sigaddset(&defaults, signo);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, static_cast<short>(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));

  std::vector<std::string> arg_text{spec.program.string()};
  arg_text.insert(arg_text.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& a : arg_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_text;
  for (const auto& [key, value] : spec.env) env_text.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);

  const int rc = ::posix_spawn(&pid_, arg_text.front().c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) throw std::runtime_error("posix_spawn " + spec.program.string() + ": " + std::strerror(rc));
}

child_process::~child_process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait_for(10s);
  }
}

bool child_process::running() {
  if (exit_code_) return false;
  int status = 0;
  const pid_t done = ::waitpid(pid_, &status, WNOHANG);
  if (done == 0) return true;
  if (done == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  } else {
    exit_code_ = -1;  // not our child any more (should not happen)
  }
  return false;
}

void child_process::signal(int signo) const {
  if (!exit_code_) ::kill(pid_, signo);
}

std::optional<int> child_process::wait_for(std::chrono::milliseconds limit) {
  wait_until([&] { return !running(); }, limit, 5ms);
  return exit_code_;
}

namespace {

ctl_result run_to_end(spawn_spec spec, const std::string& stdin_text, std::chrono::milliseconds limit) {
  temp_dir scratch;
  spec.stdout_path = scratch / "out";
  spec.stderr_path = scratch / "err";
  spec.stdin_path = scratch / "in";
  write_text_file(*spec.stdin_path, stdin_text);
  child_process child{spec};
  const auto code = child.wait_for(limit);
  ctl_result result;
  result.out = read_file(spec.stdout_path);
  result.err = read_file(spec.stderr_path);
  if (!code) {
    ADD_FAILURE() << spec.program << " did not finish within " << limit.count() << " ms; killed";
    child.signal(SIGKILL);
    child.wait_for(5s);
    return result;
  }
  result.exit_code = *code;
  return result;
}

}  // namespace

ctl_result run_ctl(const fs::path& socket, const std::vector<std::string>& args, const std::string& stdin_text,
                   std::chrono::milliseconds limit) {
  spawn_spec spec;
  spec.program = hooklessctl_program();
  spec.args = {"--socket", socket.string()};
  spec.args.insert(spec.args.end(), args.begin(), args.end());
  spec.env = base_environment();
  return run_to_end(std::move(spec), stdin_text, limit);
}

ctl_result run_program(const fs::path& program, const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env, std::chrono::milliseconds limit) {
  spawn_spec spec;
  spec.program = program;
  spec.args = args;
  spec.env = base_environment();
  for (const auto& [key, value] : env) spec.env[key] = value;
  return run_to_end(std::move(spec), {}, limit);
}

json::value http_answer::json() const { return json::parse(body); }

// ---- hooklessd ----------------------------------------------------------------------------------

std::string render_config(const daemon_config& c) {
  std::ostringstream y;
  const auto quoted = [](const auto& text) { return json::serialize(json::value(std::string{text})); };
  y << "extend:\n"
    << "  base_url: " << c.base_url << "\n"
    << "  api_version: " << quoted(c.api_version) << "\n"
    << "  ca_file: " << quoted(c.ca_file.string()) << "\n"
    << "  requests_per_second: " << c.requests_per_second << "\n"
    << "  max_connections: " << c.max_connections << "\n"
    << "  timeout: " << c.timeout << "\n"
    << "polling:\n"
    << "  fast_interval: " << c.fast_interval << "\n"
    << "  fast_period: " << c.fast_period << "\n"
    << "  backoff: " << c.backoff << "\n"
    << "  max_interval: " << c.max_interval << "\n"
    << "  jitter: " << c.jitter << "\n"
    << "  deadline: " << c.deadline << "\n"
    << "  follow_review: " << (c.follow_review ? "true" : "false") << "\n";
  if (c.list_endpoints) y << "  list_endpoints: " << (*c.list_endpoints ? "true" : "false") << "\n";
  y << "control:\n"
    << "  socket: " << quoted(c.socket.string()) << "\n"
    << "  socket_mode: \"0600\"\n"
    << "state:\n";
  if (c.state_url.empty()) {
    y << "  path: " << quoted(c.state.string()) << "\n";
  } else {
    y << "  url: " << quoted(c.state_url) << "\n";
  }
  if (!c.cluster_node.empty()) y << "cluster:\n  node: " << quoted(c.cluster_node) << "\n";
  if (!c.metrics_listen.empty()) y << "metrics:\n  listen: " << quoted(c.metrics_listen) << "\n";
  y << "sinks:\n"
    << "  out:\n"
    << "    type: stdout\n"
    << "  archive:\n"
    << "    type: file\n"
    << "    path: " << quoted(c.events_file.string()) << "\n";
  for (const auto& extra : c.extra_file_sinks) {
    y << "  " << extra.name << ":\n    type: file\n    path: " << quoted(extra.path.string()) << "\n";
  }
  for (const auto& sink : c.http_sinks) {
    y << "  " << sink.name << ":\n    type: http\n    url: " << quoted(sink.url)
      << "\n    signing_secret_file: " << quoted(sink.signing_secret_file.string()) << "\n";
    if (sink.timeout) y << "    timeout: " << *sink.timeout << "\n";
  }
  y << c.extra_sinks;
  const auto flow_list = [&](const std::vector<std::string>& items) {
    y << "[";
    for (std::size_t i = 0; i < items.size(); ++i) y << (i ? ", " : "") << items[i];
    y << "]\n";
  };
  y << "default_sinks: ";
  flow_list(c.default_sinks);
  if (!c.subscriptions.empty()) y << "subscriptions:\n";
  for (const auto& subscription : c.subscriptions) {
    y << "  " << subscription.name << ":\n    kinds: ";
    flow_list(subscription.kinds);
    if (subscription.sinks) {
      y << "    sinks: ";
      flow_list(*subscription.sinks);
    }
  }
  y << "logging:\n"
    << "  level: " << c.log_level << "\n"
    << "  format: text\n";
  return y.str();
}

daemon_process::daemon_process(fs::path dir, daemon_config settings)
    : dir_{std::move(dir)}, settings_{std::move(settings)}, config_path_{dir_ / "hookless.yaml"} {}

daemon_process::~daemon_process() {
  if (child_ && child_->running()) kill_now();
}

bool daemon_process::start(const std::map<std::string, std::string>& extra_env, std::chrono::milliseconds limit) {
  write_text_file(config_path_, render_config(settings_));
  const auto earlier_log = log().size();  // restarts append to the same log
  spawn_spec spec;
  spec.program = hooklessd_program();
  spec.args = {"--config", config_path_.string()};
  spec.env = base_environment();
  spec.env["EXTEND_API_KEY"] = "sk_test_hookless";
  for (const auto& [key, value] : extra_env) spec.env[key] = value;
  spec.stdout_path = stdout_path();
  spec.stderr_path = stderr_path();
  child_.emplace(spec);
  const bool up = wait_until(
      [&] {
        if (!child_->running()) return true;  // gave up: it exited
        if (!socket_accepts(settings_.socket)) return false;
        try {
          return request("GET", "/v1/health").status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      limit, 20ms);
  if (!up || !child_->running()) {
    ADD_FAILURE() << "hooklessd did not come up; its log:\n" << log();
    return false;
  }
  if (!settings_.state_url.empty()) return true;
  // At start hooklessd checks its API key with one request. Its verdict keeps that request apart
  // from what the test does next: a fault injected for every request must meet the test's runs.
  const bool checked = wait_until(
      [&] { return log().find("API key check: ", earlier_log) != std::string::npos || !child_->running(); }, limit);
  if (!checked || !child_->running()) {
    ADD_FAILURE() << "hooklessd did not check its API key; its log:\n" << log();
    return false;
  }
  return true;
}

std::optional<int> daemon_process::terminate(std::chrono::milliseconds limit) {
  if (!child_) return std::nullopt;
  child_->signal(SIGTERM);
  const auto code = child_->wait_for(limit);
  if (!code) kill_now();
  return code;
}

void daemon_process::kill_now() {
  if (!child_) return;
  child_->signal(SIGKILL);
  child_->wait_for(10s);
}

bool daemon_process::running() { return child_ && child_->running(); }

bool daemon_process::reload(std::chrono::milliseconds limit) {
  const auto reloads = [&] {
    const auto text = log();
    std::size_t n = 0;
    for (auto at = text.find("reloaded "); at != std::string::npos; at = text.find("reloaded ", at + 1)) ++n;
    return n;
  };
  const auto before = reloads();
  write_text_file(config_path_, render_config(settings_));
  if (!child_) return false;
  child_->signal(SIGHUP);
  return wait_until([&] { return reloads() > before; }, limit);
}

std::optional<pid_t> daemon_process::pid() const {
  if (!child_) return std::nullopt;
  return child_->pid();
}

http_answer daemon_process::register_runs(const json::array& registrations) const {
  return request("POST", "/v1/runs", json::serialize(json::object{{"runs", registrations}}));
}

http_answer daemon_process::watch(const std::vector<std::string>& ids) const {
  json::array runs;
  for (const auto& id : ids) runs.push_back(json::object{{"id", id}});
  return register_runs(runs);
}

std::optional<json::object> daemon_process::run(const std::string& id) const {
  const auto answer = request("GET", "/v1/runs/" + id);
  if (answer.status != 200) return std::nullopt;
  return answer.json().as_object();
}

json::object daemon_process::health() const {
  const auto answer = request("GET", "/v1/health");
  return answer.json().as_object();
}

// ---- npm packages ------------------------------------------------------------------------------

fs::path npm_workspace(const fs::path& work, const std::vector<fs::path>& files, const std::string& package_name,
                       std::string& why) {
  fs::create_directories(work);
  for (const auto& file : files) fs::copy_file(file, work / file.filename(), fs::copy_options::overwrite_existing);
  const auto installed = work / "node_modules" / package_name / "package.json";
  if (fs::exists(installed)) return work;
  const auto install = run_program("/usr/bin/flock",
                                   {(work / ".install.lock").string(), "/bin/sh", "-c",
                                    "cd '" + work.string() + "' && { test -f '" + installed.string() +
                                        "' || npm ci --no-audit --no-fund --loglevel=error; }"},
                                   {{"HOME", work.string()}}, std::chrono::seconds{300});
  if (install.exit_code != 0 || !fs::exists(installed)) {
    why = "npm ci in " + work.string() + " failed (exit " + std::to_string(install.exit_code) + "): " + install.err +
          install.out;
    return {};
  }
  return work;
}

// ---- sinks' output ---------------------------------------------------------------------------

json_lines read_json_lines(const fs::path& path) {
  json_lines result;
  const std::string text = read_file(path);
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    if (end == std::string::npos) {
      result.ends_with_partial_line = true;
      break;
    }
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    boost::system::error_code ec;
    auto value = json::parse(line, ec);
    if (ec || !value.is_object()) {
      result.bad_lines.push_back(line);
    } else {
      result.events.push_back(std::move(value.as_object()));
    }
  }
  return result;
}

std::string string_field(const json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (value == nullptr || !value->is_string()) return {};
  return std::string{value->get_string()};
}

const json::object& object_field(const json::object& object, std::string_view key) {
  return object.at(key).as_object();
}

std::vector<json::object> events_of(const json_lines& lines, const std::string& run_id) {
  std::vector<json::object> found;
  for (const auto& event : lines.events) {
    const auto* payload = event.if_contains("payload");
    if (payload == nullptr || !payload->is_object()) continue;
    if (string_field(payload->get_object(), "id") == run_id) found.push_back(event);
  }
  return found;
}

// ---- tinyproxy ---------------------------------------------------------------------------------

tinyproxy_process::tinyproxy_process(const fs::path& dir, unsigned short allowed_connect_port)
    : port_{free_port()}, log_{dir / "tinyproxy.log"} {
  const auto conf = dir / "tinyproxy.conf";
  std::ostringstream text;
  text << "Port " << port_ << "\nListen 127.0.0.1\nTimeout 10\nMaxClients 50\nAllow 127.0.0.1\n"
       << "ConnectPort " << allowed_connect_port << "\nLogLevel Info\n";
  write_text_file(conf, text.str());
  spawn_spec spec;
  spec.program = program;
  spec.args = {"-d", "-c", conf.string()};
  spec.env = base_environment();
  spec.stdout_path = log_;
  spec.stderr_path = log_;
  child_.emplace(spec);
  const bool listening = wait_until(
      [&] {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(port_);
        const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        ::close(fd);
        return ok;
      },
      5s, 10ms);
  if (!listening) throw std::runtime_error("tinyproxy did not start listening; its log:\n" + log());
}

tinyproxy_process::~tinyproxy_process() {
  if (child_ && child_->running()) {
    child_->signal(SIGTERM);
    if (!child_->wait_for(5s)) child_->signal(SIGKILL);
  }
}

}  // namespace hookless::blackbox
