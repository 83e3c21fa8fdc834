// The exec sink's pure parts: its keys in hookless.yaml (read, defaulted and refused with key and
// line), the check of its program by check_config_files, the environment a command gets, the
// bounded capture of its output and what its end means for the delivery.
#include "core/delivery/exec_sink.hpp"
#include "config/config_files.hpp"
#include "config/config_loader.hpp"
#include "tests/support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace hookless {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// "sinks:" with the stdout sink default_sinks names, then `body` (indented under sinks:).
std::string exec_yaml(const std::string& body) { return "sinks:\n  out: {type: stdout}\n" + body; }

// The one problem of an invalid config.
config_problem exec_single_problem(const std::string& yaml) {
  const auto result = load_config_text(yaml, "test.yaml");
  EXPECT_FALSE(result.value.has_value()) << yaml;
  EXPECT_EQ(result.problems.size(), 1u) << yaml;
  return result.problems.empty() ? config_problem{} : result.problems.front();
}

TEST(exec_sink_config, every_key_is_read) {
  const auto result = load_config_text(exec_yaml("  script:\n"
                                                 "    type: exec\n"
                                                 "    command: [\"/usr/local/bin/on-event\", \"--verbose\", \"a b\"]\n"
                                                 "    timeout: 60s\n"
                                                 "    max_age: 2h\n"
                                                 "    max_running: 2\n"
                                                 "    events: [\"workflow_run.*\"]\n"),
                                       "test.yaml");
  ASSERT_THAT(result.problems, IsEmpty());
  const auto& sink = result.value->sinks.at("script");
  EXPECT_EQ(sink.type, sink_type::exec);
  EXPECT_THAT(sink.command, ElementsAre("/usr/local/bin/on-event", "--verbose", "a b"));
  EXPECT_EQ(sink.timeout, milliseconds{60'000});
  EXPECT_EQ(sink.max_age, milliseconds{2 * 3600 * 1000});
  EXPECT_EQ(sink.max_running, 2u);
  EXPECT_THAT(sink.events, ElementsAre("workflow_run.*"));
  EXPECT_EQ(result.key_lines.at("sinks.script.command"), 5);
}

TEST(exec_sink_config, defaults) {
  const auto result = load_config_text(exec_yaml("  script:\n    type: exec\n    command: [/bin/true]\n"), "t");
  ASSERT_THAT(result.problems, IsEmpty());
  const auto& sink = result.value->sinks.at("script");
  EXPECT_EQ(sink.timeout, milliseconds{30'000});
  EXPECT_EQ(sink.max_age, milliseconds{3LL * 24 * 3600 * 1000});
  EXPECT_EQ(sink.max_running, 4u);
  EXPECT_THAT(sink.events, ElementsAre("*"));
}

TEST(exec_sink_config, the_command_is_required_and_a_list_starting_with_an_absolute_path) {
  auto p = exec_single_problem(exec_yaml("  script:\n    type: exec\n"));
  EXPECT_EQ(p.key, "sinks.script.command");
  EXPECT_EQ(p.line, 3);
  EXPECT_THAT(p.message, HasSubstr("missing; an exec sink needs its command as a list"));

  p = exec_single_problem(exec_yaml("  script:\n    type: exec\n    command: /usr/bin/logger -t x\n"));
  EXPECT_EQ(p.key, "sinks.script.command");
  EXPECT_EQ(p.line, 5);
  EXPECT_THAT(p.message, HasSubstr("expected a list (argv, no shell)"));

  p = exec_single_problem(exec_yaml("  script:\n    type: exec\n    command: []\n"));
  EXPECT_EQ(p.key, "sinks.script.command");
  EXPECT_THAT(p.message, HasSubstr("must name the program to run"));

  p = exec_single_problem(exec_yaml("  script:\n    type: exec\n    command: [logger, -t, x]\n"));
  EXPECT_EQ(p.key, "sinks.script.command[0]");
  EXPECT_EQ(p.line, 5);
  EXPECT_EQ(p.message, "the program must be an absolute path (no PATH search, no shell); got \"logger\"");

  p = exec_single_problem(exec_yaml("  script:\n    type: exec\n    command: [\"\", x]\n"));
  EXPECT_EQ(p.key, "sinks.script.command[0]");
  EXPECT_THAT(p.message, HasSubstr("must not be empty"));

  p = exec_single_problem(exec_yaml("  script:\n    type: exec\n    command: [/bin/echo, {a: b}]\n"));
  EXPECT_EQ(p.key, "sinks.script.command[1]");
}

TEST(exec_sink_config, max_running_is_between_1_and_64) {
  for (const char* wrong : {"0", "65", "-1"}) {
    const auto p = exec_single_problem(exec_yaml(
        std::string{"  script:\n    type: exec\n    command: [/bin/true]\n    max_running: "} + wrong + "\n"));
    EXPECT_EQ(p.key, "sinks.script.max_running");
    EXPECT_EQ(p.line, 6);
    EXPECT_THAT(p.message, HasSubstr("must be between 1 and 64"));
  }
  const auto p =
      exec_single_problem(exec_yaml("  script:\n    type: exec\n    command: [/bin/true]\n    max_running: x\n"));
  EXPECT_EQ(p.key, "sinks.script.max_running");
}

TEST(exec_sink_config, keys_of_other_sinks_are_refused_and_exec_keys_elsewhere_too) {
  auto p = exec_single_problem(exec_yaml("  script:\n    type: exec\n    command: [/bin/true]\n    url: http://x\n"));
  EXPECT_EQ(p.key, "sinks.script.url");
  EXPECT_EQ(p.message,
            "`url` does not apply to an exec sink (allowed: type, command, timeout, max_age, max_running, events)");
  p = exec_single_problem(exec_yaml("  archive:\n    type: file\n    path: /tmp/x\n    command: [/bin/true]\n"));
  EXPECT_EQ(p.key, "sinks.archive.command");
  EXPECT_THAT(p.message, HasSubstr("does not apply to a file sink"));
  p = exec_single_problem(exec_yaml("  script:\n    type: exec\n    command: [/bin/true]\n    comand: [/bin/true]\n"));
  EXPECT_EQ(p.key, "sinks.script.comand");
  EXPECT_THAT(p.message, HasSubstr("did you mean `command`?"));
}

class exec_program_check : public ::testing::Test {
 protected:
  std::vector<config_problem> check(const std::string& program) {
    auto result =
        load_config_text(exec_yaml("  script:\n    type: exec\n    command: [\"" + program + "\", a]\n"), "t");
    EXPECT_THAT(result.problems, IsEmpty());
    return check_config_files(result.value.value_or(config{}), result.key_lines);
  }
  test::temp_dir temp_{"hookless_exec"};
};

TEST_F(exec_program_check, an_executable_file_passes) {
  const auto script = temp_.path() / "hook.sh";
  std::ofstream{script} << "#!/bin/sh\nexit 0\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  EXPECT_THAT(check(script.string()), IsEmpty());
}

TEST_F(exec_program_check, a_missing_a_non_executable_or_a_folder_is_named_with_its_key_and_line) {
  const auto missing = temp_.path() / "missing";
  auto problems = check(missing.string());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].key, "sinks.script.command");
  EXPECT_EQ(problems[0].line, 5);
  EXPECT_EQ(problems[0].message, "cannot run " + missing.string() + ": No such file or directory");

  const auto plain = temp_.path() / "plain.sh";
  std::ofstream{plain} << "#!/bin/sh\n";
  std::filesystem::permissions(plain, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  problems = check(plain.string());
  ASSERT_EQ(problems.size(), 1u);
  // (root too: it may execute a file only when one of its execute bits is set.)
  EXPECT_EQ(problems[0].message, "cannot run " + plain.string() + ": Permission denied");

  problems = check(temp_.path().string());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].message, "cannot run " + temp_.path().string() + ": not a regular file");
}

TEST(exec_environment, only_the_inherited_variables_and_the_events_ids) {
  delivery_job job;
  job.record.event_id = "event_abc";
  job.record.run_id = "exr_1";
  job.event_type = "extract_run.processed";
  const std::map<std::string, std::string> daemon_env{{"PATH", "/usr/bin:/bin"},
                                                      {"HOME", "/var/lib/hookless"},
                                                      {"LANG", "C.UTF-8"},
                                                      {"EXTEND_API_KEY", "sk_secret"},
                                                      {"NOTIFY_SOCKET", "/run/systemd/notify"}};
  const auto lookup = [&](const char* name) -> const char* {
    const auto found = daemon_env.find(name);
    return found == daemon_env.end() ? nullptr : found->second.c_str();
  };
  EXPECT_THAT(exec_environment(job, lookup),
              ElementsAre("PATH=/usr/bin:/bin", "HOME=/var/lib/hookless", "LANG=C.UTF-8", "HOOKLESS_EVENT_ID=event_abc",
                          "HOOKLESS_EVENT_TYPE=extract_run.processed", "HOOKLESS_RUN_ID=exr_1"));
  const auto nothing = [](const char*) -> const char* { return nullptr; };
  EXPECT_EQ(exec_environment(job, nothing).front(), "PATH=" + std::string{exec_default_path});
}

TEST(bounded_output, keeps_the_head_and_the_tail) {
  bounded_output out{8};
  out.append("hello ");
  out.append("world, and more");
  EXPECT_EQ(out.head(), "hello wo");
  EXPECT_TRUE(out.cut());
  EXPECT_EQ(out.total(), 21u);
  EXPECT_EQ(out.tail(4), "more");
  const std::string lots(10'000, 'x');
  for (int i = 0; i < 100; ++i) out.append(lots);
  out.append("END");
  EXPECT_EQ(out.head(), "hello wo");
  EXPECT_EQ(out.tail(3), "END");
  EXPECT_EQ(out.tail(100'000).size(), bounded_output::tail_keep);
  EXPECT_EQ(printable_output(out), "hello wo ... (1000024 bytes in all)");

  bounded_output lines{100};
  lines.append("one\ntwo\tthree\x01\n");
  EXPECT_FALSE(lines.cut());
  EXPECT_EQ(printable_output(lines), "one\\ntwo three?");
}

TEST(judge_command_end, exit_0_is_delivered_anything_else_says_why) {
  bounded_output no_errors{4096};
  EXPECT_TRUE(judge_command_end({.wait_status = 0, .timed_out = false, .kill_signal = 0}, milliseconds{1000}, no_errors)
                  .delivered);

  bounded_output errors{4096};
  errors.append("starting\ncannot reach the database\n");
  const auto failed =
      judge_command_end({.wait_status = 3 << 8, .timed_out = false, .kill_signal = 0}, milliseconds{1000}, errors);
  EXPECT_FALSE(failed.delivered);
  EXPECT_EQ(failed.error, "exit status 3; stderr: starting\\ncannot reach the database");
  EXPECT_FALSE(failed.retry_after);

  const auto killed =
      judge_command_end({.wait_status = SIGSEGV, .timed_out = false, .kill_signal = 0}, milliseconds{1000}, no_errors);
  EXPECT_EQ(killed.error, "killed by SIGSEGV");

  // Stopped for its timeout: a failure even when it then exited 0.
  const auto late =
      judge_command_end({.wait_status = 0, .timed_out = true, .kill_signal = SIGTERM}, milliseconds{1500}, no_errors);
  EXPECT_FALSE(late.delivered);
  EXPECT_EQ(late.error, "timeout after 1500ms (stopped with SIGTERM)");
  const auto hard = judge_command_end({.wait_status = SIGKILL, .timed_out = true, .kill_signal = SIGKILL},
                                      milliseconds{1500}, no_errors);
  EXPECT_EQ(hard.error, "timeout after 1500ms (stopped with SIGKILL)");

  bounded_output long_errors{16};
  long_errors.append(std::string(300, 'e') + "the end");
  const auto cut =
      judge_command_end({.wait_status = 1 << 8, .timed_out = false, .kill_signal = 0}, milliseconds{1}, long_errors);
  EXPECT_EQ(cut.error, "exit status 1; stderr: ..." + std::string(193, 'e') + "the end");
}

}  // namespace
}  // namespace hookless
