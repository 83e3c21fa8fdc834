// Black box: Extend's faults (reliability.md). Whatever the fake does wrong, every run ends with
// its right event, nothing ends wrongly, and a broken answer is never taken for a finished run.
#include "tests/blackbox/blackbox_fixture.hpp"

#include <algorithm>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

class faults_test : public blackbox_test {
 protected:
  // `count` extract runs that are PROCESSED from the start.
  std::vector<std::string> add_processed_runs(const std::string& prefix, int count) {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
      ids.push_back(prefix + std::to_string(i));
      fake_->add_run({.id = ids.back(), .kind = "", .timeline = {{"PROCESSED", 0ms}}, .fields = {}});
    }
    return ids;
  }

  std::size_t answers_with_status(unsigned status) const {
    const auto stats = fake_->stats();
    return static_cast<std::size_t>(
        std::ranges::count_if(stats.requests, [&](const request_record& r) { return r.status == status; }));
  }

  // Every run has exactly one event, extract_run.processed, and its record says so.
  void expect_each_processed_once(const std::vector<std::string>& ids) {
    const auto lines = file_events();
    EXPECT_TRUE(lines.bad_lines.empty());
    EXPECT_EQ(lines.events.size(), ids.size()) << "no other event may appear";
    expect_deterministic_ids(lines);
    for (const auto& id : ids) {
      const auto events = events_of(lines, id);
      ASSERT_EQ(events.size(), 1u) << id;
      EXPECT_EQ(string_field(events[0], "eventType"), "extract_run.processed") << id;
      EXPECT_EQ(string_field(object_field(events[0], "payload"), "status"), "PROCESSED") << id;
      const auto record = daemon_->run(id);
      ASSERT_TRUE(record) << id;
      EXPECT_EQ(string_field(*record, "outcome"), "processed") << id;
    }
  }

  // A fault aimed at one finished run, for good: no event while it lasts, one after it is cleared.
  void expect_no_event_until_a_good_answer(fault_kind kind) {
    start_fake();
    auto& daemon = make_daemon(base_config());
    ASSERT_TRUE(daemon.start());
    const auto ids = add_processed_runs("exr_broken_", 1);
    const auto& id = ids[0];
    fake_->inject({.kind = kind, .run_id = id, .count = std::nullopt, .delay = 0ms});
    ASSERT_EQ(daemon.watch(ids).status, 201u);

    ASSERT_TRUE(wait_until([&] { return fake_->stats().requests_per_run[id] >= 5; }, 15s))
        << "the run was polled only " << fake_->stats().requests_per_run[id] << " times";
    EXPECT_EQ(file_event_count(), 0u) << "a broken answer was taken for a finished run";
    EXPECT_EQ(stdout_events().events.size(), 0u);
    const auto record = daemon.run(id);
    ASSERT_TRUE(record);
    EXPECT_EQ(string_field(*record, "state"), "pending");

    fake_->clear_faults();
    ASSERT_TRUE(wait_for_file_events(1, 15s));
    std::this_thread::sleep_for(300ms);
    expect_each_processed_once(ids);
  }
};

TEST_F(faults_test, bursts_of_500_502_503_delay_but_never_finish_a_run_wrongly) {
  start_fake();
  auto& daemon = make_daemon(base_config());
  ASSERT_TRUE(daemon.start());
  const auto ids = add_processed_runs("exr_5xx_", 8);
  // Queued before the runs are registered, so the first answers of these finished runs are errors.
  fake_->inject({.kind = fault_kind::status_500, .run_id = std::nullopt, .count = 6, .delay = 0ms});
  fake_->inject({.kind = fault_kind::status_502, .run_id = std::nullopt, .count = 6, .delay = 0ms});
  fake_->inject({.kind = fault_kind::status_503, .run_id = std::nullopt, .count = 6, .delay = 0ms});
  ASSERT_EQ(daemon.watch(ids).status, 201u);

  ASSERT_TRUE(wait_for_file_events(ids.size(), 30s)) << file_event_count() << " of " << ids.size();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(answers_with_status(500), 6u);
  EXPECT_EQ(answers_with_status(502), 6u);
  EXPECT_EQ(answers_with_status(503), 6u);
  expect_each_processed_once(ids);
}

TEST_F(faults_test, cut_connections_are_retried) {
  start_fake();
  auto& daemon = make_daemon(base_config());
  ASSERT_TRUE(daemon.start());
  const auto ids = add_processed_runs("exr_cut_", 6);
  fake_->inject({.kind = fault_kind::cut, .run_id = std::nullopt, .count = 12, .delay = 0ms});
  ASSERT_EQ(daemon.watch(ids).status, 201u);

  ASSERT_TRUE(wait_for_file_events(ids.size(), 30s)) << file_event_count() << " of " << ids.size();
  std::this_thread::sleep_for(300ms);
  EXPECT_GE(answers_with_status(0), 12u) << "every injected cut was met";
  expect_each_processed_once(ids);
}

TEST_F(faults_test, answers_slower_than_the_timeout_are_abandoned_and_retried) {
  start_fake();
  auto c = base_config();
  c.timeout = "500ms";
  auto& daemon = make_daemon(c);
  ASSERT_TRUE(daemon.start());
  const auto ids = add_processed_runs("exr_slow_", 4);
  // Far slower than the test waits: only a daemon that gives up at its timeout finishes in time.
  fake_->inject({.kind = fault_kind::slow, .run_id = std::nullopt, .count = 4, .delay = 10'000ms});
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(daemon.watch(ids).status, 201u);

  ASSERT_TRUE(wait_for_file_events(ids.size(), 8s)) << file_event_count() << " of " << ids.size();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 8s);
  std::this_thread::sleep_for(300ms);
  EXPECT_GE(fake_->stats().total_requests, ids.size() + 4) << "the slow requests were retried";
  expect_each_processed_once(ids);
}

TEST_F(faults_test, truncated_answers_never_finish_a_run) {
  expect_no_event_until_a_good_answer(fault_kind::truncated);
}

TEST_F(faults_test, malformed_json_never_finishes_a_run) { expect_no_event_until_a_good_answer(fault_kind::malformed); }

// At start the daemon asks Extend once whether it takes the key: a rejected key shows in health at
// once, before any run is registered.
TEST_F(faults_test, a_wrong_api_key_shows_as_unauthorized_before_any_run_is_registered) {
  start_fake();
  auto& daemon = make_daemon(base_config());
  ASSERT_TRUE(daemon.start({{"EXTEND_API_KEY", "sk_test_not_this_one"}}));
  ASSERT_TRUE(
      wait_until([&] { return string_field(object_field(daemon.health(), "api"), "state") == "unauthorized"; }, 5s))
      << boost::json::serialize(daemon.health());
  const auto health = daemon.health();
  EXPECT_EQ(string_field(health, "status"), "degraded");
  EXPECT_EQ(health.at("pending").to_number<std::int64_t>(), 0);
  EXPECT_FALSE(string_field(object_field(health, "api"), "last_error").empty());
  EXPECT_EQ(run_ctl(daemon.socket(), {"health"}).exit_code, 1);
  EXPECT_EQ(fake_->stats().total_requests, 1u) << "one request";
  EXPECT_EQ(answers_with_status(401), 1u);
  EXPECT_NE(daemon.log().find("API key check: rejected by Extend"), std::string::npos);
}

TEST_F(faults_test, a_right_api_key_is_checked_at_start_and_shows_as_ok) {
  start_fake();
  auto& daemon = make_daemon(base_config());
  ASSERT_TRUE(daemon.start());
  ASSERT_TRUE(wait_until([&] { return fake_->stats().total_requests >= 1; }, 5s)) << "the key was not checked";
  const auto stats = fake_->stats();
  EXPECT_EQ(stats.total_requests, 1u) << "one request";
  EXPECT_EQ(stats.requests.at(0).status, 200u) << stats.requests.at(0).target;
  const auto health = daemon.health();
  EXPECT_EQ(string_field(health, "status"), "ok");
  EXPECT_EQ(string_field(object_field(health, "api"), "state"), "ok");
  EXPECT_NE(daemon.log().find("API key check: accepted by Extend"), std::string::npos);
}

TEST_F(faults_test, unauthorized_pauses_reports_degraded_and_keeps_the_runs) {
  start_fake();
  auto& daemon = make_daemon(base_config());
  ASSERT_TRUE(daemon.start());
  EXPECT_EQ(run_ctl(daemon.socket(), {"health"}).exit_code, 0);
  const auto ids = add_processed_runs("exr_auth_", 3);
  fake_->inject({.kind = fault_kind::unauthorized, .run_id = std::nullopt, .count = std::nullopt, .delay = 0ms});
  ASSERT_EQ(daemon.watch(ids).status, 201u) << "registrations are still accepted";

  ASSERT_TRUE(
      wait_until([&] { return string_field(object_field(daemon.health(), "api"), "state") == "unauthorized"; }, 10s))
      << boost::json::serialize(daemon.health());
  const auto health = daemon.health();
  EXPECT_EQ(string_field(health, "status"), "degraded");
  EXPECT_EQ(health.at("pending").to_number<std::int64_t>(), 3);
  const auto ctl = run_ctl(daemon.socket(), {"health"});
  EXPECT_EQ(ctl.exit_code, 1) << ctl.out << ctl.err;
  EXPECT_EQ(file_event_count(), 0u);
  for (const auto& id : ids) {
    const auto record = daemon.run(id);
    ASSERT_TRUE(record);
    EXPECT_EQ(string_field(*record, "state"), "pending") << id;
  }
  // Paused, not hammering: a wrong key is tried again only now and then.
  std::this_thread::sleep_for(1500ms);
  EXPECT_LE(answers_with_status(401), 4u);

  fake_->clear_faults();
  // The daemon tries a rejected key again after its pause (30 s by default).
  ASSERT_TRUE(wait_for_file_events(ids.size(), 45s)) << file_event_count() << " of " << ids.size();
  std::this_thread::sleep_for(300ms);
  expect_each_processed_once(ids);
  EXPECT_TRUE(wait_until([&] { return string_field(daemon.health(), "status") == "ok"; }, 5s));
  EXPECT_EQ(run_ctl(daemon.socket(), {"health"}).exit_code, 0);
}

TEST_F(faults_test, a_run_extend_does_not_know_ends_as_not_found_after_the_grace_period) {
  fake_extend_options options;
  options.auto_runs = true;
  options.auto_finish_after = 500ms;
  start_fake(options);
  auto& daemon = make_daemon(base_config());  // fast_period 2s: the grace period
  ASSERT_TRUE(daemon.start());
  const std::string unknown = "job-unknown-1";  // no known prefix: registered with its kind
  const std::string missing = "exr_missing_1";  // the fake's auto mode never creates "missing"
  const std::string late = "exr_late_1";        // unknown for its first second only
  const std::string fine = "exr_auto_fine_1";   // an auto run that just finishes
  fake_->add_run({.id = late, .kind = "", .timeline = {{"PENDING", 800ms}, {"PROCESSED", 1200ms}}, .fields = {}});
  const auto registered = daemon.register_runs(json::array{
      json::object{{"id", unknown}, {"kind", "extract_run"}},
      json::object{{"id", missing}},
      json::object{{"id", late}},
      json::object{{"id", fine}},
  });
  ASSERT_EQ(registered.status, 201u) << registered.body;

  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(events_of(file_events(), unknown).empty()) << "run.not_found before the grace period";
  EXPECT_TRUE(events_of(file_events(), missing).empty()) << "run.not_found before the grace period";
  ASSERT_TRUE(wait_for_file_events(4, 15s)) << file_event_count() << " of 4";
  std::this_thread::sleep_for(300ms);

  const auto lines = file_events();
  EXPECT_EQ(lines.events.size(), 4u);
  expect_deterministic_ids(lines);
  for (const auto& id : {unknown, missing}) {
    const auto events = events_of(lines, id);
    ASSERT_EQ(events.size(), 1u) << id;
    EXPECT_EQ(string_field(events[0], "eventType"), "run.not_found");
    const auto& payload = object_field(events[0], "payload");
    EXPECT_EQ(string_field(payload, "object"), "run");
    EXPECT_EQ(string_field(payload, "kind"), "extract_run");
    EXPECT_TRUE(payload.at("lastStatus").is_null());
    EXPECT_FALSE(string_field(payload, "reason").empty());
    EXPECT_GE(fake_->stats().requests_per_run[id], 3u);
    const auto record = daemon.run(id);
    ASSERT_TRUE(record);
    EXPECT_EQ(string_field(*record, "outcome"), "not_found");
  }
  for (const auto& id : {late, fine}) {
    const auto events = events_of(lines, id);
    ASSERT_EQ(events.size(), 1u) << id;
    EXPECT_EQ(string_field(events[0], "eventType"), "extract_run.processed") << "a briefly unknown run is not lost";
  }
  // hooklessctl wait reports not_found as an unsuccessful finish.
  EXPECT_EQ(run_ctl(daemon.socket(), {"wait", missing, "--timeout", "5s"}).exit_code, 3);
}

TEST_F(faults_test, a_run_past_its_deadline_ends_as_expired) {
  start_fake();
  auto& daemon = make_daemon(base_config());
  ASSERT_TRUE(daemon.start());
  const std::string id = "exr_forever_pending";
  fake_->add_run({.id = id, .kind = "", .timeline = {{"PENDING", 0ms}}, .fields = {}});
  ASSERT_EQ(daemon.register_runs(json::array{json::object{{"id", id}, {"deadline", "1s"}}}).status, 201u);

  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(file_event_count(), 0u) << "expired before its deadline";
  auto stats = fake_->stats();
  EXPECT_GE(stats.requests_per_run[id] + stats.requests_per_path["/extract_runs"], 1u)
      << "Extend was asked about it (one GET, or a page of the list)";
  ASSERT_TRUE(wait_for_file_events(1, 8s));
  std::this_thread::sleep_for(300ms);
  const auto events = events_of(file_events(), id);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(file_event_count(), 1u);
  EXPECT_EQ(string_field(events[0], "eventType"), "run.expired");
  EXPECT_EQ(string_field(events[0], "eventId"), make_event_id(id, "run.expired"));
  const auto& payload = object_field(events[0], "payload");
  EXPECT_EQ(string_field(payload, "object"), "run");
  EXPECT_EQ(string_field(payload, "kind"), "extract_run");
  EXPECT_EQ(string_field(payload, "lastStatus"), "PENDING");
  const auto record = daemon.run(id);
  ASSERT_TRUE(record);
  EXPECT_EQ(string_field(*record, "state"), "finished");
  EXPECT_EQ(string_field(*record, "outcome"), "expired");
  const auto polls = fake_->stats().requests_per_run[id];
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(fake_->stats().requests_per_run[id], polls) << "an expired run is not polled any more";
}

}  // namespace
}  // namespace hookless::blackbox
