// Black box: the change feeds (polling.list_endpoints). Many pending runs are followed through
// Extend's list endpoints: each finished run costs about one GET, a kind without a list is still
// polled run by run, a list that cannot be used falls back to per-run polling, a restart catches up
// with one sweep, and with the feature off the daemon polls every run as before.
#include "tests/blackbox/blackbox_fixture.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

struct request_counts {
  std::uint64_t lists = 0;     // GET /{collection} pages
  std::uint64_t run_gets = 0;  // GET /{collection}/{id}
};

request_counts counts_of(const fake_extend_stats& stats, const std::string& collection) {
  request_counts counts;
  for (const auto& [path, n] : stats.requests_per_path) {
    if (path == collection) counts.lists += n;
    if (path.starts_with(collection + "/")) counts.run_gets += n;
  }
  return counts;
}

class change_feed_test : public blackbox_test {
 protected:
  // Runs PENDING, then PROCESSING, then PROCESSED (every fifth FAILED) at a random time in
  // [finish_from, finish_to) after now.
  std::vector<std::string> add_runs(const std::string& prefix, int count, std::chrono::milliseconds finish_from,
                                    std::chrono::milliseconds finish_to) {
    std::mt19937 random{42};
    std::uniform_int_distribution<std::int64_t> finish(finish_from.count(), finish_to.count() - 1);
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
      ids.push_back(prefix + std::to_string(i));
      const auto at = std::chrono::milliseconds{finish(random)};
      fake_->add_run({.id = ids.back(),
                      .kind = "",
                      .timeline = {{"PENDING", 0ms}, {"PROCESSING", at / 2}, {i % 5 == 4 ? "FAILED" : "PROCESSED", at}},
                      .fields = {}});
    }
    return ids;
  }

  void watch_in_batches(const std::vector<std::string>& ids) {
    for (std::size_t from = 0; from < ids.size(); from += 500) {
      const std::vector<std::string> batch(ids.begin() + static_cast<std::ptrdiff_t>(from),
                                           ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), from + 500)));
      ASSERT_EQ(daemon_->watch(batch).status, 201u);
    }
  }

  void expect_fallback(fault_kind fault) {
    start_fake();
    auto& daemon = make_daemon(base_config());
    ASSERT_TRUE(daemon.start());
    fake_->inject({.kind = fault, .run_id = std::nullopt, .count = 1, .delay = 0ms});

    const auto ids = add_runs("exr_nolist_", 30, 1s, 3s);
    watch_in_batches(ids);
    ASSERT_TRUE(wait_for_file_events(ids.size(), 30s)) << file_event_count();
    expect_each_finished_once(ids, "extract_run");
    const auto extract = counts_of(fake_->stats(), "/extract_runs");
    EXPECT_EQ(extract.lists, 1u) << "the list was asked once";
    EXPECT_GE(extract.run_gets, ids.size() * 3) << "runs were polled while pending";
    EXPECT_NE(daemon.log().find("list /extract_runs cannot be used"), std::string::npos);
  }

  // Every run has exactly one event, with the status and (for processed runs) the output it ended with.
  void expect_each_finished_once(const std::vector<std::string>& ids, const std::string& prefix) {
    const auto lines = file_events();
    EXPECT_TRUE(lines.bad_lines.empty());
    expect_deterministic_ids(lines);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const auto events = events_of(lines, ids[i]);
      ASSERT_EQ(events.size(), 1u) << ids[i];
      const auto& payload = object_field(events[0], "payload");
      if (i % 5 == 4) {
        EXPECT_EQ(string_field(events[0], "eventType"), prefix + ".failed") << ids[i];
        EXPECT_EQ(string_field(payload, "status"), "FAILED") << ids[i];
      } else {
        EXPECT_EQ(string_field(events[0], "eventType"), prefix + ".processed") << ids[i];
        EXPECT_EQ(string_field(object_field(object_field(payload, "output"), "value"), "runId"), ids[i]);
      }
    }
  }
};

// 1,200 extract runs (more than a page) finishing at scattered times: every one delivered once with its output, for
// about one GET each; edit runs (no list) alongside are polled run by run.
TEST_F(change_feed_test, many_runs_cost_about_one_get_each_and_kinds_without_a_list_are_polled) {
  start_fake();
  auto c = base_config();
  c.requests_per_second = 100;
  auto& daemon = make_daemon(c);
  ASSERT_TRUE(daemon.start());

  const auto ids = add_runs("exr_feed_", 1'200, 2s, 10s);
  const auto edits = add_runs("edr_feed_", 20, 2s, 4s);
  watch_in_batches(ids);
  watch_in_batches(edits);
  ASSERT_TRUE(wait_for_file_events(ids.size() + edits.size(), 60s)) << file_event_count();
  std::this_thread::sleep_for(500ms);

  expect_each_finished_once(ids, "extract_run");
  const auto stats = fake_->stats();
  const auto extract = counts_of(stats, "/extract_runs");
  EXPECT_LE(extract.run_gets, ids.size() * 3 / 2)
      << "GETs of single runs per finished run, list pages: " << extract.lists;
  EXPECT_GE(extract.lists, 10u) << "the list was swept";
  // Per-run polling would have asked about every run about 10 times a second until it finished.
  EXPECT_LE(extract.run_gets + extract.lists, ids.size() * 2);

  const auto edit = counts_of(stats, "/edit_runs");
  EXPECT_EQ(edit.lists, 0u) << "edit runs have no list";
  EXPECT_GE(edit.run_gets, edits.size() * 5) << "edit runs are polled while pending";
  for (const auto& id : edits) EXPECT_EQ(events_of(file_events(), id).size(), 1u) << id;

  const auto metrics = daemon.request("GET", "/metrics");
  EXPECT_NE(metrics.body.find("hookless_list_requests_total{result=\"run\"} " + std::to_string(extract.lists)),
            std::string::npos);
  EXPECT_NE(metrics.body.find("hookless_feed_wakes_total "), std::string::npos);
}

// The fake answers the first request (the first sweep's page) with 404, or with a 200 that is not
// a list: the daemon stops using the list and polls each run, and every run still finishes.
TEST_F(change_feed_test, a_list_answering_404_falls_back_to_polling_each_run) {
  expect_fallback(fault_kind::not_found);
}

TEST_F(change_feed_test, a_list_answering_no_list_falls_back_to_polling_each_run) {
  expect_fallback(fault_kind::malformed);
}

// The list answers 500 to every sweep while single GETs work: after a few failed sweeps the runs
// are polled one by one (not left to the 5-minute safety net), and once the list answers again new
// runs rely on it.
TEST_F(change_feed_test, a_list_that_keeps_failing_leaves_its_runs_polled_until_it_answers) {
  start_fake();
  auto& daemon = make_daemon(base_config());
  ASSERT_TRUE(daemon.start());
  fake_->inject({.kind = fault_kind::status_500,
                 .run_id = std::nullopt,
                 .count = std::nullopt,
                 .delay = 0ms,
                 .lists_only = true});

  const auto ids = add_runs("exr_listdown_", 20, 1s, 3s);
  // A run still in progress at the end keeps the feed sweeping.
  fake_->add_run({.id = "exr_listdown_keep", .kind = "", .timeline = {{"PROCESSING", 0ms}}, .fields = {}});
  watch_in_batches(ids);
  watch_in_batches({"exr_listdown_keep"});
  ASSERT_TRUE(wait_for_file_events(ids.size(), 30s)) << file_event_count();
  expect_each_finished_once(ids, "extract_run");
  EXPECT_NE(daemon.log().find("list /extract_runs failed 3 sweeps in a row"), std::string::npos);
  EXPECT_GE(counts_of(fake_->stats(), "/extract_runs").run_gets, ids.size());

  fake_->clear_faults();
  ASSERT_TRUE(
      wait_until([&] { return daemon.log().find("list /extract_runs answers again") != std::string::npos; }, 10s));
  std::vector<std::string> later;
  for (int i = 0; i < 10; ++i) {
    later.push_back("exr_listback_" + std::to_string(i));
    fake_->add_run({.id = later.back(), .kind = "", .timeline = {{"PROCESSING", 0ms}}, .fields = {}});
  }
  const auto lists_before = counts_of(fake_->stats(), "/extract_runs").lists;
  watch_in_batches(later);
  std::this_thread::sleep_for(2s);
  const auto stats = fake_->stats();
  for (const auto& id : later) {
    EXPECT_EQ(stats.requests_per_path.count("/extract_runs/" + id), 0u) << id << " is watched through the list";
  }
  EXPECT_GE(counts_of(stats, "/extract_runs").lists, lists_before + 3) << "sweeping again";
}

// Runs change while hooklessd is down: after the restart one catch-up sweep finds them, and the
// runs that did not change are not polled.
TEST_F(change_feed_test, a_restart_finds_what_changed_meanwhile_with_one_sweep) {
  start_fake();
  auto& daemon = make_daemon(base_config());
  ASSERT_TRUE(daemon.start());
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    ids.push_back("exr_down_" + std::to_string(i));
    fake_->add_run({.id = ids.back(), .kind = "", .timeline = {{"PROCESSING", 0ms}}, .fields = {}});
  }
  watch_in_batches(ids);
  // Seen by a sweep (as PROCESSING), then the daemon stops.
  ASSERT_TRUE(wait_until([&] { return string_field(*daemon.run(ids.back()), "status") == "PROCESSING"; }, 10s));
  std::this_thread::sleep_for(1500ms);  // the progress flush (every second) stores the listed statuses
  ASSERT_EQ(daemon.terminate(), 0);
  for (int i = 0; i < 100; ++i) fake_->set_status_now(ids[static_cast<std::size_t>(i)], "PROCESSED");
  const auto before = counts_of(fake_->stats(), "/extract_runs");

  ASSERT_TRUE(daemon.start());
  ASSERT_TRUE(wait_for_file_events(100, 20s)) << file_event_count();
  std::this_thread::sleep_for(1s);
  const auto after = counts_of(fake_->stats(), "/extract_runs");
  EXPECT_EQ(file_event_count(), 100u);
  EXPECT_EQ(before.run_gets, 0u) << "no GET before the restart: the sweep confirmed every run";
  EXPECT_LE(after.run_gets - before.run_gets, 110u) << "one GET per changed run, the others left alone";
  for (int i = 100; i < 200; ++i) {
    EXPECT_EQ(string_field(*daemon.run(ids[static_cast<std::size_t>(i)]), "state"), "pending");
  }
}

// A run the list shows in progress is not polled, yet its deadline still ends it on time (after one
// GET at the deadline).
TEST_F(change_feed_test, the_deadline_fires_on_time_for_a_run_the_list_watches) {
  start_fake();
  auto& daemon = make_daemon(base_config());
  ASSERT_TRUE(daemon.start());
  fake_->add_run({.id = "exr_slow", .kind = "", .timeline = {{"PROCESSING", 0ms}}, .fields = {}});
  const auto registered = std::chrono::steady_clock::now();
  ASSERT_EQ(daemon.register_runs(json::array{json::object{{"id", "exr_slow"}, {"deadline", "2s"}}}).status, 201u);
  ASSERT_TRUE(wait_for_file_events(1, 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - registered, 3500ms);
  EXPECT_EQ(string_field(file_events().events.at(0), "eventType"), "run.expired");
  EXPECT_EQ(counts_of(fake_->stats(), "/extract_runs").run_gets, 1u) << "the list, and one last look at the deadline";
}

// SIGHUP with list_endpoints: false puts the runs back on per-run polling; true again resumes the list.
TEST_F(change_feed_test, a_reload_switches_the_lists_off_and_on) {
  start_fake();
  auto& daemon = make_daemon(base_config());
  ASSERT_TRUE(daemon.start());
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back("exr_reload_" + std::to_string(i));
    fake_->add_run({.id = ids.back(), .kind = "", .timeline = {{"PROCESSING", 0ms}}, .fields = {}});
  }
  watch_in_batches(ids);
  std::this_thread::sleep_for(1s);
  const auto listed = counts_of(fake_->stats(), "/extract_runs");
  EXPECT_GE(listed.lists, 3u);
  EXPECT_EQ(listed.run_gets, 0u);

  const auto reload = [&](bool lists) {
    daemon.config().list_endpoints = lists;
    std::ofstream{daemon.config_path()} << render_config(daemon.config());
    ::kill(*daemon.pid(), SIGHUP);
    return wait_until(
        [&] { return daemon.log().find(lists ? "list_endpoints=true" : "list_endpoints=false") != std::string::npos; },
        5s);
  };
  ASSERT_TRUE(reload(false));
  std::this_thread::sleep_for(2s);
  const auto polled = counts_of(fake_->stats(), "/extract_runs");
  EXPECT_LE(polled.lists, listed.lists + 2) << "no more sweeps";
  EXPECT_GE(polled.run_gets, ids.size() * 3) << "each run polled on the SDK cadence";

  ASSERT_TRUE(reload(true));
  std::this_thread::sleep_for(1s);
  EXPECT_GE(counts_of(fake_->stats(), "/extract_runs").lists, polled.lists + 3) << "sweeping again";
}

// polling.list_endpoints: false is per-run polling as before: no list request at all.
TEST_F(change_feed_test, switched_off_every_run_is_polled_as_before) {
  start_fake();
  auto c = base_config();
  c.list_endpoints = false;
  auto& daemon = make_daemon(c);
  ASSERT_TRUE(daemon.start());
  const auto ids = add_runs("exr_off_", 30, 1s, 3s);
  watch_in_batches(ids);
  ASSERT_TRUE(wait_for_file_events(ids.size(), 30s)) << file_event_count();
  expect_each_finished_once(ids, "extract_run");
  const auto extract = counts_of(fake_->stats(), "/extract_runs");
  EXPECT_EQ(extract.lists, 0u);
  EXPECT_GE(extract.run_gets, ids.size() * 3) << "each run is polled while pending (as the budget allows)";
}

// The figure the README quotes (HOOKLESS_FEED_MEASURE=1; about 5 minutes): 10,000 pending extract
// runs finishing evenly over 2 hours, Extend limited to 10 requests/s, the SDK cadence defaults, for
// `window` after registration; requests per run found finished, list on and off.
TEST_F(change_feed_test, measure_requests_per_finished_run_at_10000_pending) {
  if (std::getenv("HOOKLESS_FEED_MEASURE") == nullptr) GTEST_SKIP() << "set HOOKLESS_FEED_MEASURE=1 to measure";
  const auto window = 120s;
  for (const bool lists : {true, false}) {
    TearDown();
    const auto prefix = std::string{lists ? "exr_on_" : "exr_off_"};
    fake_extend_options options;
    options.rate_limit = 10.0;
    start_fake(options);
    auto c = base_config();
    c.requests_per_second = 10;
    c.fast_interval = "1s";
    c.fast_period = "30s";
    c.max_interval = "30s";
    c.jitter = 0.25;
    c.list_endpoints = lists;
    c.events_file = dir_ / (prefix + "events.jsonl");
    c.state = dir_ / (prefix + "state.db");
    auto& daemon = make_daemon(c);
    ASSERT_TRUE(daemon.start());
    std::vector<std::string> ids;
    for (int i = 0; i < 10'000; ++i) {
      ids.push_back(prefix + std::to_string(i));
      fake_->add_run(
          {.id = ids.back(), .kind = "", .timeline = {{"PROCESSING", 0ms}, {"PROCESSED", i * 720ms}}, .fields = {}});
    }
    const auto start = std::chrono::steady_clock::now();
    watch_in_batches(ids);
    std::this_thread::sleep_until(start + window);
    const auto stats = fake_->stats();
    const auto found = file_event_count();
    const auto finished = static_cast<std::size_t>(window / 720ms);
    std::printf(
        "list_endpoints=%s: %zu pending, %zu finished in %llds, %zu found; %llu requests (%llu list pages, "
        "%llu GETs, %llu 429s): %.2f requests per run found\n",
        lists ? "true" : "false", ids.size(), finished, static_cast<long long>(window.count()), found,
        static_cast<unsigned long long>(stats.total_requests),
        static_cast<unsigned long long>(counts_of(stats, "/extract_runs").lists),
        static_cast<unsigned long long>(counts_of(stats, "/extract_runs").run_gets),
        static_cast<unsigned long long>(stats.responses_429),
        found == 0 ? 0.0 : static_cast<double>(stats.total_requests) / static_cast<double>(found));
  }
}

}  // namespace
}  // namespace hookless::blackbox
