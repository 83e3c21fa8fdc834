// The record builders of store_records.hpp.
#include "tests/integration/store_records.hpp"

#include <chrono>
#include <utility>

namespace hookless::test {

boost::json::object nested_context() {
  return boost::json::object{{"nested", boost::json::object{{"k", "v"}}}, {"list", boost::json::array{1, 2}}};
}

boost::json::object padded_context() { return boost::json::object{{"padding", std::string(400, 'p')}}; }

boost::json::object counter_context(int i) { return boost::json::object{{"i", i}}; }

time_point at_ms(std::int64_t ms) { return time_point{std::chrono::milliseconds{ms}}; }

run_record make_run(const std::string& id, std::uint32_t owner, std::int64_t base_ms) {
  run_record run;
  run.id = id;
  run.kind = "extract_run";
  run.owner_uid = owner;
  run.registered_at = at_ms(base_ms);
  run.updated_at = at_ms(base_ms);
  run.next_poll_at = at_ms(base_ms + 1000);
  run.deadline_at = at_ms(base_ms + 7LL * 24 * 3600 * 1000);
  run.sinks = {"out", "app"};
  run.context = boost::json::object{{"order", id}, {"n", 1}};
  return run;
}

run_record make_found_run(const std::string& id, const std::string& subscription, std::vector<std::string> sinks,
                          std::int64_t base_ms) {
  auto run = make_run(id, no_owner_uid, base_ms);
  run.subscription = subscription;
  run.sinks = std::move(sinks);
  run.context = {};
  return run;
}

run_event make_event(const std::string& run_id, const std::string& type) {
  return run_event{"event_" + run_id + "_" + type, type, R"({"eventType":")" + type + R"(","run":")" + run_id + "\"}"};
}

delivery make_delivery(const run_event& event, const std::string& run_id, const std::string& sink) {
  delivery record;
  record.id = event.event_id + ":" + sink;
  record.event_id = event.event_id;
  record.run_id = run_id;
  record.sink = sink;
  return record;
}

run_outcome make_outcome(const run_record& pending, std::int64_t finished_ms) {
  run_outcome outcome;
  outcome.run = pending;
  outcome.run.state = run_state::finished;
  outcome.run.status = "PROCESSED";
  outcome.run.outcome = "processed";
  outcome.run.polls = 3;
  outcome.run.updated_at = at_ms(finished_ms);
  outcome.run.finished_at = at_ms(finished_ms);
  outcome.run.next_poll_at.reset();
  auto event = make_event(pending.id, "extract_run.processed");
  for (const auto& sink : pending.sinks) outcome.new_deliveries.push_back(make_delivery(event, pending.id, sink));
  outcome.new_events.push_back(std::move(event));
  return outcome;
}

run_outcome make_review(const run_record& pending) {
  run_outcome review;
  review.run = pending;
  review.run.status = "NEEDS_REVIEW";
  review.run.outcome = "needs_review";
  auto event = make_event(pending.id, "workflow_run.needs_review");
  review.new_deliveries.push_back(make_delivery(event, pending.id, "out"));
  review.new_events.push_back(std::move(event));
  return review;
}

void expect_same_run(const run_record& a, const run_record& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.owner_uid, b.owner_uid);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.outcome, b.outcome);
  EXPECT_EQ(a.polls, b.polls);
  EXPECT_EQ(a.registered_at, b.registered_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
  EXPECT_EQ(a.next_poll_at, b.next_poll_at);
  EXPECT_EQ(a.finished_at, b.finished_at);
  EXPECT_EQ(a.deadline_at, b.deadline_at);
  EXPECT_EQ(a.sinks, b.sinks);
  EXPECT_EQ(a.context, b.context);
  EXPECT_EQ(a.subscription, b.subscription);
}

std::vector<std::string> ids_of(const std::vector<run_record>& runs) {
  std::vector<std::string> ids;
  for (const auto& run : runs) ids.push_back(run.id);
  return ids;
}

std::vector<std::string> delivery_ids(const std::vector<delivery>& records) {
  std::vector<std::string> ids;
  for (const auto& record : records) ids.push_back(record.id);
  return ids;
}

}  // namespace hookless::test
