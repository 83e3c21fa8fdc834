// The store contract's event log (events_after, newest_event_position), on both backends: what a
// daemon that is not the poller reads to relay new events to its followers.
#include "tests/integration/store_contract_fixture.hpp"
#include "tests/integration/store_records.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hookless::test {
namespace {

// "run_id event_type" of each event, in the order given.
std::vector<std::string> event_log_lines(const std::vector<recorded_event>& events) {
  std::vector<std::string> lines;
  for (const auto& event : events) lines.push_back(event.run_id + " " + event.event_type);
  return lines;
}

TEST_P(store_contract_test, events_after_reads_new_events_oldest_first_with_their_owner) {
  auto store = open_store();
  run([&]() -> awaitable<void> {
    EXPECT_EQ(co_await store->newest_event_position(), 0);
    EXPECT_TRUE((co_await store->events_after(0, 10)).empty());

    auto flow = make_run("wr_flow", 1000);
    flow.kind = "workflow_run";
    auto other = make_run("exr_other", 2000);
    co_await store->insert_runs(runs_of(flow, other));
    EXPECT_EQ(co_await store->newest_event_position(), 0) << "a registration records no event";

    co_await store->record_outcome(make_review(flow));
    co_await store->record_outcome(make_outcome(other, 1'700'000'100'000));
    co_await store->record_outcome(make_outcome(flow, 1'700'000'200'000));
    co_await store->record_outcome(make_outcome(flow, 1'700'000'200'000));  // a replay adds nothing

    const auto all = co_await store->events_after(0, 10);
    EXPECT_EQ(event_log_lines(all), names("wr_flow workflow_run.needs_review", "exr_other extract_run.processed",
                                          "wr_flow extract_run.processed"));
    CO_ASSERT_TRUE(all.size() == 3);
    for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].position, all[i].position);
    EXPECT_GT(all[0].position, 0);
    EXPECT_EQ(co_await store->newest_event_position(), all[2].position);

    // What the live stream publishes: the envelope byte for byte, the event's ID and its run's owner.
    const auto review = make_event("wr_flow", "workflow_run.needs_review");
    EXPECT_EQ(all[0].event_id, review.event_id);
    EXPECT_EQ(all[0].body, review.body);
    EXPECT_EQ(all[0].owner_uid, 1000U);
    EXPECT_EQ(all[1].owner_uid, 2000U);
    EXPECT_EQ(all[1].body, make_event("exr_other", "extract_run.processed").body);
    EXPECT_EQ(all[2].owner_uid, 1000U);

    // A cursor continues after the event it names; a limit cuts the oldest first.
    EXPECT_EQ(event_log_lines(co_await store->events_after(all[0].position, 10)),
              names("exr_other extract_run.processed", "wr_flow extract_run.processed"));
    EXPECT_EQ(event_log_lines(co_await store->events_after(0, 2)),
              names("wr_flow workflow_run.needs_review", "exr_other extract_run.processed"));
    EXPECT_EQ(event_log_lines(co_await store->events_after(all[1].position, 1)),
              names("wr_flow extract_run.processed"));
    EXPECT_TRUE((co_await store->events_after(all[2].position, 10)).empty());

    // Events recorded later come after the newest position taken before them.
    const auto newest = co_await store->newest_event_position();
    auto late = make_run("exr_late", 3000);
    co_await store->insert_runs(runs_of(late));
    co_await store->record_outcome(make_outcome(late, 1'700'000'300'000));
    const auto after = co_await store->events_after(newest, 10);
    EXPECT_EQ(event_log_lines(after), names("exr_late extract_run.processed"));
    CO_ASSERT_TRUE(after.size() == 1);
    EXPECT_EQ(after[0].owner_uid, 3000U);
    EXPECT_EQ(co_await store->newest_event_position(), after[0].position);

    // A deleted run's events are gone from the log with it.
    EXPECT_TRUE(co_await store->delete_run("exr_other"));
    EXPECT_EQ(
        event_log_lines(co_await store->events_after(0, 10)),
        names("wr_flow workflow_run.needs_review", "wr_flow extract_run.processed", "exr_late extract_run.processed"));
  });
}

TEST_P(store_contract_test, event_positions_survive_close_and_reopen) {
  event_position newest = 0;
  {
    auto store = open_store();
    run([&]() -> awaitable<void> {
      auto first = make_run("exr_first");
      co_await store->insert_runs(runs_of(first));
      co_await store->record_outcome(make_outcome(first, 1'700'000'100'000));
      newest = co_await store->newest_event_position();
    });
  }
  open_report report;
  auto store = open_store(report);
  run([&]() -> awaitable<void> {
    EXPECT_EQ(co_await store->newest_event_position(), newest);
    auto second = make_run("exr_second");
    co_await store->insert_runs(runs_of(second));
    co_await store->record_outcome(make_outcome(second, 1'700'000'200'000));
    EXPECT_EQ(event_log_lines(co_await store->events_after(newest, 10)), names("exr_second extract_run.processed"));
  });
}

}  // namespace
}  // namespace hookless::test
