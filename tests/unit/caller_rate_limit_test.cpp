// Unit tests for issue 7's per-user limits: the control.max_pending_per_user and
// control.requests_per_second_per_user keys, the per-uid token bucket, and the 429 busy answer.
#include "config/config_loader.hpp"
#include "core/extend/extend_answer.hpp"
#include "daemon/control/caller_rate_limit.hpp"
#include "daemon/control/control_json.hpp"
#include "daemon/control/control_routes.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace hookless {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST(per_user_limits_config, defaults_are_generous) {
  const auto result = load_config_text("", "test.yaml");
  ASSERT_TRUE(result.value);
  EXPECT_EQ(result.value->control.max_pending_per_user, 1'000'000u);
  EXPECT_DOUBLE_EQ(result.value->control.requests_per_second_per_user, 1000.0);
}

TEST(per_user_limits_config, reads_both_keys) {
  const auto result = load_config_text("control:\n  max_pending_per_user: 5\n  requests_per_second_per_user: 2.5\n", "t");
  ASSERT_TRUE(result.value) << (result.problems.empty() ? "" : result.problems[0].message);
  EXPECT_EQ(result.value->control.max_pending_per_user, 5u);
  EXPECT_DOUBLE_EQ(result.value->control.requests_per_second_per_user, 2.5);
}

void expect_one_problem(std::string_view yaml, std::string_view key, int line, std::string_view fragment) {
  SCOPED_TRACE(std::string{yaml});
  const auto result = load_config_text(yaml, "t");
  EXPECT_FALSE(result.value);
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0].key, key);
  EXPECT_EQ(result.problems[0].line, line);
  EXPECT_THAT(result.problems[0].message, HasSubstr(std::string{fragment}));
}

TEST(per_user_limits_config, refuses_bad_values_with_key_and_line) {
  expect_one_problem("control:\n  max_pending_per_user: 0\n", "control.max_pending_per_user", 2, "between 1 and");
  expect_one_problem("control:\n  max_pending_per_user: -3\n", "control.max_pending_per_user", 2, "between 1 and");
  expect_one_problem("control:\n  max_pending_per_user: 2.5\n", "control.max_pending_per_user", 2, "whole number");
  expect_one_problem("control:\n  max_pending_per_user: 999999999999\n", "control.max_pending_per_user", 2, "between 1 and");
  expect_one_problem("control:\n\n  requests_per_second_per_user: 0\n", "control.requests_per_second_per_user", 3,
                     "greater than 0");
  expect_one_problem("control:\n  requests_per_second_per_user: fast\n", "control.requests_per_second_per_user", 2,
                     "expected a number");
  expect_one_problem("control:\n  requests_per_second_per_user: [1]\n", "control.requests_per_second_per_user", 2,
                     "expected a number");
}

// Found by fuzz_sink_target: URLs Boost.URL 1.81 splits into a plausible host and a path without
// '/' passed the config check, and the http sink then refused them.
TEST(sink_url_config, a_host_followed_by_junk_is_refused) {
  for (const char* url : {"http://127.0.0.1.evil.example/x", "http://[::1]:9000'", "http://localhost:80x/"}) {
    const auto result = load_config_text("sinks:\n  app:\n    type: http\n    url: \"" + std::string{url} +
                                             "\"\n    signing_secret_file: /dev/null\ndefault_sinks: [app]\n",
                                         "t");
    EXPECT_FALSE(result.value) << url;
  }
  const auto base = load_config_text("extend:\n  base_url: https://127.0.0.1.evil.example\n", "t");
  EXPECT_FALSE(base.value);
  EXPECT_TRUE(load_config_text("extend:\n  base_url: https://127.0.0.1:8443/\n", "t").value);
}

TEST(caller_rate_limit, allows_a_burst_of_one_second_then_refuses_until_refilled) {
  caller_rate_limit limit{5};
  const auto t0 = caller_rate_limit::clock::time_point{} + 1h;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limit.allow(1000, t0)) << i;
  EXPECT_FALSE(limit.allow(1000, t0));
  EXPECT_FALSE(limit.allow(1000, t0 + 100ms));  // 0.5 of a token
  EXPECT_TRUE(limit.allow(1000, t0 + 200ms));   // one token back after 1/5 s
  EXPECT_FALSE(limit.allow(1000, t0 + 200ms));
}

TEST(caller_rate_limit, each_uid_has_its_own_bucket) {
  caller_rate_limit limit{1};
  const auto t0 = caller_rate_limit::clock::time_point{} + 1h;
  EXPECT_TRUE(limit.allow(1000, t0));
  EXPECT_FALSE(limit.allow(1000, t0));
  EXPECT_TRUE(limit.allow(1001, t0));  // a busy neighbour does not cost another user anything
}

TEST(caller_rate_limit, a_rate_below_one_still_allows_one_request) {
  caller_rate_limit limit{0.5};
  const auto t0 = caller_rate_limit::clock::time_point{} + 1h;
  EXPECT_TRUE(limit.allow(7, t0));
  EXPECT_FALSE(limit.allow(7, t0 + 1s));
  EXPECT_TRUE(limit.allow(7, t0 + 2s));
}

TEST(caller_rate_limit, forgets_idle_uids_but_keeps_busy_ones) {
  caller_rate_limit limit{1};
  const auto t0 = caller_rate_limit::clock::time_point{} + 1h;
  EXPECT_TRUE(limit.allow(0xffff'0000u, t0));
  for (std::uint32_t uid = 0; uid < 5000; ++uid) EXPECT_TRUE(limit.allow(uid, t0 + 10s));
  // uid 4999 spent its only token at t0+10s and must still be refused: pruning must not reset it.
  EXPECT_FALSE(limit.allow(4999, t0 + 10s));
}

TEST(over_limit_response, is_429_busy) {
  const auto answer = over_limit_response("uid 5 is over a limit");
  EXPECT_EQ(answer.status, 429u);
  const auto body = boost::json::parse(answer.body);
  EXPECT_EQ(body.at("error").at("code").as_string(), "busy");
  EXPECT_EQ(body.at("error").at("message").as_string(), "uid 5 is over a limit");
}

// Error messages echo what a client sent; invalid UTF-8 in them must not make the answer invalid JSON.
TEST(error_body, replaces_invalid_utf8_so_the_answer_stays_json) {
  const auto body = error_body("not_found", "no run exr_\xff\xfe, no path /\xc3\x28, fine: \xc3\xa9 \xf0\x9f\x98\x80, cut \xe2\x82");
  boost::system::error_code ec;
  const auto parsed = boost::json::parse(body, ec);
  ASSERT_FALSE(ec) << body;
  EXPECT_EQ(parsed.at("error").at("message").as_string(),
            "no run exr_\xef\xbf\xbd\xef\xbf\xbd, no path /\xef\xbf\xbd(, fine: \xc3\xa9 \xf0\x9f\x98\x80, cut "
            "\xef\xbf\xbd\xef\xbf\xbd");
  // Surrogates and overlong forms are invalid too.
  boost::system::error_code second_ec;
  (void)boost::json::parse(error_body("x", "\xed\xa0\x80 \xc0\xaf"), second_ec);
  EXPECT_FALSE(second_ec);
}

// Found by fuzz_extend_answer: a wrapped answer naming its run member twice was judged by the last
// value (the parser's) but passed on with the first (the scanner's).
TEST(extend_answer, a_repeated_wrapper_key_is_malformed_not_a_run) {
  const auto info = describe_kind("processor_run", api_generation::legacy);
  ASSERT_TRUE(info);
  const auto now = std::chrono::system_clock::now();
  const auto answer = interpret_answer(
      200, R"({"success":true,"processorRun":true,"processorRun":{"id":"dpr_1","status":"PROCESSED"}})", std::nullopt, *info,
      "dpr_1", now);
  EXPECT_EQ(answer.kind, answer_kind::malformed) << answer.payload;
  const auto fine = interpret_answer(200, R"({"success":true,"processorRun":{"id":"dpr_1","status":"PROCESSED"}})",
                                     std::nullopt, *info, "dpr_1", now);
  EXPECT_EQ(fine.kind, answer_kind::run);
  EXPECT_EQ(fine.payload, R"({"id":"dpr_1","status":"PROCESSED"})");
}

// A far Retry-After date once overflowed std::chrono (UB found with UBSan); it is capped at an hour.
TEST(retry_after, far_and_ancient_dates_are_clamped_without_overflow) {
  const auto now = std::chrono::system_clock::from_time_t(1'790'000'000);  // 2026
  EXPECT_EQ(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), std::chrono::milliseconds{3'600'000});
  EXPECT_EQ(parse_retry_after("Mon, 01 Jan 1900 00:00:00 GMT", now), std::chrono::milliseconds{0});
  EXPECT_EQ(parse_retry_after("Mon, 21 Sep 2026 14:13:40 GMT", now), std::chrono::milliseconds{20'000});
}

}  // namespace
}  // namespace hookless
