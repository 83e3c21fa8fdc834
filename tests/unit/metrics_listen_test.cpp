// metrics.listen: the HOST:PORT forms it takes, what it refuses and how the refusal reads, through
// the parser and through the config loader (key path and line).
#include "config/config_loader.hpp"
#include "core/formats/listen_address.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hookless {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

listen_address must_parse(std::string_view text) {
  auto parsed = parse_listen_address(text);
  if (auto* wrong = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << text << ": " << *wrong;
    return {};
  }
  return std::get<listen_address>(parsed);
}

std::string refusal(std::string_view text) {
  auto parsed = parse_listen_address(text);
  if (auto* wrong = std::get_if<std::string>(&parsed)) return *wrong;
  ADD_FAILURE() << text << " was accepted";
  return {};
}

TEST(listen_address, takes_ip_literals_and_localhost) {
  EXPECT_EQ(must_parse("127.0.0.1:9464"), (listen_address{.host = "127.0.0.1", .port = 9464}));
  EXPECT_EQ(must_parse("0.0.0.0:1"), (listen_address{.host = "0.0.0.0", .port = 1}));
  EXPECT_EQ(must_parse("[::1]:65535"), (listen_address{.host = "::1", .port = 65535}));
  EXPECT_EQ(must_parse("[::]:9464"), (listen_address{.host = "::", .port = 9464}));
  EXPECT_EQ(must_parse("localhost:9464"), (listen_address{.host = "127.0.0.1", .port = 9464}));
  EXPECT_EQ(to_string(must_parse("[::1]:9464")), "[::1]:9464");
  EXPECT_EQ(to_string(must_parse("10.1.2.3:80")), "10.1.2.3:80");
}

TEST(listen_address, refusals_say_what_is_wrong_and_show_the_value) {
  EXPECT_THAT(refusal("127.0.0.1"), HasSubstr("the port is missing"));
  EXPECT_THAT(refusal("9464"), HasSubstr("the port is missing"));
  EXPECT_THAT(refusal(":9464"), HasSubstr("the host is missing: write \"0.0.0.0:PORT\""));
  EXPECT_THAT(refusal("127.0.0.1:0"), HasSubstr("from 1 to 65535; got \"127.0.0.1:0\""));
  EXPECT_THAT(refusal("127.0.0.1:65536"), HasSubstr("from 1 to 65535"));
  EXPECT_THAT(refusal("127.0.0.1:http"), HasSubstr("from 1 to 65535"));
  EXPECT_THAT(refusal("127.0.0.1:-1"), HasSubstr("from 1 to 65535"));
  EXPECT_THAT(refusal("::1:9464"), HasSubstr("an IPv6 address goes in brackets"));
  EXPECT_THAT(refusal("metrics.internal:9464"), HasSubstr("\"metrics.internal\" is not an IP address"));
  EXPECT_THAT(refusal("[127.0.0.1]:9464"), HasSubstr("expected HOST:PORT"));
  EXPECT_THAT(refusal("[::1]9464"), HasSubstr("expected HOST:PORT"));
  EXPECT_THAT(refusal("http://127.0.0.1:9464"), HasSubstr("without a scheme or a path"));
  EXPECT_THAT(refusal("127.0.0.1:9464/metrics"), HasSubstr("without a scheme or a path"));
}

TEST(metrics_config, listen_is_off_by_default_and_read_when_set) {
  auto loaded = load_config_text("", "test.yaml");
  ASSERT_TRUE(loaded.value);
  EXPECT_FALSE(loaded.value->metrics.listen);
  loaded = load_config_text("metrics:\n  listen: 127.0.0.1:9464\n", "test.yaml");
  ASSERT_THAT(loaded.problems, IsEmpty());
  EXPECT_EQ(loaded.value->metrics.listen, (listen_address{.host = "127.0.0.1", .port = 9464}));
  loaded = load_config_text("metrics:\n  listen: \"[::1]:9464\"\n", "test.yaml");
  ASSERT_THAT(loaded.problems, IsEmpty());
  EXPECT_EQ(loaded.value->metrics.listen->host, "::1");
  loaded = load_config_text("metrics: {}\n", "test.yaml");
  ASSERT_THAT(loaded.problems, IsEmpty());
  EXPECT_FALSE(loaded.value->metrics.listen);
}

TEST(metrics_config, problems_name_the_key_and_line) {
  auto loaded = load_config_text("logging:\n  level: info\nmetrics:\n  listen: 9464\n", "test.yaml");
  ASSERT_THAT(loaded.problems, SizeIs(1));
  EXPECT_EQ(loaded.problems[0].key, "metrics.listen");
  EXPECT_EQ(loaded.problems[0].line, 4);
  EXPECT_THAT(loaded.problems[0].message, HasSubstr("expected HOST:PORT"));
  EXPECT_EQ(format_problem("test.yaml", loaded.problems[0]).rfind("test.yaml:4: metrics.listen: expected HOST:PORT", 0),
            0u);

  loaded = load_config_text("metrics:\n  port: 9464\n", "test.yaml");
  ASSERT_THAT(loaded.problems, SizeIs(1));
  EXPECT_EQ(loaded.problems[0].key, "metrics.port");
  EXPECT_THAT(loaded.problems[0].message, HasSubstr("allowed keys in metrics: listen"));

  loaded = load_config_text("metrics:\n  listen: [127.0.0.1, 9464]\n", "test.yaml");
  ASSERT_THAT(loaded.problems, SizeIs(1));
  EXPECT_EQ(loaded.problems[0].key, "metrics.listen");

  loaded = load_config_text("metrics:\n  listen: \"\"\n", "test.yaml");
  ASSERT_THAT(loaded.problems, SizeIs(1));
  EXPECT_THAT(loaded.problems[0].message, HasSubstr("must not be empty"));
}

}  // namespace
}  // namespace hookless
