// Black box: the shared request budget. Within Extend's limit the daemon causes no 429 at all;
// configured above it, the 429s it meets slow it down without losing or misreporting any run.
#include "tests/blackbox/blackbox_fixture.hpp"

#include <algorithm>
#include <cstdio>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

// The first densest run of requests that arrived within less than a second, as offsets in ms from
// the first of them, to tell the daemon's spacing from the network's jitter when the test fails.
std::string densest_second(const fake_extend_stats& stats) {
  std::vector<fake_clock::time_point> times;
  for (const auto& r : stats.requests) times.push_back(r.at);
  std::ranges::sort(times);
  std::string text;
  const std::size_t n = stats.max_requests_in_any_second();
  for (std::size_t i = 0; n > 0 && i + n - 1 < times.size(); ++i) {
    if (times[i + n - 1] - times[i] >= 1s) continue;
    text = std::to_string(stats.connections_accepted) + " connections; " + std::to_string(n) +
           " requests within 1 s (#" + std::to_string(i) + " on), at ms:";
    for (std::size_t j = i; j < i + n; ++j) {
      text += " " + std::to_string(std::chrono::duration<double, std::milli>(times[j] - times[i]).count());
    }
    break;
  }
  return text;
}

class budget_test : public blackbox_test {
 protected:
  // `count` runs that stay PENDING, then PROCESSING, until `finish_at` after now.
  std::vector<std::string> add_slow_runs(const std::string& prefix, int count, std::chrono::milliseconds finish_at) {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
      ids.push_back(prefix + std::to_string(i));
      fake_->add_run({.id = ids.back(),
                      .kind = "",
                      .timeline = {{"PENDING", 0ms}, {"PROCESSING", 1000ms}, {"PROCESSED", finish_at}},
                      .fields = {}});
    }
    return ids;
  }

  // Every run has exactly one event, extract_run.processed, with the processed payload.
  void expect_each_processed_once(const std::vector<std::string>& ids) {
    const auto lines = file_events();
    EXPECT_TRUE(lines.bad_lines.empty());
    EXPECT_EQ(lines.events.size(), ids.size());
    expect_deterministic_ids(lines);
    for (const auto& id : ids) {
      const auto events = events_of(lines, id);
      ASSERT_EQ(events.size(), 1u) << id;
      EXPECT_EQ(string_field(events[0], "eventType"), "extract_run.processed") << id;
      EXPECT_EQ(string_field(object_field(events[0], "payload"), "status"), "PROCESSED") << id;
    }
  }
};

TEST_F(budget_test, within_the_limit_the_daemon_causes_no_429_and_keeps_its_rate) {
  fake_extend_options options;
  options.rate_limit = 10.0;
  start_fake(options);
  auto c = base_config();
  c.requests_per_second = 8;
  c.list_endpoints = false;  // every run polled: 60 runs want far more than 8 requests/s
  auto& daemon = make_daemon(c);
  ASSERT_TRUE(daemon.start());

  const auto ids = add_slow_runs("exr_budget_", 60, 6000ms);
  ASSERT_EQ(daemon.watch(ids).status, 201u);
  // 60 runs each want 10 polls/s; at 8/s the last ones are seen PROCESSED ~7.5 s after 6 s.
  ASSERT_TRUE(wait_for_file_events(ids.size(), 30s)) << file_event_count() << " of " << ids.size();

  const auto stats = fake_->stats();
  EXPECT_EQ(stats.responses_429, 0u);
  EXPECT_LE(stats.max_requests_in_any_second(), 8u) << densest_second(stats);
  EXPECT_GE(stats.total_requests, 60u + 40u) << "the runs were polled while pending, too";
  expect_each_processed_once(ids);
  EXPECT_EQ(string_field(daemon.health(), "status"), "ok");
}

// The budget configured at exactly Extend's limit (the PAYG default, 10 = 10) must not cause a
// 429 either: Extend counts requests as they arrive, including the first one, which waits for
// the TLS handshake of a new connection.
TEST_F(budget_test, at_exactly_the_limit_the_daemon_causes_no_429) {
  fake_extend_options options;
  options.rate_limit = 10.0;
  start_fake(options);
  auto c = base_config();
  c.requests_per_second = 10;
  auto& daemon = make_daemon(c);
  ASSERT_TRUE(daemon.start());

  const auto ids = add_slow_runs("exr_exact_", 30, 2000ms);
  ASSERT_EQ(daemon.watch(ids).status, 201u);
  ASSERT_TRUE(wait_for_file_events(ids.size(), 30s)) << file_event_count() << " of " << ids.size();

  const auto stats = fake_->stats();
  EXPECT_EQ(stats.responses_429, 0u);
  EXPECT_LE(stats.max_requests_in_any_second(), 10u) << densest_second(stats);
  expect_each_processed_once(ids);
}

TEST_F(budget_test, above_the_limit_429s_slow_it_down_and_no_run_is_lost_or_misreported) {
  fake_extend_options options;
  options.rate_limit = 10.0;
  options.retry_after = retry_after_mode{.kind = retry_after_mode::form::seconds, .value = 1s};
  start_fake(options);
  auto c = base_config();
  c.requests_per_second = 30;
  auto& daemon = make_daemon(c);
  ASSERT_TRUE(daemon.start());

  const auto ids = add_slow_runs("exr_over_", 30, 2500ms);
  ASSERT_EQ(daemon.watch(ids).status, 201u);
  ASSERT_TRUE(wait_until([&] { return fake_->stats().responses_429 > 0; }, 10s)) << "the fake never refused";
  ASSERT_TRUE(wait_for_file_events(ids.size(), 40s)) << file_event_count() << " of " << ids.size();
  std::this_thread::sleep_for(300ms);

  const auto stats = fake_->stats();
  EXPECT_GT(stats.responses_429, 0u);
  // The fake counts refused requests too, so staying near its limit matters: after each 429 the
  // daemon pauses for Retry-After instead of hammering.
  EXPECT_LT(stats.responses_429, stats.total_requests / 2) << "most requests should get through";
  const auto metrics = daemon.request("GET", "/metrics").body;
  const std::string rate_sample = "\nhookless_budget_current_requests_per_second ";
  const auto rate = metrics.find(rate_sample);
  ASSERT_NE(rate, std::string::npos) << metrics;
  EXPECT_LT(std::stod(metrics.substr(rate + rate_sample.size())), 30.0) << "the 429s slowed the budget down";
  expect_each_processed_once(ids);
  for (const auto& id : ids) {
    const auto record = daemon.run(id);
    ASSERT_TRUE(record);
    EXPECT_EQ(string_field(*record, "state"), "finished") << id;
    EXPECT_EQ(string_field(*record, "outcome"), "processed") << id;
  }
}

// A list sweep, and the GET of a finished run it finds, go ahead of every poll waiting for a
// connection or the budget: hundreds of runs of a kind without a list (polled one by one, far more
// than the budget allows) must not delay an extract run the list shows finished. Before they went
// ahead at every queue (a connection slot, the due queue, the budget) it took ~(pending / rate) s.
TEST_F(budget_test, a_sweep_and_the_run_it_finds_go_ahead_of_hundreds_of_queued_polls) {
  start_fake();
  auto c = base_config();
  c.requests_per_second = 5;
  c.max_connections = 2;
  auto& daemon = make_daemon(c);
  ASSERT_TRUE(daemon.start());

  // More than the daemon keeps in a poll at once (256 at this rate), so some wait in the due queue too.
  std::vector<std::string> backlog;
  for (int i = 0; i < 300; ++i) {
    backlog.push_back("edr_backlog_" + std::to_string(i));
    fake_->add_run({.id = backlog.back(), .kind = "", .timeline = {{"PROCESSING", 0ms}}, .fields = {}});
  }
  ASSERT_EQ(daemon.watch(backlog).status, 201u);
  ASSERT_TRUE(wait_until([&] { return fake_->stats().requests_per_run.size() >= 5; }, 10s)) << "the backlog is polled";

  const std::string id = "exr_ahead_of_the_backlog";
  fake_->add_run({.id = id, .kind = "", .timeline = {{"PROCESSED", 0ms}}, .fields = {}});
  const auto registered = std::chrono::steady_clock::now();
  ASSERT_EQ(daemon.watch({id}).status, 201u);
  ASSERT_TRUE(wait_for_file_events(1, 5s)) << "not found within 5 s behind " << backlog.size() << " polled runs";
  const auto found = std::chrono::steady_clock::now() - registered;
  std::printf("extract run found %.2f s after its registration, %zu edit runs polled one by one at 5 requests/s\n",
              std::chrono::duration<double>(found).count(), backlog.size());
  const auto events = events_of(file_events(), id);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(string_field(events[0], "eventType"), "extract_run.processed");
  EXPECT_LE(fake_->stats().max_requests_in_any_second(), 5u) << "still within the budget";
}

}  // namespace
}  // namespace hookless::blackbox
