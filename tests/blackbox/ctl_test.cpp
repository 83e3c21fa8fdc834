// Black box: hooklessctl against a running hooklessd, its commands and exit codes as scripts
// rely on them (interface.md §1).
#include "tests/blackbox/blackbox_fixture.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <sstream>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

// hooklessctl --json prints one JSON object per line.
std::vector<json::object> json_output(const std::string& out) {
  std::vector<json::object> objects;
  std::istringstream lines{out};
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    objects.push_back(json::parse(line).as_object());
  }
  return objects;
}

std::vector<std::string> ids_in(const std::vector<json::object>& records) {
  std::vector<std::string> ids;
  for (const auto& r : records) ids.push_back(string_field(r, "id"));
  return ids;
}

class ctl_test : public blackbox_test {
 protected:
  void SetUp() override {
    start_fake();
    ASSERT_TRUE(make_daemon(base_config()).start());
  }

  void add_run(const std::string& id, std::vector<timeline_step> timeline) {
    fake_->add_run({.id = id, .kind = "", .timeline = std::move(timeline), .fields = {}});
  }

  ctl_result ctl(const std::vector<std::string>& args, const std::string& stdin_text = {}) {
    return run_ctl(daemon_->socket(), args, stdin_text);
  }
};

TEST_F(ctl_test, watch_registers_ids_from_arguments_and_from_stdin) {
  for (const auto* id : {"exr_ctl_arg", "exr_ctl_stdin_a", "exr_ctl_stdin_b", "exr_ctl_stdin_c"}) {
    add_run(id, {{"PENDING", 0ms}, {"PROCESSED", 500ms}});
  }
  const auto one = ctl({"watch", "exr_ctl_arg", "--context", R"({"order":42})"});
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.out.find("exr_ctl_arg"), std::string::npos) << one.out;

  const auto piped = ctl({"watch", "-"}, "exr_ctl_stdin_a\n\n  exr_ctl_stdin_b  \nexr_ctl_stdin_c");
  EXPECT_EQ(piped.exit_code, 0) << piped.err;

  const auto refused = ctl({"watch", "no-prefix-and-no-kind"});
  EXPECT_EQ(refused.exit_code, 1) << "an ID whose kind cannot be told is refused";
  EXPECT_FALSE(refused.err.empty());
  EXPECT_FALSE(daemon_->run("no-prefix-and-no-kind"));

  ASSERT_TRUE(wait_for_file_events(4, 10s)) << file_event_count() << " of 4";
  std::this_thread::sleep_for(300ms);
  const auto lines = file_events();
  EXPECT_EQ(lines.events.size(), 4u);
  for (const auto* id : {"exr_ctl_arg", "exr_ctl_stdin_a", "exr_ctl_stdin_b", "exr_ctl_stdin_c"}) {
    const auto events = events_of(lines, id);
    ASSERT_EQ(events.size(), 1u) << id;
    EXPECT_EQ(string_field(events[0], "eventType"), "extract_run.processed");
  }
  EXPECT_EQ(object_field(events_of(lines, "exr_ctl_arg")[0], "hookless").at("context"),
            json::value(json::object{{"order", 42}}));
}

TEST_F(ctl_test, wait_exits_0_for_processed_3_for_failed_4_on_timeout) {
  add_run("exr_ctl_ok", {{"PENDING", 0ms}, {"PROCESSED", 700ms}});
  add_run("exr_ctl_failed", {{"PENDING", 0ms}, {"FAILED", 700ms}});
  add_run("exr_ctl_cancelled", {{"PENDING", 0ms}, {"CANCELLED", 300ms}});
  add_run("exr_ctl_never", {{"PENDING", 0ms}});
  ASSERT_EQ(ctl({"watch", "exr_ctl_ok", "exr_ctl_failed", "exr_ctl_cancelled", "exr_ctl_never"}).exit_code, 0);

  const auto ok = ctl({"wait", "exr_ctl_ok", "--timeout", "10s"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  const auto printed = json_output(ok.out);
  ASSERT_EQ(printed.size(), 1u) << ok.out;
  EXPECT_EQ(string_field(printed[0], "eventType"), "extract_run.processed");
  EXPECT_EQ(string_field(printed[0], "eventId"), make_event_id("exr_ctl_ok", "extract_run.processed"));

  const auto failed = ctl({"wait", "exr_ctl_failed", "--timeout", "10s"});
  EXPECT_EQ(failed.exit_code, 3) << failed.out << failed.err;
  EXPECT_NE(failed.out.find("extract_run.failed"), std::string::npos) << failed.out;
  EXPECT_EQ(ctl({"wait", "exr_ctl_cancelled", "--timeout", "10s"}).exit_code, 3);

  const auto started = std::chrono::steady_clock::now();
  const auto timed_out = ctl({"wait", "exr_ctl_never", "--timeout", "600ms"});
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(timed_out.exit_code, 4) << timed_out.out << timed_out.err;
  EXPECT_GE(took, 550ms);
  EXPECT_LT(took, 5s);

  const auto unknown = ctl({"wait", "exr_ctl_nobody", "--timeout", "1s"});
  EXPECT_EQ(unknown.exit_code, 1) << "an unknown run is an error";
}

TEST_F(ctl_test, get_and_ls_show_runs_newest_first_and_by_state) {
  add_run("exr_ctl_old", {{"PROCESSED", 0ms}});
  add_run("exr_ctl_new", {{"PENDING", 0ms}});
  ASSERT_EQ(ctl({"watch", "exr_ctl_old"}).exit_code, 0);
  ASSERT_TRUE(wait_for_file_events(1, 10s));
  std::this_thread::sleep_for(20ms);
  ASSERT_EQ(ctl({"watch", "exr_ctl_new"}).exit_code, 0);

  const auto got = ctl({"--json", "get", "exr_ctl_old"});
  EXPECT_EQ(got.exit_code, 0) << got.err;
  const auto record = json_output(got.out);
  ASSERT_EQ(record.size(), 1u) << got.out;
  EXPECT_EQ(string_field(record[0], "id"), "exr_ctl_old");
  EXPECT_EQ(string_field(record[0], "kind"), "extract_run");
  EXPECT_EQ(string_field(record[0], "state"), "finished");
  EXPECT_EQ(string_field(record[0], "outcome"), "processed");
  EXPECT_EQ(string_field(record[0], "status"), "PROCESSED");

  const auto human = ctl({"get", "exr_ctl_new"});
  EXPECT_EQ(human.exit_code, 0);
  EXPECT_NE(human.out.find("exr_ctl_new"), std::string::npos) << human.out;
  EXPECT_EQ(ctl({"get", "exr_ctl_nobody"}).exit_code, 1);

  const auto all = ctl({"--json", "ls"});
  EXPECT_EQ(all.exit_code, 0);
  EXPECT_EQ(ids_in(json_output(all.out)), (std::vector<std::string>{"exr_ctl_new", "exr_ctl_old"}));
  EXPECT_EQ(ids_in(json_output(ctl({"--json", "ls", "--state", "pending"}).out)),
            std::vector<std::string>{"exr_ctl_new"});
  EXPECT_EQ(ids_in(json_output(ctl({"--json", "ls", "--state", "finished"}).out)),
            std::vector<std::string>{"exr_ctl_old"});
  const auto table = ctl({"ls"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("exr_ctl_new"), std::string::npos);
  EXPECT_LT(table.out.find("exr_ctl_new"), table.out.find("exr_ctl_old")) << table.out;
}

TEST_F(ctl_test, a_forgotten_run_gets_no_event) {
  add_run("exr_ctl_forget", {{"PENDING", 0ms}, {"PROCESSED", 800ms}});
  add_run("exr_ctl_keep", {{"PENDING", 0ms}, {"PROCESSED", 800ms}});
  ASSERT_EQ(ctl({"watch", "exr_ctl_forget", "exr_ctl_keep"}).exit_code, 0);
  const auto forgot = ctl({"forget", "exr_ctl_forget"});
  EXPECT_EQ(forgot.exit_code, 0) << forgot.err;

  ASSERT_TRUE(wait_for_file_events(1, 10s));
  std::this_thread::sleep_for(1000ms);  // the forgotten one is PROCESSED by now too
  const auto lines = file_events();
  EXPECT_EQ(lines.events.size(), 1u);
  EXPECT_EQ(events_of(lines, "exr_ctl_keep").size(), 1u);
  EXPECT_TRUE(events_of(lines, "exr_ctl_forget").empty());
  EXPECT_TRUE(events_of(stdout_events(), "exr_ctl_forget").empty());
  EXPECT_EQ(ctl({"get", "exr_ctl_forget"}).exit_code, 1);
  EXPECT_EQ(ctl({"forget", "exr_ctl_forget"}).exit_code, 1) << "forgetting an unknown run";
  const auto polls = fake_->stats().requests_per_run["exr_ctl_forget"];
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fake_->stats().requests_per_run["exr_ctl_forget"], polls) << "a forgotten run is not polled";
}

TEST_F(ctl_test, health_exits_0_when_ok_and_2_without_a_daemon) {
  const auto ok = ctl({"health"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  const auto as_json = ctl({"--json", "health"});
  EXPECT_EQ(as_json.exit_code, 0);
  const auto body = json_output(as_json.out);
  ASSERT_EQ(body.size(), 1u);
  EXPECT_EQ(string_field(body[0], "status"), "ok");
  EXPECT_EQ(string_field(object_field(body[0], "api"), "state"), "ok");
  EXPECT_TRUE(object_field(body[0], "sinks").contains("archive"));

  const auto nobody = run_ctl(dir_ / "no-daemon-here.sock", {"health"});
  EXPECT_EQ(nobody.exit_code, 2) << nobody.out << nobody.err;
  ASSERT_EQ(daemon_->terminate(), 0);
  EXPECT_EQ(ctl({"health"}).exit_code, 2) << "a stopped daemon is unreachable";
}

TEST_F(ctl_test, duration_flags_take_compound_forms_and_a_refusal_names_the_flag) {
  add_run("exr_ctl_durations", {{"PENDING", 0ms}, {"PROCESSED", 300ms}});
  const auto watched = ctl({"watch", "exr_ctl_durations", "--deadline", "1d12h"});
  ASSERT_EQ(watched.exit_code, 0) << watched.err;
  const auto waited = ctl({"wait", "exr_ctl_durations", "--timeout", "0m10.5s"});
  EXPECT_EQ(waited.exit_code, 0) << waited.err;

  const auto bad_timeout = ctl({"wait", "exr_ctl_durations", "--timeout", "30s1m"});
  EXPECT_EQ(bad_timeout.exit_code, 1);
  EXPECT_NE(bad_timeout.err.find("--timeout: expected the units from the largest to the smallest"), std::string::npos)
      << bad_timeout.err;
  const auto bad_deadline = ctl({"watch", "exr_ctl_not_registered", "--deadline", "soon"});
  EXPECT_EQ(bad_deadline.exit_code, 1);
  EXPECT_NE(bad_deadline.err.find("--deadline: expected a duration like 250ms, 30s, 1m30s, 1.5h or 7d"),
            std::string::npos)
      << bad_deadline.err;
}

}  // namespace
}  // namespace hookless::blackbox
