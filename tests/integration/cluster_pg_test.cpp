// Two daemons on one real PostgreSQL database (pg_store, the test program's own server), each with
// its tracker, request budget, scripted run source, sink and cluster runtime: only one polls; runs
// registered on either reach a sink of their home; stopping the poller's daemon hands polling to
// the other within the lease's TTL and a renewal, and the requests of the two terms never overlap
// (the old poller's last request comes more than a second before the new one's first).
#include "core/store/pg_store.hpp"
#include "tests/integration/cluster_test_daemon.hpp"
#include "tests/support/pg_server.hpp"
#include "tests/support/run_with_deadline.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace hookless::test {
namespace {

class cluster_pg_test : public ::testing::Test {
 protected:
  void SetUp() override { uri_ = pg_server::shared().create_database("cluster"); }

  void TearDown() override {
    for (auto& d : daemons_) d->kill();
    io_.restart();
    io_.run_for(200ms);
    daemons_.clear();
    stores_.clear();
  }

  daemon& add(const std::string& node) {
    pg_store_options options;
    options.url = uri_;
    options.node = node;
    open_report report;
    stores_.push_back(pg_store::open(io_.get_executor(), std::move(options), report));
    daemons_.push_back(std::make_unique<daemon>(io_, *stores_.back(), script_, short_timing()));
    return *daemons_.back();
  }

  std::string uri_;
  asio::io_context io_{1};
  extend_script script_;
  std::vector<std::unique_ptr<pg_store>> stores_;
  std::vector<std::unique_ptr<daemon>> daemons_;
};

TEST_F(cluster_pg_test, one_polls_runs_reach_their_homes_and_a_stopped_poller_hands_over) {
  auto& a = add("a");
  auto& b = add("b");
  const bool returned = run_with_deadline(
      io_,
      [&]() -> awaitable<void> {
        co_await a.start();
        co_await b.start();
        EXPECT_TRUE(co_await eventually([&] { return a.tracker->polling() != b.tracker->polling(); }, 5s));
        auto& poller = a.tracker->polling() ? a : b;
        auto& other = a.tracker->polling() ? b : a;
        std::vector<registration> on_a{reg("exr_a1"), reg("exr_a2")};
        std::vector<registration> on_b{reg("exr_b1"), reg("exr_b2")};
        co_await a.tracker->register_runs(0, on_a);
        co_await b.tracker->register_runs(0, on_b);
        EXPECT_TRUE(co_await eventually([&] { return poller.tracker->pending_count() == 4; }, 5s)) << "picked up";
        EXPECT_TRUE(co_await eventually([&] { return poller.source.polls >= 8; }, 5s));
        for (const auto* id : {"exr_a1", "exr_b1"}) script_.status[id] = "PROCESSED";
        EXPECT_TRUE(co_await eventually(
            [&] { return a.archive.delivered.size() == 1 && b.archive.delivered.size() == 1; }, 5s));
        EXPECT_EQ(a.archive.delivered, std::vector<std::string>{"exr_a1"});
        EXPECT_EQ(b.archive.delivered, std::vector<std::string>{"exr_b1"});
        EXPECT_EQ(other.source.polls, 0) << "only the poller asks Extend";

        // The poller's daemon stops as if killed: the other takes over within TTL + a renewal.
        poller.kill();
        const auto killed = steady::now();
        EXPECT_TRUE(co_await eventually([&] { return other.tracker->polling(); }, 5s));
        EXPECT_LE(steady::now() - killed, short_timing().lease_ttl + short_timing().renew_interval + 300ms);
        EXPECT_TRUE(
            co_await eventually([&] { return other.tracker->pending_count() == 2 && other.source.polls >= 2; }, 5s));
        for (const auto* id : {"exr_a2", "exr_b2"}) script_.status[id] = "FAILED";
        // The killed daemon's home is adopted after dead_after: both runs reach the survivor's sink.
        EXPECT_TRUE(co_await eventually([&] { return other.archive.delivered.size() == 3; }, 5s));
        const std::set<std::string> delivered(other.archive.delivered.begin(), other.archive.delivered.end());
        const std::string mine = &other == &a ? "exr_a" : "exr_b";
        const std::string theirs = &other == &a ? "exr_b" : "exr_a";
        EXPECT_EQ(delivered, (std::set<std::string>{mine + "1", mine + "2", theirs + "2"}));
        EXPECT_TRUE(other.node_runtime->status().store_reachable);
      },
      30s);
  EXPECT_TRUE(returned);

  // The terms never overlap: every request of the first poller, then every one of the second, more
  // than a second apart (the trust margin).
  ASSERT_FALSE(script_.requests.empty());
  std::size_t switches = 0;
  for (std::size_t i = 1; i < script_.requests.size(); ++i) {
    if (script_.requests[i].instance == script_.requests[i - 1].instance) continue;
    ++switches;
    EXPECT_GE(script_.requests[i].at - script_.requests[i - 1].at, 1s);
  }
  EXPECT_EQ(switches, 1U);
  EXPECT_EQ(a.fatal_calls + b.fatal_calls, 0);
}

}  // namespace
}  // namespace hookless::test
