// Black box: durability across restarts. SIGTERM stops hooklessd promptly with exit 0 and a restart
// resumes every pending run and undone delivery without repeating done ones; SIGKILL at any moment
// loses no acknowledged run and leaves no torn line in the file sink.
#include "tests/blackbox/blackbox_fixture.hpp"

#include <sqlite3.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

// PRAGMA integrity_check on the state file, read-only: "ok" when the database is sound.
std::string integrity_of(const fs::path& db_path) {
  sqlite3* db = nullptr;
  std::string result = "cannot open";
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &statement, nullptr) == SQLITE_OK) {
      result.clear();
      while (sqlite3_step(statement) == SQLITE_ROW) {
        result += reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
      }
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
  return result;
}

class restart_test : public blackbox_test {};

TEST_F(restart_test, sigterm_then_restart_resumes_runs_and_undone_deliveries_without_repeats) {
  start_fake();
  auto c = base_config();
  // Gone once the daemon runs (as an unmounted volume): deliveries to "late" cannot be done yet.
  // (It must exist at the start: a file sink in a missing folder is a config problem.)
  const auto late_dir = dir_ / "late-dir";
  c.extra_file_sinks.push_back({"late", late_dir / "late.jsonl"});
  auto& daemon = make_daemon(c);
  fs::create_directories(late_dir);
  ASSERT_TRUE(daemon.start());
  fs::remove(late_dir);

  const std::vector<std::string> early{"exr_early_0", "exr_early_1", "exr_early_2"};
  const std::vector<std::string> later{"exr_later_0", "exr_later_1", "exr_later_2"};
  const std::string undelivered = "exr_undelivered";
  for (const auto& id : early) fake_->add_run({.id = id, .kind = "", .timeline = {{"PROCESSED", 0ms}}, .fields = {}});
  for (const auto& id : later) {
    fake_->add_run({.id = id, .kind = "", .timeline = {{"PENDING", 0ms}, {"PROCESSED", 3000ms}}, .fields = {}});
  }
  fake_->add_run({.id = undelivered, .kind = "", .timeline = {{"PROCESSED", 0ms}}, .fields = {}});
  std::vector<std::string> all = early;
  all.insert(all.end(), later.begin(), later.end());
  ASSERT_EQ(daemon.watch(all).status, 201u);
  ASSERT_EQ(
      daemon.register_runs(json::array{json::object{{"id", undelivered}, {"sinks", json::array{"archive", "late"}}}})
          .status,
      201u);

  ASSERT_TRUE(wait_for_file_events(early.size() + 1, 10s));
  ASSERT_TRUE(wait_until(
      [&] {
        const auto answer = daemon.request("GET", "/v1/deliveries?state=pending");
        return answer.status == 200 && answer.body.find(undelivered) != std::string::npos;
      },
      5s))
      << "the delivery to the missing directory is pending";
  const auto listed = run_ctl(daemon.socket(), {"deliveries"});
  EXPECT_EQ(listed.exit_code, 0);
  EXPECT_NE(listed.out.find(undelivered), std::string::npos) << listed.out;
  for (const auto& id : later) EXPECT_EQ(string_field(*daemon.run(id), "state"), "pending");

  const auto stop_started = std::chrono::steady_clock::now();
  const auto stopped = daemon.terminate(10s);
  const auto stop_took = std::chrono::steady_clock::now() - stop_started;
  ASSERT_EQ(stopped, 0) << "SIGTERM ends hooklessd with exit 0";
  EXPECT_LT(stop_took, 5s);
  EXPECT_EQ(file_event_count(), early.size() + 1) << "nothing new while stopped";

  fs::create_directories(late_dir);
  ASSERT_TRUE(daemon.start());
  ASSERT_TRUE(wait_for_file_events(all.size() + 1, 15s)) << file_event_count() << " of " << all.size() + 1;
  ASSERT_TRUE(wait_until([&] { return !read_json_lines(late_dir / "late.jsonl").events.empty(); }, 10s))
      << "the undone delivery is done after the restart";
  std::this_thread::sleep_for(500ms);

  const auto lines = file_events();
  const auto out = stdout_events();
  EXPECT_TRUE(lines.bad_lines.empty());
  EXPECT_EQ(lines.events.size(), all.size() + 1);
  for (const auto& id : all) {
    ASSERT_EQ(events_of(lines, id).size(), 1u) << id << " in the file sink";
    EXPECT_EQ(events_of(out, id).size(), 1u) << id << " on stdout, over both lives of the daemon";
    EXPECT_EQ(string_field(events_of(lines, id)[0], "eventType"), "extract_run.processed");
  }
  EXPECT_EQ(events_of(lines, undelivered).size(), 1u);
  const auto late_lines = read_json_lines(late_dir / "late.jsonl");
  ASSERT_EQ(late_lines.events.size(), 1u);
  EXPECT_EQ(late_lines.events[0], events_of(lines, undelivered)[0]) << "the same envelope, the same eventId";
  EXPECT_EQ(daemon.request("GET", "/v1/deliveries?state=pending").json().at("deliveries").as_array().size(), 0u);
  EXPECT_EQ(daemon.terminate(), 0);
  EXPECT_EQ(integrity_of(c.state), "ok");
}

TEST_F(restart_test, sigkill_at_random_moments_loses_no_acknowledged_run) {
  start_fake();
  auto c = base_config();
  c.requests_per_second = 100;
  auto& daemon = make_daemon(c);

  std::mt19937 random{20260209};
  std::map<std::string, std::string> expected_type;  // acknowledged run -> its event type
  std::set<std::string> attempted;                   // every ID ever sent (acknowledged or not)
  int next = 0;
  const auto script_run = [&] {
    const std::string id = "exr_k9_" + std::to_string(next++);
    const bool fails = random() % 4 == 0;
    const auto finish_at = std::chrono::milliseconds{static_cast<long>(random() % 2500)};
    fake_->add_run({.id = id,
                    .kind = "",
                    .timeline = {{"PENDING", 0ms}, {fails ? "FAILED" : "PROCESSED", finish_at}},
                    .fields = {}});
    return std::pair{id, std::string{fails ? "extract_run.failed" : "extract_run.processed"}};
  };

  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_TRUE(daemon.start());
    // A batch acknowledged up front, then single registrations racing the kill.
    json::array batch;
    std::vector<std::pair<std::string, std::string>> scripted;
    for (int i = 0; i < 15; ++i) {
      scripted.push_back(script_run());
      batch.push_back(json::object{{"id", scripted.back().first}});
      attempted.insert(scripted.back().first);
    }
    const auto answer = daemon.register_runs(batch);
    ASSERT_EQ(answer.status, 201u) << answer.body;
    for (const auto& [id, type] : scripted) expected_type[id] = type;

    std::vector<std::pair<std::string, std::string>> racing;
    for (int i = 0; i < 40; ++i) racing.push_back(script_run());
    std::atomic<bool> killed{false};
    std::vector<std::string> acknowledged;
    std::vector<std::string> sent;
    std::thread client{[&] {
      for (const auto& [id, type] : racing) {
        if (killed) break;
        sent.push_back(id);
        try {
          const auto reply = daemon.register_runs(json::array{json::object{{"id", id}}});
          if (reply.status == 201 || reply.status == 200) acknowledged.push_back(id);
        } catch (const std::exception&) {
          break;  // the daemon died mid-request: this one was never acknowledged
        }
        std::this_thread::sleep_for(15ms);
      }
    }};
    std::this_thread::sleep_for(std::chrono::milliseconds{static_cast<long>(300 + random() % 900)});
    daemon.kill_now();
    killed = true;
    client.join();
    attempted.insert(sent.begin(), sent.end());
    for (const auto& [id, type] : racing) {
      if (std::ranges::find(acknowledged, id) != acknowledged.end()) expected_type[id] = type;
    }
    const auto torn = read_json_lines(c.events_file);
    EXPECT_TRUE(torn.bad_lines.empty()) << "a complete line is never torn or interleaved";
  }

  ASSERT_TRUE(daemon.start());
  const bool all_arrived = wait_until(
      [&] {
        const auto lines = file_events();
        return std::ranges::all_of(expected_type,
                                   [&](const auto& item) { return !events_of(lines, item.first).empty(); });
      },
      30s, 100ms);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(daemon.terminate(), 0);

  const auto lines = file_events();
  EXPECT_TRUE(all_arrived);
  EXPECT_TRUE(lines.bad_lines.empty());
  EXPECT_FALSE(lines.ends_with_partial_line);
  for (const auto& [id, type] : expected_type) {
    const auto events = events_of(lines, id);
    ASSERT_FALSE(events.empty()) << "acknowledged run " << id << " has no event";
    for (const auto& e : events) {
      EXPECT_EQ(string_field(e, "eventType"), type) << id;
      EXPECT_EQ(string_field(e, "eventId"), make_event_id(id, type)) << "a duplicate carries the same eventId";
    }
  }
  for (const auto& e : lines.events) {
    const auto id = string_field(object_field(e, "payload"), "id");
    EXPECT_TRUE(attempted.contains(id)) << "an event for a run nobody registered: " << id;
  }
  EXPECT_EQ(integrity_of(c.state), "ok");
  RecordProperty("acknowledged_runs", static_cast<int>(expected_type.size()));
}

}  // namespace
}  // namespace hookless::blackbox
