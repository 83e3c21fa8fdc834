// The store contract's speed targets, on both backends: group commit's throughput and loading
// 100,000 pending runs (SQLite: 20,000 runs/s and 1 s; PostgreSQL: 5,000 runs/s and 2 s). A program
// of their own, run alone (RUN_SERIAL): they time themselves and load both cores.
#include "tests/integration/store_contract_fixture.hpp"
#include "tests/integration/store_records.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace hookless::test {
namespace {

using namespace std::chrono_literals;
using boost::asio::use_awaitable;

TEST_P(store_contract_test, group_commit_throughput) {
  auto store = open_store();
  constexpr int calls = 100;
  constexpr int per_call = 100;
  double concurrent_rate = 0;
  double single_rate = 0;
  std::optional<std::uint64_t> concurrent_commits;  // when the backend counts them
  run([&]() -> awaitable<void> {
    auto executor = co_await boost::asio::this_coro::executor;
    std::vector<std::vector<run_record>> batches(calls);
    for (int c = 0; c < calls; ++c) {
      auto& batch = batches[static_cast<std::size_t>(c)];
      for (int i = 0; i < per_call; ++i)
        batch.push_back(make_run("exr_c" + std::to_string(c) + "_" + std::to_string(i)));
    }
    std::vector<run_record> single;
    for (int i = 0; i < calls * per_call; ++i) single.push_back(make_run("exr_s" + std::to_string(i)));

    int finished = 0;
    int errors = 0;
    const auto commits_before = backend_->commit_count(*store);
    const auto start = std::chrono::steady_clock::now();
    for (auto& batch : batches) {
      auto call = [&store, runs = std::move(batch)]() mutable -> awaitable<void> {
        co_await store->insert_runs(std::move(runs));
      };
      auto note = [&](std::exception_ptr e) {
        ++finished;
        if (e) ++errors;
      };
      boost::asio::co_spawn(executor, std::move(call), note);
    }
    boost::asio::steady_timer timer(executor);
    while (finished < calls) {
      timer.expires_after(1ms);
      co_await timer.async_wait(use_awaitable);
    }
    const std::chrono::duration<double> concurrent_time = std::chrono::steady_clock::now() - start;
    if (commits_before) concurrent_commits = *backend_->commit_count(*store) - *commits_before;
    EXPECT_EQ(errors, 0);
    concurrent_rate = calls * per_call / concurrent_time.count();

    const auto single_start = std::chrono::steady_clock::now();
    co_await store->insert_runs(std::move(single));
    const std::chrono::duration<double> single_time = std::chrono::steady_clock::now() - single_start;
    single_rate = calls * per_call / single_time.count();

    EXPECT_EQ((co_await store->load_pending()).size(), 2U * calls * per_call);
  });
  if (concurrent_commits) {
    EXPECT_LT(*concurrent_commits, static_cast<std::uint64_t>(calls)) << "concurrent calls should share commits";
  }
  std::printf(
      "[ throughput %s ] 100 concurrent calls x 100 runs: %.0f runs/s in %lld commits; "
      "one call of 10,000: %.0f runs/s\n",
      name_of(GetParam()).c_str(), concurrent_rate,
      concurrent_commits ? static_cast<long long>(*concurrent_commits) : -1LL, single_rate);
  // The targets: 20,000 runs/s on SQLite, 5,000 on PostgreSQL (batched, durable).
  const char* const target = GetParam() == store_kind::sqlite ? "20,000" : "5,000";
  EXPECT_GT(concurrent_rate, 2'000) << "far below the " << target << " runs/s target";
  EXPECT_GT(single_rate, 2'000) << "far below the " << target << " runs/s target";
}

TEST_P(store_contract_test, loads_100k_pending_runs_quickly) {
  constexpr int total = 100'000;
  {
    auto store = open_store();
    run([&]() -> awaitable<void> {
      std::vector<run_record> runs;
      runs.reserve(total);
      for (int i = 0; i < total; ++i) {
        auto run = make_run("exr_" + std::to_string(i), 1000, 1'700'000'000'000 + i);
        run.context = counter_context(i);
        runs.push_back(std::move(run));
      }
      co_await store->insert_runs(std::move(runs));
    });
  }
  // As the daemon does at start (a new poller, on PostgreSQL): open the store, then load every pending run.
  const auto start = std::chrono::steady_clock::now();
  auto store = open_store();
  double load_seconds = 0;
  run([&]() -> awaitable<void> {
    const auto load_start = std::chrono::steady_clock::now();
    auto pending = co_await store->load_pending();
    load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
    CO_ASSERT_TRUE(pending.size() == static_cast<std::size_t>(total));
    EXPECT_EQ(pending.front().id, "exr_0");
    EXPECT_EQ(pending.back().id, "exr_99999");
    EXPECT_EQ(pending.back().context.at("i").as_int64(), total - 1);
  });
  const std::chrono::duration<double> open_and_load = std::chrono::steady_clock::now() - start;
  std::printf("[ load %s ] load_pending of %d runs: %.0f ms (open + load: %.0f ms)\n", name_of(GetParam()).c_str(),
              total, load_seconds * 1000, open_and_load.count() * 1000);
  // The promises: 1 s from the SQLite file, 2 s for a new poller on PostgreSQL.
  const double promised = GetParam() == store_kind::sqlite ? 1.0 : 2.0;
#ifdef __OPTIMIZE__
  EXPECT_LT(load_seconds, promised);
#else
  // -O0 builds spend most of the time in unoptimized record building; the promise is for the
  // optimized daemon (RelWithDebInfo, the default build type).
  EXPECT_LT(load_seconds, 6.0 * promised);
#endif
}

HOOKLESS_STORE_CONTRACT_BACKENDS(store_contract_test);

}  // namespace
}  // namespace hookless::test
