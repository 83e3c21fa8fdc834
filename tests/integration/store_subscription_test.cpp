// The state_store contract for subscriptions (docs/subscriptions.md), on every backend: what one
// sweep found saved with its position (new runs, runs found again, runs already registered or
// finished that gain the subscription's sinks), the positions loaded and dropped, and the
// `subscription` of a run kept wherever a run is read.
#include "tests/integration/store_contract_fixture.hpp"
#include "tests/integration/store_records.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace hookless::test {
namespace {

class store_subscription_test : public store_contract_test {};

subscription_position position_of(const std::string& subscription, const std::string& kind) {
  subscription_position position;
  position.subscription = subscription;
  position.kind = kind;
  position.since = at_ms(1'700'000'000'000);
  position.position = at_ms(1'700'000'001'000);
  position.swept_at = at_ms(1'700'000'002'000);
  return position;
}

subscription_finds finds_of(std::vector<run_record> runs, const std::string& subscription = "invoices") {
  subscription_finds finds;
  finds.position = position_of(subscription, "extract_run");
  finds.runs = std::move(runs);
  return finds;
}

std::vector<found_run::result> results_of(const std::vector<found_run>& found) {
  std::vector<found_run::result> results;
  for (const auto& one : found) results.push_back(one.what);
  return results;
}

std::vector<std::string> job_ids(const std::vector<delivery_job>& jobs) {
  std::vector<std::string> ids;
  for (const auto& job : jobs) ids.push_back(job.record.id);
  return ids;
}

using result = found_run::result;

template <typename... Results>
std::vector<result> results(Results... all) {
  std::vector<result> list;
  (list.push_back(all), ...);
  return list;
}

TEST_P(store_subscription_test, new_finds_are_inserted_once_and_found_again_unchanged) {
  auto store = open_store();
  const auto a = make_found_run("exr_found_a", "invoices", names("archive"));
  const auto b = make_found_run("exr_found_b", "invoices", names("archive"));
  run([&]() -> awaitable<void> {
    // A second copy of an ID in the same sweep was found already.
    auto found = co_await store->save_finds(finds_of(runs_of(a, b, a)));
    EXPECT_EQ(results_of(found), results(result::inserted, result::inserted, result::unchanged));
    CO_ASSERT_TRUE(found.size() == 3);
    expect_same_run(found[0].run, a);
    EXPECT_TRUE(found[0].added_sinks.empty());
    EXPECT_TRUE(found[0].new_jobs.empty());

    auto stored = co_await store->find_run("exr_found_a");
    CO_ASSERT_TRUE(stored.has_value());
    expect_same_run(*stored, a);
    EXPECT_EQ(stored->owner_uid, no_owner_uid);
    EXPECT_EQ(stored->subscription, "invoices");

    // Found again by the next sweep: nothing changes, the run comes back as stored.
    auto again = co_await store->save_finds(finds_of(runs_of(a)));
    CO_ASSERT_TRUE(again.size() == 1);
    EXPECT_EQ(again[0].what, result::unchanged);
    expect_same_run(again[0].run, a);
    EXPECT_TRUE(again[0].new_jobs.empty());
    EXPECT_EQ(ids_of(co_await store->load_pending()), names("exr_found_a", "exr_found_b"));
  });
  EXPECT_EQ(backend_->count_rows("runs"), "2");
  EXPECT_EQ(backend_->count_rows("deliveries"), "0");
  // The poller found them and tracks them itself: none is queued for pick_new_runs.
  if (GetParam() == store_kind::postgresql) {
    EXPECT_EQ(backend_->count_rows("new_runs"), "0");
  }
}

// The subscription that found a run comes back from every read, and survives a reopen; a registered
// run has none.
TEST_P(store_subscription_test, a_runs_subscription_is_kept_wherever_it_is_read) {
  const auto found = make_found_run("exr_found", "invoices", names("archive"));
  const auto registered = make_run("exr_registered");
  const auto finished = make_found_run("exr_finished", "receipts", names("archive"));
  {
    auto store = open_store();
    run([&]() -> awaitable<void> {
      co_await store->insert_runs(runs_of(registered));
      co_await store->save_finds(finds_of(runs_of(found)));
      co_await store->save_finds(finds_of(runs_of(finished), "receipts"));
      co_await store->record_outcome(make_outcome(finished, 1'700'000'100'000));
    });
  }
  auto store = open_store();
  run([&]() -> awaitable<void> {
    const auto by_id = co_await store->find_run("exr_found");
    CO_ASSERT_TRUE(by_id.has_value());
    EXPECT_EQ(by_id->subscription, "invoices");
    EXPECT_FALSE((co_await store->find_run("exr_registered"))->subscription.has_value());
    EXPECT_EQ((co_await store->find_run("exr_finished"))->subscription, "receipts");

    const auto listed = co_await store->list_runs(run_query{});
    CO_ASSERT_TRUE(listed.size() == 3);
    EXPECT_EQ(listed[0].subscription, "receipts");
    EXPECT_EQ(listed[1].subscription, "invoices");
    EXPECT_FALSE(listed[2].subscription.has_value());

    const auto pending = co_await store->load_pending();
    CO_ASSERT_TRUE(pending.size() == 2);
    EXPECT_FALSE(pending[0].subscription.has_value());
    EXPECT_EQ(pending[1].subscription, "invoices");

    // insert_runs keeps a subscription it is given (as an import of a state file does).
    auto imported = make_found_run("exr_imported", "invoices", names("archive"));
    co_await store->insert_runs(runs_of(imported));
    EXPECT_EQ((co_await store->find_run("exr_imported"))->subscription, "invoices");
  });
}

// A registered run still pending, with an event already (a workflow waiting for review): it gains
// the sinks it lacks, and those sinks a delivery of that event, under its eventId.
TEST_P(store_subscription_test, a_pending_registered_run_gains_the_sinks_it_lacks) {
  auto store = open_store();
  auto registered = make_run("wr_flow");
  registered.kind = "workflow_run";
  run([&]() -> awaitable<void> {
    co_await store->insert_runs(runs_of(registered));
    const auto review = make_review(registered);
    const auto& event = review.new_events[0];
    co_await store->record_outcome(review);

    // The subscription delivers to "out" (which the run has) and "subs" (which it lacks).
    auto seen = make_found_run("wr_flow", "flows", names("subs", "out"));
    seen.kind = "workflow_run";
    auto found = co_await store->save_finds(finds_of(runs_of(seen), "flows"));
    CO_ASSERT_TRUE(found.size() == 1);
    EXPECT_EQ(found[0].what, result::merged);
    EXPECT_EQ(found[0].added_sinks, names("subs"));
    const auto& merged = found[0].run;
    EXPECT_EQ(merged.id, "wr_flow");
    EXPECT_EQ(merged.state, run_state::pending);
    EXPECT_EQ(merged.owner_uid, registered.owner_uid) << "a registered run keeps its owner";
    EXPECT_FALSE(merged.subscription.has_value()) << "and stays a registered run";
    EXPECT_EQ(merged.sinks, names("out", "app", "subs"));
    CO_ASSERT_TRUE(merged.events.size() == 1);
    EXPECT_EQ(merged.events[0].body, event.body);
    EXPECT_EQ(delivery_ids(merged.deliveries), names(event.event_id + ":out", event.event_id + ":subs"));
    CO_ASSERT_TRUE(found[0].new_jobs.size() == 1);
    const auto& job = found[0].new_jobs[0];
    EXPECT_EQ(job.record.id, event.event_id + ":subs");
    EXPECT_EQ(job.record.event_id, event.event_id);
    EXPECT_EQ(job.record.run_id, "wr_flow");
    EXPECT_EQ(job.record.state, delivery_state::pending);
    EXPECT_EQ(job.record.attempts, 0U);
    EXPECT_EQ(job.event_type, "workflow_run.needs_review");
    EXPECT_EQ(job.body, event.body);

    const auto stored = co_await store->find_run("wr_flow");
    CO_ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->sinks, names("out", "app", "subs"));
    EXPECT_EQ(delivery_ids(stored->deliveries), delivery_ids(merged.deliveries));
    const auto undone = co_await store->load_undone_deliveries();
    EXPECT_EQ(job_ids(undone), names(event.event_id + ":out", event.event_id + ":subs"));

    // Found again: it has every sink now.
    auto again = co_await store->save_finds(finds_of(runs_of(seen), "flows"));
    CO_ASSERT_TRUE(again.size() == 1);
    EXPECT_EQ(again[0].what, result::unchanged);
    EXPECT_TRUE(again[0].new_jobs.empty());
    EXPECT_EQ(again[0].run.sinks, names("out", "app", "subs"));
    // A pending run without events gains sinks and no deliveries.
    co_await store->insert_runs(runs_of(make_run("exr_quiet")));
    auto quiet = co_await store->save_finds(finds_of(runs_of(make_found_run("exr_quiet", "flows", names("subs")))));
    CO_ASSERT_TRUE(quiet.size() == 1);
    EXPECT_EQ(quiet[0].what, result::merged);
    EXPECT_EQ(quiet[0].added_sinks, names("subs"));
    EXPECT_TRUE(quiet[0].new_jobs.empty());
    EXPECT_EQ((co_await store->find_run("exr_quiet"))->sinks, names("out", "app", "subs"));
  });
  EXPECT_EQ(backend_->count_rows("deliveries"), "2");
}

// A run that finished (and was delivered) before a subscription found it: its sinks gain a delivery
// of the event it has, body and all, and it stays finished.
TEST_P(store_subscription_test, a_finished_run_gains_deliveries_of_its_events_and_stays_finished) {
  auto store = open_store();
  const auto registered = make_run("exr_done");
  const auto outcome = make_outcome(registered, 1'700'000'100'000);
  run([&]() -> awaitable<void> {
    co_await store->insert_runs(runs_of(registered));
    co_await store->record_outcome(outcome);
    for (auto record : outcome.new_deliveries) {
      record.state = delivery_state::done;
      record.attempts = 1;
      co_await store->update_delivery(record);
    }
    auto found =
        co_await store->save_finds(finds_of(runs_of(make_found_run("exr_done", "invoices", names("subs", "archive")))));
    CO_ASSERT_TRUE(found.size() == 1);
    EXPECT_EQ(found[0].what, result::merged);
    EXPECT_EQ(found[0].added_sinks, names("subs", "archive"));
    EXPECT_EQ(found[0].run.state, run_state::finished);
    EXPECT_EQ(found[0].run.outcome, "processed");
    const auto& event = outcome.new_events[0];
    EXPECT_EQ(job_ids(found[0].new_jobs), names(event.event_id + ":subs", event.event_id + ":archive"));
    for (const auto& job : found[0].new_jobs) {
      EXPECT_EQ(job.body, event.body);
      EXPECT_EQ(job.event_type, "extract_run.processed");
    }
    // In event order, then by sink, as the store lists them.
    EXPECT_EQ(delivery_ids(found[0].run.deliveries), names(event.event_id + ":app", event.event_id + ":archive",
                                                           event.event_id + ":out", event.event_id + ":subs"));

    const auto stored = co_await store->find_run("exr_done");
    CO_ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->state, run_state::finished);
    EXPECT_EQ(stored->sinks, names("out", "app", "subs", "archive"));
    EXPECT_EQ(delivery_ids(stored->deliveries), delivery_ids(found[0].run.deliveries));
    const auto undone = co_await store->load_undone_deliveries();
    EXPECT_EQ(job_ids(undone), names(event.event_id + ":archive", event.event_id + ":subs"));
    CO_ASSERT_TRUE(undone.size() == 2);
    EXPECT_EQ(undone[0].body, event.body);
    // Undelivered work keeps a finished run from being pruned.
    EXPECT_EQ(co_await store->prune_finished(at_ms(1'800'000'000'000)), 0U);
    EXPECT_TRUE((co_await store->load_pending()).empty());
  });
}

TEST_P(store_subscription_test, an_added_sink_gets_only_the_events_its_filter_takes) {
  auto store = open_store();
  const auto registered = make_run("exr_filtered");
  const auto outcome = make_outcome(registered, 1'700'000'100'000);
  auto finds = finds_of(runs_of(make_found_run("exr_filtered", "invoices", names("failures_only", "subs"))));
  finds.sink_events["failures_only"] = names("*.failed");
  run([&]() -> awaitable<void> {
    co_await store->insert_runs(runs_of(registered));
    co_await store->record_outcome(outcome);
    auto found = co_await store->save_finds(finds);
    CO_ASSERT_TRUE(found.size() == 1);
    EXPECT_EQ(found[0].what, result::merged);
    EXPECT_EQ(found[0].added_sinks, names("failures_only", "subs")) << "the sink is the run's, for later events";
    EXPECT_EQ(job_ids(found[0].new_jobs), names(outcome.new_events[0].event_id + ":subs"))
        << "extract_run.processed is not for a sink that takes *.failed only";
  });
}

TEST_P(store_subscription_test, positions_are_upserted_loaded_and_dropped) {
  {
    auto store = open_store();
    run([&]() -> awaitable<void> {
      EXPECT_TRUE((co_await store->load_subscription_positions()).empty());
      // The first sweep of a kind: its history ends at `since`, nothing read yet.
      subscription_finds first;
      first.position.subscription = "invoices";
      first.position.kind = "workflow_run";
      first.position.since = at_ms(0);
      co_await store->save_finds(first);
      co_await store->save_finds(finds_of(std::vector<run_record>{}, "invoices"));
      co_await store->save_finds(finds_of(std::vector<run_record>{}, "archive"));

      auto moved = finds_of(std::vector<run_record>{}, "invoices");
      moved.position.position = at_ms(1'700'000'009'123) + std::chrono::microseconds{456};  // kept to the ms
      moved.position.swept_at = at_ms(1'700'000'010'001);
      co_await store->save_finds(moved);

      const auto positions = co_await store->load_subscription_positions();
      CO_ASSERT_TRUE(positions.size() == 3);
      EXPECT_EQ(positions[0].subscription, "archive");
      EXPECT_EQ(positions[1].subscription, "invoices");
      EXPECT_EQ(positions[1].kind, "extract_run");
      EXPECT_EQ(positions[1].since, at_ms(1'700'000'000'000));
      EXPECT_EQ(positions[1].position, at_ms(1'700'000'009'123));
      EXPECT_EQ(positions[1].swept_at, at_ms(1'700'000'010'001));
      EXPECT_EQ(positions[2].kind, "workflow_run");
      EXPECT_EQ(positions[2].since, at_ms(0));
      EXPECT_FALSE(positions[2].position.has_value());
      EXPECT_FALSE(positions[2].swept_at.has_value());
    });
  }
  auto store = open_store();
  run([&]() -> awaitable<void> {
    EXPECT_EQ((co_await store->load_subscription_positions()).size(), 3U) << "positions survive a reopen";
    co_await store->drop_subscription_position("invoices", "extract_run");
    co_await store->drop_subscription_position("invoices", "no_such_kind");  // nothing to forget: fine
    const auto positions = co_await store->load_subscription_positions();
    CO_ASSERT_TRUE(positions.size() == 2);
    EXPECT_EQ(positions[0].subscription, "archive");
    EXPECT_EQ(positions[1].kind, "workflow_run");
  });
}

// Dropping a position forgets only the position: the runs the subscription found stay.
TEST_P(store_subscription_test, dropping_a_position_keeps_the_runs_it_found) {
  auto store = open_store();
  run([&]() -> awaitable<void> {
    co_await store->save_finds(finds_of(runs_of(make_found_run("exr_kept", "invoices", names("archive")))));
    co_await store->drop_subscription_position("invoices", "extract_run");
    EXPECT_TRUE((co_await store->load_subscription_positions()).empty());
    EXPECT_TRUE((co_await store->find_run("exr_kept")).has_value());
  });
}

HOOKLESS_STORE_CONTRACT_BACKENDS(store_subscription_test);

}  // namespace
}  // namespace hookless::test
