// Black box: the state store's failure modes as a user of hooklessd sees them. A full disk (a real
// tmpfs) refuses registrations with 503 busy and a clear message while everything acknowledged
// stays and the daemon keeps running; an fsync error (EIO from libc, injected with an LD_PRELOAD
// shim) makes the daemon exit non-zero and loses nothing acknowledged; a corrupt state file stops the
// start and is left as it is, with a message saying how to recover it; finished runs are pruned after
// state.retention.
#include "tests/blackbox/blackbox_fixture.hpp"
#include "tests/blackbox/state_file_check.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <sys/mount.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

// Unmounts (lazily) at scope exit.
struct mounted_tmpfs {
  fs::path where;
  bool ok = false;
  mounted_tmpfs(fs::path at, const std::string& size) : where(std::move(at)) {
    fs::create_directories(where);
    ok = ::mount("tmpfs", where.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  ~mounted_tmpfs() {
    if (ok) ::umount2(where.c_str(), MNT_DETACH);
  }
  mounted_tmpfs(const mounted_tmpfs&) = delete;
  mounted_tmpfs& operator=(const mounted_tmpfs&) = delete;
};

std::uint64_t free_bytes(const fs::path& dir) {
  struct statvfs info {};
  if (::statvfs(dir.c_str(), &info) != 0) return 0;
  return static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
}

json::array batch_of(const std::string& prefix, int first, int count, const std::string& note) {
  json::array runs;
  for (int i = first; i < first + count; ++i) {
    runs.push_back(json::object{{"id", prefix + std::to_string(i)}, {"context", json::object{{"note", note}}}});
  }
  return runs;
}

bool wait_for_file_events_in(const fs::path& file, std::size_t n, std::chrono::milliseconds limit) {
  return wait_until([&] { return read_json_lines(file).events.size() >= n; }, limit);
}

std::size_t query_pending_deliveries(const fs::path& socket) {
  const auto answer = control_request(socket, "GET", "/v1/deliveries?state=pending");
  return answer.json().at("deliveries").as_array().size();
}

std::set<std::string> stored_ids(const fs::path& state) {
  std::set<std::string> ids;
  std::istringstream rows{query_state_file(state, "SELECT id FROM runs", false)};
  for (std::string line; std::getline(rows, line);) ids.insert(line);
  return ids;
}

class durability_test : public blackbox_test {
 protected:
  // The fake makes every run it is asked about, and none finishes during the test.
  void start_slow_fake() {
    fake_extend_options options;
    options.auto_runs = true;
    options.auto_finish_after = std::chrono::hours{1};
    start_fake(options);
  }
};

TEST_F(durability_test, full_disk_answers_busy_keeps_what_was_acknowledged_and_recovers) {
  mounted_tmpfs tiny{dir_ / "tiny", "4m"};
  if (!tiny.ok) GTEST_SKIP() << "cannot mount a tmpfs here (not root?): " << std::strerror(errno);
  start_slow_fake();
  auto c = base_config();
  c.state = tiny.where / "state.db";
  auto& daemon = make_daemon(c);
  ASSERT_TRUE(daemon.start());

  // Leave a few hundred KiB: a handful of batches fit, then the disk is full.
  const auto filler = tiny.where / "filler";
  {
    const auto room = free_bytes(tiny.where);
    ASSERT_GT(room, 1'000'000U);
    std::ofstream out{filler, std::ios::binary};
    const std::string block(64 * 1024, 'f');
    for (std::uint64_t written = 0; written + block.size() < room - 400 * 1024; written += block.size()) out << block;
  }
  const std::string note(900, 'n');
  std::set<std::string> acknowledged;
  http_answer refusal;
  int next = 0;
  for (int attempt = 0; attempt < 200; ++attempt) {
    const auto answer = daemon.register_runs(batch_of("exr_full_", next, 100, note));
    if (answer.status == 201) {
      for (int i = next; i < next + 100; ++i) acknowledged.insert("exr_full_" + std::to_string(i));
      next += 100;
      continue;
    }
    refusal = answer;
    break;
  }
  ASSERT_EQ(refusal.status, 503u) << "the disk never filled up: " << acknowledged.size() << " runs registered";
  ASSERT_GT(acknowledged.size(), 0U);
  const auto error = refusal.json().at("error").as_object();
  EXPECT_EQ(string_field(error, "code"), "busy");
  EXPECT_NE(string_field(error, "message").find("full"), std::string::npos) << refusal.body;
  // Then the disk is filled to the last byte. A single registration is refused the same way, or, if
  // it still fits (SQLite's write-ahead log reuses the frames the failed batch had written), it is
  // acknowledged and kept like any other: never acknowledged and lost.
  const auto top_up = tiny.where / "top-up";
  {
    std::ofstream out{top_up, std::ios::binary};
    const std::string block(4 * 1024, 't');
    while (out.write(block.data(), static_cast<std::streamsize>(block.size())) && out.flush()) {
    }
  }
  const auto single = daemon.request("POST", "/v1/runs", R"({"id":"exr_full_single"})");
  ASSERT_TRUE(single.status == 503u || single.status == 201u) << single.status << " " << single.body;
  if (single.status == 201u) acknowledged.insert("exr_full_single");

  // Still running, still answering, and every acknowledged run is there.
  std::this_thread::sleep_for(1500ms);  // polls and progress flushes fail meanwhile: not fatal
  ASSERT_TRUE(daemon.running()) << "a full disk must not stop the daemon";
  EXPECT_EQ(daemon.request("GET", "/v1/health").status, 200u);
  EXPECT_EQ(daemon.health().at("pending").as_int64(), static_cast<std::int64_t>(acknowledged.size()));
  for (const auto& id : {*acknowledged.begin(), *acknowledged.rbegin()}) {
    const auto run = daemon.run(id);
    ASSERT_TRUE(run.has_value()) << id;
    EXPECT_EQ(string_field(*run, "state"), "pending");
  }
  EXPECT_EQ(daemon.run("exr_full_single").has_value(), single.status == 201u);

  // Room again: registrations are taken again, without a restart.
  fs::remove(filler);
  fs::remove(top_up);
  const auto after = daemon.register_runs(batch_of("exr_after_", 0, 10, "x"));
  EXPECT_EQ(after.status, 201u) << after.body;

  // Killed and restarted: everything acknowledged, before and after the full disk, is in the file.
  daemon.kill_now();
  ASSERT_TRUE(daemon.start());
  EXPECT_EQ(daemon.health().at("pending").as_int64(), static_cast<std::int64_t>(acknowledged.size() + 10));
  EXPECT_EQ(daemon.terminate(), 0);
  const auto stored = stored_ids(c.state);
  for (const auto& id : acknowledged) EXPECT_TRUE(stored.contains(id)) << id << " was acknowledged and is lost";
  EXPECT_TRUE(stored.contains("exr_after_9"));
  EXPECT_EQ(integrity_of(c.state), "ok");
  std::printf("[ disk full ] %zu runs acknowledged before the 4 MiB tmpfs filled; then 503: %s\n", acknowledged.size(),
              string_field(error, "message").c_str());
}

TEST_F(durability_test, fsync_error_stops_the_daemon_non_zero_and_loses_nothing_acknowledged) {
  start_slow_fake();
  auto c = base_config();
  auto& daemon = make_daemon(c);
  const auto trigger = dir_ / "fail-fsync-now";
  const std::map<std::string, std::string> faulty{{"LD_PRELOAD", HOOKLESS_FSYNC_FAULT_LIB},
                                                  {"HOOKLESS_FAULT_TRIGGER", trigger.string()},
                                                  {"ASAN_OPTIONS", "verify_asan_link_order=0"}};
  ASSERT_TRUE(daemon.start(faulty));

  std::set<std::string> acknowledged;
  ASSERT_EQ(daemon.register_runs(batch_of("exr_eio_", 0, 50, "x")).status, 201u);
  for (int i = 0; i < 50; ++i) acknowledged.insert("exr_eio_" + std::to_string(i));
  for (int i = 0; i < 5; ++i) {
    const auto id = "exr_eio_single_" + std::to_string(i);
    ASSERT_EQ(daemon.request("POST", "/v1/runs", json::serialize(json::object{{"id", id}})).status, 201u);
    acknowledged.insert(id);
  }

  write_text_file(trigger, "");  // from now on the disk "fails"
  bool refused = false;
  try {
    const auto answer = daemon.request("POST", "/v1/runs", R"({"id":"exr_eio_doomed"})");
    refused = answer.status == 503;
    EXPECT_EQ(answer.status, 503u) << answer.body;
  } catch (const std::exception&) {
    refused = true;  // it may already be gone: the first commit after the trigger failed
  }
  EXPECT_TRUE(refused) << "a registration that could not be made durable is never acknowledged";
  ASSERT_TRUE(wait_until([&] { return !daemon.running(); }, 15s)) << "the daemon went on after an fsync error";
  const auto status = daemon.terminate();  // already exited: just its exit status
  ASSERT_TRUE(status.has_value());
  EXPECT_NE(*status, 0);
  EXPECT_LT(*status, 128) << "it exits on its own, it does not crash";
  const auto log = daemon.log();
  EXPECT_NE(log.find("cannot continue safely"), std::string::npos) << log;
  EXPECT_NE(log.find("disk I/O error"), std::string::npos) << "the log says what failed";

  // The disk is "repaired" and systemd starts it again: every acknowledged run is there.
  fs::remove(trigger);
  ASSERT_TRUE(daemon.start());
  for (const auto& id : acknowledged) {
    const auto run = daemon.run(id);
    EXPECT_TRUE(run.has_value()) << id << " was acknowledged and is lost";
  }
  EXPECT_EQ(daemon.terminate(), 0);
  EXPECT_EQ(integrity_of(c.state), "ok");
}

// A damaged state file may still hold acknowledged runs: hooklessd refuses to start on it (never
// starts empty in its place), names it and says how to recover it, and leaves it as it was.
TEST_F(durability_test, corrupt_state_file_stops_the_start_and_is_left_as_it_is) {
  start_slow_fake();
  auto c = base_config();
  std::string garbage;
  for (int i = 0; i < 500; ++i) garbage += "this is not an SQLite database, line " + std::to_string(i) + "\n";
  write_text_file(c.state, garbage);
  const auto config_path = dir_ / "corrupt.yaml";
  write_text_file(config_path, render_config(c));
  const auto started = run_program(hooklessd_program(), {"--config", config_path.string()},
                                   {{"EXTEND_API_KEY", "sk_test_hookless"}}, 10s);
  EXPECT_NE(started.exit_code, 0) << "it must not run on (or instead of) a damaged file";
  const auto& log = started.err;
  EXPECT_NE(log.find("state file " + c.state.string() + " is damaged"), std::string::npos) << log;
  EXPECT_NE(log.find("sqlite3 " + c.state.string() + " .recover"), std::string::npos) << "how to recover:\n" << log;
  EXPECT_FALSE(fs::exists(c.socket)) << "no work taken";
  EXPECT_EQ(read_file(c.state), garbage) << "left as it was";
  for (const auto& entry : fs::directory_iterator{dir_.path()}) {
    EXPECT_FALSE(entry.path().filename().string().starts_with("state.db.corrupt")) << entry.path();
  }
}

// state.retention is not one of daemon_config's knobs: this test writes its own config and runs
// hooklessd as a plain child process.
TEST_F(durability_test, finished_runs_are_pruned_after_the_retention_period) {
  start_fake();
  fake_->add_run({.id = "exr_done_soon", .kind = "", .timeline = {{"PROCESSED", 0ms}}, .fields = {}});
  fake_->add_run({.id = "exr_still_pending", .kind = "", .timeline = {{"PENDING", 0ms}}, .fields = {}});
  auto c = base_config();
  std::string yaml = render_config(c);
  const auto path_line = yaml.find("  path: ", yaml.find("state:\n"));
  ASSERT_NE(path_line, std::string::npos);
  yaml.insert(yaml.find('\n', path_line) + 1, "  retention: 2s\n");
  const auto config_path = dir_ / "retention.yaml";
  write_text_file(config_path, yaml);
  ASSERT_EQ(run_program(hooklessd_program(), {"--config", config_path.string(), "--check-config"}).exit_code, 0);

  spawn_spec spec;
  spec.program = hooklessd_program();
  spec.args = {"--config", config_path.string()};
  spec.env = base_environment();
  spec.env["EXTEND_API_KEY"] = "sk_test_hookless";
  spec.stderr_path = dir_ / "retention.log";
  const auto ready = [&] {
    return wait_until(
        [&] {
          try {
            return control_request(c.socket, "GET", "/v1/health").status == 200;
          } catch (const std::exception&) {
            return false;
          }
        },
        10s);
  };
  const auto run_status = [&](const std::string& id) {
    return control_request(c.socket, "GET", "/v1/runs/" + id).status;
  };

  std::optional<child_process> daemon{std::in_place, spec};
  ASSERT_TRUE(ready()) << read_file(dir_ / "retention.log");
  ASSERT_EQ(
      control_request(c.socket, "POST", "/v1/runs", R"({"runs":[{"id":"exr_done_soon"},{"id":"exr_still_pending"}]})")
          .status,
      201u);
  ASSERT_TRUE(wait_for_file_events_in(c.events_file, 1, 10s));
  ASSERT_TRUE(wait_until([&] { return query_pending_deliveries(c.socket) == 0; }, 5s));
  EXPECT_EQ(run_status("exr_done_soon"), 200u) << "kept while within the retention period";

  std::this_thread::sleep_for(2500ms);
  daemon->signal(SIGTERM);
  ASSERT_EQ(daemon->wait_for(10s), 0);
  daemon.emplace(spec);  // the start-up pass prunes what is past the retention period
  ASSERT_TRUE(ready()) << read_file(dir_ / "retention.log");
  EXPECT_TRUE(wait_until([&] { return run_status("exr_done_soon") == 404; }, 5s)) << "pruned after 2 s";
  EXPECT_EQ(run_status("exr_still_pending"), 200u) << "a pending run is never pruned";
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait_for(10s), 0);
  EXPECT_EQ(query_state_file(c.state, "SELECT COUNT(*) FROM events", false), "0") << "its events went with it";
  EXPECT_EQ(query_state_file(c.state, "SELECT COUNT(*) FROM deliveries", false), "0");
  EXPECT_NE(read_file(dir_ / "retention.log").find("pruned 1 finished runs"), std::string::npos);
  EXPECT_EQ(read_json_lines(c.events_file).events.size(), 1U) << "the event was delivered before the run went";
}

}  // namespace
}  // namespace hookless::blackbox
