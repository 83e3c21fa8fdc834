// The tracker's subscriptions on a real SQLite store against a scripted workspace (its list sorted by
// updatedAt and each run's GET): history is never delivered, every run that stops afterwards is, once
// per sink, with hookless.subscription in its envelope; a registered run is delivered once per sink;
// the position survives a restart, so runs that stop meanwhile are delivered; a failing list or a page
// out of order keeps the position and skips nothing; a reload removes a subscription.
#include "core/delivery/sink.hpp"
#include "core/store/sqlite_store.hpp"
#include "core/tracking/run_tracker.hpp"
#include "tests/support/co_assert.hpp"
#include "tests/support/run_with_deadline.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace hookless {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// The workspace as Extend shows it: every run's status and updatedAt (Extend's clock), served as a
// list newest first (in pages of the size asked for) and one run at a time.
class scripted_workspace final : public run_source {
 public:
  void set(const std::string& id, std::string status) {
    clock_ += 10ms;
    runs_[id] = run_summary{.id = id, .status = std::move(status), .updated_at = clock_};
  }

  awaitable<extend_answer> fetch(const run_kind_info& kind, std::string_view run_id, send_turn wait_turn,
                                 request_place) override {
    const bool may_send = co_await wait_turn();
    if (!may_send) co_return extend_answer{};
    ++gets;
    ++gets_of[std::string{run_id}];
    const auto found = runs_.find(std::string{run_id});
    const std::string status = found == runs_.end() ? "PENDING" : found->second.status;
    extend_answer answer;
    answer.kind = answer_kind::run;
    answer.status = status;
    answer.payload = R"({"object":")" + std::string{kind.kind} + R"(","id":")" + std::string{run_id} +
                     R"(","status":")" + status + R"("})";
    co_return answer;
  }

  awaitable<list_answer> list(const run_kind_info& kind, const page_request& page, send_turn wait_turn,
                              request_place) override {
    const bool may_send = co_await wait_turn();
    if (!may_send) co_return list_answer{};
    ++pages;
    list_answer answer;
    if (failing) {
      answer.kind = answer_kind::retryable;
      answer.error = "HTTP 500 from the test";
      co_return answer;
    }
    std::vector<run_summary> sorted;
    for (const auto& [id, summary] : runs_) {
      if (describe_kind_of_id(id) == kind.kind) sorted.push_back(summary);
    }
    std::ranges::sort(sorted, std::ranges::greater{}, &run_summary::updated_at);
    if (unsorted) std::ranges::reverse(sorted);
    const std::size_t offset = page.page_token ? std::stoul(*page.page_token) : 0;
    const auto end = std::min(sorted.size(), offset + page.max_page_size);
    answer.kind = answer_kind::run;
    answer.runs.assign(sorted.begin() + static_cast<std::ptrdiff_t>(std::min(offset, end)),
                       sorted.begin() + static_cast<std::ptrdiff_t>(end));
    if (end < sorted.size()) answer.next_page_token = std::to_string(end);
    co_return answer;
  }

  int gets = 0;
  std::map<std::string, int> gets_of;
  int pages = 0;
  bool failing = false;
  bool unsorted = false;

 private:
  static std::string describe_kind_of_id(const std::string& id) {
    return id.starts_with("exr_") ? "extract_run" : id.starts_with("workflow_run_") ? "workflow_run" : "other";
  }

  time_point clock_ = std::chrono::sys_days{std::chrono::year{2026} / 3 / 1};
  std::map<std::string, run_summary> runs_;
};

// Takes every event and keeps its envelope, by eventId.
class keeping_sink final : public sink {
 public:
  awaitable<delivery_result> deliver(const delivery_job& job) override {
    bodies[job.record.event_id] = job.body;
    ++deliveries;
    co_return delivery_result{.delivered = true, .error = {}, .retry_after = {}};
  }
  std::set<std::string> runs() const {
    std::set<std::string> ids;
    for (const auto& [event_id, body] : bodies) {
      ids.insert(std::string{boost::json::parse(body).at("payload").at("id").as_string()});
    }
    return ids;
  }
  std::map<std::string, std::string> bodies;
  int deliveries = 0;
};

// (g++ 12 miscompiles initializer lists inside coroutines: the tests build these in plain functions.)
std::vector<registration> one_registration(std::string id, std::string sink_name) {
  registration reg;
  reg.id = std::move(id);
  reg.kind = "extract_run";
  reg.sinks.push_back(std::move(sink_name));
  return std::vector<registration>{reg};
}

std::map<std::string, subscription_config> extract_runs_to(std::string sink_name) {
  return {{"invoices", subscription_config{.name = "invoices", .kinds = {"extract_run"}, .sinks = {sink_name}}}};
}

class run_tracker_subscriptions_test : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_.polling.fast_interval = 20ms;
    settings_.polling.jitter = 0;
    settings_.progress_flush_interval = 50ms;
    settings_.subscriptions["invoices"] =
        subscription_config{.name = "invoices", .kinds = {"extract_run", "workflow_run"}, .sinks = {"app", "audit"}};
    open_store();
  }

  void TearDown() override { stop(); }

  void open_store() {
    open_report report;
    store_ = sqlite_store::open(io_.get_executor(), (temp_.path() / "state.db").string(), report);
  }

  // Stops the tracker and closes the store (a daemon's stop; the next make_tracker is its restart).
  void stop() {
    if (tracker_) tracker_->stop();
    if (budget_) budget_->stop();
    io_.restart();
    io_.run_for(100ms);
    tracker_.reset();
    budget_.reset();
    store_.reset();
  }

  run_tracker& make_tracker() {
    if (!store_) open_store();
    budget_ =
        std::make_unique<request_budget>(io_.get_executor(), request_budget::options{.requests_per_second = 5000});
    std::map<std::string, sink*> sinks{{"app", &app_}, {"audit", &audit_}};
    tracker_ = std::make_unique<run_tracker>(io_.get_executor(), *store_, workspace_, *budget_, sinks, settings_,
                                             [this](std::exception_ptr) { ++fatal_calls_; });
    return *tracker_;
  }

  void run(std::function<awaitable<void>()> body, std::chrono::milliseconds limit = 20s) {
    test::run_with_deadline(io_, std::move(body), limit);
  }

  // Waits until the subscription has swept every kind once more after now.
  awaitable<bool> swept_again(const run_tracker& tracker) {
    std::map<std::string, std::uint64_t> before;
    for (const auto& s : tracker.subscription_statuses()) before[s.kind] = s.sweeps;
    co_return co_await test::eventually(
        [&] {
          return std::ranges::all_of(tracker.subscription_statuses(),
                                     [&](const subscription_status& s) { return s.sweeps > before[s.kind] + 1; });
        },
        5s);
  }

  test::temp_dir temp_{"hlsub"};
  asio::io_context io_{1};
  std::unique_ptr<sqlite_store> store_;
  scripted_workspace workspace_;
  keeping_sink app_;
  keeping_sink audit_;
  tracker_settings settings_;
  std::unique_ptr<request_budget> budget_;
  std::unique_ptr<run_tracker> tracker_;
  int fatal_calls_ = 0;
};

TEST_F(run_tracker_subscriptions_test, delivers_every_run_that_stops_after_the_start_and_no_history) {
  workspace_.set("exr_history", "PROCESSED");
  workspace_.set("workflow_run_history", "FAILED");
  workspace_.set("exr_busy", "PROCESSING");
  auto& tracker = make_tracker();
  run([&]() -> awaitable<void> {
    co_await tracker.start();
    EXPECT_TRUE(co_await swept_again(tracker));
    workspace_.set("exr_busy", "PROCESSED");
    workspace_.set("exr_new", "FAILED");
    workspace_.set("workflow_run_new", "NEEDS_REVIEW");
    workspace_.set("workflow_run_working", "PROCESSING");
    workspace_.set("cl_other_kind", "PROCESSED");
    EXPECT_TRUE(co_await test::eventually([&] { return app_.bodies.size() == 3; }, 5s));
    workspace_.set("workflow_run_new", "PROCESSED");  // its outcome after the review
    EXPECT_TRUE(co_await test::eventually([&] { return app_.bodies.size() == 4; }, 5s));
    EXPECT_TRUE(co_await swept_again(tracker));
  });
  EXPECT_EQ(app_.runs(), (std::set<std::string>{"exr_busy", "exr_new", "workflow_run_new"}));
  EXPECT_EQ(audit_.bodies, app_.bodies) << "each sink of the subscription, the same events";
  EXPECT_EQ(app_.deliveries, 4) << "each event once per sink";
  for (const auto& [event_id, body] : app_.bodies) {
    const auto envelope = boost::json::parse(body);
    EXPECT_EQ(envelope.at("hookless").at("subscription").as_string(), "invoices") << body;
    EXPECT_TRUE(envelope.at("hookless").at("context").as_object().empty()) << body;
  }
  const auto statuses = tracker_->subscription_statuses();
  ASSERT_EQ(statuses.size(), 2U);
  for (const auto& status : statuses) {
    EXPECT_EQ(status.state, "ok");
    EXPECT_TRUE(status.position.has_value());
  }
  const auto extract = std::ranges::find(statuses, "extract_run", &subscription_status::kind);
  EXPECT_EQ(extract->runs_found, 2U);
  EXPECT_EQ(extract->events, 2U);
  EXPECT_EQ(workspace_.gets_of["exr_busy"], 1) << "one GET per finished run";
  EXPECT_EQ(workspace_.gets_of["exr_new"], 1);
  EXPECT_EQ(workspace_.gets_of.count("exr_history") + workspace_.gets_of.count("workflow_run_working"), 0U)
      << "history and runs in progress cost no GET";
  EXPECT_EQ(fatal_calls_, 0);
}

TEST_F(run_tracker_subscriptions_test, a_registered_run_is_delivered_once_per_sink) {
  auto& tracker = make_tracker();
  run([&]() -> awaitable<void> {
    co_await tracker.start();
    EXPECT_TRUE(co_await swept_again(tracker));
    co_await tracker.register_runs(1000, one_registration("exr_registered", "app"));
    workspace_.set("exr_registered", "PROCESSED");
    EXPECT_TRUE(co_await test::eventually([&] { return !app_.bodies.empty() && !audit_.bodies.empty(); }, 5s));
    EXPECT_TRUE(co_await swept_again(tracker));
    EXPECT_TRUE(co_await swept_again(tracker));
    const auto record = co_await tracker.find("exr_registered");
    EXPECT_TRUE(record && record->owner_uid == 1000U) << "still its registrant's run";
  });
  EXPECT_EQ(app_.deliveries, 1);
  EXPECT_EQ(audit_.deliveries, 1) << "the subscription's other sink gets it too";
  EXPECT_EQ(app_.bodies, audit_.bodies) << "one eventId";
}

TEST_F(run_tracker_subscriptions_test, runs_that_stop_while_the_daemon_is_down_are_delivered_after_it) {
  workspace_.set("exr_history", "PROCESSED");
  {
    auto& tracker = make_tracker();
    run([&]() -> awaitable<void> {
      co_await tracker.start();
      EXPECT_TRUE(co_await swept_again(tracker));
      workspace_.set("exr_before", "PROCESSED");
      EXPECT_TRUE(co_await test::eventually([&] { return app_.bodies.size() == 1; }, 5s));
    });
    stop();
  }
  for (int i = 0; i < 250; ++i) workspace_.set("exr_down_" + std::to_string(i), "PROCESSED");  // pages of 100
  auto& tracker = make_tracker();
  run([&]() -> awaitable<void> {
    co_await tracker.start();
    EXPECT_TRUE(co_await test::eventually([&] { return app_.bodies.size() == 251; }, 10s));
    EXPECT_TRUE(co_await swept_again(tracker));
  });
  EXPECT_EQ(app_.bodies.size(), 251U);
  EXPECT_FALSE(app_.runs().contains("exr_history"));
  EXPECT_EQ(app_.deliveries, 251) << "the run delivered before the restart is not found again";
}

TEST_F(run_tracker_subscriptions_test, a_failing_or_unsorted_list_keeps_the_position_and_skips_nothing) {
  auto& tracker = make_tracker();
  run([&]() -> awaitable<void> {
    co_await tracker.start();
    EXPECT_TRUE(co_await swept_again(tracker));
    workspace_.failing = true;
    workspace_.set("exr_during_failure", "PROCESSED");
    EXPECT_TRUE(co_await test::eventually(
        [&] {
          const auto s = tracker.subscription_statuses();
          return std::ranges::all_of(s, [](const subscription_status& x) { return x.state == "failing"; });
        },
        5s));
    const auto failing = tracker.subscription_statuses().front();
    EXPECT_NE(failing.last_error.value_or("").find("HTTP 500"), std::string::npos);
    workspace_.failing = false;
    workspace_.unsorted = true;
    workspace_.set("exr_during_disorder", "PROCESSED");
    EXPECT_TRUE(co_await test::eventually(
        [&] {
          const auto s = tracker.subscription_statuses();
          return std::ranges::any_of(s, [](const subscription_status& x) {
            return x.last_error && x.last_error->find("not sorted") != std::string::npos;
          });
        },
        10s));
    workspace_.unsorted = false;
    EXPECT_TRUE(co_await test::eventually([&] { return app_.bodies.size() == 2; }, 10s));
    EXPECT_TRUE(co_await test::eventually(
        [&] {
          const auto s = tracker.subscription_statuses();
          return std::ranges::all_of(s, [](const subscription_status& x) { return x.state == "ok"; });
        },
        10s));
  });
  EXPECT_EQ(app_.runs(), (std::set<std::string>{"exr_during_failure", "exr_during_disorder"}));
}

TEST_F(run_tracker_subscriptions_test, a_reload_adds_changes_and_removes_subscriptions) {
  settings_.subscriptions.clear();
  auto& tracker = make_tracker();
  run([&]() -> awaitable<void> {
    co_await tracker.start();
    EXPECT_TRUE(tracker.subscription_statuses().empty());
    std::map<std::string, sink*> sinks;
    sinks["app"] = &app_;
    sinks["audit"] = &audit_;
    co_await tracker.reconfigure(sinks, settings_.polling, {}, extract_runs_to("app"));
    EXPECT_TRUE(co_await swept_again(tracker));
    workspace_.set("exr_1", "PROCESSED");
    EXPECT_TRUE(co_await test::eventually([&] { return app_.bodies.size() == 1; }, 5s));
    const auto before = co_await store_->load_subscription_positions();

    // Changed (other sinks): the position stays, and runs from now on go to the new sinks.
    co_await tracker.reconfigure(sinks, settings_.polling, {}, extract_runs_to("audit"));
    EXPECT_TRUE(co_await swept_again(tracker));
    workspace_.set("exr_2", "PROCESSED");
    EXPECT_TRUE(co_await test::eventually([&] { return audit_.bodies.size() == 1; }, 5s));
    const auto after = co_await store_->load_subscription_positions();
    CO_ASSERT_TRUE(before.size() == 1 && after.size() == 1);
    EXPECT_EQ(after[0].since, before[0].since) << "a changed subscription keeps where it started";
    EXPECT_GT(after[0].position, before[0].position);

    co_await tracker.reconfigure(sinks, settings_.polling, {}, {});
    EXPECT_TRUE(tracker.subscription_statuses().empty());
    workspace_.set("exr_3", "PROCESSED");
    co_await test::pause_for(300ms);
    const auto positions = co_await store_->load_subscription_positions();
    EXPECT_TRUE(positions.empty()) << "a removed subscription's position is forgotten";
  });
  EXPECT_EQ(app_.runs(), (std::set<std::string>{"exr_1"}));
  EXPECT_EQ(audit_.runs(), (std::set<std::string>{"exr_2"}));
}

}  // namespace
}  // namespace hookless
