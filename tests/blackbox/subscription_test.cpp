// Black box: subscriptions (docs/subscriptions.md). hooklessd sweeps the list endpoints of the
// subscribed kinds and delivers every run of them that finishes after the subscription first
// started, with nothing registered.
//
// The main scenario is the issue's: the fake Extend API refusing more than 10 requests in any
// second, runs finished before the first start (none delivered), 300 runs of three kinds (one not
// subscribed) finishing over about a minute with a handful registered as well, the daemon SIGKILLed
// while 100 more finish, then started again. Every subscribed run must reach both of the
// subscription's sinks with the eventId derived from its run and event type (a redelivery after
// the kill may repeat a line, never change its eventId), nothing of the history or of the other
// kind, a registered run once per sink, no 429; the test prints the requests per finished run.
// Then the faults: a list that refuses (400, 500, 404) and a page out of order make the
// subscription say "failing" in health, and once the list answers properly every run that
// finished meanwhile is delivered.
#include "tests/blackbox/blackbox_fixture.hpp"
#include "tests/blackbox/subscription_support.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstdio>
#include <random>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

// What the fake saw, by list and by single runs of one collection.
struct subscription_request_counts {
  std::uint64_t list_pages = 0;
  std::uint64_t run_gets = 0;
};

subscription_request_counts subscription_requests_of(const fake_extend_stats& stats, const std::string& collection) {
  subscription_request_counts counts;
  for (const auto& [path, n] : stats.requests_per_path) {
    if (path == collection) counts.list_pages += n;
    if (path.starts_with(collection + "/")) counts.run_gets += n;
  }
  return counts;
}

double seconds_since(std::chrono::steady_clock::time_point from) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - from).count();
}

class subscription_test : public blackbox_test {
 protected:
  void add_planned(std::vector<scripted_run> runs) { add_scripted_runs(*fake_, plan_, std::move(runs)); }

  std::vector<fs::path> sink_files() const {
    std::vector<fs::path> files{daemon_->config().events_file};
    for (const auto& extra : daemon_->config().extra_file_sinks) files.push_back(extra.path);
    return files;
  }

  subscription_delivery_check check_now(std::vector<std::string>* bad_lines = nullptr) const {
    const auto files = sink_files();
    return check_subscription_deliveries(read_sink_events(files, bad_lines), plan_, files.size(), true);
  }

  bool wait_for_everything(std::chrono::milliseconds limit) const {
    return wait_until([&] { return check_now().complete(); }, limit, 500ms);
  }

  std::string state_of(const std::string& name, const std::string& kind) const {
    try {
      return subscription_state(daemon_->health(), name, kind);
    } catch (const std::exception&) {
      return {};  // not answering right now
    }
  }

  bool wait_for_state(const std::string& name, const std::vector<std::string>& kinds, const std::string& state,
                      std::chrono::milliseconds limit) const {
    return wait_until(
        [&] { return std::ranges::all_of(kinds, [&](const auto& kind) { return state_of(name, kind) == state; }); },
        limit, 100ms);
  }

  std::string health_text() const {
    try {
      return json::serialize(daemon_->health());
    } catch (const std::exception& e) {
      return std::string{"(no health: "} + e.what() + ")";
    }
  }

  // The fault tests' daemon: one subscription "watch" of extract and workflow runs to the default sink.
  void start_watching() {
    start_fake();
    auto c = base_config();
    c.default_sinks = {"archive"};
    c.requests_per_second = 20;
    c.fast_interval = "1s";
    c.max_interval = "5s";
    c.subscriptions = {{.name = "watch", .kinds = {"extract_run", "workflow_run"}}};
    auto& daemon = make_daemon(c);
    ASSERT_TRUE(daemon.start());
    ASSERT_TRUE(wait_for_state("watch", {"extract_run", "workflow_run"}, "ok", 20s)) << health_text();
  }

  // `count` extract runs (every fifth FAILED) and `workflows` workflow runs finishing in [1 s, 5 s).
  void add_fault_round(const std::string& tag, int count, int workflows) {
    std::mt19937 random{static_cast<std::uint32_t>(std::hash<std::string>{}(tag))};
    std::vector<scripted_run> runs;
    for (int i = 0; i < count; ++i) {
      runs.push_back(script_run("exr_" + tag + "_" + std::to_string(i), "extract_run",
                                i % 5 == 4 ? "FAILED" : "PROCESSED", 0ms,
                                std::chrono::milliseconds{1000 + random() % 4000}, true));
    }
    for (int i = 0; i < workflows; ++i) {
      runs.push_back(script_run("workflow_run_" + tag + "_" + std::to_string(i), "workflow_run", "PROCESSED", 0ms,
                                std::chrono::milliseconds{1000 + random() % 2000}, true));
    }
    add_planned(std::move(runs));
  }

  // Every expected event, nothing of anyone else, no run under two eventIds, no torn line, and
  // each envelope of a run found (not registered) naming `subscription`, with context {}.
  subscription_delivery_check expect_clean_deliveries(const std::string& subscription) const {
    std::vector<std::string> bad_lines;
    const auto check = check_now(&bad_lines);
    std::printf("[ subscription ] %s\n", check.summary().c_str());
    EXPECT_TRUE(check.complete()) << check.summary();
    EXPECT_TRUE(check.unexpected.empty()) << "history, other kinds or events not due: " << check.summary();
    EXPECT_TRUE(check.unstable_ids.empty()) << check.summary();
    EXPECT_TRUE(check.out_of_order.empty()) << check.summary();
    EXPECT_TRUE(bad_lines.empty()) << bad_lines.size() << " torn lines";
    int unnamed = 0;
    for (const auto& e : read_sink_events(sink_files(), nullptr)) {
      const auto run = plan_.find(e.run_id);
      if (run != plan_.end() && run->second.registered) continue;
      const auto* hookless = e.envelope.if_contains("hookless");
      const bool named =
          hookless && hookless->is_object() && string_field(hookless->get_object(), "subscription") == subscription &&
          hookless->get_object().contains("context") && hookless->get_object().at("context") == json::object{};
      if (!named && ++unnamed <= 3) {
        ADD_FAILURE() << "hookless.subscription is not " << subscription
                      << " or hookless.context not {}: " << json::serialize(e.envelope);
      }
    }
    return check;
  }

  std::map<std::string, expected_run> plan_;
};

TEST_F(subscription_test, every_subscribed_run_is_delivered_once_per_sink_across_a_kill_at_10_requests_per_second) {
  const auto test_started = std::chrono::steady_clock::now();
  fake_extend_options options;
  options.rate_limit = 10.0;
  start_fake(options);
  std::mt19937 random{20261206};

  // Before the first start: history (never delivered), runs in progress that finish later, and
  // workflows waiting for review whose outcome comes later (the outcome only is delivered).
  {
    std::vector<scripted_run> before;
    for (int i = 0; i < 20; ++i) {
      before.push_back(script_run("exr_hist_" + std::to_string(i), "extract_run", i % 4 == 3 ? "FAILED" : "PROCESSED",
                                  0ms, 0ms, false));
    }
    for (int i = 0; i < 10; ++i) {
      before.push_back(
          script_run("workflow_run_hist_" + std::to_string(i), "workflow_run", "PROCESSED", 0ms, 0ms, false));
      before.push_back(script_run("clr_hist_" + std::to_string(i), "classify_run", "PROCESSED", 0ms, 0ms, false));
    }
    for (int i = 0; i < 6; ++i) {
      before.push_back(script_run("exr_early_" + std::to_string(i), "extract_run", "PROCESSED", 0ms,
                                  std::chrono::milliseconds{15'000 + 2'000 * i}, true));
    }
    for (int i = 0; i < 3; ++i) {
      auto review = script_run("workflow_run_early_review_" + std::to_string(i), "workflow_run", "REVIEW", 0ms, 0ms,
                               true, std::chrono::milliseconds{20'000 + 2'000 * i});
      review.expect.optional.clear();  // its needs_review came before the first start
      before.push_back(std::move(review));
    }
    add_planned(std::move(before));
  }
  std::this_thread::sleep_for(1200ms);  // the history's updatedAt lies clearly before the start

  auto c = base_config();
  c.requests_per_second = 10;
  c.fast_interval = "1s";
  c.fast_period = "30s";
  c.max_interval = "5s";
  c.default_sinks = {"archive"};
  c.extra_file_sinks = {{"copy", dir_ / "copy.jsonl"}};
  c.subscriptions = {{.name = "invoices",
                      .kinds = {"extract_run", "workflow_run"},
                      .sinks = std::vector<std::string>{"archive", "copy"}}};
  auto& daemon = make_daemon(c);
  ASSERT_TRUE(daemon.start({}, 20s));
  ASSERT_TRUE(wait_for_state("invoices", {"extract_run", "workflow_run"}, "ok", 30s))
      << "the subscription's first sweeps did not answer; health: " << health_text();

  // 300 runs over about a minute: half extract runs, 30 % workflows (a third of them through a
  // 10 s review, whose needs_review is required when the daemon is up throughout, as sweeps idle
  // down to 8 fast intervals), 20 % classify runs.
  const auto phase_one = std::chrono::steady_clock::now();
  {
    std::vector<scripted_run> runs;
    int extracts = 0;
    int workflows = 0;
    for (int i = 0; i < 300; ++i) {
      const auto appear = std::chrono::milliseconds{random() % 45'000};
      const auto finish = appear + std::chrono::milliseconds{2'000 + random() % 10'000};
      const auto slot = i % 10;
      if (slot < 5) {
        const int n = extracts++;
        runs.push_back(script_run("exr_sub_" + std::to_string(n), "extract_run", n % 5 == 4 ? "FAILED" : "PROCESSED",
                                  appear, finish, true));
      } else if (slot < 8) {
        const int n = workflows++;
        const std::string outcome = n % 3 == 0 ? "REVIEW" : n % 7 == 1 ? "FAILED" : "PROCESSED";
        runs.push_back(script_run("workflow_run_sub_" + std::to_string(n), "workflow_run", outcome, appear, finish,
                                  true, 10'000ms, finish + 10'000ms < 38'000ms));
      } else {
        runs.push_back(script_run("clr_sub_" + std::to_string(i), "classify_run", "PROCESSED", appear, finish, false));
      }
    }
    // A handful registered too, to one of the subscription's sinks: once per sink, one eventId.
    for (int i = 0; i < 5; ++i) {
      auto registered = script_run("exr_subreg_" + std::to_string(i), "extract_run", "PROCESSED", 0ms,
                                   std::chrono::milliseconds{6'000 + 2'000 * i}, true);
      registered.expect.registered = true;
      runs.push_back(std::move(registered));
    }
    add_planned(std::move(runs));
  }
  {
    json::array registrations;
    for (int i = 0; i < 5; ++i) {
      registrations.push_back(json::object{{"id", "exr_subreg_" + std::to_string(i)},
                                           {"sinks", json::array{"archive"}},
                                           {"context", json::object{{"app", "registered"}}}});
    }
    // New: a sweep finds a run only once it has finished, and these are still pending.
    const auto answer = daemon.register_runs(registrations);
    ASSERT_EQ(answer.status, 201u) << answer.body;
  }

  // 40 s in, 100 more start, finishing within 3 to 18 s; the daemon is killed 2 s later and stays
  // down for 18 s, so most of them (and the last of the 300) finish while it is down.
  std::this_thread::sleep_until(phase_one + 40s);
  const auto mid_health = health_text();
  const auto phase_two = std::chrono::steady_clock::now();
  {
    std::vector<scripted_run> runs;
    for (int i = 0; i < 120; ++i) {
      const auto finish = std::chrono::milliseconds{3'000 + random() % 15'000};
      if (i < 60) {
        runs.push_back(script_run("exr_late_" + std::to_string(i), "extract_run", i % 5 == 4 ? "FAILED" : "PROCESSED",
                                  0ms, finish, true));
      } else if (i < 100) {
        runs.push_back(script_run("workflow_run_late_" + std::to_string(i), "workflow_run",
                                  i % 4 == 0 ? "REVIEW" : "PROCESSED", 0ms, finish, true));
      } else {
        runs.push_back(script_run("clr_late_" + std::to_string(i), "classify_run", "PROCESSED", 0ms, finish, false));
      }
    }
    add_planned(std::move(runs));
  }
  std::this_thread::sleep_until(phase_two + 2s);
  daemon.kill_now();
  const auto delivered_before_kill = check_now().events;
  std::this_thread::sleep_until(phase_two + 20s);
  const auto restarted = std::chrono::steady_clock::now();
  ASSERT_TRUE(daemon.start({}, 20s));
  const bool everything = wait_for_everything(90s);
  const auto catch_up = seconds_since(restarted);
  std::this_thread::sleep_for(3s);  // anything more that would come (it must not)

  EXPECT_TRUE(everything) << "not everything arrived within 90 s of the restart";
  const auto check = expect_clean_deliveries("invoices");

  // Registered and found: exactly once in each sink, one eventId.
  const auto events = read_sink_events(sink_files(), nullptr);
  for (int i = 0; i < 5; ++i) {
    const auto id = "exr_subreg_" + std::to_string(i);
    std::map<std::size_t, int> per_sink;
    for (const auto& e : events) {
      if (e.run_id != id) continue;
      ++per_sink[e.sink];
      EXPECT_EQ(e.event_id, make_event_id(id, "extract_run.processed")) << id;
      // Still the registering user's run: its context, and no subscription named.
      const auto& hookless = object_field(e.envelope, "hookless");
      EXPECT_EQ(hookless.at("context"), (json::object{{"app", "registered"}})) << json::serialize(e.envelope);
      EXPECT_FALSE(hookless.contains("subscription")) << json::serialize(e.envelope);
    }
    EXPECT_EQ(per_sink[0], 1) << id << " in the archive sink (registered to it, and found)";
    EXPECT_EQ(per_sink[1], 1) << id << " in the copy sink (the subscription's)";
  }
  // Found runs belong to no user: an admin (the test runs as root) sees them.
  for (const char* id : {"exr_sub_0", "workflow_run_sub_1", "exr_late_3", "exr_early_0"}) {
    const auto record = daemon.run(id);
    ASSERT_TRUE(record.has_value()) << id << ": GET /v1/runs/{id} as an admin (root)";
    EXPECT_EQ(string_field(*record, "id"), id);
    EXPECT_EQ(string_field(*record, "state"), "finished") << json::serialize(*record);
  }
  EXPECT_FALSE(daemon.run("clr_sub_8").has_value()) << "classify runs are not subscribed";

  // What it cost at Extend.
  const auto stats = fake_->stats();
  EXPECT_EQ(stats.responses_429, 0u) << "max requests in any second: " << stats.max_requests_in_any_second();
  const auto classify = subscription_requests_of(stats, "/classify_runs");
  EXPECT_EQ(classify.list_pages + classify.run_gets, 0u) << "a kind no subscription names costs nothing";
  const auto extract = subscription_requests_of(stats, "/extract_runs");
  const auto workflow = subscription_requests_of(stats, "/workflow_runs");
  std::size_t finished = 0;
  for (const auto& [id, run] : plan_) finished += run.required.empty() ? 0U : 1U;
  std::printf(
      "[ subscription ] %zu subscribed runs finished (%zu event lines in the sinks at the kill); %llu requests to "
      "Extend: extract_runs %llu list pages + %llu GETs, workflow_runs %llu list pages + %llu GETs, others %llu; "
      "%.2f requests per finished run (%.2f list pages, %.2f GETs); 429s: %llu; max requests in any "
      "second: %zu\n",
      finished, delivered_before_kill, static_cast<unsigned long long>(stats.total_requests),
      static_cast<unsigned long long>(extract.list_pages), static_cast<unsigned long long>(extract.run_gets),
      static_cast<unsigned long long>(workflow.list_pages), static_cast<unsigned long long>(workflow.run_gets),
      static_cast<unsigned long long>(stats.total_requests - extract.list_pages - extract.run_gets -
                                      workflow.list_pages - workflow.run_gets),
      static_cast<double>(stats.total_requests) / static_cast<double>(finished),
      static_cast<double>(extract.list_pages + workflow.list_pages) / static_cast<double>(finished),
      static_cast<double>(extract.run_gets + workflow.run_gets) / static_cast<double>(finished),
      static_cast<unsigned long long>(stats.responses_429), stats.max_requests_in_any_second());
  std::printf("[ subscription ] %s; caught up %.1f s after the restart; whole test %.1f s\n", check.summary().c_str(),
              catch_up, seconds_since(test_started));
  std::printf("[ subscription ] health 40 s in: %s\n", mid_health.c_str());
  RecordProperty("requests_per_finished_run",
                 std::to_string(static_cast<double>(stats.total_requests) / static_cast<double>(finished)));
  RecordProperty("duplicate_lines", static_cast<int>(check.duplicates));
}

// The list of one kind refuses (400, then 500, then 404, then the connection cut without an
// answer) while runs finish: that kind's entry in
// health says failing with the error, the other kind carries on, and once the list answers again
// every run that finished meanwhile is delivered.
TEST_F(subscription_test, a_list_that_refuses_shows_failing_and_every_run_is_delivered_once_it_answers) {
  start_watching();
  if (HasFatalFailure()) return;
  int round = 0;
  for (const auto& [refusal, code] :
       {std::pair{fault_kind::status_400, "400"}, std::pair{fault_kind::status_500, "500"},
        std::pair{fault_kind::not_found, "404"}, std::pair{fault_kind::cut, "cut"}}) {
    SCOPED_TRACE(std::string{"list refusing with "} + code);
    fake_->inject({.kind = refusal,
                   .run_id = std::nullopt,
                   .count = std::nullopt,
                   .delay = 0ms,
                   .lists_only = true,
                   .path = "/extract_runs"});
    const auto added = std::chrono::steady_clock::now();
    add_fault_round("refused" + std::to_string(round++), 15, 5);
    ASSERT_TRUE(wait_until([&] { return state_of("watch", "extract_run") == "failing"; }, 15s)) << health_text();
    const auto entry = subscription_health(daemon_->health(), "watch", "extract_run");
    ASSERT_TRUE(entry.has_value());
    const auto* error = entry->if_contains("last_error");
    ASSERT_TRUE(error && error->is_string() && !error->get_string().empty()) << json::serialize(*entry);
    if (refusal != fault_kind::cut) {
      EXPECT_NE(std::string{error->get_string()}.find(code), std::string::npos)
          << "last_error names what the list answered: " << json::serialize(*entry);
    }
    std::printf("[ subscription ] list answering %s: %s\n", code, json::serialize(*entry).c_str());
    EXPECT_EQ(string_field(daemon_->health(), "status"), "degraded") << health_text();
    EXPECT_EQ(state_of("watch", "workflow_run"), "ok") << "the other kind's list answers: " << health_text();

    std::this_thread::sleep_until(added + 6s);  // every run of the round has finished, unseen
    EXPECT_EQ(state_of("watch", "extract_run"), "failing") << "still refused: still failing";
    fake_->clear_faults();
    ASSERT_TRUE(wait_for_everything(30s)) << check_now().summary() << "\nhealth: " << health_text();
    EXPECT_TRUE(wait_for_state("watch", {"extract_run"}, "ok", 10s)) << health_text();
    EXPECT_EQ(string_field(daemon_->health(), "status"), "ok") << health_text();
  }
  expect_clean_deliveries("watch");
}

// Every list page comes in the wrong order (oldest first) while runs finish: health says failing,
// the position stays, and once pages are sorted again no run has been skipped.
TEST_F(subscription_test, a_page_out_of_order_shows_failing_and_skips_no_run) {
  start_watching();
  if (HasFatalFailure()) return;
  fake_->inject({.kind = fault_kind::list_unsorted, .run_id = std::nullopt, .count = std::nullopt, .delay = 0ms});
  const auto added = std::chrono::steady_clock::now();
  add_fault_round("unsorted", 30, 0);
  ASSERT_TRUE(wait_until([&] { return state_of("watch", "extract_run") == "failing"; }, 15s)) << health_text();
  const auto entry = subscription_health(daemon_->health(), "watch", "extract_run");
  ASSERT_TRUE(entry.has_value());
  const auto* error = entry->if_contains("last_error");
  EXPECT_TRUE(error && error->is_string() && !error->get_string().empty()) << json::serialize(*entry);
  std::printf("[ subscription ] pages out of order: %s\n", json::serialize(*entry).c_str());
  EXPECT_EQ(string_field(daemon_->health(), "status"), "degraded") << health_text();

  std::this_thread::sleep_until(added + 6s);
  EXPECT_EQ(state_of("watch", "extract_run"), "failing") << "still out of order: still failing";
  fake_->clear_faults();
  ASSERT_TRUE(wait_for_everything(30s)) << check_now().summary() << "\nhealth: " << health_text();
  EXPECT_TRUE(wait_for_state("watch", {"extract_run"}, "ok", 10s)) << health_text();
  expect_clean_deliveries("watch");
}

}  // namespace
}  // namespace hookless::blackbox
