// Helpers for the black-box tests: they run the built hooklessd and hooklessctl as child processes
// against the in-process fake Extend API, the way a user would, and read what came out of them.
// Only this header's .cpp files touch Beast, so the test files themselves stay quick to compile.
#pragma once

#include "tests/support/fake_extend.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hookless::blackbox {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The programs under test, as CMake built them.
fs::path hooklessd_program();
fs::path hooklessctl_program();

using test::temp_dir;

std::string read_file(const fs::path& path);  // "" when it does not exist
// The complete lines of `text` (what follows the last newline is left out), without their newlines.
std::vector<std::string> text_lines(const std::string& text);

// Polls `done` every `step` until it is true or `limit` passed; returns its last value.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit,
                std::chrono::milliseconds step = 25ms);

// A free TCP port on 127.0.0.1 (bound and released at once).
unsigned short free_port();

// ---- child processes ------------------------------------------------------------------------

struct spawn_spec {
  fs::path program;
  std::vector<std::string> args;           // without argv[0]
  std::map<std::string, std::string> env;  // the child's whole environment (nothing inherited)
  fs::path stdout_path;                    // appended to; /dev/null when empty
  fs::path stderr_path;                    // appended to; /dev/null when empty
  std::optional<fs::path> stdin_path;      // /dev/null when unset
};

// A child started with posix_spawn; killed with SIGKILL and reaped at destruction if still running.
class child_process {
 public:
  explicit child_process(const spawn_spec& spec);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();                // reaps it if it has exited
  void signal(int signo) const;  // no-op once reaped
  // Waits for the exit up to `limit`: the exit status, or 128 + signal number when killed by one.
  std::optional<int> wait_for(std::chrono::milliseconds limit);

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// The environment every child starts from: PATH and LANG, so no proxy or key leaks in from outside,
// plus the sanitizers' options when set (the asan suite's children report as the tests do).
std::map<std::string, std::string> base_environment();

struct ctl_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs hooklessctl with `args` (after --socket), stdin from `stdin_text`; fails the calling test
// (and kills it) if it runs longer than `limit`.
ctl_result run_ctl(const fs::path& socket, const std::vector<std::string>& args, const std::string& stdin_text = {},
                   std::chrono::milliseconds limit = 30s);
// Runs any program to completion with the base environment plus `env`.
ctl_result run_program(const fs::path& program, const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env = {}, std::chrono::milliseconds limit = 30s);

// ---- the control API over the Unix socket -------------------------------------------------

struct http_answer {
  unsigned status = 0;
  std::string body;
  boost::json::value json() const;  // the body parsed; throws when it is not JSON
};

// One HTTP/1.1 request over the Unix socket (Beast, synchronous). Throws on connection errors and
// when no answer arrives within `timeout`.
http_answer control_request(const fs::path& socket, const std::string& method, const std::string& target,
                            const std::string& body = {}, std::chrono::milliseconds timeout = 10s);

// One plain HTTP/1.1 request over TCP (metrics.listen, a Prometheus server's API). Throws on
// connection errors and when no answer arrives within `timeout`.
http_answer tcp_request(const std::string& host, unsigned short port, const std::string& method,
                        const std::string& target, std::chrono::milliseconds timeout = 10s);

// True once a connection to the socket is accepted.
bool socket_accepts(const fs::path& socket);

// ---- the fake Extend API, asked directly -------------------------------------------------------

// GET `target` from the fake over verified TLS with its key and `api_version`: the body as sent.
http_answer fetch_from_fake(const fake_extend& fake, const std::string& target, const std::string& api_version,
                            const std::string& api_key = "sk_test_hookless");

// ---- hooklessd ----------------------------------------------------------------------------------

struct file_sink_spec {
  std::string name;
  fs::path path;
};

struct http_sink_spec {
  std::string name;
  std::string url;
  fs::path signing_secret_file;
  std::optional<std::string> timeout = std::nullopt;  // written only when set
};

// One entry under `subscriptions:` (docs/subscriptions.md).
struct subscription_spec {
  std::string name;
  std::vector<std::string> kinds;
  std::optional<std::vector<std::string>> sinks = std::nullopt;  // written only when set (else default_sinks)
};

// The knobs the tests turn; render_config writes them as hookless.yaml.
struct daemon_config {
  std::string base_url;
  fs::path ca_file;
  std::string api_version = "2026-02-09";
  double requests_per_second = 50;
  int max_connections = 4;
  std::string timeout = "5s";
  std::string fast_interval = "100ms";
  std::string fast_period = "2s";
  double backoff = 1.15;
  std::string max_interval = "1s";
  double jitter = 0.1;
  std::string deadline = "1h";
  bool follow_review = true;
  fs::path socket;
  fs::path state;
  std::string state_url;     // state.url (PostgreSQL) instead of state.path, when set
  std::string cluster_node;  // cluster.node, written only when set
  fs::path events_file;      // the file sink "archive"
  std::vector<file_sink_spec> extra_file_sinks;
  std::vector<http_sink_spec> http_sinks;
  std::string extra_sinks;  // more sinks as YAML, written under `sinks:` as it is (each line indented two spaces)
  std::vector<std::string> default_sinks{"out", "archive"};  // "out" is the stdout sink
  std::optional<bool> list_endpoints;                        // polling.list_endpoints, written only when set
  std::string log_level = "debug";
  std::string metrics_listen;                    // metrics.listen, written only when set
  std::vector<subscription_spec> subscriptions;  // `subscriptions:`, written only when there are any
};

std::string render_config(const daemon_config& settings);

// hooklessd as a child process on its own temp-dir config; every start appends its stdout (the
// stdout sink) to one file and its stderr (the log) to another, so restarts keep the history.
class daemon_process {
 public:
  daemon_process(fs::path dir, daemon_config settings);
  ~daemon_process();

  // Starts hooklessd with EXTEND_API_KEY (plus `extra_env`) and waits until GET /v1/health answers
  // and, with a state file, the daemon has logged its start-up check of the key (one request to
  // Extend; a daemon sharing a database leaves Extend to the one that holds the poller lease).
  // Fails the calling test (fatally, via the returned false) when it does not come up in time.
  [[nodiscard]] bool start(const std::map<std::string, std::string>& extra_env = {},
                           std::chrono::milliseconds limit = 10s);
  // SIGTERM and wait: the exit status, or nullopt when it did not exit within `limit` (then killed).
  std::optional<int> terminate(std::chrono::milliseconds limit = 10s);
  void kill_now();  // SIGKILL and reap
  bool running();
  // Writes config() to the file again and sends SIGHUP: true once the log says it has reloaded
  // (one "reloaded" line more than before) within `limit`.
  bool reload(std::chrono::milliseconds limit = 10s);

  const daemon_config& config() const { return settings_; }
  daemon_config& config() { return settings_; }
  const fs::path& config_path() const { return config_path_; }
  const fs::path& socket() const { return settings_.socket; }
  std::optional<pid_t> pid() const;  // while started
  fs::path stdout_path() const { return dir_ / "hooklessd.stdout"; }
  fs::path stderr_path() const { return dir_ / "hooklessd.stderr"; }
  std::string log() const { return read_file(stderr_path()); }

  http_answer request(const std::string& method, const std::string& target, const std::string& body = {}) const {
    return control_request(settings_.socket, method, target, body);
  }
  // POST /v1/runs with {"runs":[...]}: the answer.
  http_answer register_runs(const boost::json::array& registrations) const;
  // POST /v1/runs for bare IDs (kind from the prefix, default sinks).
  http_answer watch(const std::vector<std::string>& ids) const;
  std::optional<boost::json::object> run(const std::string& id) const;  // GET /v1/runs/{id}
  boost::json::object health() const;

 private:
  fs::path dir_;
  daemon_config settings_;
  fs::path config_path_;
  std::optional<child_process> child_;
};

// ---- npm packages ------------------------------------------------------------------------------

// `work` (in the build tree) with `files` copied into it afresh and their npm dependencies
// installed once (`npm ci` under a lock, so parallel users share one install); done when
// node_modules/`package_name` exists. Empty, with the reason in `why`, when npm cannot install them.
fs::path npm_workspace(const fs::path& work, const std::vector<fs::path>& files, const std::string& package_name,
                       std::string& why);

// ---- what the sinks wrote ------------------------------------------------------------------

struct json_lines {
  std::vector<boost::json::object> events;  // every complete line that is a JSON object
  std::vector<std::string> bad_lines;       // complete lines that are not (torn or interleaved writes)
  bool ends_with_partial_line = false;      // text after the last newline
};

json_lines read_json_lines(const fs::path& path);

// The events of one run, in order, from a sink's lines.
std::vector<boost::json::object> events_of(const json_lines& lines, const std::string& run_id);

std::string string_field(const boost::json::object& object, std::string_view key);  // "" if absent or not a string
const boost::json::object& object_field(const boost::json::object& object, std::string_view key);  // throws if absent

// ---- tinyproxy ---------------------------------------------------------------------------------

// Debian's tinyproxy in the foreground on a free port of 127.0.0.1, allowing CONNECT to one port
// only; stopped and reaped at destruction.
class tinyproxy_process {
 public:
  static constexpr const char* program = "/usr/bin/tinyproxy";
  static bool installed() { return fs::exists(program); }

  tinyproxy_process(const fs::path& dir, unsigned short allowed_connect_port);
  ~tinyproxy_process();
  tinyproxy_process(const tinyproxy_process&) = delete;
  tinyproxy_process& operator=(const tinyproxy_process&) = delete;

  unsigned short port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string log() const { return read_file(log_); }

 private:
  unsigned short port_;
  fs::path log_;
  std::optional<child_process> child_;
};

}  // namespace hookless::blackbox
