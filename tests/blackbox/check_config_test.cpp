// Black box: hooklessd --check-config names every problem with its key and line and exits 1, and
// accepts the shipped example configuration. It also opens every file the config names; the
// daemon's start fails the same way on one that cannot be used.
#include "tests/blackbox/blackbox_support.hpp"
#include "tests/support/test_certs.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace hookless::blackbox {
namespace {

ctl_result check_config(const fs::path& path) {
  return run_program(hooklessd_program(), {"--check-config", "--config", path.string()});
}

TEST(check_config_test, a_bad_config_names_the_key_and_line_and_exits_1) {
  temp_dir dir;
  const auto path = dir / "bad.yaml";
  write_text_file(path,
                  "extend:\n"
                  "  requests_per_second: 10\n"
                  "polling:\n"
                  "  fast_interval: soon\n"
                  "  max_intervall: 30s\n"
                  "state:\n"
                  "  path: /tmp/x.db\n");
  const auto result = check_config(path);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  const auto text = result.out + result.err;
  EXPECT_NE(text.find(path.string() + ":4: polling.fast_interval"), std::string::npos) << text;
  EXPECT_NE(text.find(path.string() + ":5: polling.max_intervall"), std::string::npos)
      << "every problem is printed, an unknown key too:\n"
      << text;
  EXPECT_EQ(text.find("valid\n"), std::string::npos);
}

TEST(check_config_test, yaml_that_does_not_parse_is_reported_with_its_line) {
  temp_dir dir;
  const auto path = dir / "broken.yaml";
  write_text_file(path, "extend:\n  base_url: https://api.extend.ai\n  timeout: [30s\n");
  const auto result = check_config(path);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.err.find(path.string() + ":"), std::string::npos) << result.err;
}

TEST(check_config_test, a_missing_file_is_an_error) {
  temp_dir dir;
  const auto result = check_config(dir / "nothing-here.yaml");
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_FALSE(result.err.empty());
}

// The example names files under /etc/hookless and /var/lib/hookless: checked with those folders
// moved into a temp dir that holds the files it names.
TEST(check_config_test, the_example_config_is_valid) {
  const fs::path example = fs::path{HOOKLESS_SOURCE_DIR} / "config" / "hookless.example.yaml";
  ASSERT_TRUE(fs::exists(example));
  temp_dir dir;
  std::string text = read_file(example);
  for (const std::string folder : {"/etc/hookless/", "/var/lib/hookless/"}) {
    for (auto at = text.find(folder); at != std::string::npos; at = text.find(folder, at)) {
      text.replace(at, folder.size(), dir.path().string() + "/");
    }
  }
  write_text_file(dir / "extend-api-key", "sk_test_hookless\n");
  write_text_file(dir / "app-signing-secret", "wss_example\n");
  write_text_file(dir / "example.yaml", text);
  const auto result = check_config(dir / "example.yaml");
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("valid"), std::string::npos) << result.out;
}

TEST(check_config_test, a_config_the_tests_write_is_valid) {
  temp_dir dir;
  write_text_file(dir / "ca.pem", make_test_certs({"localhost"}, {"127.0.0.1"}).ca_pem);
  daemon_config c;
  c.base_url = "https://127.0.0.1:8443";
  c.ca_file = dir / "ca.pem";
  c.socket = dir / "s.sock";
  c.state = dir / "state.db";
  c.events_file = dir / "events.jsonl";
  c.extra_file_sinks.push_back({"late", dir / "late.jsonl"});
  const auto path = dir / "hookless.yaml";
  write_text_file(path, render_config(c));
  const auto result = check_config(path);
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err << "\n" << render_config(c);
}

// A config that names every kind of file (API key, both CA files, a signing secret, a file sink),
// all present, so each test can take one away.
class named_files_test : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto ca = make_test_certs({"localhost"}, {"127.0.0.1"}).ca_pem;
    write_text_file(dir_ / "api-key", "sk_test_hookless\n");
    write_text_file(dir_ / "ca.pem", ca);
    write_text_file(dir_ / "sink-ca.pem", ca);
    write_text_file(dir_ / "secret", "wss_test_secret\n");
    fs::create_directory(dir_ / "events");
  }

  std::string config_text() const {
    const auto at = [&](const std::string& name) { return (dir_ / name).string(); };
    return "extend:\n"
           "  base_url: https://127.0.0.1:8443\n"
           "  api_key_file: " +
           at("api-key") +
           "\n"
           "  ca_file: " +
           at("ca.pem") +
           "\n"
           "control:\n"
           "  socket: " +
           at("s.sock") +
           "\n"
           "state:\n"
           "  path: " +
           at("state.db") +
           "\n"
           "sinks:\n"
           "  archive:\n"
           "    type: file\n"
           "    path: " +
           at("events/events.jsonl") +
           "\n"
           "  app:\n"
           "    type: http\n"
           "    url: https://127.0.0.1:9443/hooks\n"
           "    allow_remote: true\n"
           "    signing_secret_file: " +
           at("secret") +
           "\n"
           "    ca_file: " +
           at("sink-ca.pem") +
           "\n"
           "default_sinks: [archive]\n";
  }

  fs::path write_config() const {
    const auto path = dir_ / "hookless.yaml";
    write_text_file(path, config_text());
    return path;
  }

  // "PATH:LINE: KEY: " for the line where `key_text` (e.g. "  signing_secret_file:") stands.
  std::string where(const fs::path& config, const std::string& key_text, const std::string& key) const {
    const auto text = config_text();
    const auto at = text.find(key_text);
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
    return config.string() + ":" + std::to_string(line) + ": " + key + ": ";
  }

  // --check-config fails with exactly this problem.
  void expect_problem(const std::string& key_text, const std::string& key, const std::string& message) {
    const auto config = write_config();
    const auto result = check_config(config);
    EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
    EXPECT_NE(result.err.find(where(config, key_text, key) + message), std::string::npos)
        << "expected: " << where(config, key_text, key) + message << "\ngot:\n"
        << result.err;
    EXPECT_EQ(result.out.find("valid"), std::string::npos) << result.out;
  }

  temp_dir dir_;
};

TEST_F(named_files_test, all_files_present_is_valid) {
  const auto result = check_config(write_config());
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
}

TEST_F(named_files_test, a_missing_signing_secret_file_names_the_key_and_the_os_error) {
  fs::remove(dir_ / "secret");
  expect_problem("    signing_secret_file:", "sinks.app.signing_secret_file",
                 "cannot read " + (dir_ / "secret").string() + ": No such file or directory");
}

TEST_F(named_files_test, an_empty_signing_secret_is_refused) {
  write_text_file(dir_ / "secret", " \n");
  expect_problem("    signing_secret_file:", "sinks.app.signing_secret_file",
                 "the signing secret file " + (dir_ / "secret").string() + " is empty");
}

TEST_F(named_files_test, a_missing_api_key_file_names_the_key_and_the_os_error) {
  fs::remove(dir_ / "api-key");
  expect_problem("  api_key_file:", "extend.api_key_file",
                 "cannot read the Extend API key from " + (dir_ / "api-key").string() +
                     " (extend.api_key_file): No such file or directory");
}

TEST_F(named_files_test, a_missing_extend_ca_file_names_the_key_and_the_os_error) {
  fs::remove(dir_ / "ca.pem");
  expect_problem("  ca_file:", "extend.ca_file",
                 "cannot read " + (dir_ / "ca.pem").string() + ": No such file or directory");
}

TEST_F(named_files_test, a_missing_sink_ca_file_names_the_key_and_the_os_error) {
  fs::remove(dir_ / "sink-ca.pem");
  expect_problem("    ca_file:", "sinks.app.ca_file",
                 "cannot read " + (dir_ / "sink-ca.pem").string() + ": No such file or directory");
}

TEST_F(named_files_test, a_ca_file_without_a_certificate_is_refused) {
  write_text_file(dir_ / "ca.pem", "not a certificate\n");
  expect_problem("  ca_file:", "extend.ca_file", (dir_ / "ca.pem").string() + " holds no PEM certificate");
}

TEST_F(named_files_test, a_file_sink_in_a_missing_folder_names_the_key_and_the_os_error) {
  fs::remove(dir_ / "events");
  expect_problem("    path: " + (dir_ / "events").string(), "sinks.archive.path",
                 "folder " + (dir_ / "events").string() + ": No such file or directory");
}

// Not only --check-config: the daemon refuses to start the same way, before it binds or polls.
TEST_F(named_files_test, the_daemon_does_not_start_and_names_the_sink_and_the_os_error) {
  fs::remove(dir_ / "secret");
  const auto config = write_config();
  const auto result = run_program(hooklessd_program(), {"--config", config.string()}, {}, 10s);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.err.find(where(config, "    signing_secret_file:", "sinks.app.signing_secret_file") +
                            "cannot read " + (dir_ / "secret").string() + ": No such file or directory"),
            std::string::npos)
      << result.err;
  EXPECT_FALSE(fs::exists(dir_ / "s.sock"));
}

}  // namespace
}  // namespace hookless::blackbox
