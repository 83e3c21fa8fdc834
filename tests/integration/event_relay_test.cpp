// The standby's event relay over a real SQLite store (the events a poller records) seen through a
// fake_cluster_node (fake_cluster.hpp), which can be cut off from the database: while a standby it
// publishes each new event once, in order, with its run's owner (so a follower's ownership filter
// holds), never the events recorded before it started; as the poller it publishes nothing; back
// to a standby it starts at the newest event; a database it cannot reach costs one warning, and
// once it answers again the events recorded meanwhile follow, none lost.
#include "core/cluster/event_relay.hpp"
#include "core/store/sqlite_store.hpp"
#include "tests/integration/fake_cluster.hpp"
#include "tests/integration/store_records.hpp"
#include "tests/support/run_with_deadline.hpp"
#include "tests/support/temp_dir.hpp"

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace hookless::test {
namespace {

using namespace std::chrono_literals;

class event_relay_test : public ::testing::Test {
 protected:
  void SetUp() override {
    open_report report;
    data_ = sqlite_store::open(io_.get_executor(), (temp_.path() / "state.db").string(), report);
    db_ = std::make_unique<fake_cluster_db>(*data_);
    standby_ = std::make_unique<fake_cluster_node>(*db_, "b", "b-1");
    relay_ = std::make_unique<event_relay>(io_.get_executor(), *standby_, followers_,
                                           event_relay_timing{.interval = 50ms, .batch = 2});
  }

  void TearDown() override {
    relay_->stop();
    io_.restart();
    io_.run_for(200ms);  // the relay's loop ends before its objects go
    relay_.reset();
    standby_.reset();
    db_.reset();
    data_.reset();
  }

  void run(std::function<awaitable<void>()> body, std::chrono::milliseconds limit = 20s) {
    run_with_deadline(io_, std::move(body), limit);
  }

  // The poller records that run `id` of `owner` finished: one event.
  awaitable<void> finish(std::string id, std::uint32_t owner = 1000) {
    const auto record = make_run(id, owner);
    co_await data_->insert_runs(runs_of(record));
    co_await data_->record_outcome(make_outcome(record, 1'700'000'100'000));
  }

  static std::string body_of(const std::string& id) { return make_event(id, "extract_run.processed").body; }

  temp_dir temp_{"hlrelay"};
  boost::asio::io_context io_{1};
  std::unique_ptr<sqlite_store> data_;
  std::unique_ptr<fake_cluster_db> db_;
  std::unique_ptr<fake_cluster_node> standby_;
  live_events followers_;
  std::unique_ptr<event_relay> relay_;
};

TEST_F(event_relay_test, a_standby_publishes_each_new_event_once_in_order_with_its_owner) {
  auto admin = followers_.follow(std::nullopt, std::nullopt);
  auto other = followers_.follow(2000, std::nullopt);
  run([&]() -> awaitable<void> {
    co_await finish("exr_before");  // recorded before the relay starts: one of the recent events, not relayed
    relay_->standby();
    CO_ASSERT_TRUE(co_await eventually([&] { return relay_->relaying(); }, 2s));
    co_await pause_for(150ms);  // it has read the newest position by now
    // Five events: more than a batch (2), read one batch after another.
    for (const auto* id : {"exr_one", "exr_two", "exr_three", "exr_four"}) co_await finish(id);
    co_await finish("exr_theirs", 2000);
    CO_ASSERT_TRUE(co_await eventually([&] { return relay_->relayed() >= 5; }, 5s));
    co_await pause_for(200ms);  // nothing more comes
    EXPECT_EQ(relay_->relayed(), 5U);
    EXPECT_EQ(admin->take(), names(body_of("exr_one"), body_of("exr_two"), body_of("exr_three"), body_of("exr_four"),
                                   body_of("exr_theirs")));
    EXPECT_EQ(other->take(), names(body_of("exr_theirs"))) << "another owner's follower sees its own only";

    // The poller: its tracker publishes, the relay nothing.
    relay_->poller();
    EXPECT_FALSE(relay_->relaying());
    co_await finish("exr_as_poller");
    co_await pause_for(300ms);
    EXPECT_TRUE(admin->take().empty());

    // A standby again: from the newest event on.
    relay_->standby();
    co_await pause_for(150ms);
    co_await finish("exr_standby_again");
    CO_ASSERT_TRUE(co_await eventually([&] { return relay_->relayed() >= 6; }, 5s));
    co_await pause_for(200ms);
    EXPECT_EQ(admin->take(), names(body_of("exr_standby_again")));
    EXPECT_EQ(relay_->relayed(), 6U);
  });
}

TEST_F(event_relay_test, a_database_it_cannot_reach_costs_one_warning_and_no_event) {
  auto log = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100);
  spdlog::default_logger()->sinks().push_back(log);
  auto admin = followers_.follow(std::nullopt, std::nullopt);
  run([&]() -> awaitable<void> {
    relay_->standby();
    CO_ASSERT_TRUE(co_await eventually([&] { return relay_->relaying(); }, 2s));
    co_await pause_for(150ms);
    co_await finish("exr_first");
    CO_ASSERT_TRUE(co_await eventually([&] { return relay_->relayed() >= 1; }, 5s));

    db_->unreachable = true;  // the standby's reads fail; the poller (data_) records on
    for (const auto* id : {"exr_cut_1", "exr_cut_2", "exr_cut_3"}) co_await finish(id);
    co_await pause_for(500ms);  // ten ticks
    EXPECT_EQ(relay_->relayed(), 1U);
    db_->unreachable = false;
    CO_ASSERT_TRUE(co_await eventually([&] { return relay_->relayed() >= 4; }, 5s));
    co_await pause_for(200ms);
    EXPECT_EQ(relay_->relayed(), 4U);
    EXPECT_EQ(admin->take(),
              names(body_of("exr_first"), body_of("exr_cut_1"), body_of("exr_cut_2"), body_of("exr_cut_3")));
  });
  spdlog::default_logger()->sinks().pop_back();
  std::size_t warnings = 0;
  std::size_t recoveries = 0;
  for (const auto& line : log->last_formatted()) {
    if (line.find("live events: cannot read new events") != std::string::npos) ++warnings;
    if (line.find("live events: the database answers again") != std::string::npos) ++recoveries;
  }
  EXPECT_EQ(warnings, 1U) << "one warning, not one per tick";
  EXPECT_EQ(recoveries, 1U);
}

}  // namespace
}  // namespace hookless::test
