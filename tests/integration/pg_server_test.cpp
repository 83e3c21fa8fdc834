// The PostgreSQL server fixture the store and cluster tests stand on: fresh databases, its own
// queries, table locks, and a stop that drops the server at once while keeping its data for start().
#include "tests/support/pg_server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace hookless::test {
namespace {

std::string database_of(const std::string& uri) { return uri.substr(uri.rfind('/') + 1); }

TEST(PgServer, MakesFreshDatabasesReachableOverTcp) {
  auto& server = pg_server::shared();
  const std::string first = server.create_database("First One");
  const std::string second = server.create_database();
  EXPECT_NE(first, second);
  EXPECT_EQ(first.rfind("postgresql://postgres@127.0.0.1:" + std::to_string(server.port()) + "/first_one_", 0), 0u)
      << first;

  server.query(database_of(first), "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)");
  EXPECT_EQ(server.query_value(database_of(first), "SELECT count(*) FROM t"), "2");
  EXPECT_EQ(server.query_value(database_of(first), "SELECT NULL"), std::nullopt);
  EXPECT_EQ(server.query_value(database_of(second), "SELECT count(*) FROM pg_tables WHERE tablename = 't'"), "0");
  EXPECT_EQ(server.query_value(database_of(first), "SHOW fsync"), "off");
  EXPECT_EQ(server.query_value(database_of(first), "SELECT inet_server_addr() IS NULL"), "t")  // the Unix socket
      << "query() should use the private socket";
}

TEST(PgServer, QueryErrorsNameTheStatement) {
  auto& server = pg_server::shared();
  try {
    server.query("postgres", "SELECT nonsense FROM nowhere");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string{error.what()}.find("SELECT nonsense FROM nowhere"), std::string::npos) << error.what();
    EXPECT_NE(std::string{error.what()}.find("nowhere"), std::string::npos) << error.what();
  }
}

TEST(PgServer, StopDropsTheServerAndStartBringsItBackWithItsData) {
  pg_server server;  // its own, so stopping it disturbs no other test
  const std::string name = database_of(server.create_database("kept"));
  server.query(name, "CREATE TABLE t (x int); INSERT INTO t VALUES (7)");
  const auto port = server.port();

  const auto before_stop = std::chrono::steady_clock::now();
  server.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before_stop, std::chrono::seconds{5});
  EXPECT_FALSE(server.running());
  EXPECT_THROW(server.query(name, "SELECT 1"), std::runtime_error);

  server.start();
  EXPECT_TRUE(server.running());
  EXPECT_EQ(server.port(), port);
  EXPECT_EQ(server.query_value(name, "SELECT x FROM t"), "7");
}

TEST(PgServer, TableLockHoldsWritesUntilReleased) {
  auto& server = pg_server::shared();
  const std::string name = database_of(server.create_database("locked"));
  server.query(name, "CREATE TABLE t (x int)");
  pg_table_lock lock{server, name, "t"};
  EXPECT_FALSE(lock.someone_waits());
  std::thread writer{[&] { server.query(name, "INSERT INTO t VALUES (1)"); }};
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  while (!lock.someone_waits() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  EXPECT_TRUE(lock.someone_waits()) << "the insert should wait for the lock";
  EXPECT_EQ(server.query_value(name, "SELECT count(*) FROM t"), "0") << "reads are not held";
  lock.release();
  writer.join();
  EXPECT_EQ(server.query_value(name, "SELECT count(*) FROM t"), "1");
}

}  // namespace
}  // namespace hookless::test
