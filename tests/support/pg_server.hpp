// A real PostgreSQL server for the tests of the PostgreSQL store and of several daemons sharing it:
// started by the test program itself on 127.0.0.1 and a Unix socket in a private folder, never a
// server of the system's, so the tests need nothing but Debian's postgresql-15 package installed.
#pragma once

#include <sys/types.h>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;  // libpq's PGconn

namespace hookless::test {

// One row of a query's answer, each value as PostgreSQL's text form (nullopt: NULL).
using sql_row = std::vector<std::optional<std::string>>;

// A real PostgreSQL 15 server for tests: initdb + postgres from $(pg_config --bindir) (Debian's
// postgresql-15), run as the postgres user when we are root, in a temp folder owned by it,
// listening on 127.0.0.1 at a free port and on a Unix socket in that folder, fsync off; stopped
// at once (an immediate shutdown, as `pg_ctl -m immediate`) when destroyed, and by the kernel
// when the test program dies (when the thread that started it ends, in fact: start it from the
// test's main thread, where gtest runs tests). Throws (the test fails, never skips) when
// PostgreSQL is not installed, naming what is missing and `scripts/install-deps.sh`.
//
// Fast: the cluster initdb makes is kept (on /dev/shm when it has room) as a template and copied
// (0.3 s instead of 1.5 s), since ctest runs every test of a program as a process of its own;
// starting takes ~0.2 s.
class pg_server {
 public:
  pg_server();
  ~pg_server();
  pg_server(const pg_server&) = delete;
  pg_server& operator=(const pg_server&) = delete;

  // A fresh empty database named after the hint (letters, digits and _ kept) and a counter;
  // returns its URI postgresql://postgres@127.0.0.1:PORT/NAME (trust authentication).
  std::string create_database(std::string_view name_hint = "t");
  std::string uri(std::string_view database) const;
  unsigned short port() const { return port_; }

  // The server goes away at once (an immediate shutdown: clients see their connections drop),
  // its data kept.
  void stop();
  // Back on the same port with the same data, after crash recovery; returns once it answers.
  void start();
  bool running() const { return pid_ > 0; }
  // The server and its backends stop answering but keep their connections open (SIGSTOP), as a
  // frozen VM or a cut network would look to a client; thaw() lets them go on (SIGCONT).
  void freeze();
  void thaw();

  // Runs `sql` (one or more statements) on `database` over the Unix socket and returns the rows of
  // the last one; throws naming the statement and PostgreSQL's message when it fails. For tests
  // to look at or age rows directly.
  std::vector<sql_row> query(std::string_view database, std::string_view sql) const;
  // The first value of the first row (nullopt: no row, or NULL).
  std::optional<std::string> query_value(std::string_view database, std::string_view sql) const;

  // libpq's connection string for `database` over the Unix socket.
  std::string conninfo(std::string_view database) const;

  // One per test program, started on first use and stopped when the program exits.
  static pg_server& shared();

 private:
  void launch();

  std::string bin_dir_;
  std::string folder_;  // the socket and the log; data/ holds the cluster
  unsigned short port_ = 0;
  pid_t pid_ = -1;
  bool frozen_ = false;
  int databases_made_ = 0;
};

// A transaction of the test's own that holds the write locks of `tables` ("runs, deliveries"; LOCK
// TABLE … IN EXCLUSIVE MODE) until released: a store's writes to them wait meanwhile, its reads do
// not. Tests use it to hold a store's work at a known point, or to queue calls up behind it.
class pg_table_lock {
 public:
  pg_table_lock(const pg_server& server, std::string database, const std::string& tables);
  ~pg_table_lock();
  pg_table_lock(const pg_table_lock&) = delete;
  pg_table_lock& operator=(const pg_table_lock&) = delete;

  // Some statement in the database waits for a lock now (for ours, in these tests).
  bool someone_waits() const;
  void release();

 private:
  void exec(const std::string& sql);

  const pg_server& server_;
  std::string database_;
  pg_conn* connection_ = nullptr;
};

}  // namespace hookless::test
