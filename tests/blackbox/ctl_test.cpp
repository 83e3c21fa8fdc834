// Black box: hooklessctl against a running hooklessd, its commands and exit codes as scripts
// rely on them (interface.md §1).
#include "core/formats/timestamp.hpp"
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

  // hooklessctl without the leading --socket run_ctl gives it.
  ctl_result bare_ctl(const std::vector<std::string>& args) { return run_program(hooklessctl_program(), args); }

  // Writes `hooklessctl completion SHELL` into the temp dir.
  fs::path completion_file(const std::string& shell) {
    const auto script = bare_ctl({"completion", shell});
    EXPECT_EQ(script.exit_code, 0) << script.err;
    const auto path = dir_ / ("hooklessctl." + shell);
    write_text_file(path, script.out);
    return path;
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

// --- as people type it (issue 15): global flags after the command, -o json, completion scripts in
// real shells, waiting on several runs, listing filters, redelivering a delivery that was done,
// errors that name what was refused, and errors in JSON for scripts.

TEST_F(ctl_test, global_flags_work_after_the_command_and_o_json_is_json) {
  add_run("exr_hand_flags", {{"PENDING", 0ms}});
  ASSERT_EQ(ctl({"watch", "exr_hand_flags"}).exit_code, 0);

  const auto after = ctl({"ls", "--json"});
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(ids_in(json_output(after.out)), std::vector<std::string>{"exr_hand_flags"});

  const auto socket_after = bare_ctl({"ls", "--socket", daemon_->socket().string(), "-o", "json"});
  EXPECT_EQ(socket_after.exit_code, 0) << socket_after.err;
  EXPECT_EQ(ids_in(json_output(socket_after.out)), std::vector<std::string>{"exr_hand_flags"});

  const auto get_after =
      bare_ctl({"get", "exr_hand_flags", "--output", "json", "--socket", daemon_->socket().string()});
  EXPECT_EQ(get_after.exit_code, 0) << get_after.err;
  ASSERT_EQ(json_output(get_after.out).size(), 1u) << get_after.out;

  const auto text = bare_ctl({"health", "--socket", daemon_->socket().string(), "-o", "text"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("hooklessd is ok: 1 run pending"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("sink archive (file): healthy, 0 queued"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("sink out (stdout): healthy"), std::string::npos) << text.out;
}

TEST_F(ctl_test, bash_completes_commands_flags_and_values) {
  const auto script = completion_file("bash");
  // Each case: the words typed so far (the last one being completed), then what bash offers.
  std::string program = "set -e\nsource '" + script.string() + "'\ncomplete -p hooklessctl\n";
  const std::vector<std::pair<std::string, std::string>> cases{
      {"hooklessctl l", "ls"},
      {"hooklessctl re", "redeliver"},
      {"hooklessctl co", "completion"},
      {"hooklessctl ls --st", "--state"},
      {"hooklessctl ls --state ", "pending finished all"},
      {"hooklessctl deliveries --state ", "pending dead"},
      {"hooklessctl --socket /tmp/x.sock ls --kind extract", "extract_run"},
      {"hooklessctl ls --outcome n", "needs_review not_found"},
      {"hooklessctl redeliver --a", "--all-dead"},
      {"hooklessctl completion ", "bash zsh fish"},
      {"hooklessctl -o ", "json text"},
      {"hooklessctl wait exr_1 --t", "--timeout"},
  };
  for (const auto& [typed, expected] : cases) {
    program += "COMP_WORDS=(" + typed + (typed.ends_with(' ') ? "''" : "") + ")\n";
    program += "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n_hooklessctl\necho \"[${COMPREPLY[*]}]\"\n";
  }
  const auto result = run_program("/usr/bin/env", {"bash", "--norc", "-c", program});
  ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
  EXPECT_NE(result.out.find("complete -F _hooklessctl hooklessctl"), std::string::npos) << result.out;
  std::istringstream lines{result.out};
  std::string line;
  std::getline(lines, line);  // complete -p
  for (const auto& [typed, expected] : cases) {
    ASSERT_TRUE(std::getline(lines, line)) << typed;
    EXPECT_EQ(line, "[" + expected + "]") << typed;
  }

  // The flags of a command and the global ones, after the command.
  const auto flags = run_program(
      "/usr/bin/env",
      {"bash", "--norc", "-c",
       "source '" + script.string() +
           "'; COMP_WORDS=(hooklessctl ls --); COMP_CWORD=2; _hooklessctl; printf '%s\\n' \"${COMPREPLY[@]}\""});
  ASSERT_EQ(flags.exit_code, 0) << flags.err;
  for (const auto* flag : {"--state", "--kind", "--outcome", "--limit", "--socket", "--json", "--output"}) {
    EXPECT_NE(flags.out.find(std::string{flag} + "\n"), std::string::npos) << flag << " in " << flags.out;
  }
}

TEST_F(ctl_test, zsh_and_fish_read_their_scripts) {
  const auto zsh = run_program("/usr/bin/env", {"zsh", "-n", completion_file("zsh").string()});
  EXPECT_EQ(zsh.exit_code, 0) << zsh.err;
  const auto fish = run_program("/usr/bin/env", {"fish", "--no-execute", completion_file("fish").string()});
  EXPECT_EQ(fish.exit_code, 0) << fish.err;
  // And fish, running it, completes a flag's values.
  const auto offered = run_program(
      "/usr/bin/env", {"fish", "--no-config", "-c",
                       "source " + completion_file("fish").string() + "; complete -C 'hooklessctl ls --state '"});
  EXPECT_EQ(offered.exit_code, 0) << offered.err;
  EXPECT_NE(offered.out.find("finished"), std::string::npos) << offered.out;
  EXPECT_EQ(bare_ctl({"completion", "tcsh"}).exit_code, 1);
}

TEST_F(ctl_test, wait_on_several_runs_exits_with_the_worst_outcome) {
  add_run("exr_hand_ok", {{"PENDING", 0ms}, {"PROCESSED", 300ms}});
  add_run("exr_hand_ok2", {{"PENDING", 0ms}, {"PROCESSED", 500ms}});
  add_run("exr_hand_failed", {{"PENDING", 0ms}, {"FAILED", 400ms}});
  add_run("exr_hand_never", {{"PENDING", 0ms}});
  ASSERT_EQ(ctl({"watch", "exr_hand_ok", "exr_hand_ok2", "exr_hand_failed", "exr_hand_never"}).exit_code, 0);

  const auto both = ctl({"wait", "exr_hand_ok", "exr_hand_ok2", "--timeout", "1m30s"});
  EXPECT_EQ(both.exit_code, 0) << both.err;
  const auto printed = json_output(both.out);
  ASSERT_EQ(printed.size(), 2u) << both.out;
  EXPECT_EQ(string_field(printed[0], "eventId"), make_event_id("exr_hand_ok", "extract_run.processed"));
  EXPECT_EQ(string_field(printed[1], "eventId"), make_event_id("exr_hand_ok2", "extract_run.processed"));

  const auto one_failed = ctl({"wait", "exr_hand_ok", "exr_hand_failed", "--timeout", "10s"});
  EXPECT_EQ(one_failed.exit_code, 3) << one_failed.err;
  EXPECT_EQ(json_output(one_failed.out).size(), 2u) << one_failed.out;

  const auto started = std::chrono::steady_clock::now();
  const auto timed_out = ctl({"wait", "exr_hand_never", "exr_hand_failed", "exr_hand_ok", "--timeout", "0.8s"});
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_EQ(timed_out.exit_code, 4) << timed_out.out << timed_out.err;
  EXPECT_EQ(json_output(timed_out.out).size(), 2u) << "the finished ones still print: " << timed_out.out;
  EXPECT_NE(timed_out.err.find("exr_hand_never is not finished yet"), std::string::npos) << timed_out.err;

  const auto unknown = ctl({"wait", "exr_hand_nobody", "exr_hand_never", "exr_hand_ok", "--timeout", "300ms"});
  EXPECT_EQ(unknown.exit_code, 1) << "an error outranks a timeout: " << unknown.err;
  EXPECT_NE(unknown.err.find("no run exr_hand_nobody"), std::string::npos) << unknown.err;
}

TEST_F(ctl_test, ls_filters_by_kind_and_outcome_and_stops_at_the_limit) {
  add_run("exr_hand_a", {{"PROCESSED", 0ms}});
  add_run("exr_hand_b", {{"FAILED", 0ms}});
  add_run("clr_hand_c", {{"PROCESSED", 0ms}});
  add_run("clr_hand_d", {{"PENDING", 0ms}});
  for (const auto* id : {"exr_hand_a", "exr_hand_b", "clr_hand_c", "clr_hand_d"}) {
    ASSERT_EQ(ctl({"watch", id}).exit_code, 0) << id;
  }
  ASSERT_TRUE(wait_for_file_events(3, 10s));

  EXPECT_EQ(ids_in(json_output(ctl({"ls", "--kind", "classify_run", "--json"}).out)),
            (std::vector<std::string>{"clr_hand_d", "clr_hand_c"}));
  EXPECT_EQ(ids_in(json_output(ctl({"ls", "--outcome", "processed", "--json"}).out)),
            (std::vector<std::string>{"clr_hand_c", "exr_hand_a"}));
  EXPECT_EQ(ids_in(json_output(ctl({"ls", "--outcome", "failed", "--kind", "extract_run", "--json"}).out)),
            std::vector<std::string>{"exr_hand_b"});
  EXPECT_EQ(ids_in(json_output(ctl({"ls", "--limit", "2", "--json"}).out)),
            (std::vector<std::string>{"clr_hand_d", "clr_hand_c"}));
  const auto table = ctl({"ls", "--limit", "1"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("clr_hand_d"), std::string::npos) << table.out;
  EXPECT_EQ(table.out.find("clr_hand_c"), std::string::npos) << table.out;

  const auto bad_kind = ctl({"ls", "--kind", "extract"});
  EXPECT_EQ(bad_kind.exit_code, 1);
  EXPECT_NE(bad_kind.err.find("--kind: 'extract' is not a run kind"), std::string::npos) << bad_kind.err;
  EXPECT_NE(bad_kind.err.find("extract_run"), std::string::npos) << "the valid kinds are listed: " << bad_kind.err;
  const auto bad_outcome = ctl({"ls", "--outcome", "PROCESSED"});
  EXPECT_EQ(bad_outcome.exit_code, 1);
  EXPECT_NE(bad_outcome.err.find("--outcome"), std::string::npos) << bad_outcome.err;

  // The server checks the same for any client.
  const auto answer = control_request(daemon_->socket(), "GET", "/v1/runs?kind=nope");
  EXPECT_EQ(answer.status, 400u) << answer.body;
  EXPECT_NE(answer.body.find("classify_run"), std::string::npos) << answer.body;
}

TEST_F(ctl_test, redeliver_sends_a_done_delivery_again) {
  add_run("exr_hand_again", {{"PROCESSED", 0ms}});
  ASSERT_EQ(ctl({"watch", "exr_hand_again"}).exit_code, 0);
  ASSERT_TRUE(wait_for_file_events(1, 10s));
  const auto delivery_id = make_event_id("exr_hand_again", "extract_run.processed") + ":archive";
  // The run's record shows each delivery's ID.
  const auto record = json_output(ctl({"get", "exr_hand_again", "--json"}).out);
  ASSERT_EQ(record.size(), 1u);
  std::vector<std::string> delivery_ids;
  for (const auto& item : record[0].at("deliveries").as_array()) {
    delivery_ids.push_back(string_field(item.as_object(), "id"));
  }
  EXPECT_NE(std::find(delivery_ids.begin(), delivery_ids.end(), delivery_id), delivery_ids.end())
      << delivery_ids.size();

  const auto again = ctl({"redeliver", delivery_id});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("queued again: " + delivery_id), std::string::npos) << again.out;
  ASSERT_TRUE(wait_for_file_events(2, 10s)) << "the archive got the event a second time";
  const auto events = events_of(file_events(), "exr_hand_again");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(string_field(events[0], "eventId"), string_field(events[1], "eventId"));

  const auto unknown = ctl({"redeliver", "event_nothing:archive"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no delivery event_nothing:archive"), std::string::npos) << unknown.err;
}

TEST_F(ctl_test, refusals_name_the_id_and_the_flag) {
  add_run("exr_hand_1", {{"PENDING", 0ms}});
  add_run("exr_hand_2", {{"PENDING", 0ms}});
  const auto bad_id = ctl({"watch", "exr_hand_1", "bad id", "exr_hand_2"});
  EXPECT_EQ(bad_id.exit_code, 1);
  EXPECT_NE(bad_id.err.find("ID 'bad id' refused"), std::string::npos) << bad_id.err;
  EXPECT_FALSE(daemon_->run("exr_hand_1")) << "nothing of the batch is kept";

  const auto no_kind = ctl({"watch", "zzz_hand"});
  EXPECT_EQ(no_kind.exit_code, 1);
  EXPECT_NE(no_kind.err.find("ID 'zzz_hand' refused, --kind"), std::string::npos) << no_kind.err;
  EXPECT_EQ(no_kind.err.find("give \"kind\""), std::string::npos) << no_kind.err;

  const auto unknown_kind = ctl({"watch", "zzz_hand", "--kind", "extraction"});
  EXPECT_EQ(unknown_kind.exit_code, 1);
  EXPECT_NE(unknown_kind.err.find("--kind: 'extraction' is not a run kind"), std::string::npos) << unknown_kind.err;
  EXPECT_NE(unknown_kind.err.find("extract_run, "), std::string::npos) << unknown_kind.err;

  const auto compound = ctl({"watch", "exr_hand_1", "--deadline", "1h30m", "--json"});
  ASSERT_EQ(compound.exit_code, 0) << compound.err;
  const auto record = json_output(compound.out);
  ASSERT_EQ(record.size(), 1u);
  const auto registered = parse_time(string_field(record[0], "registered_at"));
  const auto deadline = parse_time(string_field(record[0], "deadline_at"));
  ASSERT_TRUE(registered && deadline);
  EXPECT_EQ(*deadline - *registered, std::chrono::minutes{90});
}

TEST_F(ctl_test, json_errors_go_to_stdout_with_the_same_exit_codes) {
  const auto not_found = ctl({"get", "exr_hand_nobody", "--json"});
  EXPECT_EQ(not_found.exit_code, 1);
  EXPECT_TRUE(not_found.err.empty()) << not_found.err;
  auto error = json_output(not_found.out);
  ASSERT_EQ(error.size(), 1u) << not_found.out;
  EXPECT_EQ(string_field(object_field(error[0], "error"), "code"), "not_found");
  EXPECT_EQ(string_field(object_field(error[0], "error"), "message"), "no run exr_hand_nobody");

  const auto usage = ctl({"ls", "--state", "sideways", "-o", "json"});
  EXPECT_EQ(usage.exit_code, 1);
  error = json_output(usage.out);
  ASSERT_EQ(error.size(), 1u) << usage.out << usage.err;
  EXPECT_EQ(string_field(object_field(error[0], "error"), "code"), "usage");

  const auto refused = ctl({"--json", "watch", "zzz_hand"});
  EXPECT_EQ(refused.exit_code, 1);
  error = json_output(refused.out);
  ASSERT_EQ(error.size(), 1u) << refused.out;
  EXPECT_EQ(string_field(object_field(error[0], "error"), "code"), "invalid_request");

  const auto nobody = run_ctl(dir_ / "no-daemon-here.sock", {"health", "--json"});
  EXPECT_EQ(nobody.exit_code, 2);
  error = json_output(nobody.out);
  ASSERT_EQ(error.size(), 1u) << nobody.out;
  EXPECT_EQ(string_field(object_field(error[0], "error"), "code"), "unreachable");

  const auto wait_nobody = run_ctl(dir_ / "no-daemon-here.sock", {"wait", "exr_1", "--json"});
  EXPECT_EQ(wait_nobody.exit_code, 1);
  EXPECT_EQ(json_output(wait_nobody.out).size(), 1u) << wait_nobody.out;
}

}  // namespace
}  // namespace hookless::blackbox
