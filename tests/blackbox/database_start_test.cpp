// hooklessd on PostgreSQL (state.url), as a user runs it: a daemon started before its database
// waits for it (logging each attempt) and comes up with it; SIGTERM gives the poller lease up at
// once; a second daemon under the same cluster.node makes the first exit with status 78 (which the
// systemd unit does not restart); --import-state refuses a config without state.url.
#include "tests/blackbox/blackbox_support.hpp"
#include "tests/support/pg_server.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <string>

namespace hookless::blackbox {
namespace {

class database_start_test : public ::testing::Test {
 protected:
  // A config for a daemon named `node` on `database_url`; Extend is never reached (nothing is
  // registered), and the socket is the daemon's own.
  fs::path write_config(const std::string& name, const std::string& database_url, const std::string& node) {
    const auto path = dir_.path() / (name + ".yaml");
    std::ofstream{path} << "extend:\n  base_url: https://127.0.0.1:1\n"
                        << "state:\n  url: \"" << database_url << "\"\n"
                        << "cluster:\n  node: " << node << "\n"
                        << "control:\n  socket: " << (dir_.path() / (name + ".sock")).string() << "\n"
                        << "logging:\n  level: info\n";
    return path;
  }

  spawn_spec daemon_spec(const std::string& name, const fs::path& config) {
    auto env = base_environment();
    env["EXTEND_API_KEY"] = "sk_test_hookless";
    return spawn_spec{.program = hooklessd_program(),
                      .args = {"--config", config.string()},
                      .env = env,
                      .stdout_path = dir_.path() / (name + ".stdout"),
                      .stderr_path = dir_.path() / (name + ".stderr"),
                      .stdin_path = std::nullopt};
  }

  std::string log(const std::string& name) const { return read_file(dir_.path() / (name + ".stderr")); }

  // GET /v1/health once the socket accepts, else a null value.
  boost::json::value health(const std::string& name) {
    const auto socket = dir_.path() / (name + ".sock");
    if (!socket_accepts(socket)) return nullptr;
    return control_request(socket, "GET", "/v1/health").json();
  }

  test::pg_server& server_ = test::pg_server::shared();
  temp_dir dir_;
};

TEST_F(database_start_test, a_daemon_started_before_its_database_comes_up_with_it_and_resigns_on_sigterm) {
  const auto url = server_.create_database("late");
  const auto database = url.substr(url.rfind('/') + 1);
  server_.stop();
  child_process daemon{daemon_spec("a", write_config("a", url, "web-1"))};
  ASSERT_TRUE(wait_until([&] { return log("a").find("cannot reach the database") != std::string::npos; }, 10s))
      << log("a");
  EXPECT_EQ(log("a").find("ready"), std::string::npos) << "not ready without its database";
  EXPECT_TRUE(daemon.running()) << "it waits rather than exits:\n" << log("a");

  server_.start();
  ASSERT_TRUE(wait_until(
      [&] {
        const auto answer = health("a");
        return answer.is_object() && answer.at("cluster").at("role") == "poller";
      },
      20s))
      << log("a");
  const auto answer = health("a");
  EXPECT_EQ(answer.at("store").at("state"), "ok");
  EXPECT_EQ(answer.at("store").at("backend"), "postgresql");
  EXPECT_EQ(answer.at("cluster").at("node"), "web-1");

  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait_for(10s), 0) << log("a");
  EXPECT_EQ(server_.query_value(database, "SELECT instance_id IS NULL FROM poller"), "t")
      << "the lease was given up, not left to expire";
}

TEST_F(database_start_test, a_second_daemon_under_the_same_node_name_stops_the_first_with_status_78) {
  const auto url = server_.create_database("twice");
  child_process first{daemon_spec("a", write_config("a", url, "web-1"))};
  ASSERT_TRUE(wait_until([&] { return health("a").is_object(); }, 20s)) << log("a");
  child_process second{daemon_spec("b", write_config("b", url, "web-1"))};
  EXPECT_EQ(first.wait_for(20s), 78) << log("a");
  EXPECT_NE(log("a").find("cluster.node must be unique"), std::string::npos) << log("a");
  EXPECT_TRUE(second.running()) << log("b");
}

TEST_F(database_start_test, import_state_refuses_a_config_without_a_database) {
  const auto config = dir_.path() / "sqlite.yaml";
  std::ofstream{config} << "state:\n  path: " << (dir_.path() / "state.db").string() << "\n";
  const auto result = run_program(hooklessd_program(),
                                  {"--config", config.string(), "--import-state", (dir_.path() / "old.db").string()});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.err.find("state.url"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace hookless::blackbox
