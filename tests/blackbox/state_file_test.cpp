// Black box: the SQLite state file belongs to one daemon, and only its owner may read it. A second
// hooklessd on the same state.path (another socket) exits non-zero naming the file while the first
// carries on; a daemon killed with SIGKILL never blocks its own restart (the kernel drops the
// lock); the file and its -wal and -shm are 0600 under a 022 umask.
#include "tests/blackbox/blackbox_fixture.hpp"
#include "tests/support/test_certs.hpp"

#include <sys/stat.h>

namespace hookless::blackbox {
namespace {

class state_file_test : public blackbox_test {};

TEST_F(state_file_test, a_second_daemon_on_the_same_state_file_exits_naming_it) {
  start_fake();
  auto& first = make_daemon(base_config());
  ASSERT_TRUE(first.start());
  ASSERT_EQ(first.watch({"exr_first"}).status, 201u);

  auto second = base_config();
  second.socket = dir_ / "second.sock";
  second.events_file = dir_ / "second-events.jsonl";
  const auto second_config = dir_ / "second.yaml";
  write_text_file(second_config, render_config(second));
  const auto refused = run_program(hooklessd_program(), {"--config", second_config.string()},
                                   {{"EXTEND_API_KEY", "sk_test_hookless"}}, 10s);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("state file " + second.state.string() + " is in use by another hooklessd"),
            std::string::npos)
      << refused.err;
  EXPECT_FALSE(fs::exists(second.socket)) << "it stopped before taking any work";

  // The first one never noticed.
  EXPECT_TRUE(first.run("exr_first").has_value());
  EXPECT_EQ(first.watch({"exr_after"}).status, 201u);

  // Killed, it restarts at once: its lock died with it.
  first.kill_now();
  ASSERT_TRUE(first.start());
  EXPECT_TRUE(first.run("exr_after").has_value());
  EXPECT_EQ(first.terminate(), 0);
}

TEST_F(state_file_test, state_files_are_private_under_a_022_umask) {
  start_fake();
  auto& daemon = make_daemon(base_config());
  const auto old_umask = ::umask(022);
  const bool started = daemon.start();
  ::umask(old_umask);
  ASSERT_TRUE(started);
  ASSERT_EQ(daemon.watch({"exr_private"}).status, 201u);  // a write: the WAL holds it
  const auto state = daemon.config().state.string();
  for (const auto& file : {state, state + "-wal", state + "-shm"}) {
    struct stat info {};
    ASSERT_EQ(::stat(file.c_str(), &info), 0) << file;
    EXPECT_EQ(info.st_mode & 0777, 0600u) << file << " holds payloads";
  }
  EXPECT_EQ(daemon.terminate(), 0);
}

}  // namespace
}  // namespace hookless::blackbox
