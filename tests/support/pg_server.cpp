// The test PostgreSQL server of pg_server.hpp: a cluster copied from a cached initdb template, the
// postmaster run as our child (so the kernel stops it when the test program dies), readiness
// by PQping, and a stop that is PostgreSQL's immediate shutdown (SIGQUIT).
#include "tests/support/pg_server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace hookless::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char* const install_hint = "install Debian's postgresql-15 and libpq-dev with scripts/install-deps.sh --tests";

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("test PostgreSQL server: " + what); }

std::string errno_text(const std::string& call) { return call + ": " + std::strerror(errno); }

// The OS user the server runs as: postgres when we are root (initdb and postgres refuse root),
// ourselves otherwise.
struct server_user {
  uid_t uid;
  gid_t gid;
  bool switch_to;
};

server_user find_server_user() {
  if (::geteuid() != 0) {
    return {::geteuid(), ::getegid(), false};
  }
  const passwd* entry = ::getpwnam("postgres");
  if (entry == nullptr) {
    fail(std::string{"no user 'postgres' to run the server as (we are root and PostgreSQL refuses root); "} +
         install_hint);
  }
  return {entry->pw_uid, entry->pw_gid, true};
}

std::string command_output(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe{::popen(command.c_str(), "r"), ::pclose};
  if (!pipe) {
    return {};
  }
  std::string out;
  std::array<char, 256> chunk{};
  while (std::fgets(chunk.data(), static_cast<int>(chunk.size()), pipe.get()) != nullptr) {
    out += chunk.data();
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
    out.pop_back();
  }
  return out;
}

// $(pg_config --bindir), checked to hold the server's programs (Debian keeps them off PATH).
std::string find_bin_dir() {
  const std::string dir = command_output("pg_config --bindir 2>/dev/null");
  if (dir.empty()) {
    fail(std::string{"`pg_config --bindir` gave nothing (pg_config is missing); "} + install_hint);
  }
  for (const char* program : {"initdb", "postgres"}) {
    if (::access((dir + "/" + program).c_str(), X_OK) != 0) {
      fail("no " + std::string{program} + " in " + dir + " (the PostgreSQL server is not installed); " + install_hint);
    }
  }
  return dir;
}

std::string tail_of(const fs::path& log) {
  std::ifstream in{log};
  std::stringstream text;
  text << in.rdbuf();
  std::string all = text.str();
  constexpr std::size_t keep = 2000;
  return all.size() > keep ? all.substr(all.size() - keep) : all;
}

// Starts `argv` as the server user, in `cwd`, its output appended to `log`; with `die_with_us`,
// the kernel sends it SIGQUIT (PostgreSQL's immediate shutdown) when this thread's process dies.
pid_t spawn(const std::vector<std::string>& argv, const fs::path& log, const server_user& user, const fs::path& cwd,
            bool die_with_us) {
  // Everything the child needs is made before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  const std::string log_path = log.string();
  const std::string dir = cwd.string();
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    fail(errno_text("fork"));
  }
  if (pid > 0) {
    return pid;
  }
  if (user.switch_to && (::setgroups(0, nullptr) != 0 || ::setgid(user.gid) != 0 || ::setuid(user.uid) != 0)) {
    ::_exit(126);
  }
  // After setuid, which clears the death signal.
  if (die_with_us && (::prctl(PR_SET_PDEATHSIG, SIGQUIT) != 0 || ::getppid() != parent)) {
    ::_exit(126);
  }
  const int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  const int in = ::open("/dev/null", O_RDONLY);
  if (out < 0 || in < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0 || ::chdir(dir.c_str()) != 0) {
    ::_exit(126);
  }
  // The server must not hold the test's own sockets and files open.
  ::close_range(3, ~0U, 0);
  ::execv(args[0], args.data());
  ::_exit(127);
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      fail(errno_text("waitpid"));
    }
  }
  return status;
}

void run(const std::vector<std::string>& argv, const fs::path& log, const server_user& user, const fs::path& cwd) {
  const int status = wait_for(spawn(argv, log, user, cwd, false));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fail(argv[0] + " failed (status " + std::to_string(status) + "):\n" + tail_of(log));
  }
}

// Where the clusters live: a tmpfs when it has room (copying the template there takes 0.3 s, on
// a busy disk several), /tmp otherwise. Short paths: a socket path must fit 108 bytes.
std::string scratch_root() {
  struct statvfs space {};
  constexpr unsigned long long enough = 2ULL << 30;
  if (::statvfs("/dev/shm", &space) == 0 && ::access("/dev/shm", W_OK) == 0 &&
      static_cast<unsigned long long>(space.f_bavail) * space.f_frsize >= enough) {
    return "/dev/shm";
  }
  return "/tmp";
}

// A private folder owned by the server user, mode 700 as PostgreSQL wants.
fs::path make_folder(const std::string& prefix, const server_user& user) {
  std::string pattern = scratch_root() + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    fail(errno_text("mkdtemp " + pattern));
  }
  if (user.switch_to && ::chown(pattern.c_str(), user.uid, user.gid) != 0) {
    fail(errno_text("chown " + pattern));
  }
  return pattern;
}

// The cluster initdb makes, kept for every later test process with the same server program and
// user (the program's change time tells an upgrade). Made aside and renamed into place, so a
// reader sees all of it or nothing.
fs::path cluster_template(const std::string& bin_dir, const server_user& user) {
  struct stat info {};
  if (::stat((bin_dir + "/postgres").c_str(), &info) != 0) {
    fail(errno_text("stat " + bin_dir + "/postgres"));
  }
  const std::string major = fs::path{bin_dir}.parent_path().filename().string();  // /usr/lib/postgresql/15/bin
  const fs::path cached = scratch_root() + "/hookless-pg" + major + "-template-" + std::to_string(info.st_ctime) +
                          "-u" + std::to_string(user.uid);

  if (::stat((cached / "PG_VERSION").c_str(), &info) == 0 && info.st_uid == user.uid) {
    return cached;
  }
  const fs::path work = make_folder("hookless-pg-initdb", user);
  run({bin_dir + "/initdb", "-D", (work / "data").string(), "-U", "postgres", "--auth=trust", "--no-sync",
       "--no-instructions", "-E", "UTF8", "--locale=C.UTF-8"},
      work / "initdb.log", user, work);
  // Another test process may have won the race: its template is as good as ours.
  ::rename((work / "data").c_str(), cached.c_str());
  std::error_code ignored;
  fs::remove_all(work, ignored);
  if (::stat((cached / "PG_VERSION").c_str(), &info) != 0) {
    fail("the initdb template " + cached.string() + " is missing after initdb");
  }
  return cached;
}

unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    fail(errno_text("choosing a free port"));
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

struct connection_closer {
  void operator()(PGconn* connection) const { PQfinish(connection); }
};
struct result_clearer {
  void operator()(PGresult* result) const { PQclear(result); }
};

}  // namespace

pg_server::pg_server() : bin_dir_{find_bin_dir()} {
  const server_user user = find_server_user();
  const fs::path source = cluster_template(bin_dir_, user);
  folder_ = make_folder("hookless-pg", user).string();
  run({"/bin/cp", "-a", source.string(), folder_ + "/data"}, fs::path{folder_} / "copy.log", user, folder_);
  // A port free a moment ago may be taken by the time the server binds it: try another.
  for (int attempt = 1;; ++attempt) {
    port_ = free_port();
    try {
      launch();
      return;
    } catch (const std::exception&) {
      if (attempt == 3) {
        std::error_code ignored;
        fs::remove_all(folder_, ignored);
        throw;
      }
    }
  }
}

pg_server::~pg_server() {
  try {
    stop();
  } catch (const std::exception&) {
    // Nothing more to do: the folder goes anyway.
  }
  std::error_code ignored;
  fs::remove_all(folder_, ignored);
}

pg_server& pg_server::shared() {
  static pg_server server;
  return server;
}

void pg_server::launch() {
  const server_user user = find_server_user();
  const fs::path log = fs::path{folder_} / "postgres.log";
  pid_ = spawn({bin_dir_ + "/postgres", "-D", folder_ + "/data", "-p", std::to_string(port_), "-k", folder_, "-c",
                "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"},
               log, user, folder_, true);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  const std::string info = conninfo("postgres");
  while (PQping(info.c_str()) != PQPING_OK) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      fail("postgres exited at start (status " + std::to_string(status) + "):\n" + tail_of(log));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop();
      fail("postgres did not answer within 30 s:\n" + tail_of(log));
    }
    std::this_thread::sleep_for(10ms);
  }
}

void pg_server::start() {
  if (pid_ <= 0) {
    launch();
  }
}

void pg_server::stop() {
  if (pid_ <= 0) {
    return;
  }
  thaw();
  // SIGQUIT is PostgreSQL's immediate shutdown: every backend drops its client at once.
  ::kill(pid_, SIGQUIT);
  wait_for(pid_);
  pid_ = -1;
}

namespace {

// The postmaster and every process it started (backends, checkpointer, ...), from /proc.
std::vector<pid_t> server_processes(pid_t postmaster) {
  std::vector<pid_t> all{postmaster};
  for (const auto& entry : fs::directory_iterator{"/proc"}) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat{entry.path() / "stat"};
    std::string line;
    std::getline(stat, line);
    const auto after_name = line.rfind(')');  // "pid (comm) state ppid ..."; comm may hold spaces
    if (after_name == std::string::npos) continue;
    std::istringstream fields{line.substr(after_name + 1)};
    std::string state;
    pid_t parent = 0;
    fields >> state >> parent;
    if (parent == postmaster) all.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return all;
}

}  // namespace

void pg_server::freeze() {
  if (pid_ <= 0) return;
  for (const pid_t process : server_processes(pid_)) ::kill(process, SIGSTOP);
  frozen_ = true;
}

void pg_server::thaw() {
  if (pid_ <= 0 || !frozen_) return;
  for (const pid_t process : server_processes(pid_)) ::kill(process, SIGCONT);
  frozen_ = false;
}

std::string pg_server::conninfo(std::string_view database) const {
  return "host=" + folder_ + " port=" + std::to_string(port_) + " user=postgres dbname=" + std::string{database} +
         " connect_timeout=5";
}

std::string pg_server::uri(std::string_view database) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + std::string{database};
}

std::string pg_server::create_database(std::string_view name_hint) {
  std::string name;
  for (const char c : name_hint.substr(0, 40)) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    const bool upper = c >= 'A' && c <= 'Z';
    name += keep ? c : upper ? static_cast<char>(c - 'A' + 'a') : '_';
  }
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) {
    name = "t" + name;
  }
  name += "_" + std::to_string(++databases_made_);
  // FILE_COPY: a copy of template1's files, quicker than writing it all to the WAL (fsync is off).
  query("postgres", "CREATE DATABASE \"" + name + "\" STRATEGY = FILE_COPY");
  return uri(name);
}

std::vector<sql_row> pg_server::query(std::string_view database, std::string_view sql) const {
  const std::unique_ptr<PGconn, connection_closer> connection{PQconnectdb(conninfo(database).c_str())};
  if (PQstatus(connection.get()) != CONNECTION_OK) {
    fail("connecting to database " + std::string{database} + ": " + PQerrorMessage(connection.get()));
  }
  // Notices ("already exists, skipping") are not the test's output.
  PQsetNoticeProcessor(
      connection.get(), [](void*, const char*) {}, nullptr);
  const std::unique_ptr<PGresult, result_clearer> result{PQexec(connection.get(), std::string{sql}.c_str())};
  const auto status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    fail("`" + std::string{sql} + "` on " + std::string{database} + ": " + PQresultErrorMessage(result.get()));
  }
  std::vector<sql_row> rows;
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    sql_row& values = rows.emplace_back();
    for (int column = 0; column < PQnfields(result.get()); ++column) {
      if (PQgetisnull(result.get(), row, column) != 0) {
        values.emplace_back();
      } else {
        values.emplace_back(PQgetvalue(result.get(), row, column));
      }
    }
  }
  return rows;
}

std::optional<std::string> pg_server::query_value(std::string_view database, std::string_view sql) const {
  const auto rows = query(database, sql);
  if (rows.empty() || rows.front().empty()) {
    return std::nullopt;
  }
  return rows.front().front();
}

pg_table_lock::pg_table_lock(const pg_server& server, std::string database, const std::string& tables)
    : server_{server}, database_{std::move(database)}, connection_{PQconnectdb(server.conninfo(database_).c_str())} {
  if (PQstatus(connection_) != CONNECTION_OK) {
    const std::string message = PQerrorMessage(connection_);
    PQfinish(connection_);
    fail("table lock: connecting to database " + database_ + ": " + message);
  }
  exec("BEGIN; LOCK TABLE " + tables + " IN EXCLUSIVE MODE");
}

pg_table_lock::~pg_table_lock() {
  try {
    release();
  } catch (const std::exception&) {
    // The server went away: so did the lock.
  }
  PQfinish(connection_);
}

bool pg_table_lock::someone_waits() const {
  return server_.query_value(database_,
                             "SELECT COUNT(*) FROM pg_locks WHERE NOT granted AND database = "
                             "(SELECT oid FROM pg_database WHERE datname = current_database())") != "0";
}

void pg_table_lock::release() {
  if (PQtransactionStatus(connection_) == PQTRANS_INTRANS) {
    exec("COMMIT");
  }
}

void pg_table_lock::exec(const std::string& sql) {
  const std::unique_ptr<PGresult, result_clearer> result{PQexec(connection_, sql.c_str())};
  if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
    fail("table lock: `" + sql + "`: " + PQresultErrorMessage(result.get()));
  }
}

}  // namespace hookless::test
