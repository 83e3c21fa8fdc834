// The sinks' delivery queues on a real io_context, with the store's deliveries in memory: start
// queues each undone delivery to its sink, a delivery for a sink not configured waits in the store,
// a reload keeps, replaces, removes and adds queues (a retired queue is freed with its backlog), a
// queue wedged by a full disk starts again with its backlog, and a store failure is fatal.
#include "core/delivery/delivery_queues.hpp"
#include "tests/support/run_with_deadline.hpp"

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace hookless {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// A pending delivery of one event to one sink.
delivery_job job_for(const std::string& run_id, const std::string& event_id, const std::string& sink_name) {
  delivery record;
  record.id = event_id + ":" + sink_name;
  record.event_id = event_id;
  record.run_id = run_id;
  record.sink = sink_name;
  return delivery_job{.record = record, .event_type = "extract_run.processed", .body = "{}", .home = {}};
}

// The deliveries part of a store, in memory: what the queues read and write. The next update
// fails with `fail_next_update` when it is set, and the next `failing_loads` reads of the undone
// deliveries fail as a database that is down does.
class delivery_store final : public state_store {
 public:
  void add(const std::string& run_id, const std::string& event_id, const std::string& sink_name,
           delivery_state state = delivery_state::pending) {
    jobs.push_back(job_for(run_id, event_id, sink_name));
    jobs.back().record.state = state;
  }
  delivery_state state_of(const std::string& delivery_id) const {
    for (const auto& job : jobs) {
      if (job.record.id == delivery_id) return job.record.state;
    }
    throw std::out_of_range{delivery_id};
  }

  awaitable<std::vector<delivery_job>> load_undone_deliveries() override {
    ++loads;
    if (failing_loads > 0) {
      --failing_loads;
      throw store_unavailable{"the database is down (test)"};
    }
    std::vector<delivery_job> undone;
    for (const auto& job : jobs) {
      if (job.record.state == delivery_state::pending) undone.push_back(job);
    }
    co_return undone;
  }
  awaitable<void> update_delivery(delivery record) override {
    if (fail_next_update) std::rethrow_exception(std::exchange(fail_next_update, nullptr));
    for (auto& job : jobs) {
      if (job.record.id == record.id) job.record = record;
    }
    co_return;
  }

  // Not what the queues use.
  awaitable<std::vector<run_record>> load_pending() override { throw std::logic_error{"not used"}; }
  awaitable<std::vector<bool>> insert_runs(std::vector<run_record>) override { throw std::logic_error{"not used"}; }
  awaitable<void> save_progress(std::vector<run_progress>) override { throw std::logic_error{"not used"}; }
  awaitable<void> record_outcome(run_outcome) override { throw std::logic_error{"not used"}; }
  awaitable<std::optional<run_record>> find_run(std::string) override { throw std::logic_error{"not used"}; }
  awaitable<std::vector<std::optional<std::uint32_t>>> owners_of(std::vector<std::string>) override {
    throw std::logic_error{"not used"};
  }
  awaitable<std::vector<run_record>> list_runs(run_query) override { throw std::logic_error{"not used"}; }
  awaitable<std::vector<delivery>> list_deliveries(delivery_query) override { throw std::logic_error{"not used"}; }
  awaitable<std::map<std::string, std::size_t>> count_dead_deliveries() override { throw std::logic_error{"not used"}; }
  awaitable<std::optional<delivery_job>> find_delivery(std::string) override { throw std::logic_error{"not used"}; }
  awaitable<bool> delete_run(std::string) override { throw std::logic_error{"not used"}; }
  awaitable<std::size_t> prune_finished(time_point) override { throw std::logic_error{"not used"}; }
  awaitable<std::vector<subscription_position>> load_subscription_positions() override {
    throw std::logic_error{"not used"};
  }
  awaitable<std::vector<found_run>> save_finds(subscription_finds) override { throw std::logic_error{"not used"}; }
  awaitable<void> drop_subscription_position(std::string, std::string) override { throw std::logic_error{"not used"}; }

  awaitable<std::vector<recorded_event>> events_after(event_position, std::size_t) override {
    throw std::logic_error{"not used"};
  }
  awaitable<event_position> newest_event_position() override { throw std::logic_error{"not used"}; }

  std::vector<delivery_job> jobs;
  std::exception_ptr fail_next_update;
  int failing_loads = 0;
  int loads = 0;
};

// Takes every delivery (or refuses while `refuse` is set: they wait in the queue) and remembers
// the event IDs it took.
class recording_sink final : public sink {
 public:
  awaitable<delivery_result> deliver(const delivery_job& job) override {
    if (on_deliver) on_deliver();
    if (refuse) co_return delivery_result{.delivered = false, .error = "refused by the test", .retry_after = {}};
    delivered.push_back(job.record.event_id);
    co_return delivery_result{.delivered = true, .error = {}, .retry_after = {}};
  }

  std::vector<std::string> delivered;
  bool refuse = false;
  std::function<void()> on_deliver;
};

class delivery_queues_test : public ::testing::Test {
 protected:
  void TearDown() override {
    if (queues_) queues_->stop();
    io_.restart();
    io_.run_for(50ms);  // let the stopped workers end before their objects go
    queues_.reset();
  }

  delivery_queues& make_queues(std::map<std::string, sink*> sinks) {
    queues_ = std::make_unique<delivery_queues>(io_.get_executor(), store_, std::move(sinks),
                                                [this](std::exception_ptr) { ++fatal_calls_; });
    return *queues_;
  }

  // Runs `body` on the io_context until it returns (or 10 s pass, which fails the test).
  void run(std::function<awaitable<void>()> body) { test::run_with_deadline(io_, std::move(body), 10s); }

  std::shared_ptr<delivery_queue> queue_of(const std::string& sink_name) const {
    for (const auto& queue : queues_->all()) {
      if (queue->sink_name() == sink_name) return queue;
    }
    return nullptr;
  }

  asio::io_context io_{1};
  delivery_store store_;
  recording_sink archive_;
  recording_sink hook_;
  std::unique_ptr<delivery_queues> queues_;
  int fatal_calls_ = 0;
};

TEST_F(delivery_queues_test, start_queues_each_undone_delivery_to_its_sink) {
  store_.add("exr_1", "evt_1", "archive");
  store_.add("exr_1", "evt_2", "archive");
  store_.add("exr_2", "evt_3", "hook");
  store_.add("exr_3", "evt_dead", "archive", delivery_state::dead);
  store_.add("exr_4", "evt_elsewhere", "removed_sink");
  auto& queues = make_queues({{"archive", &archive_}, {"hook", &hook_}});
  EXPECT_EQ(queues.all().size(), 2U);
  run([&]() -> awaitable<void> {
    co_await queues.start();
    const bool delivered =
        co_await test::eventually([&] { return archive_.delivered.size() == 2 && hook_.delivered.size() == 1; }, 5s);
    EXPECT_TRUE(delivered);
  });
  EXPECT_EQ(archive_.delivered, (std::vector<std::string>{"evt_1", "evt_2"})) << "a run's events in order";
  EXPECT_EQ(hook_.delivered, (std::vector<std::string>{"evt_3"}));
  EXPECT_EQ(store_.state_of("evt_1:archive"), delivery_state::done);
  EXPECT_EQ(store_.state_of("evt_elsewhere:removed_sink"), delivery_state::pending) << "it waits in the store";
}

TEST_F(delivery_queues_test, a_delivery_for_a_sink_not_configured_waits_in_the_store) {
  auto& queues = make_queues({{"archive", &archive_}});
  run([&]() -> awaitable<void> {
    co_await queues.start();
    queues.enqueue(job_for("exr_1", "evt_1", "not_configured"));
    queues.enqueue(job_for("exr_1", "evt_2", "archive"));
    const bool delivered = co_await test::eventually([&] { return archive_.delivered.size() == 1; }, 5s);
    EXPECT_TRUE(delivered);
  });
  EXPECT_EQ(archive_.delivered, (std::vector<std::string>{"evt_2"}));
  EXPECT_EQ(queues_->all().size(), 1U) << "no queue is made for it";
  EXPECT_EQ(fatal_calls_, 0);
}

TEST_F(delivery_queues_test, drop_run_drops_a_forgotten_runs_deliveries_from_every_queue) {
  archive_.refuse = true;
  hook_.refuse = true;
  auto& queues = make_queues({{"archive", &archive_}, {"hook", &hook_}});
  run([&]() -> awaitable<void> {
    co_await queues.start();
    queues.enqueue(job_for("exr_forgotten", "evt_1", "archive"));
    queues.enqueue(job_for("exr_forgotten", "evt_2", "archive"));
    queues.enqueue(job_for("exr_forgotten", "evt_1", "hook"));
    queues.enqueue(job_for("exr_kept", "evt_3", "hook"));
    queues.drop_run("exr_forgotten");
    EXPECT_EQ(queue_of("archive")->backlog(), 0U);
    EXPECT_EQ(queue_of("hook")->backlog(), 1U);
    co_return;
  });
}

// An operator's redelivery: a delivery waiting out a retry goes now (not queued twice), one that
// was done is queued and delivered again.
TEST_F(delivery_queues_test, a_redelivery_hurries_a_queued_delivery_and_queues_a_done_one_again) {
  archive_.refuse = true;
  int attempts = 0;
  archive_.on_deliver = [&attempts] { ++attempts; };
  store_.add("exr_1", "evt_1", "archive");  // queued by start()
  auto& queues = make_queues({{"archive", &archive_}});
  run([&]() -> awaitable<void> {
    co_await queues.start();
    const bool failed_once = co_await test::eventually([&] { return attempts == 1; }, 5s);
    EXPECT_TRUE(failed_once);
    if (!failed_once) co_return;
    // Its next attempt waits out a backoff of at least half a second.
    archive_.refuse = false;
    auto again = job_for("exr_1", "evt_1", "archive");
    again.record.redelivered_at = clock_type::now();
    const auto asked = std::chrono::steady_clock::now();
    queues.redeliver(again);
    EXPECT_EQ(queue_of("archive")->backlog(), 1U) << "the queued one goes, no second copy";
    const bool delivered = co_await test::eventually([&] { return archive_.delivered.size() == 1; }, 5s);
    EXPECT_TRUE(delivered);
    if (!delivered) co_return;
    EXPECT_LT(std::chrono::steady_clock::now() - asked, 400ms) << "it did not wait out its backoff";

    queues.redeliver(job_for("exr_1", "evt_1", "archive"));  // done now: queued again
    const bool twice = co_await test::eventually([&] { return archive_.delivered.size() == 2; }, 5s);
    EXPECT_TRUE(twice);
  });
  EXPECT_EQ(archive_.delivered, (std::vector<std::string>{"evt_1", "evt_1"}));
  EXPECT_EQ(store_.state_of("evt_1:archive"), delivery_state::done);
}

// A reload that leaves a sink as it was keeps its queue and what waits in it.
TEST_F(delivery_queues_test, a_reload_keeps_the_queue_of_an_unchanged_sink) {
  archive_.refuse = true;
  auto& queues = make_queues({{"archive", &archive_}});
  const std::map<std::string, sink*> same{{"archive", &archive_}};  // (no braced lists in coroutines)
  run([&]() -> awaitable<void> {
    co_await queues.start();
    queues.enqueue(job_for("exr_1", "evt_1", "archive"));
    queues.enqueue(job_for("exr_2", "evt_2", "archive"));
    const auto before = queues.all().front();
    co_await queues.reconfigure(same);
    EXPECT_EQ(queues.all().size(), 1U);
    EXPECT_EQ(queues.all().front(), before);
    EXPECT_EQ(before->backlog(), 2U);
  });
  EXPECT_EQ(store_.loads, 1) << "only start reads the store";
}

// A reload that changes a sink stops its queue: the stopped queue lets go of its backlog (the store
// has it, and the fresh queue loads it from there) and is freed once its deliveries in flight end.
TEST_F(delivery_queues_test, a_replaced_sink_gets_a_fresh_queue_with_its_backlog_and_the_old_one_is_freed) {
  archive_.refuse = true;  // the receiver is down: every delivery waits in the queue
  store_.add("exr_1", "evt_1", "archive");
  store_.add("exr_2", "evt_2", "archive");
  store_.add("exr_3", "evt_3", "archive");
  recording_sink replacement;
  auto& queues = make_queues({{"archive", &archive_}});
  const std::map<std::string, sink*> reloaded{{"archive", &replacement}};  // (no braced lists in coroutines)
  run([&]() -> awaitable<void> {
    co_await queues.start();
    const std::weak_ptr<delivery_queue> retired = queues.all().front();
    EXPECT_EQ(retired.lock()->backlog(), 3U);
    co_await queues.reconfigure(reloaded);
    EXPECT_EQ(queues.all().size(), 1U);
    EXPECT_EQ(queues.all().front()->backlog(), 3U) << "the fresh queue has the backlog from the store";
    const bool freed = co_await test::eventually([&] { return retired.expired(); }, 5s);
    EXPECT_TRUE(freed) << "the retired queue (and its backlog) is kept";
    const bool delivered = co_await test::eventually([&] { return replacement.delivered.size() == 3; }, 5s);
    EXPECT_TRUE(delivered) << "the fresh queue delivers to the new sink";
  });
  EXPECT_EQ(store_.state_of("evt_3:archive"), delivery_state::done);
}

// Sinks the reload removes stop; sinks it adds start with their undone deliveries from the store.
TEST_F(delivery_queues_test, a_reload_stops_removed_sinks_and_starts_added_ones) {
  hook_.refuse = true;
  store_.add("exr_1", "evt_1", "archive");
  auto& queues = make_queues({{"hook", &hook_}});
  const std::map<std::string, sink*> reloaded{{"archive", &archive_}};
  run([&]() -> awaitable<void> {
    co_await queues.start();
    queues.enqueue(job_for("exr_2", "evt_2", "hook"));
    const std::weak_ptr<delivery_queue> removed = queues.all().front();
    co_await queues.reconfigure(reloaded);
    EXPECT_EQ(queues.all().size(), 1U);
    EXPECT_EQ(queues.all().front()->sink_name(), "archive");
    const bool freed = co_await test::eventually([&] { return removed.expired(); }, 5s);
    EXPECT_TRUE(freed) << "the removed sink's queue is kept";
    const bool delivered = co_await test::eventually([&] { return archive_.delivered.size() == 1; }, 5s);
    EXPECT_TRUE(delivered) << "the added sink gets its undone delivery";
    queues.enqueue(job_for("exr_3", "evt_3", "hook"));  // a delivery recorded for the removed sink
  });
  EXPECT_EQ(archive_.delivered, (std::vector<std::string>{"evt_1"}));
}

// A worker that cannot record a delivery (the disk is full) ends; after a pause the sink gets a
// fresh queue with its undone deliveries from the store, and nothing is fatal.
TEST_F(delivery_queues_test, a_queue_wedged_by_a_full_disk_starts_again_with_its_backlog) {
  store_.add("exr_1", "evt_1", "archive");
  store_.add("exr_2", "evt_2", "archive");
  auto& queues = make_queues({{"archive", &archive_}});
  archive_.on_deliver = [&] {
    archive_.on_deliver = nullptr;
    store_.fail_next_update = std::make_exception_ptr(store_full{"disk full (test)"});
  };
  run([&]() -> awaitable<void> {
    co_await queues.start();
    const std::weak_ptr<delivery_queue> wedged = queues.all().front();
    const bool replaced = co_await test::eventually(
        [&] {
          return wedged.expired() && store_.state_of("evt_1:archive") == delivery_state::done &&
                 store_.state_of("evt_2:archive") == delivery_state::done;
        },
        5s);
    EXPECT_TRUE(replaced);
    EXPECT_EQ(queues.all().size(), 1U);
  });
  EXPECT_EQ(std::ranges::count(archive_.delivered, "evt_1"), 2) << "the one not recorded is delivered again";
  EXPECT_EQ(fatal_calls_, 0);
}

// The same while the database is down: the fresh queue waits until the store can be read again.
TEST_F(delivery_queues_test, a_queue_wedged_by_a_lost_database_starts_again_once_it_is_back) {
  store_.add("exr_1", "evt_1", "archive");
  auto& queues = make_queues({{"archive", &archive_}});
  archive_.on_deliver = [&] {
    archive_.on_deliver = nullptr;
    store_.fail_next_update = std::make_exception_ptr(store_unavailable{"the database is down (test)"});
    store_.failing_loads = 2;
  };
  run([&]() -> awaitable<void> {
    co_await queues.start();
    const bool replaced =
        co_await test::eventually([&] { return store_.state_of("evt_1:archive") == delivery_state::done; }, 8s);
    EXPECT_TRUE(replaced);
    EXPECT_EQ(queues.all().size(), 1U);
  });
  EXPECT_EQ(store_.failing_loads, 0) << "both failed reads were tried again";
  EXPECT_EQ(std::ranges::count(archive_.delivered, "evt_1"), 2) << "the one not recorded is delivered again";
  EXPECT_EQ(fatal_calls_, 0) << "a database that is down is not fatal";
}

TEST_F(delivery_queues_test, a_store_failure_in_a_worker_is_fatal) {
  store_.add("exr_1", "evt_1", "archive");
  store_.fail_next_update = std::make_exception_ptr(store_failed{"fsync failed (test)"});
  auto& queues = make_queues({{"archive", &archive_}});
  run([&]() -> awaitable<void> {
    co_await queues.start();
    const bool fatal = co_await test::eventually([&] { return fatal_calls_ == 1; }, 5s);
    EXPECT_TRUE(fatal);
  });
}

}  // namespace
}  // namespace hookless
