// hooklessd --import-state against a real PostgreSQL (started by the test): a SQLite state file
// made by the store, imported into a fresh database, then read back through pg_store: the same
// runs, events (with their bodies) and deliveries; a second import skips them all; a config
// without state.url and a missing file are refused.
#include "daemon/hooklessd/import_state.hpp"
#include "config/config_loader.hpp"
#include "core/store/pg_store.hpp"
#include "core/store/sqlite_store.hpp"
#include "daemon/hooklessd/open_state.hpp"
#include "tests/integration/store_records.hpp"
#include "tests/support/pg_server.hpp"
#include "tests/support/run_with_deadline.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

namespace hookless {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

using test::make_outcome;

// A pending run with every field set (looked_at and a nested context too).
run_record make_run(const std::string& id, std::uint32_t owner, std::int64_t base_ms) {
  auto run = test::make_run(id, owner, base_ms);
  run.looked_at = test::at_ms(base_ms);
  run.context = test::nested_context();
  return run;
}

// What must survive the move, field by field (times are whole milliseconds in both stores).
void expect_same(const run_record& want, const run_record& got) {
  SCOPED_TRACE(want.id);
  EXPECT_EQ(got.kind, want.kind);
  EXPECT_EQ(got.owner_uid, want.owner_uid);
  EXPECT_EQ(got.state, want.state);
  EXPECT_EQ(got.status, want.status);
  EXPECT_EQ(got.outcome, want.outcome);
  EXPECT_EQ(got.polls, want.polls);
  EXPECT_EQ(got.registered_at, want.registered_at);
  EXPECT_EQ(got.updated_at, want.updated_at);
  EXPECT_EQ(got.looked_at, want.looked_at);
  EXPECT_EQ(got.next_poll_at, want.next_poll_at);
  EXPECT_EQ(got.finished_at, want.finished_at);
  EXPECT_EQ(got.deadline_at, want.deadline_at);
  EXPECT_EQ(got.sinks, want.sinks);
  EXPECT_EQ(got.context, want.context);
  EXPECT_EQ(got.subscription, want.subscription);
  ASSERT_EQ(got.events.size(), want.events.size());
  for (std::size_t i = 0; i < want.events.size(); ++i) {
    EXPECT_EQ(got.events[i].event_id, want.events[i].event_id);
    EXPECT_EQ(got.events[i].event_type, want.events[i].event_type);
    EXPECT_EQ(got.events[i].body, want.events[i].body);
  }
  ASSERT_EQ(got.deliveries.size(), want.deliveries.size());
  for (std::size_t i = 0; i < want.deliveries.size(); ++i) {
    const auto& a = want.deliveries[i];
    const auto& b = got.deliveries[i];
    EXPECT_EQ(b.id, a.id);
    EXPECT_EQ(b.event_id, a.event_id);
    EXPECT_EQ(b.run_id, a.run_id);
    EXPECT_EQ(b.sink, a.sink);
    EXPECT_EQ(b.state, a.state);
    EXPECT_EQ(b.attempts, a.attempts);
    EXPECT_EQ(b.last_error, a.last_error);
    EXPECT_EQ(b.next_attempt_at, a.next_attempt_at);
    EXPECT_EQ(b.redelivered_at, a.redelivered_at);
  }
}

class import_state_test : public ::testing::Test {
 protected:
  // A state file with a pending run, a finished run with one delivery done and one dead, and a
  // finished run with both deliveries still to make; more than one import batch of runs in all.
  void SetUp() override {
    asio_run([&]() -> awaitable<void> {
      open_report report;
      auto store = sqlite_store::open(io_.get_executor(), state_file_, report);
      std::vector<run_record> runs;
      for (std::uint32_t i = 0; i < 7; ++i)
        runs.push_back(make_run("exr_" + std::to_string(i), 1000 + i % 2, 1'700'000'000'000 + i));
      // exr_3 a subscription found (docs/subscriptions.md); its position comes along too.
      runs[3].owner_uid = no_owner_uid;
      runs[3].subscription = "invoices";
      runs[3].context = {};
      co_await store->insert_runs(runs);
      subscription_finds finds;
      finds.position = position_;
      co_await store->save_finds(std::move(finds));
      auto done = make_outcome(runs[1], 1'700'000'100'000);
      co_await store->record_outcome(done);
      auto delivered = done.new_deliveries[0];
      delivered.state = delivery_state::done;
      delivered.attempts = 1;
      co_await store->update_delivery(delivered);
      auto dead = done.new_deliveries[1];
      dead.state = delivery_state::dead;
      dead.attempts = 9;
      dead.last_error = "HTTP 500";
      co_await store->update_delivery(dead);
      auto waiting = make_outcome(runs[2], 1'700'000'200'000);  // named: g++ 12 frees a co_await's temporaries twice
      co_await store->record_outcome(std::move(waiting));
      for (const auto& run : runs) {
        auto stored = co_await store->find_run(run.id);
        if (stored) expected_.push_back(std::move(*stored));
      }
    });
    ASSERT_EQ(expected_.size(), 7u);
    ASSERT_EQ(expected_[1].events.size(), 1u);
  }

  void asio_run(std::function<awaitable<void>()> body) { test::run_with_deadline(io_, std::move(body), 30s); }

  config database_config(const std::string& url) {
    const auto loaded = load_config_text("state:\n  url: " + url + "\ncluster:\n  node: web-1\n", "test.yaml");
    EXPECT_TRUE(loaded.value);
    return loaded.value.value_or(config{});
  }

  int import(const config& settings, std::string& out, std::string& err) {
    std::ostringstream out_stream;
    std::ostringstream err_stream;
    const int status = import_state(settings, state_file_, out_stream, err_stream, 3);
    out = out_stream.str();
    err = err_stream.str();
    return status;
  }

  test::temp_dir temp_{"hookless-import"};
  std::string state_file_ = (temp_.path() / "state.db").string();
  boost::asio::io_context io_{1};
  std::vector<run_record> expected_;
  const subscription_position position_{.subscription = "invoices",
                                        .kind = "extract_run",
                                        .since = test::at_ms(1'700'000'000'000),
                                        .position = test::at_ms(1'700'000'300'123),
                                        .swept_at = test::at_ms(1'700'000'301'000)};
};

TEST_F(import_state_test, every_run_with_its_events_and_deliveries_reaches_the_database_once) {
  const auto url = test::pg_server::shared().create_database("import");
  const auto settings = database_config(url);
  std::string out;
  std::string err;
  ASSERT_EQ(import(settings, out, err), 0) << err;
  EXPECT_THAT(out, HasSubstr("imported 7 runs"));
  EXPECT_THAT(out, HasSubstr("skipped 0"));
  EXPECT_THAT(out, HasSubstr("imported 1 subscription positions; skipped 0"));

  asio_run([&]() -> awaitable<void> {
    open_report report;
    auto store = pg_store::open(io_.get_executor(), database_options(settings), report);
    for (const auto& want : expected_) {
      const auto got = co_await store->find_run(want.id);
      EXPECT_TRUE(got) << want.id;
      if (got) expect_same(want, *got);
    }
    const auto positions = co_await store->load_subscription_positions();
    EXPECT_EQ(positions.size(), 1U);
    if (positions.empty()) co_return;
    EXPECT_EQ(positions[0].subscription, "invoices");
    EXPECT_EQ(positions[0].kind, "extract_run");
    EXPECT_EQ(positions[0].since, position_.since);
    EXPECT_EQ(positions[0].position, position_.position);
    EXPECT_EQ(positions[0].swept_at, position_.swept_at);
    // Their events were made elsewhere, long ago: not in the event log a standby relays from.
    EXPECT_TRUE((co_await store->events_after(0, 100)).empty());
    EXPECT_EQ(co_await store->newest_event_position(), 0);
  });

  ASSERT_EQ(import(settings, out, err), 0) << err;
  EXPECT_THAT(out, HasSubstr("imported 0 runs"));
  EXPECT_THAT(out, HasSubstr("skipped 7"));
  EXPECT_THAT(out, HasSubstr("imported 0 subscription positions; skipped 1"));
}

TEST_F(import_state_test, a_config_without_a_database_or_a_missing_file_is_refused) {
  std::string out;
  std::string err;
  EXPECT_EQ(import(config{}, out, err), 1);
  EXPECT_THAT(err, HasSubstr("state.url"));
  const auto settings = database_config(test::pg_server::shared().create_database("import_missing"));
  state_file_ = (temp_.path() / "nothing.db").string();
  EXPECT_EQ(import(settings, out, err), 1);
  EXPECT_THAT(err, HasSubstr("no SQLite state file at " + state_file_));
  EXPECT_FALSE(std::filesystem::exists(state_file_)) << "an import never creates a state file";
}

}  // namespace
}  // namespace hookless
