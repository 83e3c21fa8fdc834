// Integration tests of what only the SQLite state store has (its state file: creation, damage,
// locks, permissions, migrations of old files, its commit hook, a full disk): real files in a temp
// dir, an io_context in the test, and SQLite's own integrity_check on the file after every test.
// What every backend promises is in store_contract_test.cpp.
#include "core/store/sqlite_store.hpp"
#include "tests/integration/store_backends.hpp"
#include "tests/integration/store_records.hpp"
#include "tests/support/run_with_deadline.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hookless::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using boost::asio::use_awaitable;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

class sqlite_store_test : public ::testing::Test {
 protected:
  void TearDown() override {
    // Every test leaves a file SQLite itself vouches for.
    if (fs::exists(path_)) {
      EXPECT_EQ(query_raw(path_, "PRAGMA integrity_check"), "ok");
    }
  }

  std::unique_ptr<sqlite_store> open_store(open_report& report, const std::string& path = {}) {
    return sqlite_store::open(context_.get_executor(), path.empty() ? path_ : path, report);
  }

  std::unique_ptr<sqlite_store> open_store() {
    open_report report;
    auto store = open_store(report);
    EXPECT_TRUE(report.messages.empty());
    return store;
  }

  // Takes the closed state file back to what an older version wrote: `sql` over a plain connection.
  // Empty when that worked, else SQLite's message.
  std::string rewrite_as_older(const std::string& sql) {
    sqlite3* db = nullptr;
    std::string error;
    if (sqlite3_open(path_.c_str(), &db) != SQLITE_OK ||
        sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      error = sqlite3_errmsg(db);
    }
    sqlite3_close(db);
    return error;
  }

  // Runs one test body as a coroutine on the test's io_context, with a deadline.
  void run(std::function<boost::asio::awaitable<void>()> body, std::chrono::seconds limit = 25s) {
    test::run_with_deadline(context_, std::move(body), limit, test::run_stop::work_ran_out);
    context_.restart();
  }

  boost::asio::io_context context_;
  test::temp_dir temp_{"hookless-store"};
  fs::path dir_ = temp_.path();
  std::string path_ = (dir_ / "state.db").string();
};

TEST_F(sqlite_store_test, creates_a_versioned_wal_file) {
  {
    open_report report;
    auto store = open_store(report);
    EXPECT_TRUE(report.created);
    EXPECT_TRUE(report.messages.empty());
  }
  EXPECT_EQ(query_raw(path_, "PRAGMA user_version"), "4");
  EXPECT_EQ(query_raw(path_, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query_raw(path_, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
            "deliveries\nevents\nruns\nsubscription_positions");
  open_report again;
  auto store = open_store(again);
  EXPECT_FALSE(again.created);
}

// The message an operator gets for a damaged file: which file, and the way to recover it.
void expect_damage_message(const std::string& message, const std::string& path) {
  EXPECT_NE(message.find("state file " + path + " is damaged"), std::string::npos) << message;
  EXPECT_NE(message.find("left it as it is"), std::string::npos) << message;
  EXPECT_NE(message.find("sqlite3 " + path + " .recover"), std::string::npos) << message;
  EXPECT_NE(message.find("docs/running-as-a-service.md"), std::string::npos) << message;
}

// What open_store throws, or "" when it opens.
std::string open_failure(const std::function<void()>& open) {
  try {
    open();
  } catch (const store_failed& e) {
    return e.what();
  }
  return "";
}

TEST_F(sqlite_store_test, garbage_file_is_refused_and_left_as_it_is) {
  const std::string garbage(10'000, '\x5a');
  write_file(path_, garbage);
  write_file(path_ + "-wal", "not a wal either");
  open_report report;
  const auto message = open_failure([&] { open_store(report); });
  expect_damage_message(message, path_);
  EXPECT_EQ(read_file(path_), garbage);
  EXPECT_EQ(read_file(path_ + "-wal"), "not a wal either");
  std::vector<std::string> files;  // SQLite's shared-memory index (-shm) aside
  for (const auto& entry : fs::directory_iterator{dir_}) {
    if (entry.path().filename() != "state.db-shm") files.push_back(entry.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, names("state.db", "state.db-wal")) << "nothing moved, nothing else made";
  fs::remove(path_);  // not a database: the integrity check at teardown is not for it
}

// Pages after the first scribbled over: the header still says SQLite, the b-trees are junk. Returns
// the file's bytes.
std::string scribble_over_pages(const std::string& path) {
  auto bytes = read_file(path);
  for (std::size_t i = 4096; i < bytes.size(); ++i) bytes[i] = static_cast<char>(0xab);
  write_file(path, bytes);
  return bytes;
}

TEST_F(sqlite_store_test, damage_found_after_an_unclean_stop_refuses_the_file) {
  {
    auto store = open_store();
    run([&]() -> awaitable<void> {
      std::vector<run_record> runs;
      for (int i = 0; i < 500; ++i) runs.push_back(make_run("exr_" + std::to_string(i)));
      co_await store->insert_runs(std::move(runs));
    });
  }
  ASSERT_GT(fs::file_size(path_), 3 * 4096U);
  const auto bytes = scribble_over_pages(path_);
  write_file(path_ + "-wal", "");  // what a crash leaves: the WAL of a connection never closed

  open_report report;
  const auto message = open_failure([&] { open_store(report); });
  expect_damage_message(message, path_);
  EXPECT_NE(message.find("quick_check"), std::string::npos) << message;
  EXPECT_EQ(read_file(path_), bytes) << "left as it was";
  fs::remove(path_);
  fs::remove(path_ + "-wal");
}

// After a clean stop the file is not read whole at start; damage shows when its pages are read,
// with the same message, and the store takes no more work.
TEST_F(sqlite_store_test, damage_met_later_fails_with_the_same_advice) {
  {
    auto store = open_store();
    run([&]() -> awaitable<void> {
      std::vector<run_record> runs;
      for (int i = 0; i < 500; ++i) runs.push_back(make_run("exr_" + std::to_string(i)));
      co_await store->insert_runs(std::move(runs));
    });
  }
  const auto bytes = scribble_over_pages(path_);
  ASSERT_FALSE(fs::exists(path_ + "-wal")) << "a clean stop removes the WAL";
  open_report report;
  std::string message = open_failure([&] {
    auto store = open_store(report);
    run([&]() -> awaitable<void> { co_await store->load_pending(); });
  });
  expect_damage_message(message, path_);
  EXPECT_EQ(read_file(path_), bytes) << "left as it was";
  fs::remove(path_);
  fs::remove(path_ + "-wal");
  fs::remove(path_ + "-shm");
}

TEST_F(sqlite_store_test, a_second_store_on_the_same_file_is_refused_until_the_first_closes) {
  auto first = open_store();
  run([&]() -> awaitable<void> { co_await first->insert_runs(runs_of(make_run("exr_first"))); });
  open_report report;
  const auto message = open_failure([&] { open_store(report); });
  EXPECT_NE(message.find("state file " + path_ + " is in use by another hooklessd"), std::string::npos) << message;
  run([&]() -> awaitable<void> {
    EXPECT_TRUE((co_await first->find_run("exr_first")).has_value()) << "the first store carries on";
    co_await first->insert_runs(runs_of(make_run("exr_after")));
  });
  first.reset();
  auto second = open_store();
  run([&]() -> awaitable<void> { EXPECT_TRUE((co_await second->find_run("exr_after")).has_value()); });
}

TEST_F(sqlite_store_test, files_are_private_whatever_the_umask) {
  const auto old_umask = ::umask(022);
  auto store = open_store();
  run([&]() -> awaitable<void> { co_await store->insert_runs(runs_of(make_run("exr_private"))); });
  ::umask(old_umask);
  for (const auto& file : names(path_, path_ + "-wal", path_ + "-shm")) {
    struct stat info {};
    ASSERT_EQ(::stat(file.c_str(), &info), 0) << file;
    EXPECT_EQ(info.st_mode & 0777, 0600U) << file;
  }
}

TEST_F(sqlite_store_test, warns_about_a_file_others_may_read) {
  { auto store = open_store(); }
  fs::permissions(path_,
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  open_report report;
  auto store = open_store(report);
  ASSERT_EQ(report.messages.size(), 1U);
  EXPECT_NE(report.messages[0].find("state file " + path_ + " has mode 0644"), std::string::npos) << report.messages[0];
  EXPECT_NE(report.messages[0].find("chmod 600 " + path_), std::string::npos) << report.messages[0];
}

TEST_F(sqlite_store_test, refuses_a_file_from_a_newer_version) {
  ASSERT_EQ(query_raw(path_, "SELECT 1"), "cannot open");  // the raw helper never creates files
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  open_report report;
  EXPECT_THROW(open_store(report), store_failed);
  EXPECT_EQ(query_raw(path_, "PRAGMA user_version"), "99");  // left as it was
}

// A state file of schema version 1 (before deliveries knew when they were put back) opens, keeps
// everything, and gains redelivered_at: set to the upgrade time for a delivery version 1 knew as put
// back (pending, attempted, no next attempt), empty for the others.
TEST_F(sqlite_store_test, opens_a_version_1_file_and_migrates_it) {
  auto a = make_run("exr_old");
  auto outcome = make_outcome(a, 1'700'000'001'000);
  outcome.new_deliveries.push_back(make_delivery(outcome.new_events[0], a.id, "spare"));
  {
    auto store = open_store();
    run([&]() -> awaitable<void> {
      co_await store->insert_runs(runs_of(a));
      co_await store->record_outcome(outcome);
      auto retrying = outcome.new_deliveries[0];  // "out": failed once, next attempt set
      retrying.attempts = 1;
      retrying.last_error = "HTTP 500";
      retrying.next_attempt_at = at_ms(1'700'000'005'000);
      co_await store->update_delivery(retrying);
      auto put_back = outcome.new_deliveries[1];  // "app": dead, then put back by version 1
      put_back.attempts = 7;
      put_back.last_error = "timeout";
      co_await store->update_delivery(put_back);
      auto dead = outcome.new_deliveries[2];  // "spare": dead
      dead.state = delivery_state::dead;
      dead.attempts = 9;
      co_await store->update_delivery(dead);
    });
  }
  // Back to what version 1 wrote: no redelivered_at (nor looked_at, nor subscriptions), user_version 1.
  ASSERT_EQ(
      rewrite_as_older("ALTER TABLE deliveries DROP COLUMN redelivered_at; ALTER TABLE runs DROP COLUMN looked_at; "
                       "ALTER TABLE runs DROP COLUMN subscription; DROP TABLE subscription_positions; "
                       "PRAGMA user_version = 1"),
      "");
  ASSERT_EQ(query_raw(path_, "SELECT COUNT(*) FROM pragma_table_info('deliveries') WHERE name = 'redelivered_at'"),
            "0");

  const auto before = clock_type::now();
  auto store = open_store();
  EXPECT_EQ(query_raw(path_, "PRAGMA user_version"), "4");
  run([&]() -> awaitable<void> {
    auto undone = co_await store->load_undone_deliveries();
    CO_ASSERT_TRUE(undone.size() == 2);
    EXPECT_EQ(undone[0].record.sink, "app");
    EXPECT_EQ(undone[0].record.attempts, 7U);
    CO_ASSERT_TRUE(undone[0].record.redelivered_at.has_value());
    EXPECT_GE(*undone[0].record.redelivered_at, std::chrono::floor<std::chrono::milliseconds>(before) - 1s);
    EXPECT_LE(*undone[0].record.redelivered_at, clock_type::now() + 1s);
    EXPECT_EQ(undone[1].record.sink, "out");
    EXPECT_EQ(undone[1].record.next_attempt_at, at_ms(1'700'000'005'000));
    EXPECT_FALSE(undone[1].record.redelivered_at);
    delivery_query dead_only;
    dead_only.state = delivery_state::dead;
    auto dead = co_await store->list_deliveries(dead_only);
    CO_ASSERT_TRUE(dead.size() == 1);
    EXPECT_EQ(dead[0].attempts, 9U);
    EXPECT_FALSE(dead[0].redelivered_at);
    auto found = co_await store->find_run("exr_old");
    CO_ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->events.size(), 1U);
    EXPECT_EQ(found->deliveries.size(), 3U);
  });
}

// A state file of schema version 3 (before subscriptions) gains the runs' subscription column, empty
// for every run it has (registered runs all), and the table of positions, empty; both work at once.
TEST_F(sqlite_store_test, opens_a_version_3_file_and_migrates_it) {
  {
    auto store = open_store();
    run([&]() -> awaitable<void> {
      auto old = make_run("exr_v3");
      co_await store->insert_runs(runs_of(old));
      co_await store->record_outcome(make_outcome(old, 1'700'000'040'000));
      co_await store->insert_runs(runs_of(make_run("exr_v3_pending")));
    });
  }
  ASSERT_EQ(rewrite_as_older("ALTER TABLE runs DROP COLUMN subscription; DROP TABLE subscription_positions; "
                             "PRAGMA user_version = 3"),
            "");
  ASSERT_EQ(query_raw(path_, "SELECT COUNT(*) FROM pragma_table_info('runs') WHERE name = 'subscription'"), "0");

  auto store = open_store();
  EXPECT_EQ(query_raw(path_, "PRAGMA user_version"), "4");
  run([&]() -> awaitable<void> {
    const auto pending = co_await store->load_pending();
    CO_ASSERT_TRUE(pending.size() == 1);
    EXPECT_FALSE(pending[0].subscription.has_value());
    const auto done = co_await store->find_run("exr_v3");
    CO_ASSERT_TRUE(done.has_value());
    EXPECT_FALSE(done->subscription.has_value());
    EXPECT_EQ(done->events.size(), 1U);
    EXPECT_TRUE((co_await store->load_subscription_positions()).empty());

    subscription_finds finds;
    finds.position.subscription = "invoices";
    finds.position.kind = "extract_run";
    finds.position.since = at_ms(1'700'000'000'000);
    finds.runs = runs_of(make_found_run("exr_v3", "invoices", names("subs")));
    const auto found = co_await store->save_finds(finds);
    CO_ASSERT_TRUE(found.size() == 1);
    EXPECT_EQ(found[0].what, found_run::result::merged);
    EXPECT_EQ(found[0].new_jobs.size(), 1U);
    EXPECT_EQ((co_await store->load_subscription_positions()).size(), 1U);
  });
}

TEST_F(sqlite_store_test, missing_directory_is_store_failed) {
  open_report report;
  EXPECT_THROW(open_store(report, (dir_ / "no" / "such" / "state.db").string()), store_failed);
}

// A state file of schema version 2 (before runs knew their last successful look) gains looked_at,
// set to updated_at, the nearest version 2 knew.
TEST_F(sqlite_store_test, opens_a_version_2_file_and_migrates_it) {
  {
    auto store = open_store();
    run([&]() -> awaitable<void> {
      auto old = make_run("exr_v2");
      old.updated_at = at_ms(1'700'000'040'000);
      co_await store->insert_runs(runs_of(old));
    });
  }
  ASSERT_EQ(rewrite_as_older("ALTER TABLE runs DROP COLUMN looked_at; ALTER TABLE runs DROP COLUMN subscription; "
                             "DROP TABLE subscription_positions; PRAGMA user_version = 2"),
            "");

  auto store = open_store();
  EXPECT_EQ(query_raw(path_, "PRAGMA user_version"), "4");
  run([&]() -> awaitable<void> {
    const auto pending = co_await store->load_pending();
    CO_ASSERT_TRUE(pending.size() == 1);
    EXPECT_EQ(pending[0].looked_at, at_ms(1'700'000'040'000));
  });
}

TEST_F(sqlite_store_test, injected_fsync_error_fails_the_store_for_good) {
  {
    auto store = open_store();
    run([&]() -> awaitable<void> {
      co_await store->insert_runs(runs_of(make_run("exr_safe")));
      store->set_commit_hook_for_testing([] { return SQLITE_IOERR_FSYNC; });
      bool failed = false;
      try {
        co_await store->insert_runs(runs_of(make_run("exr_lost")));
      } catch (const store_failed& e) {
        failed = true;
        EXPECT_NE(std::string(e.what()).find("disk I/O error"), std::string::npos) << e.what();
      }
      EXPECT_TRUE(failed);
      store->set_commit_hook_for_testing(nullptr);
      // Once the store may have lost data it refuses everything; the daemon restarts and recovers.
      bool refused = false;
      try {
        co_await store->find_run("exr_safe");
      } catch (const store_failed&) {
        refused = true;
      }
      EXPECT_TRUE(refused);
      refused = false;
      try {
        co_await store->insert_runs(runs_of(make_run("exr_later")));
      } catch (const store_failed&) {
        refused = true;
      }
      EXPECT_TRUE(refused);
    });
  }
  auto store = open_store();
  run([&]() -> awaitable<void> {
    EXPECT_TRUE((co_await store->find_run("exr_safe")).has_value());
    EXPECT_FALSE((co_await store->find_run("exr_lost")).has_value());
  });
}

TEST_F(sqlite_store_test, injected_disk_full_refuses_the_batch_and_keeps_serving) {
  auto store = open_store();
  run([&]() -> awaitable<void> {
    co_await store->insert_runs(runs_of(make_run("exr_before")));
    store->set_commit_hook_for_testing([] { return SQLITE_FULL; });
    bool full = false;
    try {
      co_await store->insert_runs(runs_of(make_run("exr_refused")));
    } catch (const store_full& e) {
      full = true;
      EXPECT_NE(std::string(e.what()).find("full"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(full);
    store->set_commit_hook_for_testing(nullptr);
    EXPECT_FALSE((co_await store->find_run("exr_refused")).has_value());
    EXPECT_TRUE((co_await store->find_run("exr_before")).has_value());
    co_await store->insert_runs(runs_of(make_run("exr_after")));
    EXPECT_TRUE((co_await store->find_run("exr_after")).has_value());
  });
}

// A real full disk: a 512 KiB tmpfs. Needs root (or CAP_SYS_ADMIN); skipped otherwise.
TEST_F(sqlite_store_test, real_disk_full_keeps_what_was_acknowledged) {
  const auto mount_point = dir_ / "tiny";
  fs::create_directory(mount_point);
  if (::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=512k") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (not root?): " << std::strerror(errno);
  }
  struct unmount_at_exit {
    fs::path where;
    ~unmount_at_exit() { ::umount2(where.c_str(), MNT_DETACH); }
  } unmount{mount_point};
  const auto path = (mount_point / "state.db").string();
  std::size_t acknowledged = 0;
  {
    open_report report;
    auto store = open_store(report, path);
    run([&]() -> awaitable<void> {
      bool full = false;
      for (int batch = 0; batch < 1000 && !full; ++batch) {
        std::vector<run_record> runs;
        for (int i = 0; i < 20; ++i) {
          auto run = make_run("exr_" + std::to_string(batch) + "_" + std::to_string(i));
          run.context = padded_context();
          runs.push_back(std::move(run));
        }
        try {
          co_await store->insert_runs(std::move(runs));
          acknowledged += 20;
        } catch (const store_full&) {
          full = true;
        }
      }
      EXPECT_TRUE(full) << "512 KiB never filled up";
      EXPECT_GT(acknowledged, 0U);
      // Everything acknowledged is still there and the store still answers.
      run_query all;
      all.limit = 100'000;
      EXPECT_EQ((co_await store->list_runs(all)).size(), acknowledged);
      EXPECT_TRUE((co_await store->find_run("exr_0_0")).has_value());
      EXPECT_EQ(co_await store->check_integrity(), "ok");
      // Freeing space makes writes possible again.
      bool deleted = false;
      try {
        deleted = co_await store->delete_run("exr_0_0");
      } catch (const store_full&) {  // deleting may need WAL room too; then the store just says so
      }
      if (deleted) --acknowledged;
    });
  }
  EXPECT_EQ(query_raw(path, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(query_raw(path, "SELECT COUNT(*) FROM runs"), std::to_string(acknowledged));
  std::printf("[ disk full ] %zu runs acknowledged before the 512 KiB tmpfs filled\n", acknowledged);
}

}  // namespace
}  // namespace hookless::test
