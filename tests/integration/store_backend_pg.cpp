// The PostgreSQL backend of the store contract suite: a fresh database on the test program's own
// server, a store opened as the one daemon of that database (it holds the poller lease), rows
// looked at and locked over connections of the test's own, integrity checked with amcheck.
#include "core/store/pg_store.hpp"
#include "tests/integration/store_backends.hpp"
#include "tests/support/pg_server.hpp"
#include "tests/support/run_with_deadline.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>

namespace hookless::test {
namespace {

using namespace std::chrono_literals;

// The node name of the contract suite's daemon.
constexpr const char* contract_node = "contract";

// Holds the write locks of the run, event and delivery tables in a transaction of its own, so the
// store's next write waits at its first statement, and so its commit, until released.
class pg_lock_gate final : public write_gate {
 public:
  pg_lock_gate(const pg_server& server, const std::string& database)
      : lock_{server, database, "runs, events, deliveries"} {}

  bool holding() override { return lock_.someone_waits(); }
  void release() override { lock_.release(); }

 private:
  pg_table_lock lock_;
};

class pg_backend final : public store_backend {
 public:
  pg_backend() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    uri_ = server_.create_database(test != nullptr ? test->name() : "contract");
    database_ = uri_.substr(uri_.rfind('/') + 1);
  }

  std::unique_ptr<state_store> open(boost::asio::io_context& io, open_report& report) override {
    pg_store_options options;
    options.url = uri_;
    options.node = contract_node;
    auto store = pg_store::open(io.get_executor(), std::move(options), report);
    if (!claim_poller(io, *store)) {
      // The store this test closed before still holds the lease (a clean close need not resign):
      // let it run out, as its TTL would, and take it.
      server_.query(database_, "UPDATE poller SET expires_at = clock_timestamp() - interval '1 second'");
      if (!claim_poller(io, *store)) {
        throw std::runtime_error("the contract suite's store could not take the free poller lease");
      }
    }
    return store;
  }

  std::string count_rows(const std::string& table) override {
    return server_.query_value(database_, "SELECT COUNT(*) FROM " + table).value_or("NULL");
  }

  awaitable<std::string> check_integrity(state_store&) override { co_return check_at_rest(); }

  // amcheck's verification of every B-tree index of the store's tables against their rows (the
  // nearest to SQLite's integrity_check), and no delivery without its event or run.
  std::string check_at_rest() override {
    try {
      server_.query(database_,
                    "CREATE EXTENSION IF NOT EXISTS amcheck; "
                    "SELECT bt_index_check(index => c.oid, heapallindexed => true) FROM pg_index i "
                    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.amname = 'btree' AND n.nspname = 'public'");
      const auto orphans = server_.query_value(
          database_,
          "SELECT COUNT(*) FROM deliveries d WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = d.event_id) "
          "OR NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = d.run_id)");
      return orphans == "0" ? "ok" : "deliveries without their event or run: " + orphans.value_or("NULL");
    } catch (const std::exception& error) {
      return error.what();
    }
  }

  std::optional<std::uint64_t> commit_count(const state_store& store) override {
    return dynamic_cast<const pg_store&>(store).commit_count();
  }

  std::unique_ptr<write_gate> hold_next_commit(state_store&) override {
    return std::make_unique<pg_lock_gate>(server_, database_);
  }

 private:
  // Takes the poller lease for long enough for any test, and makes the store's writes under it.
  static bool claim_poller(boost::asio::io_context& io, pg_store& store) {
    bool claimed = false;
    run_with_deadline(
        io,
        [&]() -> awaitable<void> {
          const auto term = co_await store.claim_poller(10min);
          store.set_poller_term(term);
          claimed = term.has_value();
        },
        10s);
    io.restart();
    return claimed;
  }

  pg_server& server_ = pg_server::shared();
  std::string uri_;
  std::string database_;
};

}  // namespace

std::unique_ptr<store_backend> make_postgresql_backend() { return std::make_unique<pg_backend>(); }

}  // namespace hookless::test
