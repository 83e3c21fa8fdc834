// The run tracker on a real SQLite store with a scripted run source and a recording sink: finished
// runs are pruned after the retention period while the daemon runs, due runs are polled within the
// limit on polls in flight, a full disk refuses new work without stopping anything, and an fsync
// error is fatal; a dead delivery put back keeps its fresh max_age window across a restart. And
// what it must not keep in memory: an event body of a run in review, a queue a reload retired.
#include "core/delivery/sink.hpp"
#include "core/store/sqlite_store.hpp"
#include "core/tracking/run_tracker.hpp"
#include "tests/support/co_assert.hpp"
#include "tests/support/run_with_deadline.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace hookless {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Answers each run with the status set for it (PENDING until told otherwise), after a short delay,
// and counts polls and how many are in flight at once.
class scripted_answers {
 public:
  explicit scripted_answers(asio::any_io_executor executor) : executor_(std::move(executor)) {}

  awaitable<extend_answer> answer(const run_kind_info& kind, std::string_view run_id) {
    const std::string id{run_id};
    ++in_flight_;
    max_in_flight_ = std::max(max_in_flight_, in_flight_);
    ++polls_[id];
    asio::steady_timer delay{executor_};
    delay.expires_after(1ms);
    co_await delay.async_wait(asio::use_awaitable);
    --in_flight_;
    const auto found = status_.find(id);
    const std::string status = found == status_.end() ? "PENDING" : found->second;
    extend_answer result;
    result.kind = answer_kind::run;
    result.status = status;
    result.payload =
        R"({"object":")" + std::string{kind.kind} + R"(","id":")" + id + R"(","status":")" + status + R"("})";
    co_return result;
  }

  void set_status(const std::string& id, std::string status) { status_[id] = std::move(status); }
  int polls(const std::string& id) const {
    const auto found = polls_.find(id);
    return found == polls_.end() ? 0 : found->second;
  }
  int max_in_flight() const { return max_in_flight_; }

 private:
  asio::any_io_executor executor_;
  std::map<std::string, std::string> status_;
  std::map<std::string, int> polls_;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
};

class scripted_source final : public run_source, public scripted_answers {
 public:
  using scripted_answers::scripted_answers;
  awaitable<extend_answer> fetch(const run_kind_info& kind, std::string_view run_id, send_turn wait_turn,
                                 request_place) override {
    // (Awaited into a named local: g++ 12 mishandles a co_await inside an if condition.)
    const bool may_send = co_await wait_turn();
    if (!may_send) co_return extend_answer{};
    co_return co_await answer(kind, run_id);
  }
  // These tests poll each run (list_endpoints is off); a list would not be served.
  awaitable<list_answer> list(const run_kind_info&, const page_request&, send_turn, request_place) override {
    co_return interpret_list(404, "", std::nullopt, describe_kind("extract_run", api_generation::current).value(),
                             clock_type::now());
  }
};

// Takes every event (or refuses while `refuse` is set) and remembers what it took. With max_age
// set, its queue gives up on a delivery after that long, as on an http sink's.
class recording_sink final : public sink, public limited_sink {
 public:
  delivery_limits limits() const override { return delivery_limits{.max_in_flight = 1, .max_age = max_age}; }

  awaitable<delivery_result> deliver(const delivery_job& job) override {
    if (on_deliver) on_deliver(job);
    if (refuse) co_return delivery_result{.delivered = false, .error = "refused by the test", .retry_after = {}};
    delivered.push_back(job.record.event_id);
    co_return delivery_result{.delivered = true, .error = {}, .retry_after = {}};
  }

  std::vector<std::string> delivered;
  bool refuse = false;
  std::optional<std::chrono::milliseconds> max_age;  // read when the tracker is made
  std::function<void(const delivery_job&)> on_deliver;
};

registration reg(std::string id) {
  registration r;
  r.id = std::move(id);
  r.kind = "extract_run";
  r.sinks = {"archive"};
  return r;
}

std::vector<registration> regs_of(const std::vector<std::string>& ids) {
  std::vector<registration> all;
  for (const auto& id : ids) all.push_back(reg(id));
  return all;
}

// g++ 12 miscompiles initializer lists inside coroutines ("array used as initializer"), so test
// bodies name their runs through this plain function.
template <typename... Ids>
std::vector<registration> regs(Ids... ids) {
  std::vector<registration> all;
  (all.push_back(reg(std::string{ids})), ...);
  return all;
}

class run_tracker_durability_test : public ::testing::Test {
 protected:
  void SetUp() override {
    open_report report;
    store_ = sqlite_store::open(io_.get_executor(), (dir_ / "state.db").string(), report);
    settings_.polling.fast_interval = 20ms;
    settings_.polling.fast_period = 10s;
    settings_.polling.jitter = 0;
    settings_.polling.list_endpoints = false;
    settings_.progress_flush_interval = 50ms;
  }

  void TearDown() override {
    if (tracker_) tracker_->stop();
    if (budget_) budget_->stop();
    io_.restart();
    io_.run_for(200ms);  // let the stopped tasks end before their objects go
    tracker_.reset();
    budget_.reset();
    store_.reset();
  }

  // Stops the tracker and closes the store, then opens the file again: a restart of the daemon.
  void restart_store() {
    tracker_->stop();
    budget_->stop();
    io_.restart();
    io_.run_for(100ms);
    tracker_.reset();
    budget_.reset();
    store_.reset();
    open_report report;
    store_ = sqlite_store::open(io_.get_executor(), (dir_ / "state.db").string(), report);
  }

  run_tracker& make_tracker() {
    budget_ =
        std::make_unique<request_budget>(io_.get_executor(), request_budget::options{.requests_per_second = 5000});
    std::map<std::string, sink*> sinks{{"archive", &sink_}};
    tracker_ = std::make_unique<run_tracker>(io_.get_executor(), *store_, source_, *budget_, sinks, settings_,
                                             [this](std::exception_ptr) { ++fatal_calls_; });
    return *tracker_;
  }

  // Runs `body` on the io_context until it returns (or `limit` passes, which fails the test).
  void run(std::function<awaitable<void>()> body, std::chrono::milliseconds limit = 20s) {
    test::run_with_deadline(io_, std::move(body), limit);
  }

  awaitable<bool> stored(std::string id) {
    const auto found = co_await store_->find_run(std::move(id));
    co_return found.has_value();
  }

  test::temp_dir temp_{"hltrk"};
  fs::path dir_ = temp_.path();
  asio::io_context io_{1};
  std::unique_ptr<sqlite_store> store_;
  scripted_source source_{io_.get_executor()};
  recording_sink sink_;
  tracker_settings settings_;
  std::unique_ptr<request_budget> budget_;
  std::unique_ptr<run_tracker> tracker_;
  int fatal_calls_ = 0;
};

TEST_F(run_tracker_durability_test, prunes_finished_runs_after_the_retention_period_while_running) {
  settings_.retention = 400ms;
  settings_.prune_interval = 100ms;
  auto& tracker = make_tracker();
  run([&]() -> awaitable<void> {
    co_await tracker.start();
    source_.set_status("exr_done", "PROCESSED");
    source_.set_status("exr_undelivered", "PROCESSED");
    sink_.on_deliver = [&](const delivery_job& job) { sink_.refuse = job.record.run_id == "exr_undelivered"; };
    co_await tracker.register_runs(0, regs("exr_done", "exr_undelivered", "exr_pending"));

    EXPECT_TRUE(
        co_await test::eventually([&] { return sink_.delivered.size() == 1 && tracker.pending_count() == 1; }, 5s));
    EXPECT_TRUE(co_await stored("exr_done")) << "a finished run is kept until the retention period is over";
    const auto finished_at = std::chrono::steady_clock::now();

    // Pruned by the periodic check, not at start: the run finished after the tracker started.
    const bool pruned = co_await test::eventually([&] { return tracker.counters().pruned >= 1; }, 5s);
    EXPECT_TRUE(pruned);
    EXPECT_GE(std::chrono::steady_clock::now() - finished_at, 250ms) << "not before the retention period";
    EXPECT_FALSE(co_await stored("exr_done"));
    EXPECT_TRUE(co_await stored("exr_undelivered")) << "a finished run with a pending delivery stays";
    EXPECT_TRUE(co_await stored("exr_pending")) << "pending runs are never pruned";
    EXPECT_EQ(tracker.pending_count(), 1U);
    const auto gone = co_await tracker.find("exr_done");
    EXPECT_FALSE(gone.has_value());
  });
  EXPECT_EQ(fatal_calls_, 0);
}

TEST_F(run_tracker_durability_test, prunes_at_start_and_keeps_runs_within_retention) {
  {
    settings_.retention = std::chrono::hours{1};
    auto& tracker = make_tracker();
    run([&]() -> awaitable<void> {
      co_await tracker.start();
      source_.set_status("exr_old", "PROCESSED");
      co_await tracker.register_runs(0, regs("exr_old"));
      EXPECT_TRUE(co_await test::eventually([&] { return sink_.delivered.size() == 1; }, 5s));
      co_await test::pause_for(300ms);  // a prune pass meanwhile would be wrong: the run is recent
      EXPECT_TRUE(co_await stored("exr_old"));
      EXPECT_EQ(tracker.counters().pruned, 0U);
    });
    restart_store();
  }
  // A new life of the daemon with a short retention: the start-up pass removes the old run at once.
  settings_.retention = 100ms;
  auto& tracker = make_tracker();
  run([&]() -> awaitable<void> {
    co_await tracker.start();
    EXPECT_TRUE(co_await test::eventually([&] { return tracker.counters().pruned == 1; }, 2s));
    EXPECT_FALSE(co_await stored("exr_old"));
  });
}

TEST_F(run_tracker_durability_test, polls_every_due_run_within_the_limit_on_polls_in_flight) {
  settings_.max_active_polls = 8;
  auto& tracker = make_tracker();
  constexpr int total = 2000;
  run([&]() -> awaitable<void> {
    co_await tracker.start();
    std::vector<std::string> ids;
    for (int i = 0; i < total; ++i) {
      ids.push_back("exr_many_" + std::to_string(i));
      source_.set_status(ids.back(), "PROCESSED");
    }
    const auto answer = co_await tracker.register_runs(0, regs_of(ids));
    EXPECT_EQ(answer.size(), static_cast<std::size_t>(total));
    EXPECT_EQ(tracker.pending_count(), static_cast<std::size_t>(total));
    EXPECT_TRUE(co_await test::eventually([&] { return tracker.pending_count() == 0; }, 15s))
        << tracker.pending_count();
    EXPECT_TRUE(
        co_await test::eventually([&] { return sink_.delivered.size() == static_cast<std::size_t>(total); }, 15s));
    for (const auto& id : ids) EXPECT_EQ(source_.polls(id), 1) << id;
  });
  EXPECT_LE(source_.max_in_flight(), 8);
  EXPECT_GE(source_.max_in_flight(), 2) << "polls do overlap up to the limit";
}

TEST_F(run_tracker_durability_test, a_full_disk_refuses_new_runs_and_stops_nothing) {
  std::atomic<bool> disk_full{false};
  store_->set_commit_hook_for_testing([&] { return disk_full ? SQLITE_FULL : SQLITE_OK; });
  auto& tracker = make_tracker();
  run([&]() -> awaitable<void> {
    co_await tracker.start();
    co_await tracker.register_runs(0, regs("exr_before"));
    co_await test::pause_for(100ms);  // polled a few times, progress saved

    disk_full = true;
    bool refused = false;
    try {
      co_await tracker.register_runs(0, regs("exr_during"));
    } catch (const store_full&) {
      refused = true;
    }
    EXPECT_TRUE(refused) << "a registration on a full disk is refused";
    source_.set_status("exr_before", "PROCESSED");
    co_await test::pause_for(300ms);  // progress flushes and the outcome fail meanwhile
    EXPECT_TRUE(sink_.delivered.empty()) << "nothing is delivered before it is recorded";
    EXPECT_EQ(tracker.pending_count(), 1U);

    // The disk fills up again just as the sink takes the event: recording the delivery fails.
    sink_.on_deliver = [&](const delivery_job&) {
      sink_.on_deliver = nullptr;
      disk_full = true;
    };
    disk_full = false;
    EXPECT_TRUE(co_await test::eventually([&] { return !sink_.delivered.empty(); }, 5s));
    co_await test::pause_for(200ms);
    disk_full = false;
    EXPECT_TRUE(co_await test::eventually([&] { return sink_.delivered.size() >= 2; }, 5s))
        << "the delivery it could not record is made again";
    EXPECT_TRUE(co_await test::eventually([&] { return tracker.queues().front()->backlog() == 0; }, 5s));
    const auto after = co_await store_->load_undone_deliveries();
    EXPECT_TRUE(after.empty()) << "the delivery is recorded as done once the disk has room";
    const auto record = co_await store_->find_run("exr_before");
    CO_ASSERT_TRUE(record.has_value());
    EXPECT_EQ(record->state, run_state::finished);
    EXPECT_FALSE(co_await stored("exr_during"));
  });
  for (const auto& id : sink_.delivered) EXPECT_EQ(id, sink_.delivered.front()) << "redelivery keeps the eventId";
  EXPECT_EQ(fatal_calls_, 0) << "a full disk is not fatal";
}

TEST_F(run_tracker_durability_test, an_fsync_error_is_fatal) {
  std::atomic<bool> failing{false};
  store_->set_commit_hook_for_testing([&] { return failing ? SQLITE_IOERR_FSYNC : SQLITE_OK; });
  auto& tracker = make_tracker();
  run([&]() -> awaitable<void> {
    co_await tracker.start();
    co_await tracker.register_runs(0, regs("exr_doomed"));
    failing = true;
    source_.set_status("exr_doomed", "PROCESSED");
    EXPECT_TRUE(co_await test::eventually([&] { return fatal_calls_ > 0; }, 5s))
        << "recording the outcome failed: fatal";
    EXPECT_TRUE(sink_.delivered.empty());
  });
}

TEST_F(run_tracker_durability_test, a_redelivered_delivery_keeps_its_fresh_max_age_window_across_a_restart) {
  constexpr auto max_age = 2000ms;
  using steady = std::chrono::steady_clock;
  sink_.max_age = max_age;
  sink_.refuse = true;
  std::vector<steady::time_point> attempts;
  sink_.on_deliver = [&](const delivery_job&) { attempts.push_back(steady::now()); };
  steady::time_point retried;
  std::string delivery_id;
  auto& first_life = make_tracker();
  run([&]() -> awaitable<void> {
    co_await first_life.start();
    source_.set_status("exr_again", "PROCESSED");
    co_await first_life.register_runs(0, regs("exr_again"));
    const bool died = co_await test::eventually([&] { return first_life.queues().front()->dead() == 1; }, 10s);
    CO_ASSERT_TRUE(died);
    const auto dead = co_await store_->list_deliveries(delivery_query{
        .state = delivery_state::dead, .owner = std::nullopt, .limit = std::nullopt, .after = std::nullopt});
    CO_ASSERT_TRUE(dead.size() == 1);
    delivery_id = dead[0].id;
    const auto tried_before = attempts.size();
    retried = steady::now();
    const bool put_back = co_await first_life.retry_delivery(delivery_id);
    CO_ASSERT_TRUE(put_back);
    // Its first attempt fails as well and is recorded with the time of the next one; then the
    // daemon stops.
    const bool tried = co_await test::eventually([&] { return attempts.size() > tried_before; }, 5s);
    CO_ASSERT_TRUE(tried);
    for (int i = 0; i < 100; ++i) {
      const auto job = co_await store_->find_delivery(delivery_id);
      if (job && job->record.next_attempt_at) break;
      co_await test::pause_for(10ms);
    }
  });
  const auto stored = [&]() {
    std::optional<delivery_job> job;
    run([&]() -> awaitable<void> { job = co_await store_->find_delivery(delivery_id); });
    return job;
  };
  const auto before_restart = stored();
  ASSERT_TRUE(before_restart);
  EXPECT_EQ(before_restart->record.state, delivery_state::pending);
  ASSERT_TRUE(before_restart->record.redelivered_at) << "the fresh window is in the store";
  ASSERT_TRUE(before_restart->record.next_attempt_at);

  restart_store();
  const auto tried_before_restart = attempts.size();
  auto& second_life = make_tracker();
  run([&]() -> awaitable<void> {
    co_await second_life.start();
    const bool died = co_await test::eventually([&] { return second_life.queues().front()->dead() == 1; }, 10s);
    EXPECT_TRUE(died);
  });
  const auto lived = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - retried);
  EXPECT_GE(lived, max_age - 50ms) << "dead only once max_age has passed since the redelivery, not at once";
  ASSERT_GT(attempts.size(), tried_before_restart) << "attempted again after the restart";
  EXPECT_GE(attempts.back() - retried, max_age - 50ms) << "the last attempt comes at the end of the fresh window";
  const auto after = stored();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->record.state, delivery_state::dead);
  std::cerr << "measured: redelivered delivery dead " << lived.count() << "ms after the retry (max_age "
            << max_age.count() << "ms), " << attempts.size() - tried_before_restart << " attempts after the restart\n";
}

// A workflow run waiting in review is pending for days: its event's body (the whole output) is in
// the store only, and the run as the control API shows it still carries it.
TEST_F(run_tracker_durability_test, a_run_in_review_keeps_its_event_body_in_the_store_only) {
  auto& tracker = make_tracker();
  run([&]() -> awaitable<void> {
    co_await tracker.start();
    source_.set_status("workflow_run_review", "NEEDS_REVIEW");
    auto review = reg("workflow_run_review");
    review.kind = "workflow_run";
    std::vector<registration> batch;
    batch.push_back(std::move(review));
    co_await tracker.register_runs(0, std::move(batch));
    const bool reviewed = co_await test::eventually([&] { return sink_.delivered.size() == 1; }, 5s);
    CO_ASSERT_TRUE(reviewed);
    const auto* in_memory = tracker.pending_record("workflow_run_review");
    CO_ASSERT_TRUE(in_memory != nullptr && in_memory->events.size() == 1);
    EXPECT_EQ(in_memory->events[0].event_type, "workflow_run.needs_review");
    EXPECT_TRUE(in_memory->events[0].body.empty()) << "the pending run holds its event's body in memory";

    const auto shown = co_await tracker.find("workflow_run_review");
    CO_ASSERT_TRUE(shown.has_value() && shown->events.size() == 1);
    EXPECT_EQ(shown->state, run_state::pending);
    EXPECT_NE(shown->events[0].body.find("NEEDS_REVIEW"), std::string::npos) << shown->events[0].body;
    EXPECT_GE(shown->polls, 1U);
    const bool delivered_done = co_await test::eventually([&] { return tracker.queues().front()->backlog() == 0; }, 5s);
    EXPECT_TRUE(delivered_done);
    const auto again = co_await tracker.find("workflow_run_review");
    CO_ASSERT_TRUE(again.has_value() && again->deliveries.size() == 1);
    EXPECT_EQ(again->deliveries[0].state, delivery_state::done) << "the delivery's state as the store has it";
  });
  // After a restart too: the resumed run does not load the body back into memory.
  restart_store();
  auto& second_life = make_tracker();
  run([&]() -> awaitable<void> {
    co_await second_life.start();
    const auto* resumed = second_life.pending_record("workflow_run_review");
    CO_ASSERT_TRUE(resumed != nullptr && resumed->events.size() == 1);
    EXPECT_TRUE(resumed->events[0].body.empty());
    const auto shown = co_await second_life.find("workflow_run_review");
    CO_ASSERT_TRUE(shown.has_value() && shown->events.size() == 1);
    EXPECT_FALSE(shown->events[0].body.empty());
  });
}

// A reload that changes a sink stops its queue: the stopped queue lets go of its backlog (the store
// has it, and the fresh queue loads it from there) and is freed once its deliveries in flight end.
TEST_F(run_tracker_durability_test, a_queue_retired_by_a_reload_is_freed_with_its_backlog) {
  sink_.refuse = true;  // the receiver is down: every event waits in the queue
  recording_sink replacement;
  replacement.refuse = true;
  const std::map<std::string, sink*> reloaded{{"archive", &replacement}};  // (no braced lists in coroutines)
  const std::map<std::string, std::vector<std::string>> no_filters;
  auto& tracker = make_tracker();
  run([&]() -> awaitable<void> {
    co_await tracker.start();
    source_.set_status("exr_backlog_1", "PROCESSED");
    source_.set_status("exr_backlog_2", "PROCESSED");
    source_.set_status("exr_backlog_3", "PROCESSED");
    co_await tracker.register_runs(0, regs("exr_backlog_1", "exr_backlog_2", "exr_backlog_3"));
    const bool waiting = co_await test::eventually([&] { return tracker.pending_count() == 0; }, 5s);
    CO_ASSERT_TRUE(waiting);
    const std::weak_ptr<delivery_queue> retired = tracker.queues().front();
    EXPECT_EQ(retired.lock()->backlog(), 3U);

    co_await tracker.reconfigure(reloaded, settings_.polling, no_filters, {});
    const bool freed = co_await test::eventually([&] { return retired.expired(); }, 5s);
    EXPECT_TRUE(freed) << "the retired queue (and its backlog) is kept";
    CO_ASSERT_TRUE(tracker.queues().size() == 1);
    EXPECT_EQ(tracker.queues().front()->backlog(), 3U) << "the fresh queue has the backlog from the store";
  });
}

// A queue that could not record a delivery (full disk) is replaced after a pause, with its backlog
// read from the store. A reload that removes the sink during that read leaves no queue for it (the
// sink object is gone), and nothing refers to the sinks as they were before the reload.
TEST_F(run_tracker_durability_test, a_reload_while_a_queue_is_being_replaced_removes_the_sink) {
  // Shared with the store's thread, which may still commit after this test body has returned.
  const auto disk_full = std::make_shared<std::atomic<bool>>(false);
  const auto hold_store = std::make_shared<std::atomic<bool>>(false);
  store_->set_commit_hook_for_testing([disk_full, hold_store] {
    while (*hold_store) std::this_thread::sleep_for(1ms);
    return *disk_full ? SQLITE_FULL : SQLITE_OK;
  });
  const std::map<std::string, sink*> no_sinks;
  const std::map<std::string, std::vector<std::string>> no_filters;
  auto& tracker = make_tracker();
  run([&]() -> awaitable<void> {
    co_await tracker.start();
    co_await tracker.register_runs(0, regs("exr_keeps_polling"));  // its progress flushes keep the store busy
    source_.set_status("exr_wedges", "PROCESSED");
    sink_.on_deliver = [&](const delivery_job&) {
      sink_.on_deliver = nullptr;
      *disk_full = true;  // recording this delivery fails: the queue's worker ends with store_full
    };
    co_await tracker.register_runs(0, regs("exr_wedges"));
    const bool taken = co_await test::eventually([&] { return !sink_.delivered.empty(); }, 5s);
    CO_ASSERT_TRUE(taken);
    co_await test::pause_for(200ms);
    *disk_full = false;
    *hold_store = true;                // the store's next commit (a progress flush) waits...
    co_await test::pause_for(1500ms);  // ...so the replacement, a second after the failure, waits for its read
    EXPECT_TRUE(tracker.queues().empty()) << "the wedged queue is retired before the store is read";
    co_await tracker.reconfigure(no_sinks, settings_.polling, no_filters, {});
    *hold_store = false;
    co_await test::pause_for(300ms);
    EXPECT_TRUE(tracker.queues().empty()) << "a queue was made for a sink the reload removed";
  });
  EXPECT_EQ(fatal_calls_, 0);
}

}  // namespace
}  // namespace hookless
