// What only the PostgreSQL store has, beside its store contract (store_contract_test.cpp) and its
// cluster duties (pg_cluster_test.cpp): the schema it creates and versions, and a server it cannot
// reach when it opens.
#include "core/store/pg_store.hpp"
#include "tests/integration/store_records.hpp"
#include "tests/support/pg_server.hpp"
#include "tests/support/run_with_deadline.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace hookless::test {
namespace {

using namespace std::chrono_literals;

class pg_store_test : public ::testing::Test {
 protected:
  std::unique_ptr<pg_store> open_store(open_report& report, std::string url = {},
                                       std::optional<std::string> password = std::nullopt) {
    pg_store_options options;
    options.url = url.empty() ? uri_ : std::move(url);
    options.password = std::move(password);
    options.node = "n";
    return pg_store::open(context_.get_executor(), std::move(options), report);
  }

  std::optional<std::string> value(const std::string& sql) { return server_.query_value(database_, sql); }

  boost::asio::io_context context_;
  pg_server& server_ = pg_server::shared();
  std::string uri_ = server_.create_database(::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::string database_ = uri_.substr(uri_.rfind('/') + 1);
};

TEST_F(pg_store_test, creates_a_versioned_schema_in_an_empty_database) {
  {
    open_report report;
    auto store = open_store(report);
    EXPECT_TRUE(report.created);
    EXPECT_TRUE(report.messages.empty());
  }
  EXPECT_EQ(value("SELECT version FROM hookless_schema"), "3");
  EXPECT_EQ(value("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public' "
                  "AND tablename IN ('runs', 'events', 'deliveries', 'nodes', 'poller', 'subscription_positions')"),
            "deliveries,events,nodes,poller,runs,subscription_positions");
  open_report again;
  auto store = open_store(again);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(value("SELECT COUNT(*) FROM hookless_schema"), "1");
}

TEST_F(pg_store_test, refuses_a_database_of_a_newer_schema_and_leaves_it_as_it_is) {
  {
    open_report report;
    auto store = open_store(report);
  }
  server_.query(database_, "UPDATE hookless_schema SET version = 99");
  open_report report;
  try {
    open_store(report);
    FAIL() << "a schema newer than this build was accepted";
  } catch (const store_failed& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("99"), std::string::npos) << message;
    EXPECT_NE(message.find("(3)"), std::string::npos) << "names the version this build knows: " << message;
  }
  EXPECT_EQ(value("SELECT version FROM hookless_schema"), "99");
}

// A database of schema version 1 (before subscriptions) is upgraded in place: its runs gain an empty
// subscription column, a table of positions appears, and both work at once.
TEST_F(pg_store_test, upgrades_a_version_1_database_in_place) {
  {
    open_report report;
    auto store = open_store(report);
    run_with_deadline(
        context_,
        [&]() -> awaitable<void> {
          co_await store->insert_runs(runs_of(make_run("exr_v1"), make_run("exr_v1_pending")));
        },
        20s);
    context_.restart();
  }
  server_.query(database_,
                "ALTER TABLE runs DROP COLUMN subscription; DROP TABLE subscription_positions; "
                "ALTER TABLE events DROP COLUMN position; UPDATE hookless_schema SET version = 1");
  open_report report;
  auto store = open_store(report);
  EXPECT_FALSE(report.created);
  EXPECT_EQ(value("SELECT version FROM hookless_schema"), "3");
  bool checked = false;
  run_with_deadline(
      context_,
      [&]() -> awaitable<void> {
        const auto term = co_await store->claim_poller(60s);  // (a named local: g++ 12 and co_await in arguments)
        store->set_poller_term(term);
        const auto pending = co_await store->load_pending();
        CO_ASSERT_TRUE(pending.size() == 2);
        EXPECT_FALSE(pending[0].subscription.has_value());
        subscription_finds finds;
        finds.position.subscription = "invoices";
        finds.position.kind = "extract_run";
        finds.runs = runs_of(make_found_run("exr_v1", "invoices", names("subs")),
                             make_found_run("exr_new", "invoices", names("subs")));
        const auto found = co_await store->save_finds(finds);
        CO_ASSERT_TRUE(found.size() == 2);
        EXPECT_EQ(found[0].what, found_run::result::merged);
        EXPECT_EQ(found[1].what, found_run::result::inserted);
        const auto inserted = co_await store->find_run("exr_new");
        EXPECT_EQ(inserted->subscription, "invoices");
        EXPECT_EQ((co_await store->load_subscription_positions()).size(), 1U);
        checked = true;
      },
      20s);
  EXPECT_TRUE(checked);
}

// Version 3 numbers the events in the order they were recorded (the event log a daemon that is not
// the poller relays): a database of version 2 gets the column, its events a position, and new
// events come after them.
TEST_F(pg_store_test, version_3_numbers_the_events_of_a_version_2_database) {
  {
    open_report report;
    auto store = open_store(report);
  }
  // Back to what version 2 made, with one event recorded then.
  server_.query(database_, "ALTER TABLE events DROP COLUMN position");
  server_.query(database_, "UPDATE hookless_schema SET version = 2");
  server_.query(database_,
                "INSERT INTO runs (id, kind, owner_uid, state, registered_at, updated_at, deadline_at, sinks, context, "
                "looked_at, home) VALUES ('exr_old', 'extract_run', 1000, 'finished', 1, 1, 1, '[]', '{}', 1, 'n')");
  server_.query(database_,
                "INSERT INTO events (run_id, seq, event_id, event_type, body) VALUES ('exr_old', 1, 'evt_old', "
                "'extract_run.processed', '{}')");
  {
    open_report report;
    auto store = open_store(report);
    EXPECT_FALSE(report.created);
  }
  EXPECT_EQ(value("SELECT version FROM hookless_schema"), "3");
  EXPECT_EQ(value("SELECT COUNT(*) FROM events WHERE position IS NOT NULL"), "1");
  server_.query(database_,
                "INSERT INTO events (run_id, seq, event_id, event_type, body) VALUES ('exr_old', 2, 'evt_new', "
                "'extract_run.processed', '{}')");
  EXPECT_EQ(value("SELECT string_agg(event_id, ',' ORDER BY position) FROM events"), "evt_old,evt_new");
}

// Nothing listens there: opening fails at once as store_unavailable (the daemon answers busy and
// retries), naming the server, never the password.
TEST_F(pg_store_test, a_server_it_cannot_reach_at_open_is_store_unavailable_without_the_password) {
  const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(probe);  // a port nobody listens on
  const std::string url = "postgresql://hookless@127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/hookless";

  const auto before = std::chrono::steady_clock::now();
  open_report report;
  try {
    open_store(report, url, "s3cret-password");
    FAIL() << "opened a store on a server that is not there";
  } catch (const store_unavailable& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("127.0.0.1"), std::string::npos) << message;
    EXPECT_EQ(message.find("s3cret-password"), std::string::npos) << message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - before, 4s);
}

}  // namespace
}  // namespace hookless::test
