// Black box: hooklessd --check-config names every problem with its key and line and exits 1, and
// accepts the shipped example configuration.
#include "tests/blackbox/blackbox_support.hpp"
#include "tests/support/test_certs.hpp"

#include <gtest/gtest.h>

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
      << "every problem is printed, an unknown key too:\n" << text;
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

TEST(check_config_test, the_example_config_is_valid) {
  const fs::path example = fs::path{HOOKLESS_SOURCE_DIR} / "config" / "hookless.example.yaml";
  ASSERT_TRUE(fs::exists(example));
  const auto result = check_config(example);
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("valid"), std::string::npos) << result.out;
}

TEST(check_config_test, a_config_the_tests_write_is_valid) {
  temp_dir dir;
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

}  // namespace
}  // namespace hookless::blackbox
