// The exec sink running real commands (/bin/sh scripts in a temp dir): the envelope on stdin byte
// for byte (larger than a pipe holds), the event's variables and nothing else of the daemon's
// environment, exit codes, signals and the timeout (SIGTERM to the whole process group, SIGKILL
// after the grace), bounded output, no descriptor of the daemon leaking into the command, and a
// program that cannot be run.
#include "core/delivery/exec_sink.hpp"

#include "tests/support/run_with_deadline.hpp"
#include "tests/support/temp_dir.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace hookless {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
using namespace std::chrono_literals;

std::string exec_test_read(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// True when `pid` is gone (or a zombie nobody reaped yet: it runs no more either).
bool exec_test_gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  const auto stat = exec_test_read("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

class exec_sink_io : public ::testing::Test {
 protected:
  // hooklessd ignores SIGPIPE (a command that exits without reading its stdin); so does this test.
  void SetUp() override { std::signal(SIGPIPE, SIG_IGN); }

  fs::path script(const std::string& name, const std::string& body) {
    const auto path = dir_.path() / name;
    std::ofstream{path} << "#!/bin/sh\n" << body;
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }

  exec_sink_options options(std::vector<std::string> command, std::chrono::milliseconds timeout = 10s) {
    exec_sink_options o;
    o.sink_name = "script";
    o.command = std::move(command);
    o.timeout = timeout;
    o.kill_grace = 500ms;
    return o;
  }

  static delivery_job job(const std::string& run_id, const std::string& body) {
    delivery_job j;
    j.record.id = "event_" + run_id + ":script";
    j.record.event_id = "event_" + run_id;
    j.record.run_id = run_id;
    j.record.sink = "script";
    j.event_type = "extract_run.processed";
    j.body = body;
    return j;
  }

  delivery_result deliver(sink& target, const delivery_job& j, std::chrono::milliseconds limit = 15s) {
    std::optional<delivery_result> result;
    asio::co_spawn(io_, target.deliver(j), [&](std::exception_ptr failure, delivery_result r) {
      if (failure) std::rethrow_exception(failure);
      result = std::move(r);
    });
    if (!test::run_until(
            io_, [&] { return result.has_value(); }, limit)) {
      ADD_FAILURE() << "the delivery did not finish";
      return {};
    }
    return *result;
  }

  test::temp_dir dir_{"hookless_exec_sink"};
  asio::io_context io_;
};

TEST_F(exec_sink_io, the_envelope_on_stdin_and_the_events_variables_in_a_minimal_environment) {
  ::setenv("HOOKLESS_TEST_SECRET", "must-not-leak", 1);
  const auto seen = dir_.path() / "stdin";
  const auto env = dir_.path() / "env";
  const auto cmd = script("hook.sh", "cat > \"$1\"\nenv > \"$2\"\necho \"done $HOOKLESS_EVENT_ID\"\n");
  auto target = make_exec_sink(io_.get_executor(), options({cmd.string(), seen.string(), env.string()}));
  // 1 MiB: more than a pipe holds, so the write must wait for the command to read.
  std::string body = R"({"eventId":"event_exr_1","payload":{"text":")" + std::string(1 << 20, 'x') + "\"}}";
  const auto result = deliver(*target, job("exr_1", body));
  ASSERT_TRUE(result.delivered) << result.error;
  EXPECT_EQ(exec_test_read(seen), body) << "byte for byte, no newline added";
  const auto vars = exec_test_read(env);
  EXPECT_NE(vars.find("HOOKLESS_EVENT_ID=event_exr_1\n"), std::string::npos) << vars;
  EXPECT_NE(vars.find("HOOKLESS_EVENT_TYPE=extract_run.processed\n"), std::string::npos) << vars;
  EXPECT_NE(vars.find("HOOKLESS_RUN_ID=exr_1\n"), std::string::npos) << vars;
  EXPECT_NE(vars.find("PATH="), std::string::npos) << vars;
  EXPECT_EQ(vars.find("HOOKLESS_TEST_SECRET"), std::string::npos) << vars;
  ::unsetenv("HOOKLESS_TEST_SECRET");
}

TEST_F(exec_sink_io, a_command_that_does_not_read_its_stdin_decides_by_its_exit_status) {
  auto ok = make_exec_sink(io_.get_executor(), options({script("ok.sh", "exit 0\n").string()}));
  EXPECT_TRUE(deliver(*ok, job("exr_2", std::string(1 << 20, 'y'))).delivered);
  auto failing = make_exec_sink(io_.get_executor(),
                                options({script("fail.sh", "echo out; echo 'no database' >&2; exit 3\n").string()}));
  const auto result = deliver(*failing, job("exr_3", std::string(1 << 20, 'y')));
  EXPECT_FALSE(result.delivered);
  EXPECT_EQ(result.error, "exit status 3; stderr: no database");
}

TEST_F(exec_sink_io, a_signal_is_a_failure) {
  auto target = make_exec_sink(io_.get_executor(), options({script("signal.sh", "kill -USR1 $$\n").string()}));
  const auto result = deliver(*target, job("exr_4", "{}"));
  EXPECT_FALSE(result.delivered);
  EXPECT_EQ(result.error, "killed by SIGUSR1");
}

TEST_F(exec_sink_io, a_hanging_command_and_its_children_are_stopped_at_the_timeout) {
  const auto pids = dir_.path() / "pids";
  // A child in the background and one in the foreground: the whole group goes.
  const auto cmd = script("hang.sh", "sleep 60 &\necho $! > \"$1\"\nsleep 60\n");
  auto target = make_exec_sink(io_.get_executor(), options({cmd.string(), pids.string()}, 300ms));
  const auto started = std::chrono::steady_clock::now();
  const auto result = deliver(*target, job("exr_5", "{}"));
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(result.delivered);
  EXPECT_EQ(result.error, "timeout after 300ms (stopped with SIGTERM)");
  EXPECT_LT(took, 3s);
  const auto background = std::atoi(exec_test_read(pids).c_str());
  ASSERT_GT(background, 0);
  EXPECT_TRUE(test::run_until(
      io_, [&] { return exec_test_gone(background); }, 5s))
      << "the background child was killed with its group";
}

TEST_F(exec_sink_io, a_command_that_ignores_sigterm_gets_sigkill_after_the_grace) {
  const auto cmd = script("stubborn.sh", "trap '' TERM\nwhile :; do sleep 1; done\n");
  auto target = make_exec_sink(io_.get_executor(), options({cmd.string()}, 300ms));
  const auto started = std::chrono::steady_clock::now();
  const auto result = deliver(*target, job("exr_6", "{}"));
  EXPECT_FALSE(result.delivered);
  EXPECT_EQ(result.error, "timeout after 300ms (stopped with SIGKILL)");
  EXPECT_GE(std::chrono::steady_clock::now() - started, 750ms);
}

TEST_F(exec_sink_io, no_descriptor_of_the_daemon_reaches_the_command) {
  // A descriptor opened without O_CLOEXEC, as Asio's sockets and systemd's passed sockets are.
  const int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::dup2(fd, 47), 47);
  const auto cmd = script("fds.sh",
                          "for n in 3 4 5 6 7 8 9 47; do\n  if [ -e /proc/$$/fd/$n ] && [ \"$(readlink "
                          "/proc/$$/fd/$n)\" = /dev/null ]; then echo \"fd $n leaked\" >&2; exit 1; fi\n"
                          "done\n");
  auto target = make_exec_sink(io_.get_executor(), options({cmd.string()}));
  const auto result = deliver(*target, job("exr_7", "{}"));
  ::close(47);
  ::close(fd);
  EXPECT_TRUE(result.delivered) << result.error;
}

TEST_F(exec_sink_io, a_program_that_cannot_run_is_a_failure_that_says_why) {
  const auto missing = dir_.path() / "missing";
  auto target = make_exec_sink(io_.get_executor(), options({missing.string()}));
  const auto result = deliver(*target, job("exr_8", "{}"));
  EXPECT_FALSE(result.delivered);
  EXPECT_EQ(result.error, "cannot run " + missing.string() + ": No such file or directory");
}

TEST_F(exec_sink_io, commands_run_side_by_side_and_lots_of_output_is_drained) {
  // 1 MiB on stdout and stderr each: read (and dropped beyond the limit) while the command runs.
  const auto cmd = script("loud.sh", "head -c 1048576 /dev/zero\nhead -c 1048576 /dev/zero >&2\nsleep 1\n");
  auto target = make_exec_sink(io_.get_executor(), options({cmd.string()}));
  std::vector<std::optional<delivery_result>> results(4);
  std::vector<delivery_job> jobs;  // the deliveries refer to their jobs until they end
  for (std::size_t i = 0; i < results.size(); ++i) jobs.push_back(job("exr_p" + std::to_string(i), "{}"));
  const auto started = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < results.size(); ++i) {
    asio::co_spawn(io_, target->deliver(jobs[i]), [&results, i](std::exception_ptr failure, delivery_result r) {
      if (failure) std::rethrow_exception(failure);
      results[i] = std::move(r);
    });
  }
  ASSERT_TRUE(test::run_until(
      io_, [&] { return std::ranges::all_of(results, [](const auto& r) { return r.has_value(); }); }, 15s));
  for (const auto& r : results) EXPECT_TRUE(r->delivered) << r->error;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3500ms) << "the four ran at once, not one after another";
}

}  // namespace
}  // namespace hookless
