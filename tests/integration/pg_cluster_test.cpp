// What several daemons sharing one PostgreSQL database ask of it (cluster_store): several pg_store
// instances with different node names on one fresh database of the test program's own server, as
// several daemons would be. The poller lease and its fencing, heartbeats and adoption of a dead
// node's home, the hand-over of registrations and deliveries, and a database that goes away.
// Short TTLs and dead_after, no long sleeps.
#include "core/store/cluster_store.hpp"
#include "core/store/pg_connection.hpp"
#include "core/store/pg_store.hpp"
#include "tests/integration/store_records.hpp"
#include "tests/support/pg_server.hpp"
#include "tests/support/run_with_deadline.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hookless::test {
namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

// A call made on the side, to race another one or to queue behind a held write.
template <typename T>
struct pending_call {
  bool done = false;
  std::optional<T> value;
  std::exception_ptr error;
};

class pg_cluster_test : public ::testing::Test {
 protected:
  explicit pg_cluster_test(pg_server& server = pg_server::shared()) : server_{server} {}

  // A daemon of the cluster: a store on the test's database under `node`.
  std::unique_ptr<pg_store> open_node(const std::string& node) {
    pg_store_options options;
    options.url = uri_;
    options.node = node;
    open_report report;
    return pg_store::open(context_.get_executor(), std::move(options), report);
  }

  // Runs one store call to its end on the test's io_context and returns what it returned (or
  // rethrows what it threw).
  template <typename T>
  T sync(awaitable<T> call) {
    std::optional<T> result;
    const bool returned = run_with_deadline(
        context_, [&]() -> awaitable<void> { result.emplace(co_await std::move(call)); }, 20s);
    context_.restart();
    if (!returned || !result) throw std::runtime_error("a store call did not return within 20 s");
    return std::move(*result);
  }
  void sync(awaitable<void> call) {
    const bool returned = run_with_deadline(
        context_, [&]() -> awaitable<void> { co_await std::move(call); }, 20s);
    context_.restart();
    if (!returned) throw std::runtime_error("a store call did not return within 20 s");
  }

  // Starts a call without waiting for it; `wait_done` drives it (and any others) to their end.
  template <typename T>
  std::shared_ptr<pending_call<T>> start(awaitable<T> call) {
    auto state = std::make_shared<pending_call<T>>();
    boost::asio::co_spawn(context_, std::move(call), [state](std::exception_ptr error, T value) {
      state->done = true;
      state->error = error;
      if (!error) state->value = std::move(value);
    });
    return state;
  }
  std::shared_ptr<pending_call<bool>> start(awaitable<void> call) {
    return start([](awaitable<void> inner) -> awaitable<bool> {
      co_await std::move(inner);
      co_return true;
    }(std::move(call)));
  }
  bool drive_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 20s) {
    const bool reached = run_until(context_, done, limit);
    context_.restart();
    return reached;
  }

  std::optional<std::string> value(const std::string& sql) { return server_.query_value(database_, sql); }

  // Lets go for a while without driving the io_context (the stores work on their own threads).
  static void pause(std::chrono::milliseconds how_long) { std::this_thread::sleep_for(how_long); }

  boost::asio::io_context context_;
  pg_server& server_;
  std::string uri_ = server_.create_database(::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::string database_ = uri_.substr(uri_.rfind('/') + 1);
};

// --- the poller lease ---------------------------------------------------------------------------

// A lease that runs out within the test, yet outlives a few calls on a busy machine.
constexpr auto short_ttl = 500ms;

TEST_F(pg_cluster_test, two_instances_never_both_hold_the_poller_lease) {
  auto a = open_node("a");
  auto b = open_node("b");
  std::uint64_t last_term = 0;
  for (int round = 0; round < 10; ++round) {
    auto claim_a = start(a->claim_poller(60s));
    auto claim_b = start(b->claim_poller(60s));
    ASSERT_TRUE(drive_until([&] { return claim_a->done && claim_b->done; }));
    ASSERT_FALSE(claim_a->error || claim_b->error) << "round " << round;
    const auto term_a = *claim_a->value;
    const auto term_b = *claim_b->value;
    ASSERT_NE(term_a.has_value(), term_b.has_value()) << "round " << round << ": exactly one of the two wins";
    const auto term = term_a ? *term_a : *term_b;
    EXPECT_GT(term, last_term) << "every new holder is a new term";
    last_term = term;
    auto& holder = term_a ? *a : *b;
    auto& other = term_a ? *b : *a;
    EXPECT_EQ(sync(other.claim_poller(60s)), std::nullopt) << "held: the other cannot take it";
    EXPECT_EQ(sync(holder.claim_poller(60s)), term) << "the holder renews it";
    sync(holder.resign_poller());
  }
}

TEST_F(pg_cluster_test, a_new_term_begins_after_the_lease_expires) {
  auto a = open_node("a");
  auto b = open_node("b");
  const auto first = sync(a->claim_poller(short_ttl));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(sync(b->claim_poller(short_ttl)), std::nullopt);
  pause(short_ttl + 100ms);
  EXPECT_EQ(sync(b->claim_poller(60s)), *first + 1) << "expired: taken under the next term";
  EXPECT_EQ(sync(a->claim_poller(60s)), std::nullopt) << "the old holder cannot renew it";
}

TEST_F(pg_cluster_test, renewal_keeps_the_term_and_pushes_the_expiry_on) {
  auto a = open_node("a");
  auto b = open_node("b");
  const auto term = sync(a->claim_poller(2 * short_ttl));
  ASSERT_TRUE(term.has_value());
  pause(short_ttl + 100ms);
  EXPECT_EQ(sync(a->claim_poller(2 * short_ttl)), term);
  pause(short_ttl + 100ms);  // past the first expiry, well before the renewed one
  EXPECT_EQ(sync(b->claim_poller(2 * short_ttl)), std::nullopt) << "the renewal moved the expiry on";
  EXPECT_EQ(sync(a->claim_poller(2 * short_ttl)), term);
}

TEST_F(pg_cluster_test, resign_frees_the_lease_at_once) {
  auto a = open_node("a");
  auto b = open_node("b");
  const auto term = sync(a->claim_poller(60s));
  ASSERT_TRUE(term.has_value());
  sync(a->resign_poller());
  EXPECT_EQ(sync(b->claim_poller(60s)), *term + 1);
  EXPECT_EQ(sync(a->claim_poller(60s)), std::nullopt);
}

// --- fenced writes ------------------------------------------------------------------------------

// What the poller's writes would have changed, read back: nothing of it may be there.
struct poller_writes_seen {
  std::string run_state, polls, status, picked_new, events, deliveries, sinks, found, positions;
};

class pg_fencing_test : public pg_cluster_test {
 protected:
  poller_writes_seen seen() {
    return {value("SELECT state FROM runs WHERE id = 'exr_polled'").value_or("?"),
            value("SELECT polls FROM runs WHERE id = 'exr_polled'").value_or("?"),
            value("SELECT COALESCE(status, 'none') FROM runs WHERE id = 'exr_polled'").value_or("?"),
            // "f": still queued for the poller (in new_runs), not picked.
            value("SELECT NOT EXISTS (SELECT 1 FROM new_runs WHERE id = 'exr_new')").value_or("?"),
            value("SELECT COUNT(*) FROM events").value_or("?"), value("SELECT COUNT(*) FROM deliveries").value_or("?"),
            value("SELECT sinks FROM runs WHERE id = 'exr_polled'").value_or("?"),
            value("SELECT COUNT(*) FROM runs WHERE id = 'exr_found'").value_or("?"),
            value("SELECT COUNT(*) FROM subscription_positions").value_or("?")};
  }

  // What a sweep found: exr_polled (gaining the sink "subs") and a new run, with the position.
  static subscription_finds finds() {
    subscription_finds found;
    found.position.subscription = "invoices";
    found.position.kind = "extract_run";
    found.position.since = at_ms(1'700'000'000'000);
    found.runs = runs_of(make_found_run("exr_polled", "invoices", names("subs")),
                         make_found_run("exr_found", "invoices", names("subs")));
    return found;
  }

  // a polls exr_polled under its first term; exr_new waits to be picked.
  void a_polls_under_a_lease_of(std::chrono::milliseconds ttl) {
    term_ = sync(a_->claim_poller(ttl));
    ASSERT_TRUE(term_.has_value());
    a_->set_poller_term(term_);
    sync(a_->insert_runs(runs_of(make_run("exr_polled"))));
    ASSERT_EQ(sync(a_->pick_new_runs(10)).size(), 1U);
    sync(b_->insert_runs(runs_of(make_run("exr_new"))));
  }

  void expect_nothing_written() {
    const auto after = seen();
    EXPECT_EQ(after.run_state, "pending");
    EXPECT_EQ(after.polls, "0");
    EXPECT_EQ(after.status, "none");
    EXPECT_EQ(after.picked_new, "f");
    EXPECT_EQ(after.events, "0");
    EXPECT_EQ(after.deliveries, "0");
    EXPECT_EQ(after.sinks, R"(["out","app"])");
    EXPECT_EQ(after.found, "0");
    EXPECT_EQ(after.positions, "0");
  }

  run_progress progress() {
    return run_progress{
        "exr_polled", "PROCESSING", 4, at_ms(1'700'000'010'000), at_ms(1'700'000'020'000), at_ms(1'700'000'010'000)};
  }

  std::unique_ptr<pg_store> a_ = open_node("a");
  std::unique_ptr<pg_store> b_ = open_node("b");
  std::optional<std::uint64_t> term_;
};

TEST_F(pg_fencing_test, writes_under_an_old_term_throw_lease_lost_and_write_nothing) {
  a_polls_under_a_lease_of(short_ttl);
  pause(short_ttl + 100ms);
  ASSERT_EQ(sync(b_->claim_poller(60s)), *term_ + 1);

  EXPECT_THROW(sync(a_->record_outcome(make_outcome(make_run("exr_polled"), 1'700'000'050'000))), lease_lost);
  EXPECT_THROW(sync(a_->save_progress(progress_of(progress()))), lease_lost);
  EXPECT_THROW(sync(a_->pick_new_runs(10)), lease_lost);
  EXPECT_THROW(sync(a_->save_finds(finds())), lease_lost);
  expect_nothing_written();
}

TEST_F(pg_fencing_test, a_store_that_is_not_the_poller_makes_no_poller_writes) {
  a_polls_under_a_lease_of(60s);
  a_->set_poller_term(std::nullopt);
  EXPECT_THROW(sync(a_->record_outcome(make_outcome(make_run("exr_polled"), 1'700'000'050'000))), lease_lost);
  EXPECT_THROW(sync(a_->save_progress(progress_of(progress()))), lease_lost);
  EXPECT_THROW(sync(a_->pick_new_runs(10)), lease_lost);
  EXPECT_THROW(sync(a_->save_finds(finds())), lease_lost);
  b_->set_poller_term(std::nullopt);
  EXPECT_THROW(sync(b_->save_finds(finds())), lease_lost) << "nor does a daemon that never was";
  expect_nothing_written();
}

// The poller's sweep: a run it finds new is its own (home a, not queued for pick_new_runs); a run
// registered on b gains the subscription's sink, and that delivery is for b's intake to take.
TEST_F(pg_fencing_test, found_runs_are_the_pollers_and_added_deliveries_go_to_the_runs_home) {
  a_polls_under_a_lease_of(60s);
  sync(b_->insert_runs(runs_of(make_run("exr_done"))));
  const auto outcome = make_outcome(make_run("exr_done"), 1'700'000'050'000);
  sync(a_->record_outcome(outcome));
  // b delivers its run's events, as the home of exr_done: both, now done.
  for (auto job : sync(b_->take_new_deliveries(10))) {
    job.record.state = delivery_state::done;
    sync(b_->update_delivery(job.record));
  }
  auto found = finds();
  found.runs.push_back(make_found_run("exr_done", "invoices", names("subs")));
  const auto saved = sync(a_->save_finds(found));
  ASSERT_EQ(saved.size(), 3U);
  EXPECT_EQ(saved[0].what, found_run::result::merged);  // exr_polled: pending, no events yet
  EXPECT_TRUE(saved[0].new_jobs.empty());
  EXPECT_EQ(saved[1].what, found_run::result::inserted);
  EXPECT_EQ(saved[2].what, found_run::result::merged);
  ASSERT_EQ(saved[2].new_jobs.size(), 1U);
  EXPECT_EQ(saved[2].new_jobs[0].home, "b");
  EXPECT_EQ(saved[2].new_jobs[0].body, outcome.new_events[0].body);

  EXPECT_EQ(value("SELECT home FROM runs WHERE id = 'exr_found'"), "a");
  EXPECT_EQ(value("SELECT COUNT(*) FROM new_runs WHERE id = 'exr_found'"), "0");
  EXPECT_EQ(value("SELECT COUNT(*) FROM subscription_positions"), "1");
  EXPECT_TRUE(sync(a_->take_new_deliveries(10)).empty()) << "a is not exr_done's home";
  const auto taken = sync(b_->take_new_deliveries(10));
  ASSERT_EQ(taken.size(), 1U);
  EXPECT_EQ(taken[0].record.id, outcome.new_events[0].event_id + ":subs");
  EXPECT_EQ(taken[0].body, outcome.new_events[0].body);
}

// Written while a held the lease, run after b took it: refused all the same.
TEST_F(pg_fencing_test, writes_queued_before_the_new_term_began_are_refused_too) {
  a_polls_under_a_lease_of(short_ttl);
  auto lock = std::make_unique<pg_table_lock>(server_, database_, "runs, events, deliveries");
  auto held = start(a_->insert_runs(runs_of(make_run("exr_held"))));  // not fenced: any daemon registers
  ASSERT_TRUE(drive_until([&] { return lock->someone_waits(); }, 5s)) << "the insert should wait for the lock";
  auto outcome = start(a_->record_outcome(make_outcome(make_run("exr_polled"), 1'700'000'050'000)));
  auto saved = start(a_->save_progress(progress_of(progress())));
  auto picked = start(a_->pick_new_runs(10));
  drive_until([] { return false; }, 50ms);  // queued behind the held insert, under a's valid term

  pause(short_ttl + 100ms);
  ASSERT_EQ(sync(b_->claim_poller(60s)), *term_ + 1);
  lock->release();
  ASSERT_TRUE(drive_until([&] { return held->done && outcome->done && saved->done && picked->done; }));

  EXPECT_FALSE(held->error) << "the registration is not a poller write";
  auto kind_of = [](const std::exception_ptr& error) -> std::string {
    if (!error) return "written";
    try {
      std::rethrow_exception(error);
    } catch (const lease_lost&) {
      return "lease_lost";
    } catch (const std::exception& other) {
      return other.what();
    }
  };
  EXPECT_EQ(kind_of(outcome->error), "lease_lost");
  EXPECT_EQ(kind_of(saved->error), "lease_lost");
  EXPECT_EQ(kind_of(picked->error), "lease_lost");
  expect_nothing_written();
  EXPECT_EQ(value("SELECT COUNT(*) FROM runs WHERE id = 'exr_held'"), "1");
}

// A poller frozen (SIGSTOP, a paused VM) or gone in the middle of a fenced write still holds the
// poller row FOR KEY SHARE. The server ends such a session by itself, so the next election does not
// wait on it for ever, and what the frozen write did is rolled back.
TEST_F(pg_fencing_test, a_poller_frozen_inside_a_fenced_write_does_not_hold_the_election_up) {
  a_polls_under_a_lease_of(short_ttl);
  pg_connection_options options;
  options.url = uri_;
  pg_connection frozen(options);
  frozen.begin();
  frozen.exec_with("SELECT 1 FROM poller WHERE term = $1 FOR KEY SHARE", *term_);
  frozen.exec("UPDATE runs SET polls = 99 WHERE id = 'exr_polled'");
  const auto frozen_at = steady_clock::now();

  pause(short_ttl + 100ms);
  std::optional<std::uint64_t> claimed;
  while (!claimed && steady_clock::now() - frozen_at < 15s) {
    try {
      claimed = sync(b_->claim_poller(60s));
    } catch (const store_unavailable&) {
      // the claim waited for the frozen transaction's lock until its statement timeout
    }
  }
  const auto waited = steady_clock::now() - frozen_at;
  ASSERT_EQ(claimed, *term_ + 1) << "b never became the poller";
  EXPECT_LT(waited, 6s) << "the frozen session should end after about 2 s idle in its transaction";
  EXPECT_EQ(seen().polls, "0") << "the frozen write was rolled back";
  EXPECT_THROW(frozen.exec("COMMIT"), store_unavailable) << "the server ended the frozen session";
}

// --- hand-over of registrations -----------------------------------------------------------------

TEST_F(pg_cluster_test, pick_new_runs_returns_each_registration_once_oldest_first) {
  auto a = open_node("a");
  auto b = open_node("b");
  auto c = open_node("c");
  const auto term = sync(a->claim_poller(60s));
  ASSERT_TRUE(term.has_value());
  a->set_poller_term(term);

  sync(a->insert_runs(runs_of(make_run("exr_1"), make_run("exr_2"))));
  sync(b->insert_runs(runs_of(make_run("exr_3"))));
  sync(c->insert_runs(runs_of(make_run("exr_4"), make_run("exr_5"))));
  sync(a->insert_runs(runs_of(make_run("exr_6"))));
  sync(b->insert_runs(runs_of(make_run("exr_3"))));  // registered again: not a new registration

  EXPECT_EQ(ids_of(sync(a->pick_new_runs(4))), names("exr_1", "exr_2", "exr_3", "exr_4"));
  EXPECT_EQ(ids_of(sync(a->pick_new_runs(4))), names("exr_5", "exr_6"));
  EXPECT_TRUE(sync(a->pick_new_runs(4)).empty());

  // A new poller takes over: it gets what was registered since, never the picked ones again.
  sync(c->insert_runs(runs_of(make_run("exr_7"))));
  sync(a->resign_poller());
  const auto next = sync(b->claim_poller(60s));
  ASSERT_TRUE(next.has_value());
  b->set_poller_term(next);
  const auto picked = sync(b->pick_new_runs(100));
  EXPECT_EQ(ids_of(picked), names("exr_7"));
  ASSERT_EQ(picked.size(), 1U);
  expect_same_run(picked[0], make_run("exr_7"));
  EXPECT_TRUE(sync(b->pick_new_runs(100)).empty());
}

// A new poller first loads every pending run of the database (registered on any node, picked or
// not), marking them picked: its picks then bring only what is registered afterwards.
TEST_F(pg_cluster_test, a_new_poller_loads_every_pending_run_then_picks_only_newer_ones) {
  auto a = open_node("a");
  auto b = open_node("b");
  sync(a->insert_runs(runs_of(make_run("exr_1"), make_run("exr_2"))));
  sync(b->insert_runs(runs_of(make_run("exr_3"))));
  const auto first = sync(a->claim_poller(60s));
  ASSERT_TRUE(first.has_value());
  a->set_poller_term(first);
  EXPECT_EQ(ids_of(sync(a->pick_new_runs(1))), names("exr_1"));  // the old poller picked one
  sync(a->resign_poller());

  const auto term = sync(b->claim_poller(60s));
  ASSERT_TRUE(term.has_value());
  b->set_poller_term(term);
  EXPECT_EQ(ids_of(sync(b->load_pending())), names("exr_1", "exr_2", "exr_3"));
  EXPECT_TRUE(sync(b->pick_new_runs(100)).empty());
  sync(a->insert_runs(runs_of(make_run("exr_4"))));
  EXPECT_EQ(ids_of(sync(b->pick_new_runs(100))), names("exr_4"));
}

// --- homes: heartbeats, adoption, return --------------------------------------------------------

// Short, yet long enough that a live node's heartbeat a few calls ago still counts on a busy machine.
constexpr auto dead_after = 500ms;

class pg_homes_test : public pg_cluster_test {
 protected:
  // c registers two runs and takes their deliveries once a, the poller, recorded their outcomes.
  void c_takes_its_deliveries() {
    sync(c_->insert_runs(runs_of(make_run("exr_c1"), make_run("exr_c2"))));
    const auto term = sync(a_->claim_poller(60s));
    ASSERT_TRUE(term.has_value());
    a_->set_poller_term(term);
    for (const auto& run : sync(a_->pick_new_runs(10))) {
      sync(a_->record_outcome(make_outcome(run, 1'700'000'050'000)));
    }
    EXPECT_TRUE(sync(a_->take_new_deliveries(100)).empty()) << "not a's home";
    const auto taken = sync(c_->take_new_deliveries(100));
    ASSERT_EQ(taken.size(), 4U);
    for (const auto& job : taken) EXPECT_EQ(job.home, "c");
    EXPECT_TRUE(sync(c_->take_new_deliveries(100)).empty()) << "taken once";
  }

  // c falls silent (its process frozen or cut off: no heartbeat, nothing cleaned up); a and b race
  // to adopt it. Returns the adopter.
  pg_store* adopt_c() {
    pause(dead_after + 100ms);
    sync(a_->heartbeat(10s));  // a and b are alive: fresh heartbeats, nobody adopted yet
    sync(b_->heartbeat(10s));
    auto beat_a = start(a_->heartbeat(dead_after));
    auto beat_b = start(b_->heartbeat(dead_after));
    EXPECT_TRUE(drive_until([&] { return beat_a->done && beat_b->done; }));
    if (beat_a->error || beat_b->error) {
      ADD_FAILURE() << "a heartbeat failed";
      return nullptr;
    }
    const auto& result_a = *beat_a->value;
    const auto& result_b = *beat_b->value;
    const bool a_won = result_a.adopted_now == names("c");
    const bool b_won = result_b.adopted_now == names("c");
    EXPECT_NE(a_won, b_won) << "exactly one of the two live nodes adopts c";
    const auto& winner = a_won ? result_a : result_b;
    const auto& loser = a_won ? result_b : result_a;
    const std::string winner_name = a_won ? "a" : "b";
    const std::string loser_name = a_won ? "b" : "a";
    EXPECT_EQ(winner.homes, names(winner_name, "c"));
    EXPECT_TRUE(loser.adopted_now.empty());
    EXPECT_EQ(loser.homes, names(loser_name));
    EXPECT_EQ(winner.live_nodes, names("a", "b"));
    EXPECT_EQ(loser.live_nodes, names("a", "b"));
    return a_won ? a_.get() : b_.get();
  }

  std::unique_ptr<pg_store> a_ = open_node("a");
  std::unique_ptr<pg_store> b_ = open_node("b");
  std::unique_ptr<pg_store> c_ = open_node("c");
};

TEST_F(pg_homes_test, heartbeat_reports_homes_and_live_nodes) {
  const auto beat = sync(b_->heartbeat(10s));
  EXPECT_EQ(beat.homes, names("b"));
  EXPECT_TRUE(beat.adopted_now.empty());
  EXPECT_EQ(beat.live_nodes, names("a", "b", "c"));
  EXPECT_EQ(b_->node_name(), "b");
  EXPECT_NE(b_->instance_id(), a_->instance_id());
}

TEST_F(pg_homes_test, a_dead_node_is_adopted_exactly_once_and_its_deliveries_go_to_the_adopter) {
  c_takes_its_deliveries();
  pg_store* adopter = adopt_c();
  ASSERT_NE(adopter, nullptr);
  pg_store* other = adopter == a_.get() ? b_.get() : a_.get();

  const auto taken = sync(adopter->take_new_deliveries(100));
  ASSERT_EQ(taken.size(), 4U) << "c's undone deliveries were freed for the adopter";
  for (const auto& job : taken) {
    EXPECT_EQ(job.home, "c");
    EXPECT_EQ(job.record.state, delivery_state::pending);
    EXPECT_FALSE(job.body.empty());
  }
  EXPECT_TRUE(sync(other->take_new_deliveries(100)).empty());
  EXPECT_TRUE(sync(adopter->take_new_deliveries(100)).empty()) << "taken once";

  // Adopted once: c is still silent, yet later heartbeats keep the home and adopt nothing more.
  sync(other->heartbeat(10s));
  const auto again = sync(adopter->heartbeat(dead_after));
  EXPECT_TRUE(again.adopted_now.empty());
  EXPECT_EQ(again.homes.size(), 2U);
  EXPECT_TRUE(sync(other->heartbeat(dead_after)).adopted_now.empty());
}

TEST_F(pg_homes_test, a_node_that_reopens_takes_its_home_and_deliveries_back) {
  c_takes_its_deliveries();
  pg_store* adopter = adopt_c();
  ASSERT_NE(adopter, nullptr);
  ASSERT_EQ(sync(adopter->take_new_deliveries(100)).size(), 4U);

  c_.reset();  // the old process is gone for good
  c_ = open_node("c");
  // A long dead_after from here: reopening c may take longer than the short one, and the other
  // live node must not look dead meanwhile.
  const auto beat = sync(adopter->heartbeat(10s));
  EXPECT_EQ(beat.homes, names(adopter == a_.get() ? "a" : "b")) << "c is home again";
  EXPECT_EQ(beat.live_nodes, names("a", "b", "c"));
  const auto taken = sync(c_->take_new_deliveries(100));
  EXPECT_EQ(taken.size(), 4U) << "its deliveries were freed for it";
  for (const auto& job : taken) EXPECT_EQ(job.home, "c");
  EXPECT_TRUE(sync(adopter->take_new_deliveries(100)).empty());
  EXPECT_EQ(sync(c_->heartbeat(10s)).homes, names("c"));
}

// A delivery is updated only by the process that holds it: one taken over meanwhile (its node came
// back, or was adopted) is left as its new holder has it.
TEST_F(pg_homes_test, update_delivery_by_a_process_that_no_longer_holds_it_changes_nothing) {
  c_takes_its_deliveries();
  auto old_c = std::move(c_);
  c_ = open_node("c");  // a new process under c's name: it takes the deliveries back
  const auto taken = sync(c_->take_new_deliveries(100));
  ASSERT_EQ(taken.size(), 4U);
  const auto id = taken[0].record.id;
  const auto holder = value("SELECT taken_by FROM deliveries WHERE id = '" + id + "'");
  EXPECT_EQ(holder, c_->instance_id());

  auto late = taken[0].record;  // the old process finishes its attempt late
  late.state = delivery_state::done;
  late.attempts = 1;
  sync(old_c->update_delivery(late));
  EXPECT_EQ(value("SELECT state FROM deliveries WHERE id = '" + id + "'"), "pending");
  EXPECT_EQ(value("SELECT attempts FROM deliveries WHERE id = '" + id + "'"), "0");
  EXPECT_EQ(value("SELECT taken_by FROM deliveries WHERE id = '" + id + "'"), holder);

  sync(c_->update_delivery(late));  // its holder's update lands
  EXPECT_EQ(value("SELECT state FROM deliveries WHERE id = '" + id + "'"), "done");
}

// A dead delivery put back (redeliver, on whichever daemon the operator asked) is freed for its
// home to take, even when another process had it.
TEST_F(pg_homes_test, a_delivery_put_back_by_any_daemon_goes_to_its_home) {
  c_takes_its_deliveries();
  const auto taken = sync(c_->take_new_deliveries(100));
  EXPECT_TRUE(taken.empty());
  auto dead = sync(c_->find_delivery("event_exr_c1_extract_run.processed:out"));
  ASSERT_TRUE(dead.has_value());
  dead->record.state = delivery_state::dead;
  dead->record.attempts = 9;
  sync(c_->update_delivery(dead->record));
  EXPECT_TRUE(sync(c_->take_new_deliveries(100)).empty());

  auto put_back = dead->record;  // on daemon a, through its control API
  put_back.state = delivery_state::pending;
  put_back.attempts = 0;
  put_back.redelivered_at = at_ms(1'700'000'060'000);
  sync(a_->update_delivery(put_back));
  EXPECT_TRUE(sync(a_->take_new_deliveries(100)).empty()) << "not a's home";
  const auto again = sync(c_->take_new_deliveries(100));
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].record.id, put_back.id);
  EXPECT_EQ(again[0].record.redelivered_at, put_back.redelivered_at);
  EXPECT_EQ(again[0].home, "c");
}

TEST_F(pg_cluster_test, a_second_process_under_the_same_node_name_replaces_the_first) {
  auto first = open_node("n");
  EXPECT_EQ(sync(first->heartbeat(10s)).homes, names("n"));
  auto second = open_node("n");
  EXPECT_NE(second->instance_id(), first->instance_id());
  EXPECT_THROW(sync(first->heartbeat(10s)), node_replaced);
  EXPECT_EQ(sync(second->heartbeat(10s)).homes, names("n"));
}

// --- the database goes away ---------------------------------------------------------------------

// Runs `call` and returns how long it took to throw store_unavailable (failing if it did not).
template <typename Call>
std::chrono::milliseconds time_to_unavailable(const char* what, Call&& call) {
  const auto before = steady_clock::now();
  try {
    call();
    ADD_FAILURE() << what << " succeeded with the database stopped";
  } catch (const store_unavailable&) {
  } catch (const std::exception& other) {
    ADD_FAILURE() << what << " threw something else than store_unavailable: " << other.what();
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - before);
}

// A server of the test's own: stopping it disturbs no other test.
struct own_server {
  pg_server own;
};

class pg_outage_test : protected own_server, public pg_cluster_test {
 protected:
  pg_outage_test() : pg_cluster_test(own) {}
};

TEST_F(pg_outage_test, calls_throw_store_unavailable_while_the_database_is_down_and_work_again_after) {
  auto a = open_node("a");
  const auto term = sync(a->claim_poller(60s));
  ASSERT_TRUE(term.has_value());
  a->set_poller_term(term);
  sync(a->insert_runs(runs_of(make_run("exr_before"))));

  own.stop();
  std::vector<std::chrono::milliseconds> took;
  took.push_back(time_to_unavailable("insert_runs", [&] { sync(a->insert_runs(runs_of(make_run("exr_down")))); }));
  took.push_back(time_to_unavailable("find_run", [&] { sync(a->find_run("exr_before")); }));
  took.push_back(time_to_unavailable("heartbeat", [&] { sync(a->heartbeat(10s)); }));
  took.push_back(time_to_unavailable("claim_poller", [&] { sync(a->claim_poller(60s)); }));
  took.push_back(time_to_unavailable("pick_new_runs", [&] { sync(a->pick_new_runs(10)); }));
  const auto slowest = *std::max_element(took.begin(), took.end());
  std::printf("[ unavailable ] slowest call to fail with the database stopped: %lld ms\n",
              static_cast<long long>(slowest.count()));
  EXPECT_LT(slowest, 3s) << "calls must fail quickly, never hang";

  own.start();
  EXPECT_TRUE(sync(a->find_run("exr_before")).has_value()) << "the same store reconnects by itself";
  EXPECT_EQ(sync(a->insert_runs(runs_of(make_run("exr_after")))), bools_of(true));
  EXPECT_EQ(sync(a->claim_poller(60s)), term) << "its lease did not run out meanwhile";
  EXPECT_EQ(sync(a->heartbeat(10s)).homes, names("a"));
  EXPECT_FALSE(sync(a->find_run("exr_down")).has_value()) << "refused, not half written";
}

// A frozen server (a VM paused, a network cut without resets) answers nothing on the open
// connections: calls must give up on their own deadline, not hang.
TEST_F(pg_outage_test, calls_throw_store_unavailable_within_seconds_when_the_database_freezes) {
  auto a = open_node("a");
  const auto term = sync(a->claim_poller(60s));
  ASSERT_TRUE(term.has_value());
  a->set_poller_term(term);
  sync(a->insert_runs(runs_of(make_run("exr_before"))));

  own.freeze();
  const auto heartbeat = time_to_unavailable("heartbeat", [&] { sync(a->heartbeat(10s)); });
  const auto insert = time_to_unavailable("insert_runs", [&] { sync(a->insert_runs(runs_of(make_run("exr_x")))); });
  const auto find = time_to_unavailable("find_run", [&] { sync(a->find_run("exr_before")); });
  own.thaw();
  std::printf("[ frozen ] store_unavailable after: heartbeat %lld ms, insert_runs %lld ms, find_run %lld ms\n",
              static_cast<long long>(heartbeat.count()), static_cast<long long>(insert.count()),
              static_cast<long long>(find.count()));
  EXPECT_LT(heartbeat, 4s) << "the lease connection";
  EXPECT_LT(insert, 4s) << "a registration must be refused within a few seconds (the data connection)";
  EXPECT_LT(find, 4s) << "connecting anew to a frozen server";

  EXPECT_TRUE(sync(a->find_run("exr_before")).has_value()) << "the same store goes on once the server does";
  EXPECT_EQ(sync(a->claim_poller(60s)), term);
}

}  // namespace
}  // namespace hookless::test
