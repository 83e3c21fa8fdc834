// The state_store contract, one suite run on every backend: SQLite (a file in a temp dir) and
// PostgreSQL (a fresh database on the test program's own server). What only one backend has (the
// SQLite file's damage, locks, permissions and migrations; the PostgreSQL schema) is tested beside
// its store; the contract's speed targets are in store_speed_test.cpp.
#include "tests/integration/store_contract_fixture.hpp"
#include "tests/integration/store_records.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hookless::test {
namespace {

using namespace std::chrono_literals;
using boost::asio::use_awaitable;

TEST_P(store_contract_test, inserts_finds_and_leaves_known_ids_unchanged) {
  auto store = open_store();
  const auto caller_thread = std::this_thread::get_id();
  run([&]() -> awaitable<void> {
    auto run = make_run("exr_one");
    run.status = "PROCESSING";
    run.polls = 2;
    run.context = nested_context();
    EXPECT_EQ(co_await store->insert_runs(runs_of(run)), bools_of(true));
    EXPECT_EQ(std::this_thread::get_id(), caller_thread) << "resumed off the caller's executor";

    auto found = co_await store->find_run("exr_one");
    CO_ASSERT_TRUE(found.has_value());
    expect_same_run(*found, run);
    EXPECT_TRUE(found->events.empty());

    // Registering a tracked ID again changes nothing.
    auto changed = run;
    changed.kind = "parse_run";
    changed.owner_uid = 7;
    changed.sinks.assign(1, "other");
    const auto fresh = co_await store->insert_runs(runs_of(changed, make_run("exr_two"), make_run("exr_two")));
    EXPECT_EQ(fresh, bools_of(false, true, false));
    found = co_await store->find_run("exr_one");
    CO_ASSERT_TRUE(found.has_value());
    expect_same_run(*found, run);
    EXPECT_TRUE((co_await store->find_run("exr_two")).has_value());
    EXPECT_FALSE((co_await store->find_run("exr_unknown")).has_value());
  });
}

TEST_P(store_contract_test, times_are_kept_to_the_millisecond) {
  auto store = open_store();
  run([&]() -> awaitable<void> {
    auto run = make_run("exr_time");
    run.registered_at = at_ms(1'700'000'000'123) + 456789ns;  // sub-millisecond part is dropped
    co_await store->insert_runs(runs_of(run));
    auto found = co_await store->find_run("exr_time");
    CO_ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->registered_at, at_ms(1'700'000'000'123));
  });
}

TEST_P(store_contract_test, everything_survives_close_and_reopen) {
  auto pending = make_run("exr_kept");
  auto finished = make_run("exr_done");
  auto outcome = make_outcome(finished, 1'700'000'100'000);
  {
    auto store = open_store();
    run([&]() -> awaitable<void> {
      co_await store->insert_runs(runs_of(pending, finished));
      co_await store->record_outcome(outcome);
      auto record = outcome.new_deliveries.front();
      record.state = delivery_state::done;
      record.attempts = 1;
      co_await store->update_delivery(record);
    });
  }
  open_report report;
  auto store = open_store(report);
  EXPECT_FALSE(report.created);
  run([&]() -> awaitable<void> {
    auto found = co_await store->find_run("exr_kept");
    CO_ASSERT_TRUE(found.has_value());
    expect_same_run(*found, pending);
    auto done = co_await store->find_run("exr_done");
    CO_ASSERT_TRUE(done.has_value());
    expect_same_run(*done, outcome.run);
    CO_ASSERT_TRUE(done->events.size() == 1);
    EXPECT_EQ(done->events[0].event_id, outcome.new_events[0].event_id);
    EXPECT_EQ(done->events[0].body, outcome.new_events[0].body);
    CO_ASSERT_TRUE(done->deliveries.size() == 2);
    EXPECT_EQ(done->deliveries[0].sink, "app");  // in event order, then by sink name
    EXPECT_EQ(done->deliveries[0].state, delivery_state::pending);
    EXPECT_EQ(done->deliveries[1].sink, "out");
    EXPECT_EQ(done->deliveries[1].state, delivery_state::done);
    EXPECT_EQ(done->deliveries[1].attempts, 1U);
    EXPECT_EQ(co_await backend_->check_integrity(*store), "ok");
  });
}

TEST_P(store_contract_test, record_outcome_is_idempotent_and_skips_forgotten_runs) {
  auto store = open_store();
  run([&]() -> awaitable<void> {
    auto run = make_run("wr_flow");
    run.kind = "workflow_run";
    co_await store->insert_runs(runs_of(run));

    // needs_review first (the run stays pending), then completed.
    co_await store->record_outcome(make_review(run));

    auto done = make_outcome(run, 1'700'000'200'000);
    co_await store->record_outcome(done);
    co_await store->record_outcome(done);  // a replay after a crash adds nothing

    auto found = co_await store->find_run(run.id);
    CO_ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->state, run_state::finished);
    EXPECT_EQ(found->outcome, "processed");
    CO_ASSERT_TRUE(found->events.size() == 2);
    EXPECT_EQ(found->events[0].event_type, "workflow_run.needs_review");
    EXPECT_EQ(found->events[1].event_type, "extract_run.processed");
    EXPECT_EQ(found->deliveries.size(), 3U);

    // A run forgotten while it was polled: its outcome must not bring it back or deliver anything.
    co_await store->insert_runs(runs_of(make_run("exr_gone")));
    EXPECT_TRUE(co_await store->delete_run("exr_gone"));
    co_await store->record_outcome(make_outcome(make_run("exr_gone"), 1'700'000'300'000));
    EXPECT_FALSE((co_await store->find_run("exr_gone")).has_value());
    EXPECT_EQ((co_await store->load_undone_deliveries()).size(), 3U);
  });
}

TEST_P(store_contract_test, save_progress_updates_pending_runs_only) {
  auto store = open_store();
  run([&]() -> awaitable<void> {
    auto a = make_run("exr_a");
    auto b = make_run("exr_b");
    co_await store->insert_runs(runs_of(a, b));
    co_await store->record_outcome(make_outcome(b, 1'700'000'050'000));

    run_progress pa{
        "exr_a", "PROCESSING", 5, at_ms(1'700'000'010'000), at_ms(1'700'000'020'000), at_ms(1'700'000'005'000)};
    run_progress pb{
        "exr_b", "PROCESSING", 9, at_ms(1'700'000'010'000), at_ms(1'700'000'020'000), at_ms(1'700'000'005'000)};
    run_progress unknown{"exr_nobody", "PROCESSING", 1, at_ms(1), std::nullopt, at_ms(1)};
    co_await store->save_progress(progress_of(pa, pb, unknown));

    auto found_a = co_await store->find_run("exr_a");
    CO_ASSERT_TRUE(found_a.has_value());
    EXPECT_EQ(found_a->status, "PROCESSING");
    EXPECT_EQ(found_a->polls, 5U);
    EXPECT_EQ(found_a->updated_at, at_ms(1'700'000'010'000));
    EXPECT_EQ(found_a->next_poll_at, at_ms(1'700'000'020'000));
    EXPECT_EQ(found_a->looked_at, at_ms(1'700'000'005'000));  // a failed poll moves updated_at, not this

    auto found_b = co_await store->find_run("exr_b");
    CO_ASSERT_TRUE(found_b.has_value());
    EXPECT_EQ(found_b->status, "PROCESSED");  // the outcome stands
    EXPECT_EQ(found_b->polls, 3U);

    // An older save landing late never takes polls backwards.
    pa.polls = 2;
    co_await store->save_progress(progress_of(pa));
    EXPECT_EQ((co_await store->find_run("exr_a"))->polls, 5U);
  });
}

TEST_P(store_contract_test, list_runs_filters_and_pages_newest_first) {
  auto store = open_store();
  run([&]() -> awaitable<void> {
    std::vector<run_record> runs;
    for (int i = 0; i < 10; ++i) runs.push_back(make_run("exr_" + std::to_string(i), i % 2 == 0 ? 1000 : 2000));
    runs[5].kind = "classify_run";
    co_await store->insert_runs(runs);
    co_await store->record_outcome(make_outcome(runs[3], 1'700'000'500'000));
    co_await store->record_outcome(make_outcome(runs[4], 1'700'000'500'000));

    run_query all;
    auto listed = co_await store->list_runs(all);
    EXPECT_EQ(ids_of(listed),
              names("exr_9", "exr_8", "exr_7", "exr_6", "exr_5", "exr_4", "exr_3", "exr_2", "exr_1", "exr_0"));
    CO_ASSERT_TRUE(listed.size() == 10);
    EXPECT_EQ(listed[5].events.size(), 1U);  // records carry their events and deliveries
    EXPECT_EQ(listed[5].deliveries.size(), 2U);

    run_query finished;
    finished.state = run_state::finished;
    EXPECT_EQ(ids_of(co_await store->list_runs(finished)), names("exr_4", "exr_3"));

    run_query mine;
    mine.owner = 1000;
    mine.state = run_state::pending;
    EXPECT_EQ(ids_of(co_await store->list_runs(mine)), names("exr_8", "exr_6", "exr_2", "exr_0"));

    run_query page;
    page.limit = 3;
    EXPECT_EQ(ids_of(co_await store->list_runs(page)), names("exr_9", "exr_8", "exr_7"));
    page.after = "exr_7";
    EXPECT_EQ(ids_of(co_await store->list_runs(page)), names("exr_6", "exr_5", "exr_4"));
    page.after = "exr_1";
    EXPECT_EQ(ids_of(co_await store->list_runs(page)), names("exr_0"));
    page.after = "exr_unknown";
    EXPECT_TRUE((co_await store->list_runs(page)).empty());

    run_query other_owner_after;  // `after` may name a run of another owner: it is only a position
    other_owner_after.owner = 2000;
    other_owner_after.after = "exr_6";
    EXPECT_EQ(ids_of(co_await store->list_runs(other_owner_after)), names("exr_5", "exr_3", "exr_1"));

    run_query by_kind;
    by_kind.kind = "classify_run";
    EXPECT_EQ(ids_of(co_await store->list_runs(by_kind)), names("exr_5"));
    run_query by_outcome;
    by_outcome.outcome = "processed";
    EXPECT_EQ(ids_of(co_await store->list_runs(by_outcome)), names("exr_4", "exr_3"));
    by_outcome.kind = "extract_run";
    by_outcome.owner = 2000;
    EXPECT_EQ(ids_of(co_await store->list_runs(by_outcome)), names("exr_3"));
    by_outcome.after = "exr_3";
    EXPECT_TRUE((co_await store->list_runs(by_outcome)).empty());
    run_query no_such_outcome;
    no_such_outcome.outcome = "failed";
    EXPECT_TRUE((co_await store->list_runs(no_such_outcome)).empty());
  });
}

// GET /v1/deliveries pages like /v1/runs: `limit` per page, `after` the last ID of the page before.
TEST_P(store_contract_test, deliveries_page_oldest_first) {
  auto store = open_store();
  run([&]() -> awaitable<void> {
    std::vector<std::string> made;  // every delivery, in the order made
    std::vector<std::string> of_owner_2000;
    for (int i = 0; i < 5; ++i) {
      auto pending = make_run("exr_" + std::to_string(i), i % 2 == 0 ? 1000 : 2000);
      co_await store->insert_runs(runs_of(pending));
      const auto outcome = make_outcome(pending, 1'700'000'001'000 + i);
      co_await store->record_outcome(outcome);
      for (const auto& record : outcome.new_deliveries) {
        made.push_back(record.id);
        if (pending.owner_uid == 2000) of_owner_2000.push_back(record.id);
      }
    }
    delivery_query page;
    page.limit = 4;
    std::vector<std::string> seen;
    for (int pages = 0; pages < 10; ++pages) {
      const auto listed = co_await store->list_deliveries(page);
      for (const auto& id : delivery_ids(listed)) seen.push_back(id);
      if (listed.size() < 4) break;
      page.after = listed.back().id;
    }
    EXPECT_EQ(seen, made);

    delivery_query mine;
    mine.owner = 2000;
    mine.limit = 3;
    auto first = co_await store->list_deliveries(mine);
    EXPECT_EQ(delivery_ids(first), std::vector<std::string>(of_owner_2000.begin(), of_owner_2000.begin() + 3));
    mine.after = first.back().id;
    EXPECT_EQ(delivery_ids(co_await store->list_deliveries(mine)), names(of_owner_2000.back()));

    delivery_query unknown;
    unknown.after = "event_nothing:app";
    EXPECT_TRUE((co_await store->list_deliveries(unknown)).empty()) << "an unknown cursor ends the listing";
    EXPECT_EQ((co_await store->list_deliveries(delivery_query{})).size(), made.size()) << "no limit: all of them";
  });
}

TEST_P(store_contract_test, dead_deliveries_are_counted_by_sink) {
  auto store = open_store();
  const std::map<std::string, std::size_t> expected{{"app", 3}, {"out", 2}};
  run([&]() -> awaitable<void> {
    EXPECT_TRUE((co_await store->count_dead_deliveries()).empty());
    for (int i = 0; i < 3; ++i) {
      auto pending = make_run("exr_" + std::to_string(i));
      co_await store->insert_runs(runs_of(pending));
      const auto outcome = make_outcome(pending, 1'700'000'001'000);
      co_await store->record_outcome(outcome);
      for (const auto& record : outcome.new_deliveries) {
        if (record.sink == "out" && i == 2) continue;  // out: 2 dead; app: 3 dead
        auto dead = record;
        dead.state = delivery_state::dead;
        co_await store->update_delivery(dead);
      }
    }
    const auto counts = co_await store->count_dead_deliveries();
    EXPECT_EQ(counts, expected);
  });
}

// A listing shows event IDs only, so it never reads the bodies; find_run still has them.
TEST_P(store_contract_test, listed_runs_carry_event_ids_without_bodies) {
  auto store = open_store();
  run([&]() -> awaitable<void> {
    auto pending = make_run("exr_big");
    co_await store->insert_runs(runs_of(pending));
    auto outcome = make_outcome(pending, 1'700'000'001'000);
    outcome.new_events[0].body = std::string(200'000, 'x');
    co_await store->record_outcome(outcome);
    const auto listed = co_await store->list_runs(run_query{});
    CO_ASSERT_TRUE(listed.size() == 1 && listed[0].events.size() == 1);
    EXPECT_EQ(listed[0].events[0].event_id, outcome.new_events[0].event_id);
    EXPECT_EQ(listed[0].events[0].event_type, "extract_run.processed");
    EXPECT_TRUE(listed[0].events[0].body.empty());
    EXPECT_EQ(listed[0].deliveries.size(), 2U);
    const auto found = co_await store->find_run("exr_big");
    CO_ASSERT_TRUE(found.has_value() && found->events.size() == 1);
    EXPECT_EQ(found->events[0].body.size(), 200'000U);
  });
}

TEST_P(store_contract_test, deliveries_are_listed_found_updated_and_redelivered) {
  auto store = open_store();
  run([&]() -> awaitable<void> {
    auto a = make_run("exr_a", 1000);
    auto b = make_run("exr_b", 2000);
    co_await store->insert_runs(runs_of(a, b));
    auto outcome_a = make_outcome(a, 1'700'000'001'000);
    auto outcome_b = make_outcome(b, 1'700'000'002'000);
    co_await store->record_outcome(outcome_a);
    co_await store->record_outcome(outcome_b);

    auto dead = outcome_a.new_deliveries[1];  // exr_a to "app"
    dead.state = delivery_state::dead;
    dead.attempts = 12;
    dead.last_error = "HTTP 500";
    dead.next_attempt_at.reset();
    co_await store->update_delivery(dead);
    auto done = outcome_b.new_deliveries[0];
    done.state = delivery_state::done;
    co_await store->update_delivery(done);

    delivery_query any;
    auto listed = co_await store->list_deliveries(any);  // pending and dead, never done; oldest first
    CO_ASSERT_TRUE(listed.size() == 3);
    EXPECT_EQ(listed[0].id, outcome_a.new_deliveries[0].id);
    EXPECT_EQ(listed[1].id, dead.id);
    EXPECT_EQ(listed[1].state, delivery_state::dead);
    EXPECT_EQ(listed[1].last_error, "HTTP 500");
    EXPECT_EQ(listed[1].attempts, 12U);
    EXPECT_EQ(listed[2].run_id, "exr_b");

    delivery_query dead_only;
    dead_only.state = delivery_state::dead;
    auto dead_listed = co_await store->list_deliveries(dead_only);
    CO_ASSERT_TRUE(dead_listed.size() == 1);
    EXPECT_EQ(dead_listed[0].id, dead.id);

    delivery_query owner_b;
    owner_b.owner = 2000;
    auto listed_b = co_await store->list_deliveries(owner_b);
    CO_ASSERT_TRUE(listed_b.size() == 1);
    EXPECT_EQ(listed_b[0].id, outcome_b.new_deliveries[1].id);

    auto job = co_await store->find_delivery(dead.id);
    CO_ASSERT_TRUE(job.has_value());
    EXPECT_EQ(job->event_type, "extract_run.processed");
    EXPECT_EQ(job->body, outcome_a.new_events[0].body);
    EXPECT_EQ(job->record.state, delivery_state::dead);
    EXPECT_FALSE((co_await store->find_delivery("event_nothing:app")).has_value());

    // Redeliver: dead back to pending, with the moment it was put back.
    dead.state = delivery_state::pending;
    dead.attempts = 0;
    dead.next_attempt_at = at_ms(1'700'000'009'000);
    dead.redelivered_at = at_ms(1'700'000'008'000);
    co_await store->update_delivery(dead);
    EXPECT_TRUE((co_await store->list_deliveries(dead_only)).empty());
    auto undone = co_await store->load_undone_deliveries();
    CO_ASSERT_TRUE(undone.size() == 3);
    EXPECT_EQ(undone[0].record.run_id, "exr_a");
    EXPECT_EQ(undone[0].record.sink, "app");
    EXPECT_EQ(undone[0].record.next_attempt_at, at_ms(1'700'000'009'000));
    EXPECT_EQ(undone[0].record.redelivered_at, at_ms(1'700'000'008'000));
    EXPECT_FALSE(undone[1].record.redelivered_at);
    EXPECT_EQ(undone[2].record.run_id, "exr_b");
    EXPECT_EQ(undone[2].body, outcome_b.new_events[0].body);
  });
}

TEST_P(store_contract_test, load_pending_brings_events_and_deliveries_in_order) {
  auto store = open_store();
  run([&]() -> awaitable<void> {
    auto a = make_run("wr_a");
    auto b = make_run("exr_b");
    auto c = make_run("exr_c");
    auto d = make_run("wr_d");
    co_await store->insert_runs(runs_of(a, b, c));
    co_await store->insert_runs(runs_of(d));

    auto review = [](const run_record& run, const std::string& type) {
      run_outcome outcome;
      outcome.run = run;
      outcome.run.status = "NEEDS_REVIEW";
      auto event = make_event(run.id, type);
      outcome.new_deliveries.push_back(make_delivery(event, run.id, "out"));
      outcome.new_events.push_back(std::move(event));
      return outcome;
    };
    co_await store->record_outcome(review(a, "workflow_run.needs_review"));
    co_await store->record_outcome(make_outcome(b, 1'700'000'001'000));
    co_await store->record_outcome(review(d, "workflow_run.needs_review"));
    co_await store->record_outcome(review(d, "workflow_run.step"));

    auto pending = co_await store->load_pending();
    EXPECT_EQ(ids_of(pending), names("wr_a", "exr_c", "wr_d"));
    CO_ASSERT_TRUE(pending.size() == 3);
    CO_ASSERT_TRUE(pending[0].events.size() == 1);
    EXPECT_EQ(pending[0].events[0].event_type, "workflow_run.needs_review");
    EXPECT_TRUE(pending[0].events[0].body.empty());  // bodies stay in the store
    EXPECT_EQ(pending[0].deliveries.size(), 1U);
    EXPECT_TRUE(pending[1].events.empty());
    EXPECT_TRUE(pending[1].deliveries.empty());
    CO_ASSERT_TRUE(pending[2].events.size() == 2);
    EXPECT_EQ(pending[2].events[0].event_type, "workflow_run.needs_review");
    EXPECT_EQ(pending[2].events[1].event_type, "workflow_run.step");
    CO_ASSERT_TRUE(pending[2].deliveries.size() == 2);
    EXPECT_EQ(pending[2].deliveries[0].event_id, pending[2].events[0].event_id);
  });
}

TEST_P(store_contract_test, prune_keeps_pending_work_and_delete_cascades) {
  auto store = open_store();
  run([&]() -> awaitable<void> {
    auto old_done = make_run("exr_old_done");
    auto old_undelivered = make_run("exr_old_undelivered");
    auto recent = make_run("exr_recent");
    auto pending = make_run("exr_pending");
    co_await store->insert_runs(runs_of(old_done, old_undelivered, recent, pending));
    auto outcome_old = make_outcome(old_done, 1'000);
    co_await store->record_outcome(outcome_old);
    co_await store->record_outcome(make_outcome(old_undelivered, 1'000));
    co_await store->record_outcome(make_outcome(recent, 9'000));
    for (auto record : outcome_old.new_deliveries) {
      record.state = record.sink == "out" ? delivery_state::done : delivery_state::dead;
      co_await store->update_delivery(record);
    }

    EXPECT_EQ(co_await store->prune_finished(at_ms(5'000)), 1U);
    EXPECT_FALSE((co_await store->find_run("exr_old_done")).has_value());
    EXPECT_FALSE((co_await store->find_delivery(outcome_old.new_deliveries[0].id)).has_value());
    EXPECT_TRUE((co_await store->find_run("exr_old_undelivered")).has_value());
    EXPECT_TRUE((co_await store->find_run("exr_recent")).has_value());
    EXPECT_TRUE((co_await store->find_run("exr_pending")).has_value());
    EXPECT_EQ(co_await store->prune_finished(at_ms(5'000)), 0U);

    EXPECT_TRUE(co_await store->delete_run("exr_old_undelivered"));
    EXPECT_FALSE(co_await store->delete_run("exr_old_undelivered"));
    EXPECT_EQ((co_await store->load_undone_deliveries()).size(), 2U);  // only exr_recent's are left
  });
  EXPECT_EQ(backend_->count_rows("events"), "1");
  EXPECT_EQ(backend_->count_rows("deliveries"), "2");
}

TEST_P(store_contract_test, queued_writes_share_one_commit_and_fail_alone) {
  auto store = open_store();
  const auto gate = backend_->hold_next_commit(*store);
  std::vector<std::string> results(4);
  auto executor = context_.get_executor();
  auto spawn = [&](std::size_t slot, auto body) {
    auto note = [&results, slot](std::exception_ptr e) {
      if (!e) {
        results[slot] = "ok";
        return;
      }
      try {
        std::rethrow_exception(e);
      } catch (const store_full&) {
        results[slot] = "store_full";
      } catch (const store_failed&) {
        results[slot] = "store_failed";
      } catch (const std::runtime_error&) {
        results[slot] = "runtime_error";
      }
    };
    boost::asio::co_spawn(executor, std::move(body), note);
  };
  run([&]() -> awaitable<void> {
    spawn(0, [&]() -> awaitable<void> { co_await store->insert_runs(runs_of(make_run("exr_first"))); });
    // Wait until the store's thread is parked inside the first commit.
    boost::asio::steady_timer timer(executor);
    while (!gate->holding()) {
      timer.expires_after(5ms);
      co_await timer.async_wait(use_awaitable);
    }
    const auto commits_before = backend_->commit_count(*store);
    spawn(1, [&]() -> awaitable<void> { co_await store->insert_runs(runs_of(make_run("exr_x"))); });
    spawn(2, [&]() -> awaitable<void> {
      // A delivery for an event that does not exist breaks a foreign key: this call fails alone.
      auto bad = make_outcome(make_run("exr_x"), 1'000);
      bad.new_events.clear();
      co_await store->record_outcome(bad);
    });
    spawn(3, [&]() -> awaitable<void> { co_await store->insert_runs(runs_of(make_run("exr_y"))); });
    timer.expires_after(100ms);
    co_await timer.async_wait(use_awaitable);  // every call is queued behind the held commit
    gate->release();
    while (results[1].empty() || results[2].empty() || results[3].empty() || results[0].empty()) {
      timer.expires_after(5ms);
      co_await timer.async_wait(use_awaitable);
    }
    if (commits_before) {
      EXPECT_EQ(backend_->commit_count(*store), *commits_before + 2)
          << "the first commit, then one for the three queued";
    }
    EXPECT_TRUE((co_await store->find_run("exr_x")).has_value());
    EXPECT_TRUE((co_await store->find_run("exr_y")).has_value());
    auto x = co_await store->find_run("exr_x");
    EXPECT_EQ(x->state, run_state::pending) << "the failed call's update was rolled back";
  });
  EXPECT_EQ(results, names("ok", "ok", "runtime_error", "ok"));
}

HOOKLESS_STORE_CONTRACT_BACKENDS(store_contract_test);

}  // namespace
}  // namespace hookless::test
