// Tests of the keys that choose where the state lives and who this daemon is among several
// (state.url, state.password_file, cluster.node): each is read, each mistake names its key and
// line, a password never appears in a message, and the password file is opened by the file check.
#include "config/config_files.hpp"
#include "config/config_loader.hpp"
#include "core/formats/database_url.hpp"
#include "tests/support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <climits>
#include <filesystem>
#include <fstream>
#include <string>

namespace hookless {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

config_result load_state_config(const std::string& yaml) { return load_config_text(yaml, "test.yaml"); }

std::string host_name() {
  std::array<char, HOST_NAME_MAX + 1> name{};
  EXPECT_EQ(::gethostname(name.data(), name.size() - 1), 0);
  return name.data();
}

// The one problem of `yaml`, which must be invalid with exactly one.
config_problem only_problem(const std::string& yaml) {
  SCOPED_TRACE(yaml);
  const auto result = load_state_config(yaml);
  EXPECT_FALSE(result.value);
  EXPECT_EQ(result.problems.size(), 1u);
  return result.problems.empty() ? config_problem{} : result.problems.front();
}

TEST(state_backend_config, defaults_are_sqlite_and_the_host_name) {
  const auto result = load_state_config("");
  ASSERT_TRUE(result.value);
  EXPECT_FALSE(result.value->state.url);
  EXPECT_FALSE(result.value->state.password_file);
  EXPECT_EQ(result.value->state.path, "/var/lib/hookless/state.db");
  EXPECT_EQ(result.value->cluster.node, host_name());
}

TEST(state_backend_config, reads_url_password_file_and_node) {
  const auto result = load_state_config(
      "state:\n  url: postgresql://hookless@db.internal:5432/hookless?sslmode=require\n"
      "  password_file: /etc/hookless/db-password\ncluster:\n  node: web-1.eu_west\n");
  ASSERT_THAT(result.problems, IsEmpty());
  ASSERT_TRUE(result.value);
  EXPECT_EQ(result.value->state.url, "postgresql://hookless@db.internal:5432/hookless?sslmode=require");
  EXPECT_EQ(result.value->state.password_file, "/etc/hookless/db-password");
  EXPECT_EQ(result.value->cluster.node, "web-1.eu_west");
}

TEST(state_backend_config, every_libpq_uri_shape_is_accepted) {
  for (const char* url : {"postgres://db", "postgresql://", "postgresql:///hookless", "postgresql://u:p@[::1]:5433/db",
                          "postgresql://db1:5432,db2:5433/hookless?target_session_attrs=read-write",
                          "postgresql://%2Fvar%2Frun%2Fpostgresql/hookless",
                          "postgresql://u@localhost/db?connect_timeout=3&sslmode=disable"}) {
    const auto result = load_state_config(std::string{"state:\n  url: \""} + url + "\"\n");
    EXPECT_THAT(result.problems, IsEmpty()) << url;
    EXPECT_EQ(result.value ? result.value->state.url : std::nullopt, url);
  }
}

TEST(state_backend_config, a_url_that_is_not_postgresql_names_the_key_line_and_the_form) {
  const auto p = only_problem("# db\nstate:\n  url: mysql://db/hookless\n");
  EXPECT_EQ(p.key, "state.url");
  EXPECT_EQ(p.line, 3);
  EXPECT_THAT(p.message, HasSubstr("starting with postgresql:// or postgres://"));
  EXPECT_THAT(p.message, HasSubstr("got \"mysql://db/hookless\""));
}

TEST(state_backend_config, malformed_urls_say_what_is_wrong) {
  const std::pair<const char*, const char*> cases[] = {
      {"postgresql://db:99999/x", "invalid port \"99999\""},
      {"postgresql://db:/x", "invalid port \"\""},
      {"postgresql://db,db2:port/x", "invalid port \"port\""},
      {"postgresql://[::1/x", "closing ]"},
      {"postgresql://[::1]x/db", "other than :port"},
      {"postgresql://db/x?sslmode", "name=value"},
      {"postgresql://db/x#top", "#fragment"},
      {"postgresql://db/my db", "spaces"},
      {"postgresql://db/x%zz", "two-digit hex escape"},
  };
  for (const auto& [url, fragment] : cases) {
    const auto p = only_problem(std::string{"state:\n  url: \""} + url + "\"\n");
    EXPECT_EQ(p.key, "state.url") << url;
    EXPECT_EQ(p.line, 2) << url;
    EXPECT_THAT(p.message, HasSubstr(fragment)) << url;
  }
}

TEST(state_backend_config, a_password_in_the_url_never_appears_in_a_message) {
  for (const char* url : {"mysql://hookless:s3cret@db/x", "postgresql://hookless:s3cret@db:0/x",
                          "postgresql://db/x?password=s3cret&sslmode", "postgresql://u:s3cret@db/x#f"}) {
    const auto p = only_problem(std::string{"state:\n  url: \""} + url + "\"\n");
    EXPECT_THAT(p.message, Not(HasSubstr("s3cret"))) << p.message;
    EXPECT_THAT(p.message, HasSubstr("***")) << p.message;
  }
  EXPECT_EQ(redact_database_url("postgresql://u:pw@db/x?sslmode=require&password=pw&passfile=/p"),
            "postgresql://***@db/x?sslmode=require&password=***&passfile=/p");
}

TEST(state_backend_config, path_and_url_together_name_both) {
  const auto p = only_problem("state:\n  path: /var/lib/hookless/state.db\n  url: postgresql://db/hookless\n");
  EXPECT_EQ(p.key, "state.url");
  EXPECT_EQ(p.line, 3);
  EXPECT_THAT(p.message, HasSubstr("state.path (line 2)"));
  EXPECT_THAT(p.message, HasSubstr("remove one"));
}

TEST(state_backend_config, a_password_file_without_a_url_is_refused) {
  const auto p = only_problem("state:\n  password_file: /etc/hookless/db-password\n");
  EXPECT_EQ(p.key, "state.password_file");
  EXPECT_EQ(p.line, 2);
  EXPECT_THAT(p.message, HasSubstr("only with state.url"));
}

TEST(state_backend_config, empty_or_odd_node_names_say_what_is_allowed) {
  for (const char* node : {"\"\"", "", "-web", "web 1", "web/1", "\"web\\u00e9\"", "[a]",
                           "a2345678901234567890123456789012345678901234567890123456789012345"}) {
    const auto yaml = std::string{"cluster:\n  node: "} + node + "\n";
    const auto p = only_problem(yaml);
    EXPECT_EQ(p.key, "cluster.node") << node;
    EXPECT_EQ(p.line, 2) << node;
    if (std::string{node} != "[a]") {
      EXPECT_THAT(p.message, HasSubstr("1 to 64 of the characters A-Z a-z 0-9 . _ -"));
    }
  }
  EXPECT_TRUE(load_state_config("cluster:\n  node: 7\n").value);
  EXPECT_EQ(check_node_name(std::string(64, 'a')), std::nullopt);
  EXPECT_TRUE(check_node_name(std::string(65, 'a')));
}

TEST(state_backend_config, unknown_cluster_keys_name_the_allowed_ones) {
  const auto p = only_problem("cluster:\n  name: web-1\n");
  EXPECT_EQ(p.key, "cluster.name");
  EXPECT_THAT(p.message, HasSubstr("node"));
}

class password_file_test : public ::testing::Test {
 protected:
  config with_password_file(const std::filesystem::path& file) const {
    auto result = load_state_config(
        "state:\n  url: postgresql://hookless@127.0.0.1/hookless\n  password_file: " + file.string() + "\n");
    EXPECT_TRUE(result.value);
    return result.value.value_or(config{});
  }
  const std::map<std::string, int> lines_{{"state.password_file", 3}};
  test::temp_dir temp_{"hookless_password"};
  std::filesystem::path file_ = temp_.path() / "db-password";
};

TEST_F(password_file_test, a_readable_file_gives_its_text_without_the_line_end) {
  std::ofstream{file_} << " pass word \r\n";
  EXPECT_THAT(check_config_files(with_password_file(file_), lines_), IsEmpty());
  EXPECT_EQ(read_database_password(file_.string()), " pass word ");
}

TEST_F(password_file_test, a_missing_file_names_the_key_line_and_os_error) {
  const auto problems = check_config_files(with_password_file(file_), lines_);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].key, "state.password_file");
  EXPECT_EQ(problems[0].line, 3);
  EXPECT_EQ(problems[0].message, "cannot read " + file_.string() + ": No such file or directory");
}

TEST_F(password_file_test, an_empty_file_is_refused) {
  std::ofstream{file_} << "\n";
  const auto problems = check_config_files(with_password_file(file_), lines_);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].message, "the password file " + file_.string() + " is empty");
  EXPECT_THROW(read_database_password(file_.string()), std::runtime_error);
}

}  // namespace
}  // namespace hookless
