// Parsing http sink targets: the forms interface.md §2 allows, and the ones it refuses.
#include "core/formats/sink_target.hpp"

#include <gtest/gtest.h>

namespace hookless {
namespace {

sink_target parsed(std::string_view url, bool allow_remote = false) {
  auto result = parse_sink_target(url, allow_remote);
  if (auto* wrong = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << url << ": " << *wrong;
    return {};
  }
  return std::get<sink_target>(result);
}

std::string refusal(std::string_view url, bool allow_remote = false) {
  auto result = parse_sink_target(url, allow_remote);
  if (auto* wrong = std::get_if<std::string>(&result)) return *wrong;
  return "<accepted>";
}

TEST(sink_target, loopback_http_with_port_path_and_query) {
  const auto t = parsed("http://127.0.0.1:8080/webhooks/extend?x=1");
  EXPECT_EQ(t.scheme, target_scheme::http);
  EXPECT_EQ(t.host, "127.0.0.1");
  EXPECT_EQ(t.port, "8080");
  EXPECT_EQ(t.target, "/webhooks/extend?x=1");
  EXPECT_EQ(t.host_header, "127.0.0.1:8080");
  EXPECT_EQ(describe(t), "http://127.0.0.1:8080/webhooks/extend?x=1");
}

TEST(sink_target, default_port_and_root_path) {
  const auto t = parsed("http://localhost");
  EXPECT_EQ(t.port, "80");
  EXPECT_EQ(t.target, "/");
  EXPECT_EQ(t.host_header, "localhost");
  EXPECT_EQ(parsed("http://LOCALHOST:9/x").host, "LOCALHOST");
  EXPECT_EQ(parsed("http://127.9.8.7:1/").host, "127.9.8.7");
}

TEST(sink_target, a_port_with_leading_zeros_is_its_value) {
  // As the config loader reads it (found by tests/fuzz/fuzz_sink_target: the two disagreed).
  EXPECT_EQ(parsed("http://[::1]:00000038028/x").port, "38028");
  EXPECT_NE(refusal("http://127.0.0.1:000000/x"), "<accepted>");
  EXPECT_NE(refusal("http://127.0.0.1:0065536/x"), "<accepted>");
}

TEST(sink_target, ipv6_loopback_without_brackets_in_host) {
  const auto t = parsed("http://[::1]:9000/hook");
  EXPECT_EQ(t.host, "::1");
  EXPECT_EQ(t.port, "9000");
  EXPECT_EQ(t.host_header, "[::1]:9000");
}

TEST(sink_target, unix_socket_with_url_path) {
  const auto t = parsed("unix:/run/app/app.sock:/webhooks/extend");
  EXPECT_EQ(t.scheme, target_scheme::unix_socket);
  EXPECT_EQ(t.socket_path, "/run/app/app.sock");
  EXPECT_EQ(t.target, "/webhooks/extend");
  EXPECT_EQ(t.host_header, "localhost");
  EXPECT_EQ(describe(t), "unix:/run/app/app.sock:/webhooks/extend");
}

TEST(sink_target, unix_forms_that_are_wrong) {
  EXPECT_NE(refusal("unix:relative.sock:/x"), "<accepted>");
  EXPECT_NE(refusal("unix:/no/path/part"), "<accepted>");
  EXPECT_NE(refusal("unix:/" + std::string(200, 'a') + ".sock:/x"), "<accepted>");
}

TEST(sink_target, remote_and_https_need_allow_remote) {
  EXPECT_NE(refusal("http://10.0.0.1/x"), "<accepted>");
  EXPECT_NE(refusal("http://example.com/x"), "<accepted>");
  EXPECT_NE(refusal("https://127.0.0.1/x"), "<accepted>");
  EXPECT_NE(refusal("http://127.0.0.1.example.com/x"), "<accepted>");
  const auto t = parsed("https://hooks.example.com/extend", true);
  EXPECT_EQ(t.scheme, target_scheme::https);
  EXPECT_EQ(t.host, "hooks.example.com");
  EXPECT_EQ(t.port, "443");
  EXPECT_EQ(t.target, "/extend");
  EXPECT_EQ(parsed("http://10.0.0.1:81/x", true).host, "10.0.0.1");
}

TEST(sink_target, other_schemes_and_malformed_urls_are_refused) {
  EXPECT_NE(refusal("ftp://127.0.0.1/x", true), "<accepted>");
  EXPECT_NE(refusal("127.0.0.1:8080/x", true), "<accepted>");
  EXPECT_NE(refusal("http://user:pw@127.0.0.1/x", true), "<accepted>");
  EXPECT_NE(refusal("http://127.0.0.1/x#frag", true), "<accepted>");
  EXPECT_NE(refusal("http://127.0.0.1:99999/x", true), "<accepted>");
  EXPECT_NE(refusal("http://127.0.0.1:0/x", true), "<accepted>");
  EXPECT_NE(refusal("", true), "<accepted>");
}

}  // namespace
}  // namespace hookless
