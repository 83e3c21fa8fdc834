// Black box: hooklessd's exec sink running a /bin/sh script from the test's temp dir (the sink uses
// no shell: the script file is the program). A command that fails the first attempt of some events
// sees them again and succeeds; each attempt gets the envelope on stdin exactly as the file sink
// wrote it and the event's variables; a workflow's needs_review is done before its completed
// starts; no more commands run at once than max_running; a command that hangs is killed at its
// timeout, retried until max_age, dead, and brought back by `hooklessctl redeliver`; health names the
// sink's type; --check-config refuses a program that is missing.
#include "tests/blackbox/blackbox_fixture.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

// Remembers each event's attempts in files named by its eventId; logs "start" and "end" lines;
// fails the first attempt of every run whose ID has "fail" in it.
const char* const flaky_script = R"(#!/bin/sh
dir="$1"
n=$(cat "$dir/attempts.$HOOKLESS_EVENT_ID" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$dir/attempts.$HOOKLESS_EVENT_ID"
echo "start $HOOKLESS_RUN_ID $HOOKLESS_EVENT_TYPE $HOOKLESS_EVENT_ID $n" >> "$dir/log"
cat > "$dir/body.$HOOKLESS_EVENT_ID.$n"
env > "$dir/env.$HOOKLESS_EVENT_ID.$n"
sleep 0.2
case "$HOOKLESS_RUN_ID" in
  *fail*)
    if [ "$n" -eq 1 ]; then
      echo "end $HOOKLESS_RUN_ID $HOOKLESS_EVENT_TYPE $HOOKLESS_EVENT_ID failed" >> "$dir/log"
      echo "first attempt of $HOOKLESS_EVENT_ID fails on purpose" >&2
      exit 7
    fi
    ;;
esac
echo "end $HOOKLESS_RUN_ID $HOOKLESS_EVENT_TYPE $HOOKLESS_EVENT_ID ok" >> "$dir/log"
echo "handled $HOOKLESS_EVENT_ID"
)";

// Hangs until the file "release" exists in its folder, then succeeds.
const char* const hanging_script = R"(#!/bin/sh
dir="$1"
echo "start $HOOKLESS_EVENT_ID" >> "$dir/log"
cat > /dev/null
if [ ! -e "$dir/release" ]; then sleep 60; fi
echo "end $HOOKLESS_EVENT_ID ok" >> "$dir/log"
)";

struct log_line {
  std::string what;  // start or end
  std::string run_id;
  std::string event_type;
  std::string event_id;
  std::string rest;  // the attempt number (start) or ok / failed (end)
};

std::vector<log_line> read_log(const fs::path& path) {
  std::vector<log_line> lines;
  std::istringstream in{read_file(path)};
  std::string text;
  while (std::getline(in, text)) {
    std::istringstream words{text};
    log_line line;
    words >> line.what >> line.run_id >> line.event_type >> line.event_id >> line.rest;
    lines.push_back(line);
  }
  return lines;
}

class exec_sink_test : public blackbox_test {
 protected:
  fs::path write_script(const std::string& name, const std::string& text) {
    const auto path = dir_.path() / name;
    write_text_file(path, text);
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }

  // The fake, and hooklessd with its runs going to the file sink and the exec sink "script", which
  // runs `script_text` (from the temp dir) with the folder work() as its argument; `keys` are the
  // sink's other keys as YAML.
  daemon_process& start_with_script(const std::string& script_text, const std::string& keys) {
    start_fake();
    fs::create_directory(work());
    const auto program = write_script("hook.sh", script_text);
    auto c = base_config();
    c.default_sinks = {"archive", "script"};
    c.extra_sinks =
        "  script:\n    type: exec\n    command: [" + quoted(program) + ", " + quoted(work()) + "]\n" + keys;
    auto& daemon = make_daemon(c);
    EXPECT_TRUE(daemon.start());
    return daemon;
  }

  fs::path work() const { return dir_.path() / "work"; }

  json::array deliveries(const std::string& state) const {
    const auto answer = daemon_->request("GET", "/v1/deliveries?state=" + state);
    EXPECT_EQ(answer.status, 200u) << answer.body;
    return answer.json().as_object().at("deliveries").as_array();
  }

  static std::string quoted(const fs::path& path) { return json::serialize(json::value(path.string())); }
};

TEST_F(exec_sink_test, a_flaky_command_sees_failed_events_again_in_order_with_the_envelope_and_variables) {
  auto& daemon = start_with_script(flaky_script, "    timeout: 10s\n    max_age: 1h\n    max_running: 2\n");
  const auto folder = work();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back("exr_exec_ok" + std::to_string(i));
    ids.push_back("exr_exec_fail" + std::to_string(i));
  }
  for (const auto& id : ids) {
    fake_->add_run({.id = id, .kind = "", .timeline = {{"PENDING", 0ms}, {"PROCESSED", 200ms}}, .fields = {}});
  }
  // Two workflows: needs_review, then completed, each event failing its first attempt.
  for (int i = 0; i < 2; ++i) {
    const auto id = "workflow_run_exec_fail" + std::to_string(i);
    fake_->add_run({.id = id,
                    .kind = "",
                    .timeline = {{"PENDING", 0ms}, {"NEEDS_REVIEW", 300ms}, {"PROCESSED", 1000ms}},
                    .fields = {}});
    ids.push_back(id);
  }
  ASSERT_EQ(daemon.watch(ids).status, 201u);
  const std::size_t events = 10;
  ASSERT_TRUE(wait_for_file_events(events, 20s));
  const auto log = folder / "log";
  const auto done = [&] {
    std::size_t ok = 0;
    for (const auto& line : read_log(log)) ok += line.what == "end" && line.rest == "ok" ? 1U : 0U;
    return ok;
  };
  ASSERT_TRUE(wait_until([&] { return done() >= events; }, 40s)) << done() << " of " << events << "\n"
                                                                 << read_file(log);
  ASSERT_TRUE(wait_until([&] { return deliveries("pending").empty(); }, 10s));

  const auto archive = file_events();
  ASSERT_EQ(archive.events.size(), events);
  const auto lines = read_file(daemon.config().events_file);
  for (const auto& event : archive.events) {
    const auto event_id = string_field(event, "eventId");
    const auto event_type = string_field(event, "eventType");
    const auto run_id = string_field(object_field(event, "payload"), "id");
    SCOPED_TRACE(event_id + " " + run_id + " " + event_type);
    const auto attempts = std::stoi(read_file(folder / ("attempts." + event_id)));
    const bool flaky = run_id.find("fail") != std::string::npos;
    EXPECT_EQ(attempts, flaky ? 2 : 1) << "failed once, seen again, then done (and never again)";
    for (int n = 1; n <= attempts; ++n) {
      const auto body = read_file(folder / ("body." + event_id + "." + std::to_string(n)));
      EXPECT_NE(lines.find(body + "\n"), std::string::npos) << "stdin is the file sink's line, byte for byte";
      EXPECT_EQ(string_field(json::parse(body).as_object(), "eventId"), event_id);
      const auto env = read_file(folder / ("env." + event_id + "." + std::to_string(n)));
      EXPECT_NE(env.find("HOOKLESS_EVENT_ID=" + event_id + "\n"), std::string::npos) << env;
      EXPECT_NE(env.find("HOOKLESS_EVENT_TYPE=" + event_type + "\n"), std::string::npos) << env;
      EXPECT_NE(env.find("HOOKLESS_RUN_ID=" + run_id + "\n"), std::string::npos) << env;
      EXPECT_EQ(env.find("EXTEND_API_KEY"), std::string::npos) << "the daemon's secrets stay with it: " << env;
    }
  }

  // A run's events in order: no event of a run starts before the one before it ended well; and
  // never more than max_running commands at once.
  std::map<std::string, std::string> running_of_run;  // run ID -> event ID of its command running now
  std::map<std::string, std::vector<std::string>> done_of_run;
  std::size_t running = 0;
  std::size_t most = 0;
  for (const auto& line : read_log(log)) {
    if (line.what == "start") {
      EXPECT_FALSE(running_of_run.contains(line.run_id)) << "two commands of run " << line.run_id << " at once";
      running_of_run[line.run_id] = line.event_id;
      most = std::max(most, ++running);
    } else {
      running_of_run.erase(line.run_id);
      --running;
      if (line.rest == "ok") done_of_run[line.run_id].push_back(line.event_type);
    }
  }
  EXPECT_LE(most, 2u) << "max_running: 2";
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(done_of_run["workflow_run_exec_fail" + std::to_string(i)],
              (std::vector<std::string>{"workflow_run.needs_review", "workflow_run.completed"}));
  }

  // The failures were logged with the command's stderr, the successes' stdout too; health says exec.
  const auto daemon_log = daemon.log();
  EXPECT_NE(daemon_log.find("fails on purpose"), std::string::npos);
  EXPECT_NE(daemon_log.find("exit status 7"), std::string::npos);
  EXPECT_NE(daemon_log.find("stdout: handled event_"), std::string::npos);
  const auto health = daemon.health();
  EXPECT_EQ(string_field(health.at("sinks").at("script").as_object(), "type"), "exec") << json::serialize(health);
}

TEST_F(exec_sink_test, a_hanging_command_is_killed_at_its_timeout_retried_dead_and_redelivered) {
  auto& daemon = start_with_script(hanging_script, "    timeout: 400ms\n    max_age: 3s\n");
  const auto folder = work();
  const std::vector<std::string> ids{"exr_exec_hang0", "exr_exec_hang1"};
  for (const auto& id : ids) {
    fake_->add_run({.id = id, .kind = "", .timeline = {{"PENDING", 0ms}, {"PROCESSED", 200ms}}, .fields = {}});
  }
  ASSERT_EQ(daemon.watch(ids).status, 201u);
  ASSERT_TRUE(wait_until([&] { return deliveries("dead").size() == ids.size(); }, 30s))
      << json::serialize(deliveries("pending"));
  const auto dead = deliveries("dead");
  for (const auto& d : dead) {
    const auto& record = d.as_object();
    EXPECT_EQ(string_field(record, "sink"), "script");
    EXPECT_GE(record.at("attempts").to_number<std::int64_t>(), 2) << "retried before it died";
    EXPECT_EQ(string_field(record, "last_error"), "timeout after 400ms (stopped with SIGTERM)") << json::serialize(d);
  }
  const auto starts = [&] {
    std::size_t n = 0;
    for (const auto& line : read_log(folder / "log")) n += line.what == "start" ? 1U : 0U;
    return n;
  };
  EXPECT_GE(starts(), 2 * ids.size());
  EXPECT_EQ(read_file(folder / "log").find(" ok"), std::string::npos) << "every attempt was killed";
  const auto dead_in_health = [&] { return daemon.health().at("sinks").at("script").at("dead").to_number<int>(); };
  EXPECT_TRUE(wait_until([&] { return dead_in_health() == 2; }, 5s)) << json::serialize(daemon.health());

  const auto listed = run_ctl(daemon.socket(), {"deliveries", "--state", "dead"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  for (const auto& d : dead) EXPECT_NE(listed.out.find(string_field(d.as_object(), "id")), std::string::npos);

  // Nothing runs while they are dead; once the command would finish, an operator brings them back.
  const auto before = starts();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(starts(), before);
  write_text_file(folder / "release", "");
  const auto one = run_ctl(daemon.socket(), {"redeliver", string_field(dead.at(0).as_object(), "id")});
  EXPECT_EQ(one.exit_code, 0) << one.err;
  ASSERT_TRUE(wait_until([&] { return deliveries("dead").size() == 1 && deliveries("pending").empty(); }, 15s));
  const auto rest = run_ctl(daemon.socket(), {"redeliver", "--all-dead"});
  EXPECT_EQ(rest.exit_code, 0) << rest.err;
  ASSERT_TRUE(wait_until([&] { return deliveries("dead").empty() && deliveries("pending").empty(); }, 15s));
  std::set<std::string> succeeded;
  for (const auto& line : read_log(folder / "log")) {
    if (line.what == "end") succeeded.insert(line.run_id);  // (this script logs the eventId second)
  }
  std::set<std::string> dead_events;
  for (const auto& d : dead) dead_events.insert(string_field(d.as_object(), "event_id"));
  EXPECT_EQ(succeeded, dead_events);
  EXPECT_TRUE(wait_until([&] { return dead_in_health() == 0; }, 5s)) << json::serialize(daemon.health());
}

TEST_F(exec_sink_test, check_config_refuses_a_program_that_is_missing) {
  const auto path = dir_.path() / "hookless.yaml";
  const auto missing = dir_.path() / "missing.sh";
  write_text_file(path, "state:\n  path: " + quoted(dir_.path() / "state.db") +
                            "\nsinks:\n  out:\n    type: stdout\n  script:\n    type: exec\n    command: [" +
                            quoted(missing) + "]\n");
  const auto result = run_program(hooklessd_program(), {"--check-config", "--config", path.string()});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  const auto text = result.out + result.err;
  EXPECT_NE(text.find(":8: sinks.script.command: cannot run " + missing.string() + ": No such file or directory"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace hookless::blackbox
