// The cluster runtime with two (or three) in-process daemons on one database (fake_cluster.hpp: a
// real SQLite store and the cluster tables in memory), each with its own tracker, request budget,
// scripted run source and sink: only the trusted poller asks Extend, runs registered on any daemon
// are polled by it and delivered to their home's sink, a stopped poller's role passes to another
// within the lease's TTL and a renewal, no request leaves outside its sender's term, a slow renewal
// switches polling off at its trust deadline, resigning hands over at once, a daemon cut off from
// the database shows it and resumes, and wait() on any daemon sees a run polled elsewhere finish.
#include "core/store/sqlite_store.hpp"
#include "tests/integration/cluster_test_daemon.hpp"
#include "tests/integration/fake_cluster.hpp"
#include "tests/support/co_assert.hpp"
#include "tests/support/run_with_deadline.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace hookless::test {
namespace {

class cluster_node_test : public ::testing::Test {
 protected:
  void SetUp() override {
    open_report report;
    data_ = sqlite_store::open(io_.get_executor(), (temp_.path() / "state.db").string(), report);
    db_ = std::make_unique<fake_cluster_db>(*data_);
  }

  void TearDown() override {
    for (auto& d : daemons_) d->kill();
    io_.restart();
    io_.run_for(200ms);  // let the stopped tasks end before their objects go
    daemons_.clear();
    stores_.clear();
    db_.reset();
    data_.reset();
  }

  daemon& add(const std::string& node, cluster_timing timing = short_timing(), const std::string& instance = "1") {
    stores_.push_back(std::make_unique<fake_cluster_node>(*db_, node, node + "-" + instance));
    daemons_.push_back(std::make_unique<daemon>(io_, *stores_.back(), script_, timing));
    return *daemons_.back();
  }

  void run(std::function<awaitable<void>()> body, std::chrono::milliseconds limit = 20s) {
    run_with_deadline(io_, std::move(body), limit);
  }

  // Every request left while its sender held the lease on the database: never outside its term,
  // so never two daemons in one term.
  void expect_requests_within_their_terms() {
    for (const auto& request : script_.requests) {
      const auto holder = db_->holder_at(request.at);
      EXPECT_EQ(holder.value_or("nobody"), request.instance) << "a request outside its sender's term";
    }
  }

  int pollers() const {
    int count = 0;
    for (const auto& d : daemons_) count += d->tracker->polling() ? 1 : 0;
    return count;
  }

  temp_dir temp_{"hlclu"};
  asio::io_context io_{1};
  std::unique_ptr<sqlite_store> data_;
  std::unique_ptr<fake_cluster_db> db_;
  extend_script script_;
  std::vector<std::unique_ptr<fake_cluster_node>> stores_;
  std::vector<std::unique_ptr<daemon>> daemons_;
};

TEST_F(cluster_node_test, one_daemon_polls_and_each_run_reaches_its_homes_sink) {
  auto& a = add("a");
  auto& b = add("b");
  run([&]() -> awaitable<void> {
    co_await a.start();
    co_await b.start();
    EXPECT_TRUE(co_await eventually([&] { return pollers() == 1; }, 3s));
    std::vector<registration> on_a{reg("exr_a1"), reg("exr_a2")};
    std::vector<registration> on_b{reg("exr_b1"), reg("exr_b2")};
    const auto registered_a = co_await a.tracker->register_runs(0, on_a);
    const auto registered_b = co_await b.tracker->register_runs(0, on_b);
    EXPECT_EQ(registered_a.size(), 2U);
    EXPECT_TRUE(registered_b.at(0).is_new);
    auto& poller = a.tracker->polling() ? a : b;
    auto& other = a.tracker->polling() ? b : a;
    EXPECT_TRUE(co_await eventually([&] { return poller.tracker->pending_count() == 4; }, 3s)) << "picked up";
    EXPECT_TRUE(co_await eventually([&] { return poller.source.polls >= 8; }, 3s));
    for (const auto* id : {"exr_a1", "exr_a2", "exr_b1", "exr_b2"}) script_.status[id] = "PROCESSED";
    EXPECT_TRUE(
        co_await eventually([&] { return a.archive.delivered.size() == 2 && b.archive.delivered.size() == 2; }, 5s));
    EXPECT_EQ(std::set<std::string>(a.archive.delivered.begin(), a.archive.delivered.end()),
              (std::set<std::string>{"exr_a1", "exr_a2"}));
    EXPECT_EQ(std::set<std::string>(b.archive.delivered.begin(), b.archive.delivered.end()),
              (std::set<std::string>{"exr_b1", "exr_b2"}));
    EXPECT_EQ(other.source.polls, 0) << "only the poller asks Extend";
    EXPECT_EQ(other.tracker->pending_count(), 0U) << "registering only inserts; the poller picks them up";
    EXPECT_EQ(pollers(), 1);
    const auto status = poller.node_runtime->status();
    EXPECT_TRUE(status.poller);
    EXPECT_EQ(status.poller_terms, 1U);
    EXPECT_FALSE(other.node_runtime->status().poller);
    EXPECT_EQ(other.node_runtime->status().live_nodes, (std::vector<std::string>{"a", "b"}));
  });
  expect_requests_within_their_terms();
  EXPECT_EQ(a.fatal_calls + b.fatal_calls, 0);
}

TEST_F(cluster_node_test, a_stopped_pollers_role_passes_to_another_within_the_ttl_and_a_renewal) {
  auto& a = add("a");
  run([&]() -> awaitable<void> {
    co_await a.start();
    EXPECT_TRUE(co_await eventually([&] { return a.tracker->polling(); }, 3s));
    std::vector<registration> runs{reg("exr_1"), reg("exr_2"), reg("exr_3")};
    co_await a.tracker->register_runs(0, runs);
    EXPECT_TRUE(co_await eventually([&] { return a.source.polls >= 6; }, 3s));
    auto& b = add("b");
    co_await b.start();
    co_await pause_for(300ms);
    EXPECT_FALSE(b.tracker->polling()) << "the lease is a's while it renews";

    a.kill();
    const auto killed = steady::now();
    EXPECT_TRUE(co_await eventually([&] { return b.tracker->polling(); }, 5s));
    const auto handed_over = steady::now() - killed;
    EXPECT_LE(handed_over, short_timing().lease_ttl + short_timing().renew_interval + 200ms);
    EXPECT_TRUE(co_await eventually([&] { return b.tracker->pending_count() == 3 && b.source.polls >= 3; }, 3s))
        << "the new poller loads every pending run";
    for (const auto* id : {"exr_1", "exr_2", "exr_3"}) script_.status[id] = "FAILED";
    // a's home is adopted once it has been silent for dead_after: b delivers its runs.
    EXPECT_TRUE(co_await eventually([&] { return b.archive.delivered.size() == 3; }, 5s));
    EXPECT_EQ(b.node_runtime->status().takeovers, 1U);
  });
  expect_requests_within_their_terms();
  EXPECT_EQ(daemons_[0]->fatal_calls + daemons_[1]->fatal_calls, 0);
}

// A node gone past dead_after is adopted: its runs' deliveries go to the adopter's sink of the same
// name. When it comes back it takes its home back, and the adopter drops them from its queues.
TEST_F(cluster_node_test, a_node_that_comes_back_takes_its_home_back) {
  auto& a = add("a");
  auto& b = add("b");
  run([&]() -> awaitable<void> {
    co_await a.start();
    co_await b.start();
    std::vector<registration> runs{reg("exr_1"), reg("exr_2")};
    co_await a.tracker->register_runs(0, runs);
    b.archive.refuse = true;  // so b's queue still holds them when a comes back
    a.kill();
    const auto adopted = [&] {
      const auto homes = b.node_runtime->status().homes;
      return std::ranges::find(homes, "a") != homes.end();
    };
    EXPECT_TRUE(co_await eventually([&] { return b.tracker->polling() && adopted(); }, 5s));
    for (const auto* id : {"exr_1", "exr_2"}) script_.status[id] = "PROCESSED";
    const auto& b_queue = *b.tracker->queues().at(0);
    EXPECT_TRUE(co_await eventually([&] { return b_queue.backlog() == 2; }, 5s)) << "b delivers a's runs meanwhile";

    auto& back = add("a", short_timing(), "2");
    co_await back.start();
    EXPECT_TRUE(co_await eventually([&] { return !adopted() && b_queue.backlog() == 0; }, 3s));
    EXPECT_TRUE(co_await eventually([&] { return back.archive.delivered.size() == 2; }, 3s));
    EXPECT_TRUE(b.archive.delivered.empty());
  });
}

// The tracker's switch alone, driven by hand: a poller whose term was taken (it was paused past its
// lease) has its fenced writes refused; the poll ends having recorded nothing, and switching off
// lets every run go while they stay pending in the store.
TEST_F(cluster_node_test, a_refused_fenced_write_records_nothing_and_the_switch_lets_the_runs_go) {
  auto& a = add("a");  // (its cluster runtime is never started: the test plays its part)
  auto& store = *stores_[0];
  run([&]() -> awaitable<void> {
    const auto term = co_await store.claim_poller(10s);
    CO_ASSERT_TRUE(term.has_value());
    store.set_poller_term(term);
    a.budget.open_until(steady::now() + 10s);
    co_await a.tracker->start();
    co_await a.tracker->start_polling();
    std::vector<registration> runs{reg("exr_1"), reg("exr_2")};
    co_await a.tracker->register_runs(0, runs);
    auto picked = co_await store.pick_new_runs(100);  // (a named local: g++ 12 and co_await in arguments)
    a.tracker->adopt_new_runs(std::move(picked));
    EXPECT_EQ(a.tracker->pending_count(), 2U);
    EXPECT_TRUE(co_await eventually([&] { return a.source.polls >= 4; }, 3s));

    db_->lease = "z-1";  // another daemon's term began
    db_->terms.push_back({.instance = "z-1", .term = *term + 1, .from = steady::now(), .until = steady::now() + 10s});
    script_.status["exr_1"] = "PROCESSED";
    EXPECT_TRUE(co_await eventually([&] { return db_->refused_writes >= 1; }, 3s));
    co_await pause_for(100ms);
    const auto stored = co_await store.find_run("exr_1");
    EXPECT_TRUE(stored && stored->state == run_state::pending && stored->events.empty()) << "nothing recorded";
    EXPECT_TRUE(a.archive.delivered.empty());

    a.tracker->stop_polling();
    EXPECT_FALSE(a.tracker->polling());
    EXPECT_EQ(a.tracker->pending_count(), 0U);
    const auto polls = a.source.polls;
    co_await pause_for(200ms);
    EXPECT_EQ(a.source.polls, polls) << "every poll stopped";
    const auto pending = co_await a.store.list_runs(run_query{.state = run_state::pending,
                                                              .owner = std::nullopt,
                                                              .limit = 10,
                                                              .after = std::nullopt,
                                                              .kind = std::nullopt,
                                                              .outcome = std::nullopt});
    EXPECT_EQ(pending.size(), 2U) << "the runs stay in the store for the next poller";
  });
  EXPECT_EQ(a.fatal_calls, 0);
}

// A renewal that does not answer in time: polling stops at the trust deadline, before the database
// could give the lease to anyone, and the budget grants nothing after it.
TEST_F(cluster_node_test, a_slow_renewal_stops_polling_at_the_trust_deadline) {
  auto& a = add("a");
  run([&]() -> awaitable<void> {
    co_await a.start();
    EXPECT_TRUE(co_await eventually([&] { return a.tracker->polling(); }, 3s));
    std::vector<registration> runs{reg("exr_1"), reg("exr_2")};
    co_await a.tracker->register_runs(0, runs);
    EXPECT_TRUE(co_await eventually([&] { return a.source.polls >= 4; }, 3s));
    stores_[0]->claim_delay = 3s;  // every claim from now on answers after its lease expired
    EXPECT_TRUE(co_await eventually([&] { return !a.tracker->polling(); }, 3s));
    const auto stopped = steady::now();
    EXPECT_FALSE(a.budget.open());
    EXPECT_FALSE(a.node_runtime->status().poller);
    const auto polls = a.source.polls;
    co_await pause_for(500ms);
    EXPECT_EQ(a.source.polls, polls) << "nothing sent after the trust deadline";
    EXPECT_TRUE(a.budget.last_grant() && *a.budget.last_grant() < stopped);
    EXPECT_TRUE(db_->holder_at(stopped + 900ms).has_value()) << "the database's lease outlives the trust";
  });
  expect_requests_within_their_terms();
}

TEST_F(cluster_node_test, resigning_hands_the_role_over_at_once) {
  auto timing = short_timing();
  timing.lease_ttl = 4s;  // far longer than the hand-over takes
  auto& a = add("a", timing);
  auto& b = add("b", timing);
  run([&]() -> awaitable<void> {
    co_await a.start();
    EXPECT_TRUE(co_await eventually([&] { return a.tracker->polling(); }, 3s));
    co_await b.start();
    std::vector<registration> runs{reg("exr_1")};
    co_await b.tracker->register_runs(0, runs);
    EXPECT_TRUE(co_await eventually([&] { return a.source.polls >= 2; }, 3s));
    const auto asked = steady::now();
    co_await a.node_runtime->resign();
    EXPECT_FALSE(a.tracker->polling());
    EXPECT_TRUE(co_await eventually([&] { return b.tracker->polling(); }, 3s));
    EXPECT_LT(steady::now() - asked, 2500ms) << "without waiting for the lease to expire";
    EXPECT_TRUE(co_await eventually([&] { return b.source.polls >= 1; }, 3s));
    // The second of a's last request passed before b's first.
    steady::time_point last_of_a{};
    steady::time_point first_of_b = steady::time_point::max();
    for (const auto& request : script_.requests) {
      if (request.instance == "a-1") last_of_a = std::max(last_of_a, request.at);
      if (request.instance == "b-1") first_of_b = std::min(first_of_b, request.at);
    }
    EXPECT_GE(first_of_b - last_of_a, 1s);
  });
  expect_requests_within_their_terms();
}

TEST_F(cluster_node_test, a_daemon_cut_off_from_the_database_shows_it_and_resumes) {
  auto& a = add("a");
  run([&]() -> awaitable<void> {
    co_await a.start();
    EXPECT_TRUE(co_await eventually([&] { return a.tracker->polling(); }, 3s));
    std::vector<registration> runs{reg("exr_1")};
    co_await a.tracker->register_runs(0, runs);
    db_->unreachable = true;
    EXPECT_TRUE(co_await eventually([&] { return !a.node_runtime->status().store_reachable; }, 2s));
    EXPECT_TRUE(co_await eventually([&] { return !a.tracker->polling(); }, 3s)) << "its trust runs out";
    bool refused = false;
    try {
      std::vector<registration> more{reg("exr_2")};
      co_await a.tracker->register_runs(0, more);
    } catch (const store_full&) {
      refused = true;  // answered 503 busy
    }
    EXPECT_TRUE(refused);
    db_->unreachable = false;
    EXPECT_TRUE(
        co_await eventually([&] { return a.node_runtime->status().store_reachable && a.tracker->polling(); }, 3s));
    EXPECT_TRUE(co_await eventually([&] { return a.tracker->pending_count() == 1; }, 3s));
    script_.status["exr_1"] = "PROCESSED";
    EXPECT_TRUE(co_await eventually([&] { return a.archive.delivered.size() == 1; }, 3s));
  });
  EXPECT_EQ(a.fatal_calls, 0);
}

TEST_F(cluster_node_test, wait_on_any_daemon_sees_a_run_polled_elsewhere_finish) {
  auto& a = add("a");
  auto& b = add("b");
  run([&]() -> awaitable<void> {
    co_await a.start();
    EXPECT_TRUE(co_await eventually([&] { return a.tracker->polling(); }, 3s));
    co_await b.start();
    std::vector<registration> runs{reg("exr_w")};
    co_await b.tracker->register_runs(0, runs);
    const auto early = co_await b.tracker->wait("exr_w", 100ms);
    EXPECT_TRUE(early && early->state == run_state::pending) << "still pending when the time is up";
    script_.status["exr_w"] = "PROCESSED";
    const auto started = steady::now();
    const auto finished = co_await b.tracker->wait("exr_w", 5s);
    EXPECT_TRUE(finished && finished->state == run_state::finished);
    EXPECT_LT(steady::now() - started, 2s);
    const auto found = co_await b.tracker->find("exr_w");
    EXPECT_TRUE(found && found->outcome == "processed");
    EXPECT_TRUE(co_await b.tracker->forget("exr_w"));
    EXPECT_FALSE((co_await a.tracker->find("exr_w")).has_value());
  });
}

}  // namespace
}  // namespace hookless::test
