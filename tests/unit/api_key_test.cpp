// Tests of where the Extend API key comes from, in order, and that its value never reaches a message.
#include "config/api_key.hpp"
#include "tests/support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace hookless {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr const char* secret = "sk_live_0123456789abcdef";

class api_key_test : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream{path, std::ios::binary} << text;
    return path;
  }

  // A fake environment: only the variables the test set exist.
  api_key_result resolve(const extend_config& extend) {
    return resolve_api_key(extend, [this](const char* name) -> std::optional<std::string> {
      if (const auto it = env_.find(name); it != env_.end()) return it->second;
      return std::nullopt;
    });
  }

  test::temp_dir temp_{"hookless_api_key"};
  std::filesystem::path dir_ = temp_.path();
  std::map<std::string, std::string, std::less<>> env_;
};

TEST_F(api_key_test, reads_configured_file_and_trims_it) {
  extend_config extend;
  extend.api_key_file = write("key", std::string{"  "} + secret + "\r\n\n");
  env_["EXTEND_API_KEY"] = "sk_from_env";
  const auto result = resolve(extend);
  EXPECT_EQ(result.key, secret);
  EXPECT_THAT(result.error, IsEmpty());
  EXPECT_THAT(result.source, HasSubstr(*extend.api_key_file));
  EXPECT_THAT(result.source, Not(HasSubstr(secret)));
}

TEST_F(api_key_test, unreadable_configured_file_is_an_error_and_does_not_fall_back) {
  extend_config extend;
  extend.api_key_file = (dir_ / "missing-key").string();
  env_["EXTEND_API_KEY"] = secret;
  const auto result = resolve(extend);
  EXPECT_FALSE(result.key);
  EXPECT_THAT(result.error, HasSubstr(*extend.api_key_file));
  EXPECT_THAT(result.error, HasSubstr("No such file"));
  EXPECT_THAT(result.error, Not(HasSubstr(secret)));
}

TEST_F(api_key_test, configured_file_that_is_a_directory_is_an_error) {
  extend_config extend;
  extend.api_key_file = dir_.string();
  const auto result = resolve(extend);
  EXPECT_FALSE(result.key);
  EXPECT_THAT(result.error, HasSubstr(dir_.string()));
}

TEST_F(api_key_test, empty_key_file_is_an_error) {
  extend_config extend;
  extend.api_key_file = write("key", " \n\t\n");
  const auto result = resolve(extend);
  EXPECT_FALSE(result.key);
  EXPECT_THAT(result.error, HasSubstr("is empty"));
}

TEST_F(api_key_test, key_with_inner_line_break_is_refused_without_echoing_it) {
  extend_config extend;
  extend.api_key_file = write("key", std::string{secret} + "\nx-injected: 1\n");
  const auto result = resolve(extend);
  EXPECT_FALSE(result.key);
  EXPECT_THAT(result.error, HasSubstr(*extend.api_key_file));
  EXPECT_THAT(result.error, Not(HasSubstr(secret)));
  EXPECT_THAT(result.error, Not(HasSubstr("injected")));
}

TEST_F(api_key_test, oversized_key_file_is_refused) {
  extend_config extend;
  extend.api_key_file = write("key", std::string(100'000, 'k'));
  const auto result = resolve(extend);
  EXPECT_FALSE(result.key);
  EXPECT_THAT(result.error, HasSubstr("larger than"));
}

TEST_F(api_key_test, credentials_directory_comes_before_the_environment) {
  write("extend-api-key", std::string{secret} + "\n");
  env_["CREDENTIALS_DIRECTORY"] = dir_.string();
  env_["EXTEND_API_KEY"] = "sk_from_env";
  const auto result = resolve(extend_config{});
  EXPECT_EQ(result.key, secret);
  EXPECT_THAT(result.error, IsEmpty());
  EXPECT_THAT(result.source, HasSubstr((dir_ / "extend-api-key").string()));
}

TEST_F(api_key_test, credentials_directory_without_our_credential_falls_back_to_the_environment) {
  write("some-other-credential", "x");
  env_["CREDENTIALS_DIRECTORY"] = dir_.string();
  env_["EXTEND_API_KEY"] = std::string{" "} + secret + "\n";
  const auto result = resolve(extend_config{});
  EXPECT_EQ(result.key, secret);
  EXPECT_EQ(result.source, "$EXTEND_API_KEY");
  EXPECT_THAT(result.error, IsEmpty());
}

TEST_F(api_key_test, empty_credential_file_is_an_error) {
  write("extend-api-key", "");
  env_["CREDENTIALS_DIRECTORY"] = dir_.string();
  env_["EXTEND_API_KEY"] = secret;
  const auto result = resolve(extend_config{});
  EXPECT_FALSE(result.key);
  EXPECT_THAT(result.error, HasSubstr((dir_ / "extend-api-key").string()));
  EXPECT_THAT(result.error, Not(HasSubstr(secret)));
}

TEST_F(api_key_test, environment_variable_alone) {
  env_["EXTEND_API_KEY"] = secret;
  const auto result = resolve(extend_config{});
  EXPECT_EQ(result.key, secret);
  EXPECT_EQ(result.source, "$EXTEND_API_KEY");
}

TEST_F(api_key_test, environment_key_with_a_space_inside_is_refused) {
  env_["EXTEND_API_KEY"] = std::string{"Bearer "} + secret;
  const auto result = resolve(extend_config{});
  EXPECT_FALSE(result.key);
  EXPECT_THAT(result.error, HasSubstr("$EXTEND_API_KEY"));
  EXPECT_THAT(result.error, Not(HasSubstr(secret)));
}

TEST_F(api_key_test, no_key_anywhere_is_not_an_error) {
  const auto result = resolve(extend_config{});
  EXPECT_FALSE(result.key);
  EXPECT_THAT(result.error, IsEmpty());
}

TEST_F(api_key_test, empty_environment_variable_counts_as_unset) {
  env_["EXTEND_API_KEY"] = "  \n";
  env_["CREDENTIALS_DIRECTORY"] = "";
  const auto result = resolve(extend_config{});
  EXPECT_FALSE(result.key);
  EXPECT_THAT(result.error, IsEmpty());
}

}  // namespace
}  // namespace hookless
