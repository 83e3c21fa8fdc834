// The test Redis server of redis_server.hpp: a redis.conf in the folder, redis-server as our child
// (killed with SIGKILL by child_process when the test ends), readiness by redis-cli PING.
#include "tests/blackbox/redis_server.hpp"

#include "tests/support/test_certs.hpp"

#include <signal.h>
#include <unistd.h>

#include <sstream>
#include <stdexcept>

namespace hookless::blackbox {

namespace {

const fs::path redis_server_program = "/usr/bin/redis-server";
const fs::path redis_cli_program = "/usr/bin/redis-cli";

void require_redis_program(const fs::path& program) {
  if (::access(program.c_str(), X_OK) != 0) {
    throw std::runtime_error("test Redis server: " + program.string() +
                             " is missing; install Debian's redis-server with scripts/install-deps.sh --tests");
  }
}

}  // namespace

redis_server::redis_server(fs::path folder, redis_server_options options)
    : folder_{std::move(folder)}, options_{std::move(options)} {
  require_redis_program(redis_server_program);
  require_redis_program(redis_cli_program);
  fs::create_directories(folder_);
  if (options_.tcp) port_ = free_port();
  std::ostringstream conf;
  if (options_.tls) {
    const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
    write_text_file(ca_file(), certs.ca_pem);
    write_text_file(folder_ / "server.pem", certs.cert_pem);
    write_text_file(folder_ / "server-key.pem", certs.key_pem);
    conf << "tls-port " << port_ << "\n"
         << "tls-cert-file " << (folder_ / "server.pem").string() << "\n"
         << "tls-key-file " << (folder_ / "server-key.pem").string() << "\n"
         << "tls-ca-cert-file " << ca_file().string() << "\n"
         << "tls-auth-clients no\n";
  }
  conf << "port " << (options_.tls ? 0 : port_) << "\n"
       << "bind 127.0.0.1\n"
       << "unixsocket " << socket().string() << "\n"
       << "unixsocketperm 700\n"
       << "dir " << folder_.string() << "\n"
       << "logfile " << (folder_ / "redis.log").string() << "\n"
       << "daemonize no\n"
       << "save \"\"\n"
       << "appendonly yes\n"
       << "appendfsync always\n";
  if (!options_.password.empty()) conf << "requirepass " << options_.password << "\n";
  write_text_file(folder_ / "redis.conf", conf.str());
  start();
}

redis_server::~redis_server() { child_.reset(); }

void redis_server::kill() {
  if (!child_) return;
  child_->signal(SIGKILL);
  child_->wait_for(10s);
  child_.reset();
}

bool redis_server::running() { return child_ && child_->running(); }

void redis_server::start() {
  spawn_spec spec;
  spec.program = redis_server_program;
  spec.args = {(folder_ / "redis.conf").string()};
  spec.env = base_environment();
  spec.stdout_path = folder_ / "redis.stdout";
  spec.stderr_path = folder_ / "redis.stdout";
  child_ = std::make_unique<child_process>(spec);
  const bool up = wait_until(
      [&] {
        if (!child_->running()) return true;
        const auto pong = cli({"PING"});
        return pong.exit_code == 0 && pong.out.find("PONG") != std::string::npos;
      },
      10s, 20ms);
  if (!up || !child_->running()) {
    throw std::runtime_error("test Redis server did not start; its log:\n" + log() +
                             read_file(folder_ / "redis.stdout"));
  }
}

ctl_result redis_server::cli(const std::vector<std::string>& args, unsigned db) const {
  std::vector<std::string> all{"-s", socket().string(), "-n", std::to_string(db)};
  if (!options_.password.empty()) all.insert(all.end(), {"--no-auth-warning", "-a", options_.password});
  all.insert(all.end(), args.begin(), args.end());
  return run_program(redis_cli_program, all);
}

void redis_server::set_password(const std::string& password) {
  const auto answer = cli({"CONFIG", "SET", "requirepass", password});
  if (answer.exit_code != 0 || answer.out.find("OK") == std::string::npos) {
    throw std::runtime_error("redis-cli CONFIG SET requirepass failed: " + answer.out + answer.err);
  }
  options_.password = password;
}

std::vector<redis_entry> redis_server::xrange(const std::string& stream, unsigned db) const {
  // Not a terminal: redis-cli prints each string of the nested reply on a line of its own (raw):
  // the entry ID, then field and value alternately; the envelope is one line of JSON.
  const auto answer = cli({"XRANGE", stream, "-", "+"}, db);
  if (answer.exit_code != 0) throw std::runtime_error("redis-cli XRANGE failed: " + answer.err);
  std::vector<std::string> lines;
  std::istringstream in{answer.out};
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (lines.size() == 1 && lines[0].empty()) lines.clear();  // an empty array prints as one empty line
  std::vector<redis_entry> entries;
  constexpr std::size_t per_entry = 1 + 2 * 4;  // the ID, four fields and their values
  if (lines.size() % per_entry != 0) {
    throw std::runtime_error("redis-cli XRANGE gave " + std::to_string(lines.size()) +
                             " lines, not a multiple of 9:\n" + answer.out.substr(0, 2000));
  }
  for (std::size_t at = 0; at < lines.size(); at += per_entry) {
    redis_entry entry{.id = lines[at], .fields = {}};
    for (std::size_t f = at + 1; f < at + per_entry; f += 2) entry.fields[lines[f]] = lines[f + 1];
    entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace hookless::blackbox
