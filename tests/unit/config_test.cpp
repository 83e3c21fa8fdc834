// Tests of the config loader: defaults, every key read into its field, and every validation rule
// reported with its key path and line (interface.md §2).
#include "config/config_loader.hpp"
#include "tests/support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>

namespace hookless {

// So that gtest prints a problem readably when an expectation fails.
void PrintTo(const config_problem& p, std::ostream* os) {
  *os << "{key=\"" << p.key << "\", line=" << p.line << ", message=\"" << p.message << "\"}";
}

namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

config_result load(std::string_view yaml) { return load_config_text(yaml, "test.yaml"); }

MATCHER_P3(problem_at, key, line, fragment, "") {
  return arg.key == key && arg.line == line && arg.message.find(fragment) != std::string::npos;
}

// Asserts that `yaml` is invalid with exactly one problem, at `key` on `line`, mentioning `fragment`.
void expect_problem(std::string_view yaml, std::string_view key, int line, std::string_view fragment) {
  SCOPED_TRACE(std::string{yaml});
  const auto result = load(yaml);
  EXPECT_FALSE(result.value.has_value());
  EXPECT_THAT(result.problems, ElementsAre(problem_at(std::string{key}, line, std::string{fragment})));
}

config expect_valid(std::string_view yaml) {
  SCOPED_TRACE(std::string{yaml});
  auto result = load(yaml);
  EXPECT_THAT(result.problems, IsEmpty());
  EXPECT_TRUE(result.value.has_value());
  return result.value.value_or(config{});
}

constexpr milliseconds days(long long n) { return milliseconds{n * 24 * 3600 * 1000}; }

void expect_defaults(const config& c) {
  EXPECT_EQ(c.extend.base_url.url, "https://api.extend.ai");
  EXPECT_EQ(c.extend.api_version, "2026-02-09");
  EXPECT_FALSE(c.extend.api_key_file);
  EXPECT_FALSE(c.extend.workspace_id);
  EXPECT_FALSE(c.extend.ca_file);
  EXPECT_FALSE(c.extend.proxy);
  EXPECT_EQ(c.extend.requests_per_second, 10);
  EXPECT_EQ(c.extend.max_connections, 4);
  EXPECT_EQ(c.extend.timeout, milliseconds{30'000});
  EXPECT_EQ(c.polling.fast_interval, milliseconds{1'000});
  EXPECT_EQ(c.polling.fast_period, milliseconds{30'000});
  EXPECT_EQ(c.polling.backoff, 1.15);
  EXPECT_EQ(c.polling.max_interval, milliseconds{30'000});
  EXPECT_EQ(c.polling.jitter, 0.25);
  EXPECT_EQ(c.polling.deadline, days(7));
  EXPECT_TRUE(c.polling.follow_review);
  EXPECT_TRUE(c.polling.list_endpoints);
  EXPECT_EQ(c.control.socket, "/run/hookless/hookless.sock");
  EXPECT_EQ(c.control.socket_mode, 0660u);
  EXPECT_FALSE(c.control.socket_group);
  EXPECT_THAT(c.control.admin_uids, ElementsAre(0u));
  EXPECT_EQ(c.state.path, "/var/lib/hookless/state.db");
  EXPECT_EQ(c.state.retention, days(7));
  ASSERT_EQ(c.sinks.size(), 1u);
  const auto& out = c.sinks.at("out");
  EXPECT_EQ(out.name, "out");
  EXPECT_EQ(out.type, sink_type::stdout_lines);
  EXPECT_THAT(out.events, ElementsAre("*"));
  EXPECT_THAT(c.default_sinks, ElementsAre("out"));
  EXPECT_EQ(c.logging.level, "info");
  EXPECT_EQ(c.logging.format, log_format::text);
}

TEST(config_loader, empty_text_is_all_defaults) { expect_defaults(expect_valid("")); }

TEST(config_loader, comments_only_is_all_defaults) {
  expect_defaults(expect_valid("# hookless\n\n   # nothing set yet\n"));
}

TEST(config_loader, sections_with_everything_commented_out_are_defaults) {
  expect_defaults(expect_valid("extend:\n  # timeout: 5s\npolling:\ncontrol:\nstate:\nlogging:\n"));
}

TEST(config_loader, reads_every_key_into_its_field) {
  const auto c = expect_valid(R"(
extend:
  base_url: https://api.eu1.extend.ai:8443/prefix/
  api_version: "2025-04-21"
  api_key_file: /etc/hookless/key
  workspace_id: ws_123
  ca_file: /etc/hookless/ca.pem
  proxy: http://proxy.internal:3128
  requests_per_second: 2.5
  max_connections: 16
  timeout: 250ms
polling:
  fast_interval: 2s
  fast_period: 1m
  backoff: 1.5
  max_interval: 5m
  jitter: 0
  deadline: 24h
  follow_review: false
  list_endpoints: false
control:
  socket: /tmp/h.sock
  socket_mode: "0600"
  socket_group: apps
  admin_uids: [0, 1000]
state:
  path: /tmp/state.db
  retention: 30d
sinks:
  out:
    type: stdout
    events: ["extract_run.*"]
  archive:
    type: file
    path: /var/log/events.jsonl
  app:
    type: http
    url: https://hooks.example.com/extend
    signing_secret_file: /etc/hookless/secret
    standard_webhooks: true
    allow_remote: true
    timeout: 10s
    max_age: 2h
    events: ["workflow_run.*", "*.failed"]
default_sinks: [app, archive]
logging:
  level: debug
  format: json
)");
  EXPECT_EQ(c.extend.base_url, (https_origin{.url = "https://api.eu1.extend.ai:8443/prefix",
                                             .host = "api.eu1.extend.ai",
                                             .port = "8443",
                                             .base_path = "/prefix"}));
  EXPECT_EQ(c.extend.api_version, "2025-04-21");
  EXPECT_EQ(c.extend.api_key_file, "/etc/hookless/key");
  EXPECT_EQ(c.extend.workspace_id, "ws_123");
  EXPECT_EQ(c.extend.ca_file, "/etc/hookless/ca.pem");
  EXPECT_EQ(c.extend.proxy, (proxy_endpoint{"proxy.internal", "3128", std::nullopt}));
  EXPECT_EQ(c.extend.requests_per_second, 2.5);
  EXPECT_EQ(c.extend.max_connections, 16);
  EXPECT_EQ(c.extend.timeout, milliseconds{250});
  EXPECT_EQ(c.polling.fast_interval, milliseconds{2'000});
  EXPECT_EQ(c.polling.fast_period, milliseconds{60'000});
  EXPECT_EQ(c.polling.backoff, 1.5);
  EXPECT_EQ(c.polling.max_interval, milliseconds{300'000});
  EXPECT_EQ(c.polling.jitter, 0.0);
  EXPECT_EQ(c.polling.deadline, milliseconds{24LL * 3600 * 1000});
  EXPECT_FALSE(c.polling.follow_review);
  EXPECT_FALSE(c.polling.list_endpoints);
  EXPECT_EQ(c.control.socket, "/tmp/h.sock");
  EXPECT_EQ(c.control.socket_mode, 0600u);
  EXPECT_EQ(c.control.socket_group, "apps");
  EXPECT_THAT(c.control.admin_uids, ElementsAre(0u, 1000u));
  EXPECT_EQ(c.state.path, "/tmp/state.db");
  EXPECT_EQ(c.state.retention, days(30));
  ASSERT_EQ(c.sinks.size(), 3u);
  EXPECT_EQ(c.sinks.at("out").type, sink_type::stdout_lines);
  EXPECT_THAT(c.sinks.at("out").events, ElementsAre("extract_run.*"));
  const auto& archive = c.sinks.at("archive");
  EXPECT_EQ(archive.name, "archive");
  EXPECT_EQ(archive.type, sink_type::file);
  EXPECT_EQ(archive.path, "/var/log/events.jsonl");
  EXPECT_THAT(archive.events, ElementsAre("*"));
  const auto& app = c.sinks.at("app");
  EXPECT_EQ(app.type, sink_type::http);
  EXPECT_EQ(describe(app.target), "https://hooks.example.com/extend");
  EXPECT_EQ(app.signing_secret_file, "/etc/hookless/secret");
  EXPECT_TRUE(app.standard_webhooks);
  EXPECT_TRUE(app.allow_remote);
  EXPECT_EQ(app.timeout, milliseconds{10'000});
  EXPECT_EQ(app.max_age, milliseconds{2LL * 3600 * 1000});
  EXPECT_THAT(app.events, ElementsAre("workflow_run.*", "*.failed"));
  EXPECT_THAT(c.default_sinks, ElementsAre("app", "archive"));
  EXPECT_EQ(c.logging.level, "debug");
  EXPECT_EQ(c.logging.format, log_format::json);
}

TEST(config_loader, example_file_is_valid) {
  const auto result = load_config_file(std::string{HOOKLESS_SOURCE_DIR} + "/config/hookless.example.yaml");
  ASSERT_THAT(result.problems, IsEmpty());
  ASSERT_TRUE(result.value);
  const auto& c = *result.value;
  ASSERT_EQ(c.sinks.size(), 3u);
  EXPECT_EQ(c.sinks.at("out").type, sink_type::stdout_lines);
  EXPECT_EQ(c.sinks.at("archive").type, sink_type::file);
  EXPECT_EQ(c.sinks.at("app").type, sink_type::http);
  EXPECT_EQ(c.sinks.at("app").signing_secret_file, "/etc/hookless/app-signing-secret");
  EXPECT_THAT(c.default_sinks, ElementsAre("out"));
  // The example documents the defaults, so apart from what it must set it reads as defaults.
  EXPECT_EQ(c.extend.base_url, config{}.extend.base_url);
  EXPECT_EQ(c.polling.deadline, config{}.polling.deadline);
  EXPECT_EQ(c.control.socket_mode, 0660u);
  EXPECT_EQ(c.state.retention, config{}.state.retention);
  EXPECT_THAT(c.subscriptions, IsEmpty());
}

// The example's commented-out subscription is valid once uncommented.
TEST(config_loader, example_files_subscription_is_valid) {
  std::ifstream file{std::string{HOOKLESS_SOURCE_DIR} + "/config/hookless.example.yaml"};
  std::string text;
  bool in_block = false;
  for (std::string line; std::getline(file, line);) {
    if (line == "# subscriptions:") in_block = true;
    if (in_block && line.starts_with("# ")) {
      line.erase(0, 2);
    } else {
      in_block = false;
    }
    text += line + "\n";
  }
  const auto c = expect_valid(text);
  ASSERT_EQ(c.subscriptions.size(), 1u);
  EXPECT_THAT(c.subscriptions.at("invoices").kinds, ElementsAre("extract_run", "workflow_run"));
  EXPECT_THAT(c.subscriptions.at("invoices").sinks, ElementsAre("app"));
}

// --- keys and types ---

TEST(config_loader, unknown_top_level_key_names_the_allowed_keys) {
  expect_problem("extend: {}\nsink:\n  out: {type: stdout}\n", "sink", 2,
                 "unknown key; did you mean `sinks`? allowed top-level keys: extend, polling");
}

TEST(config_loader, unknown_nested_key_gives_full_path_line_and_a_guess) {
  expect_problem("extend:\n  timeout: 5s\n  base_uri: https://x.example\n", "extend.base_uri", 3,
                 "did you mean `base_url`? allowed keys in extend: base_url, api_version");
  expect_problem("polling:\n  intervall: 1s\n", "polling.intervall", 2, "fast_interval");
  expect_problem("control:\n  mode: \"0660\"\n", "control.mode", 2, "socket_mode");
  expect_problem("state:\n  file: /x\n", "state.file", 2, "retention");
  // Nothing close: no guess, only the list.
  expect_problem("logging:\n  colour: true\n", "logging.colour", 2,
                 "unknown key; allowed keys in logging: level, format");
  // Close to a known key: a guess before the list.
  expect_problem("extend:\n  request_per_second: 5\n", "extend.request_per_second", 2,
                 "unknown key; did you mean `requests_per_second`? allowed keys in extend: base_url, api_version");
  expect_problem("polling:\n  fast-interval: 1s\n", "polling.fast-interval", 2, "did you mean `fast_interval`?");
  expect_problem("Logging:\n  level: info\n", "Logging", 1, "did you mean `logging`?");
  expect_problem("sinks:\n  out:\n    type: stdout\n    evnets: [\"*\"]\n", "sinks.out.evnets", 4,
                 "unknown key; did you mean `events`? allowed keys for a stdout sink: type, events");
  expect_problem(
      "sinks:\n  app:\n    type: http\n    url: http://127.0.0.1:1/\n    signing_secret_file: /s\n"
      "    timout: 5s\ndefault_sinks: [app]\n",
      "sinks.app.timout", 6, "did you mean `timeout`?");
}

TEST(config_loader, misspelt_choice_gets_a_suggestion) {
  expect_problem("logging:\n  level: debgu\n", "logging.level", 2,
                 "did you mean `debug`? expected one of trace, debug, info, warn, error; got \"debgu\"");
  expect_problem("logging:\n  format: jsno\n", "logging.format", 2, "did you mean `json`?");
}

TEST(config_loader, duplicate_key_is_a_problem) {
  expect_problem("logging:\n  level: info\n  level: debug\n", "logging.level", 3, "duplicate key (first at line 2)");
}

TEST(config_loader, section_that_is_not_a_map) {
  expect_problem("extend: 5\n", "extend", 1, "expected a map");
  expect_problem("polling: [1s]\n", "polling", 1, "got a list");
}

TEST(config_loader, whole_file_that_is_not_a_map) { expect_problem("- extend\n- polling\n", "", 1, "expected a map"); }

TEST(config_loader, list_where_a_scalar_is_expected) {
  expect_problem("extend:\n  timeout: [30s]\n", "extend.timeout", 2,
                 "expected a duration like 250ms, 30s, 1m30s, 1.5h or 7d (units d, h, m, s, ms); got a list");
  expect_problem("state:\n  path: {a: b}\n", "state.path", 2, "expected a string; got a map");
}

TEST(config_loader, key_without_a_value) {
  expect_problem("extend:\n  workspace_id:\n", "extend.workspace_id", 2, "got nothing");
}

TEST(config_loader, empty_string_value) {
  expect_problem("extend:\n  ca_file: \"\"\n", "extend.ca_file", 2, "must not be empty");
}

TEST(config_loader, text_where_a_number_is_expected) {
  expect_problem("extend:\n  requests_per_second: abc\n", "extend.requests_per_second", 2,
                 "expected a number; got \"abc\"");
  expect_problem("extend:\n  max_connections: four\n", "extend.max_connections", 2, "expected a whole number");
  expect_problem("polling:\n  jitter: .inf\n", "polling.jitter", 2, "expected a number");
}

TEST(config_loader, booleans_are_true_or_false_only) {
  EXPECT_FALSE(expect_valid("polling:\n  follow_review: False\n").polling.follow_review);
  expect_problem("polling:\n  follow_review: yes\n", "polling.follow_review", 2, "expected true or false; got \"yes\"");
  expect_problem("polling:\n  fast_interval: 1s\n  list_endpoints: 1\n", "polling.list_endpoints", 3,
                 "expected true or false; got \"1\"");
}

// --- event patterns ---

TEST(config_loader, event_patterns_that_match_an_event_type_are_accepted) {
  const auto c = expect_valid(
      "sinks:\n  out:\n    type: stdout\n    events: [\"*\", \"run.*\", \"*.failed\", \"workflow_run.needs_review\", "
      "\"extract_run.[pf]*\", \"?lassify_run.processed\", \"batch_*_run.*\"]\n");
  EXPECT_THAT(c.sinks.at("out").events, ElementsAre("*", "run.*", "*.failed", "workflow_run.needs_review",
                                                    "extract_run.[pf]*", "?lassify_run.processed", "batch_*_run.*"));
}

TEST(config_loader, event_pattern_that_matches_nothing_names_line_pattern_and_types) {
  const auto result = load(
      "sinks:\n  out:\n    type: stdout\n    events:\n      - \"*.failed\"\n"
      "      - extract_run.procesed\n      - workflow.*\n");
  EXPECT_FALSE(result.value);
  ASSERT_EQ(result.problems.size(), 2u);
  EXPECT_THAT(result.problems[0], problem_at(std::string{"sinks.out.events[1]"}, 6,
                                             std::string{"the pattern \"extract_run.procesed\" matches no event type; "
                                                         "did you mean `extract_run.processed`?"}));
  EXPECT_THAT(result.problems[1].message, HasSubstr("the pattern \"workflow.*\" matches no event type; patterns are "
                                                    "globs (*, ?, [...]) on eventType, and the event types are: "));
  EXPECT_EQ(result.problems[1].line, 7);
  for (const char* type : {"run.expired", "run.not_found", "extract_run.processed", "workflow_run.completed",
                           "workflow_run.needs_review", "batch_parse_run.failed"}) {
    EXPECT_THAT(result.problems[1].message, HasSubstr(type));
  }
}

TEST(config_loader, event_patterns_on_every_sink_type_are_checked) {
  expect_problem(
      "sinks:\n  archive:\n    type: file\n    path: /x\n    events: [extract_run.done]\n"
      "default_sinks: [archive]\n",
      "sinks.archive.events[0]", 5, "matches no event type");
  expect_problem(
      "sinks:\n  app:\n    type: http\n    url: http://127.0.0.1:1/\n    signing_secret_file: /s\n"
      "    events: [\"exract_run.*\"]\ndefault_sinks: [app]\n",
      "sinks.app.events[0]", 6, "the pattern \"exract_run.*\" matches no event type; patterns are globs");
  expect_problem("sinks:\n  out:\n    type: stdout\n    events: []\n", "sinks.out.events", 4,
                 "must name at least one pattern");
}

// --- durations and numbers ---

TEST(config_loader, bad_duration_has_the_documented_message) {
  const auto result = load("extend:\n  timeout: abc\n");
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(format_problem("hookless.yaml", result.problems[0]),
            "hookless.yaml:2: extend.timeout: expected a duration like 250ms, 30s, 1m30s, 1.5h or 7d (units d, h, m, "
            "s, ms); got \"abc\"");
}

TEST(config_loader, every_duration_key_is_checked) {
  expect_problem("polling:\n  fast_interval: 1\n", "polling.fast_interval", 2, "expected a duration");
  expect_problem("polling:\n  fast_period: 30 s\n", "polling.fast_period", 2, "expected a duration");
  expect_problem("polling:\n  max_interval: 1w\n", "polling.max_interval", 2, "expected a duration");
  expect_problem("polling:\n  deadline: -1d\n", "polling.deadline", 2, "expected a duration");
  expect_problem("state:\n  retention: forever\n", "state.retention", 2, "expected a duration");
  expect_problem(
      "sinks:\n  app:\n    type: http\n    url: http://127.0.0.1:1/\n    signing_secret_file: /s\n    max_age: 3x\n"
      "default_sinks: [app]\n",
      "sinks.app.max_age", 6, "expected a duration");
}

TEST(config_loader, durations_may_be_compound_or_fractional) {
  const auto c = expect_valid(
      "extend:\n  timeout: 1m30s\npolling:\n  fast_interval: 1.5s\n  max_interval: 2m\n  deadline: 1.5h\n"
      "state:\n  retention: 1d12h\n");
  EXPECT_EQ(c.extend.timeout, milliseconds{90'000});
  EXPECT_EQ(c.polling.fast_interval, milliseconds{1'500});
  EXPECT_EQ(c.polling.deadline, milliseconds{90LL * 60 * 1000});
  EXPECT_EQ(c.state.retention, milliseconds{36LL * 3600 * 1000});
  expect_problem("extend:\n  timeout: 30s1m\n", "extend.timeout", 2, "from the largest to the smallest");
  expect_problem("extend:\n  timeout: 0.5ms\n", "extend.timeout", 2, "must be a whole number of milliseconds");
}

TEST(config_loader, durations_must_be_positive) {
  expect_problem("extend:\n  timeout: 0s\n", "extend.timeout", 2, "must be greater than 0; got \"0s\"");
  expect_problem("polling:\n  deadline: 000ms\n", "polling.deadline", 2, "must be greater than 0");
}

TEST(config_loader, durations_have_a_sane_upper_bound) {
  expect_problem("polling:\n  deadline: 100000d\n", "polling.deadline", 2, "must be at most 36500d");
}

TEST(config_loader, requests_per_second_must_be_positive) {
  EXPECT_EQ(expect_valid("extend:\n  requests_per_second: 0.5\n").extend.requests_per_second, 0.5);
  expect_problem("extend:\n  requests_per_second: 0\n", "extend.requests_per_second", 2, "must be greater than 0");
  expect_problem("extend:\n  requests_per_second: -3\n", "extend.requests_per_second", 2, "must be greater than 0");
}

TEST(config_loader, max_connections_is_an_integer_from_1_to_256) {
  EXPECT_EQ(expect_valid("extend:\n  max_connections: 256\n").extend.max_connections, 256);
  EXPECT_EQ(expect_valid("extend:\n  max_connections: 1\n").extend.max_connections, 1);
  expect_problem("extend:\n  max_connections: 0\n", "extend.max_connections", 2, "between 1 and 256");
  expect_problem("extend:\n  max_connections: 257\n", "extend.max_connections", 2, "between 1 and 256");
  expect_problem("extend:\n  max_connections: 4.5\n", "extend.max_connections", 2, "expected a whole number");
  expect_problem("extend:\n  max_connections: 99999999999999999999\n", "extend.max_connections", 2,
                 "expected a whole number");
}

TEST(config_loader, backoff_is_at_least_one) {
  EXPECT_EQ(expect_valid("polling:\n  backoff: 1\n").polling.backoff, 1.0);
  expect_problem("polling:\n  backoff: 0.99\n", "polling.backoff", 2, "at least 1.0");
}

TEST(config_loader, jitter_is_between_zero_and_one) {
  EXPECT_EQ(expect_valid("polling:\n  jitter: 1\n").polling.jitter, 1.0);
  expect_problem("polling:\n  jitter: 1.01\n", "polling.jitter", 2, "between 0 and 1");
  expect_problem("polling:\n  jitter: -0.1\n", "polling.jitter", 2, "between 0 and 1");
}

TEST(config_loader, max_interval_must_not_be_below_fast_interval) {
  EXPECT_EQ(expect_valid("polling:\n  fast_interval: 5s\n  max_interval: 5s\n").polling.max_interval,
            milliseconds{5'000});
  expect_problem("polling:\n  fast_interval: 5s\n  max_interval: 2s\n", "polling.max_interval", 3,
                 "at least polling.fast_interval (5s)");
  // Only fast_interval written: the default cap (30s) is what it exceeds.
  expect_problem("polling:\n  fast_interval: 1m\n", "polling.fast_interval", 2,
                 "must not exceed polling.max_interval (30s)");
}

// --- extend ---

TEST(config_loader, base_url_must_be_https_with_a_host) {
  EXPECT_EQ(expect_valid("extend:\n  base_url: https://api.extend.ai/\n").extend.base_url.url, "https://api.extend.ai");
  EXPECT_EQ(expect_valid("extend:\n  base_url: https://127.0.0.1:4443\n").extend.base_url.url,
            "https://127.0.0.1:4443");
  EXPECT_EQ(expect_valid("extend:\n  base_url: https://[::1]:4443/v1\n").extend.base_url.url, "https://[::1]:4443/v1");
  expect_problem("extend:\n  base_url: http://api.extend.ai\n", "extend.base_url", 2, "expected an https:// URL");
  expect_problem("extend:\n  base_url: api.extend.ai\n", "extend.base_url", 2, "expected an https:// URL");
  expect_problem("extend:\n  base_url: https:///v1\n", "extend.base_url", 2, "has no host");
  expect_problem("extend:\n  base_url: https://h:99999\n", "extend.base_url", 2, "invalid port");
  expect_problem("extend:\n  base_url: https://h/?a=b\n", "extend.base_url", 2, "query");
}

// The loader keeps what it parsed: the daemon dials these parts and never parses the URL again.
TEST(config_loader, base_url_is_kept_parsed) {
  EXPECT_EQ(expect_valid("extend:\n  base_url: https://[::1]:4443/v1//\n").extend.base_url,
            (https_origin{.url = "https://[::1]:4443/v1", .host = "::1", .port = "4443", .base_path = "/v1"}));
  EXPECT_EQ(config{}.extend.base_url,
            (https_origin{.url = "https://api.extend.ai", .host = "api.extend.ai", .port = "443", .base_path = ""}));
}

// Whatever is wrong with a URL, its user:password@ is not shown.
TEST(config_loader, base_url_problems_never_echo_credentials) {
  for (const char* url : {"https://user:s3cret@api.extend.ai", "http://user:s3cret@api.extend.ai"}) {
    const auto result = load(std::string{"extend:\n  base_url: \""} + url + "\"\n");
    ASSERT_EQ(result.problems.size(), 1u) << url;
    EXPECT_THAT(result.problems[0].message, ::testing::Not(HasSubstr("s3cret"))) << url;
    EXPECT_THAT(result.problems[0].message, HasSubstr("***@")) << url;
  }
}

TEST(config_loader, api_version_must_be_a_known_one) {
  EXPECT_EQ(expect_valid("extend:\n  api_version: 2024-12-23\n").extend.api_version, "2024-12-23");
  expect_problem("extend:\n  api_version: \"2023-01-01\"\n", "extend.api_version", 2,
                 "expected one of 2026-02-09, 2025-04-21, 2024-12-23; got \"2023-01-01\"");
}

TEST(config_loader, proxy_is_http_host_and_port) {
  EXPECT_EQ(expect_valid("extend:\n  proxy: http://10.0.0.1:8080/\n").extend.proxy,
            (proxy_endpoint{"10.0.0.1", "8080", std::nullopt}));
  expect_problem("extend:\n  proxy: https://proxy:3128\n", "extend.proxy", 2, "an https:// proxy is not supported");
  expect_problem("extend:\n  proxy: http://proxy\n", "extend.proxy", 2, "needs a port");
  expect_problem("extend:\n  proxy: socks5://proxy:1080\n", "extend.proxy", 2, "expected an http proxy");
  expect_problem("extend:\n  proxy: http://proxy:3128/path\n", "extend.proxy", 2, "no path");
}

TEST(config_loader, proxy_credentials_are_refused_without_echoing_them) {
  const auto result = load("extend:\n  proxy: http://user:s3cret@proxy:3128\n");
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0].key, "extend.proxy");
  EXPECT_THAT(result.problems[0].message, HasSubstr("user:password@"));
  EXPECT_THAT(result.problems[0].message, ::testing::Not(HasSubstr("s3cret")));
}

// Refused for any reason, a proxy URL is shown with its user:password@ redacted.
TEST(config_loader, proxy_problems_never_echo_credentials) {
  for (const char* url : {"socks5://user:s3cret@proxy:1080", "user:s3cret@proxy:3128", "http://user:s3cret@pro xy:3128",
                          "http://user:s3cret@proxy:3128 "}) {
    const auto result = load(std::string{"extend:\n  proxy: \""} + url + "\"\n");
    ASSERT_EQ(result.problems.size(), 1u) << url;
    EXPECT_EQ(result.problems[0].key, "extend.proxy");
    EXPECT_THAT(result.problems[0].message, ::testing::Not(HasSubstr("s3cret"))) << url;
    EXPECT_THAT(result.problems[0].message, HasSubstr("***@")) << url;
  }
}

// --- control ---

TEST(config_loader, socket_mode_reads_octal_digits_quoted_or_not) {
  EXPECT_EQ(expect_valid("control:\n  socket_mode: \"0660\"\n").control.socket_mode, 0660u);
  EXPECT_EQ(expect_valid("control:\n  socket_mode: 660\n").control.socket_mode, 0660u);
  EXPECT_EQ(expect_valid("control:\n  socket_mode: 0600\n").control.socket_mode, 0600u);
  EXPECT_EQ(expect_valid("control:\n  socket_mode: \"0777\"\n").control.socket_mode, 0777u);
  expect_problem("control:\n  socket_mode: \"0668\"\n", "control.socket_mode", 2,
                 "expected an octal mode like \"0660\"");
  expect_problem("control:\n  socket_mode: rw-rw----\n", "control.socket_mode", 2, "expected an octal mode");
  expect_problem("control:\n  socket_mode: \"1000\"\n", "control.socket_mode", 2, "must be at most 0777");
  expect_problem("control:\n  socket_mode: [6, 6, 0]\n", "control.socket_mode", 2, "got a list");
}

TEST(config_loader, admin_uids_is_a_list_of_non_negative_integers) {
  EXPECT_THAT(expect_valid("control:\n  admin_uids: []\n").control.admin_uids, IsEmpty());
  EXPECT_THAT(expect_valid("control:\n  admin_uids:\n    - 0\n    - 4294967294\n").control.admin_uids,
              ElementsAre(0u, 4294967294u));
  expect_problem("control:\n  admin_uids:\n    - 0\n    - -5\n", "control.admin_uids[1]", 4, "expected a uid");
  expect_problem("control:\n  admin_uids: [0, root]\n", "control.admin_uids[1]", 2, "expected a whole number");
  expect_problem("control:\n  admin_uids: [4294967295]\n", "control.admin_uids[0]", 2, "expected a uid");
  expect_problem("control:\n  admin_uids: 0\n", "control.admin_uids", 2, "expected a list");
}

TEST(config_loader, socket_path_must_fit_a_unix_socket) {
  const std::string long_path = "/" + std::string(107, 's');
  expect_problem("control:\n  socket: " + long_path + "\n", "control.socket", 2, "longer than 107 bytes");
  EXPECT_EQ(expect_valid("control:\n  socket: " + long_path.substr(1) + "\n").control.socket.size(), 107u);
}

// --- logging ---

TEST(config_loader, logging_level_and_format_are_from_fixed_sets) {
  EXPECT_EQ(expect_valid("logging:\n  level: trace\n").logging.level, "trace");
  expect_problem("logging:\n  level: verbose\n", "logging.level", 2,
                 "expected one of trace, debug, info, warn, error; got \"verbose\"");
  expect_problem("logging:\n  format: xml\n", "logging.format", 2, "expected one of text, json");
}

// --- sinks ---

TEST(config_loader, sink_names_are_restricted) {
  EXPECT_EQ(
      expect_valid("sinks:\n  My_sink-2:\n    type: stdout\ndefault_sinks: [My_sink-2]\n").sinks.count("My_sink-2"),
      1u);
  expect_problem("sinks:\n  out:\n    type: stdout\n  bad.name:\n    type: stdout\n", "sinks.bad.name", 4, "1 to 64");
  const std::string long_name(65, 'a');
  expect_problem("sinks:\n  out: {type: stdout}\n  " + long_name + ": {type: stdout}\n", "sinks." + long_name, 3,
                 "1 to 64");
}

TEST(config_loader, sink_type_is_required_and_known) {
  expect_problem("sinks:\n  out:\n    events: [\"*\"]\n", "sinks.out.type", 2, "missing");
  expect_problem("sinks:\n  out:\n", "sinks.out.type", 2, "missing");
  expect_problem("sinks:\n  out:\n    type: kafka\n", "sinks.out.type", 3,
                 "expected one of stdout, file, http, exec, redis; got \"kafka\"");
  expect_problem("sinks:\n  out: stdout\n", "sinks.out", 2, "expected a sink");
}

TEST(config_loader, file_sink_needs_a_path) {
  expect_problem("sinks:\n  out: {type: stdout}\n  archive:\n    type: file\n", "sinks.archive.path", 3, "missing");
}

TEST(config_loader, http_sink_needs_url_and_signing_secret_file) {
  const auto result = load("sinks:\n  out: {type: stdout}\n  app:\n    type: http\n");
  EXPECT_FALSE(result.value);
  EXPECT_THAT(result.problems,
              ElementsAre(problem_at(std::string{"sinks.app.url"}, 3, std::string{"missing"}),
                          problem_at(std::string{"sinks.app.signing_secret_file"}, 3, std::string{"missing"})));
}

TEST(config_loader, key_meant_for_another_sink_type_names_key_and_type) {
  expect_problem(
      "sinks:\n  out: {type: stdout}\n  archive:\n    type: file\n    path: /x\n    url: http://127.0.0.1/\n",
      "sinks.archive.url", 6, "`url` does not apply to a file sink (allowed: type, path, events)");
  expect_problem("sinks:\n  out:\n    type: stdout\n    path: /x\n", "sinks.out.path", 4,
                 "does not apply to a stdout sink");
  expect_problem("sinks:\n  out:\n    path: /x\n    type: stdout\n", "sinks.out.path", 3,
                 "does not apply to a stdout sink");
}

TEST(config_loader, unknown_sink_key) {
  expect_problem("sinks:\n  out:\n    type: stdout\n    colour: red\n", "sinks.out.colour", 4,
                 "unknown key; allowed keys for a stdout sink: type, events");
}

constexpr std::string_view http_sink_head =
    "sinks:\n  app:\n    type: http\n    signing_secret_file: /etc/secret\n";  // lines 1-4
constexpr std::string_view app_default = "default_sinks: [app]\n";

std::string http_sink(std::string_view url_line, std::string_view extra = "") {
  return std::string{http_sink_head} + "    url: " + std::string{url_line} + "\n" + std::string{extra} +
         std::string{app_default};
}

TEST(config_loader, http_sink_url_may_be_loopback_or_unix_socket) {
  for (const auto* url : {"http://127.0.0.1:8080/webhooks/extend", "http://127.8.9.10/", "http://localhost:9/x",
                          "http://LocalHost/", "http://[::1]:8080/hook", "unix:/run/app/app.sock:/webhooks/extend"}) {
    EXPECT_EQ(describe(expect_valid(http_sink(url)).sinks.at("app").target), url);
  }
}

TEST(config_loader, remote_http_sink_needs_allow_remote) {
  expect_problem(http_sink("http://10.1.2.3:8080/hook"), "sinks.app.url", 5, "not a loopback address");
  expect_problem(http_sink("http://hooks.example.com/"), "sinks.app.url", 5, "set allow_remote: true");
  expect_problem(http_sink("http://128.0.0.1/"), "sinks.app.url", 5, "not a loopback address");
  expect_problem(http_sink("http://[::2]/"), "sinks.app.url", 5, "not a loopback address");
  EXPECT_TRUE(
      expect_valid(http_sink("http://hooks.example.com/", "    allow_remote: true\n")).sinks.at("app").allow_remote);
}

TEST(config_loader, https_sink_needs_allow_remote) {
  expect_problem(http_sink("https://hooks.example.com/extend"), "sinks.app.url", 5, "needs allow_remote: true");
  // allow_remote before url must count as well as after it.
  const auto c =
      expect_valid(std::string{http_sink_head} + "    allow_remote: true\n    url: https://hooks.example.com/x\n" +
                   std::string{app_default});
  EXPECT_EQ(describe(c.sinks.at("app").target), "https://hooks.example.com/x");
}

TEST(config_loader, an_https_sink_may_name_the_ca_of_its_receiver) {
  const auto c = expect_valid(
      http_sink("https://hooks.internal:8443/x", "    allow_remote: true\n    ca_file: /etc/hookless/app-ca.pem\n"));
  EXPECT_EQ(c.sinks.at("app").ca_file, "/etc/hookless/app-ca.pem");
  EXPECT_FALSE(expect_valid(http_sink("http://127.0.0.1:8080/x")).sinks.at("app").ca_file);
  expect_problem(http_sink("http://127.0.0.1:8080/x", "    ca_file: /etc/hookless/app-ca.pem\n"), "sinks.app.ca_file",
                 6, "applies only to an https:// url");
  expect_problem(http_sink("unix:/run/app.sock:/x", "    ca_file: /etc/hookless/app-ca.pem\n"), "sinks.app.ca_file", 6,
                 "applies only to an https:// url");
  expect_problem(http_sink("https://hooks.internal/x", "    allow_remote: true\n    ca_file: \"\"\n"),
                 "sinks.app.ca_file", 7, "must not be empty");
  expect_problem("sinks:\n  out:\n    type: stdout\n    ca_file: /x.pem\n", "sinks.out.ca_file", 4,
                 "does not apply to a stdout sink");
}

TEST(config_loader, malformed_sink_urls) {
  expect_problem(http_sink("ftp://127.0.0.1/"), "sinks.app.url", 5, "expected http://127.0.0.1:PORT/path");
  expect_problem(http_sink("127.0.0.1:8080"), "sinks.app.url", 5, "expected http://127.0.0.1:PORT/path");
  expect_problem(http_sink("unix:run/app.sock:/hook"), "sinks.app.url", 5, "expected unix:/path/to/app.sock:/url-path");
  expect_problem(http_sink("unix:/run/app.sock"), "sinks.app.url", 5, "expected unix:/path/to/app.sock:/url-path");
  expect_problem(http_sink("unix:/" + std::string(120, 'a') + ".sock:/hook"), "sinks.app.url", 5,
                 "longer than 107 bytes");
  expect_problem(http_sink("http://127.0.0.1/#frag"), "sinks.app.url", 5, "fragment");
}

TEST(config_loader, sink_url_problems_never_echo_credentials) {
  for (const char* url : {"http://user:s3cret@127.0.0.1/x", "ftp://user:s3cret@127.0.0.1/x"}) {
    const auto result = load(http_sink(url));
    ASSERT_EQ(result.problems.size(), 1u) << url;
    EXPECT_EQ(result.problems[0].key, "sinks.app.url");
    EXPECT_THAT(result.problems[0].message, ::testing::Not(HasSubstr("s3cret"))) << url;
    EXPECT_THAT(result.problems[0].message, HasSubstr("***@")) << url;
  }
}

TEST(config_loader, events_is_a_non_empty_list_of_patterns) {
  expect_problem("sinks:\n  out:\n    type: stdout\n    events: []\n", "sinks.out.events", 4, "at least one pattern");
  expect_problem("sinks:\n  out:\n    type: stdout\n    events: [\"*\", \"\"]\n", "sinks.out.events[1]", 4,
                 "must not be empty");
  expect_problem("sinks:\n  out:\n    type: stdout\n    events: \"*\"\n", "sinks.out.events", 4, "expected a list");
}

TEST(config_loader, sinks_absent_gives_one_stdout_sink_out) {
  const auto c = expect_valid("logging:\n  level: warn\n");
  ASSERT_EQ(c.sinks.size(), 1u);
  EXPECT_EQ(c.sinks.at("out").type, sink_type::stdout_lines);
}

TEST(config_loader, default_sinks_must_name_existing_sinks) {
  expect_problem("sinks:\n  out: {type: stdout}\ndefault_sinks:\n  - out\n  - missing\n", "default_sinks[1]", 5,
                 "there is no sink named \"missing\" (defined: out)");
  expect_problem("sinks:\n  app: {type: stdout}\n  out: {type: stdout}\ndefault_sinks: [out, ap]\n", "default_sinks[1]",
                 4, "there is no sink named \"ap\" (defined: app, out); did you mean `app`?");
  expect_problem("default_sinks: out\n", "default_sinks", 1, "expected a list");
  // Without default_sinks the default [out] must exist too.
  expect_problem("sinks:\n  archive: {type: file, path: /x}\n", "default_sinks", 1, "no sink named \"out\"");
  // Duplicates are kept once.
  EXPECT_THAT(expect_valid("default_sinks: [out, out]\n").default_sinks, ElementsAre("out"));
}

// --- subscriptions ---

TEST(config_loader, no_subscriptions_by_default) { EXPECT_THAT(expect_valid("").subscriptions, IsEmpty()); }

TEST(config_loader, a_subscription_reads_its_kinds_and_sinks) {
  const auto c = expect_valid(
      "sinks:\n  out: {type: stdout}\n  app: {type: stdout}\n"
      "subscriptions:\n  invoices:\n    kinds: [extract_run, workflow_run]\n    sinks: [app]\n"
      "  Every_run-2:\n    kinds: [parse_run]\n");
  ASSERT_EQ(c.subscriptions.size(), 2u);
  const auto& invoices = c.subscriptions.at("invoices");
  EXPECT_EQ(invoices.name, "invoices");
  EXPECT_THAT(invoices.kinds, ElementsAre("extract_run", "workflow_run"));
  EXPECT_THAT(invoices.sinks, ElementsAre("app"));
  // Without sinks, default_sinks.
  EXPECT_THAT(c.subscriptions.at("Every_run-2").sinks, ElementsAre("out"));
}

TEST(config_loader, a_subscriptions_sinks_default_to_default_sinks_as_written) {
  const auto c = expect_valid(
      "sinks:\n  out: {type: stdout}\n  app: {type: stdout}\ndefault_sinks: [app, out]\n"
      "subscriptions:\n  all:\n    kinds: [classify_run]\n");
  EXPECT_THAT(c.subscriptions.at("all").sinks, ElementsAre("app", "out"));
  // A sink named twice is delivered to once, as in default_sinks.
  EXPECT_THAT(expect_valid("subscriptions:\n  all:\n    kinds: [split_run]\n    sinks: [out, out]\n")
                  .subscriptions.at("all")
                  .sinks,
              ElementsAre("out"));
}

TEST(config_loader, empty_subscriptions_section_is_none) {
  EXPECT_THAT(expect_valid("subscriptions:\n").subscriptions, IsEmpty());
  EXPECT_THAT(expect_valid("subscriptions: {}\n").subscriptions, IsEmpty());
}

TEST(config_loader, subscriptions_must_be_a_map_of_maps) {
  expect_problem("subscriptions: [a]\n", "subscriptions", 1, "expected a map of keys; got a list");
  expect_problem("subscriptions:\n  all: extract_run\n", "subscriptions.all", 2,
                 "expected a subscription: a map with `kinds`");
  expect_problem("subscriptions:\n  all:\n", "subscriptions.all", 2, "got nothing");
}

TEST(config_loader, a_subscription_name_is_plain) {
  expect_problem("subscriptions:\n  \"in voices\":\n    kinds: [extract_run]\n", "subscriptions.in voices", 2,
                 "a subscription name is 1 to 64 of the characters A-Z a-z 0-9 _ -");
  expect_problem("subscriptions:\n  \"\":\n    kinds: [extract_run]\n", "subscriptions.", 2,
                 "a subscription name is 1 to 64");
  expect_problem("subscriptions:\n  " + std::string(65, 'a') + ":\n    kinds: [extract_run]\n",
                 "subscriptions." + std::string(65, 'a'), 2, "1 to 64");
  EXPECT_TRUE(expect_valid("subscriptions:\n  " + std::string(64, 'a') + ":\n    kinds: [extract_run]\n")
                  .subscriptions.contains(std::string(64, 'a')));
}

TEST(config_loader, a_subscription_needs_kinds) {
  expect_problem("subscriptions:\n  all:\n    sinks: [out]\n", "subscriptions.all.kinds", 2,
                 "missing; a subscription needs the kinds whose runs it delivers: the kinds with a list endpoint "
                 "under extend.api_version 2026-02-09 are extract_run, classify_run, split_run, parse_run, "
                 "workflow_run, processor_run");
  expect_problem("subscriptions:\n  all:\n    kinds: []\n", "subscriptions.all.kinds", 3,
                 "must name at least one kind; the kinds with a list endpoint");
  expect_problem("subscriptions:\n  all:\n    kinds: extract_run\n", "subscriptions.all.kinds", 3,
                 "expected a list like [a, b]");
}

TEST(config_loader, a_subscription_kind_must_have_a_list_endpoint) {
  expect_problem("subscriptions:\n  all:\n    kinds: [extract_run, batch_run]\n", "subscriptions.all.kinds[1]", 3,
                 "\"batch_run\" has no list endpoint, so a subscription cannot find its runs (register them instead); "
                 "the kinds with a list endpoint under extend.api_version 2026-02-09 are extract_run, classify_run, "
                 "split_run, parse_run, workflow_run, processor_run");
  expect_problem("subscriptions:\n  all:\n    kinds:\n      - edit_run\n", "subscriptions.all.kinds[0]", 4,
                 "\"edit_run\" has no list endpoint");
  // The api_version decides: the legacy versions list processor and workflow runs only.
  expect_problem("extend:\n  api_version: \"2025-04-21\"\nsubscriptions:\n  all:\n    kinds: [extract_run]\n",
                 "subscriptions.all.kinds[0]", 5,
                 "unknown kind \"extract_run\"; the kinds with a list endpoint under extend.api_version 2025-04-21 "
                 "are processor_run, workflow_run");
  EXPECT_THAT(
      expect_valid("extend:\n  api_version: \"2024-12-23\"\nsubscriptions:\n  all:\n    kinds: [processor_run]\n")
          .subscriptions.at("all")
          .kinds,
      ElementsAre("processor_run"));
}

TEST(config_loader, an_unknown_subscription_kind_gets_a_suggestion) {
  expect_problem("subscriptions:\n  all:\n    kinds: [extract_runs]\n", "subscriptions.all.kinds[0]", 3,
                 "unknown kind \"extract_runs\"; did you mean `extract_run`? the kinds with a list endpoint");
}

TEST(config_loader, a_subscription_kind_is_listed_once) {
  expect_problem("subscriptions:\n  all:\n    kinds:\n      - parse_run\n      - split_run\n      - parse_run\n",
                 "subscriptions.all.kinds[2]", 6,
                 "\"parse_run\" is listed twice (first at subscriptions.all.kinds[0])");
}

TEST(config_loader, a_subscriptions_sinks_must_be_configured) {
  expect_problem(
      "sinks:\n  app: {type: stdout}\n  out: {type: stdout}\nsubscriptions:\n  all:\n"
      "    kinds: [extract_run]\n    sinks: [ap]\n",
      "subscriptions.all.sinks[0]", 7, "there is no sink named \"ap\" (defined: app, out); did you mean `app`?");
  expect_problem("subscriptions:\n  all:\n    kinds: [extract_run]\n    sinks: []\n", "subscriptions.all.sinks", 4,
                 "must name at least one sink (leave it out for default_sinks)");
  expect_problem("subscriptions:\n  all:\n    kinds: [extract_run]\n    sinks: out\n", "subscriptions.all.sinks", 4,
                 "expected a list");
  // A sink with mistakes of its own is not reported again as missing.
  expect_problem(
      "sinks:\n  out:\n    type: stdout\n    events: []\nsubscriptions:\n  all:\n    kinds: [extract_run]\n"
      "    sinks: [out]\n",
      "sinks.out.events", 4, "at least one pattern");
  // Without sinks, default_sinks must name one.
  expect_problem("default_sinks: []\nsubscriptions:\n  all:\n    kinds: [extract_run]\n", "subscriptions.all.sinks", 3,
                 "missing, and default_sinks is empty");
}

TEST(config_loader, a_subscription_refuses_unknown_keys) {
  expect_problem("subscriptions:\n  all:\n    kinds: [extract_run]\n    kind: [parse_run]\n", "subscriptions.all.kind",
                 4, "unknown key; did you mean `kinds`? allowed keys in a subscription: kinds, sinks");
  expect_problem("subscriptions:\n  all:\n    kinds: [extract_run]\n    kinds: [parse_run]\n",
                 "subscriptions.all.kinds", 4, "duplicate key (first at line 3)");
}

TEST(config_loader, every_subscription_mistake_is_reported_at_once) {
  const auto result = load(
      "subscriptions:\n  \"a b\":\n    kinds: [batch_run]\n  good:\n    kinds: [extract_run]\n    sinks: [nope]\n"
      "    colour: red\n");
  EXPECT_FALSE(result.value);
  EXPECT_THAT(result.problems,
              ElementsAre(problem_at(std::string{"subscriptions.a b"}, 2, std::string{"name"}),
                          problem_at(std::string{"subscriptions.a b.kinds[0]"}, 3, std::string{"no list endpoint"}),
                          problem_at(std::string{"subscriptions.good.sinks[0]"}, 6, std::string{"no sink named"}),
                          problem_at(std::string{"subscriptions.good.colour"}, 7, std::string{"unknown key"})));
}

TEST(config_loader, a_broken_sink_is_not_reported_again_as_missing) {
  expect_problem("sinks:\n  out:\n    type: stdout\n    events: []\n", "sinks.out.events", 4, "at least one pattern");
}

// --- reporting ---

TEST(config_loader, reports_every_problem_in_line_order) {
  const auto result = load(R"(extend:
  timeout: abc
  max_connections: 0
polling:
  fast_interval: 10s
  max_interval: 5s
  jitter: 2
bogus: 1
sinks:
  app:
    type: http
    url: http://example.com/
logging:
  level: loud
)");
  EXPECT_FALSE(result.value);
  EXPECT_THAT(result.problems,
              ElementsAre(problem_at(std::string{"extend.timeout"}, 2, std::string{"duration"}),
                          problem_at(std::string{"extend.max_connections"}, 3, std::string{"between 1 and 256"}),
                          problem_at(std::string{"polling.max_interval"}, 6, std::string{"fast_interval"}),
                          problem_at(std::string{"polling.jitter"}, 7, std::string{"between 0 and 1"}),
                          problem_at(std::string{"bogus"}, 8, std::string{"unknown key"}),
                          problem_at(std::string{"default_sinks"}, 9, std::string{"no sink named \"out\""}),
                          problem_at(std::string{"sinks.app.signing_secret_file"}, 10, std::string{"missing"}),
                          problem_at(std::string{"sinks.app.url"}, 12, std::string{"allow_remote"}),
                          problem_at(std::string{"logging.level"}, 14, std::string{"loud"})));
}

TEST(config_loader, yaml_syntax_error_gives_one_problem_with_its_line) {
  const auto result = load("extend:\n  timeout: 5s\n  base_url: [unclosed\nlogging:\n  level: info\n");
  EXPECT_FALSE(result.value);
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0].key, "");
  EXPECT_GE(result.problems[0].line, 3);
  EXPECT_THAT(result.problems[0].message, HasSubstr("not valid YAML"));

  const auto bad_indent = load("a: b\n  c: d\n");
  ASSERT_EQ(bad_indent.problems.size(), 1u);
  EXPECT_EQ(bad_indent.problems[0].line, 2);
}

TEST(config_loader, hostile_input_gives_problems_not_crashes) {
  for (const auto& text :
       {std::string{"[[[[[[[[[[[[[[["}, std::string(5000, '['), std::string{"\x01\x02\xff\xfe: \x00", 7},
        std::string{"? [a, b]\n: c\n"}, std::string{"*alias\n"}, std::string{"&a [*a]\n"},
        std::string{"extend: &x\n  timeout: 1s\npolling: *x\n"}}) {
    const auto result = load(text);
    EXPECT_NE(result.value.has_value(), !result.problems.empty()) << text;
  }
}

TEST(config_loader, format_problem_leaves_out_missing_parts) {
  EXPECT_EQ(format_problem("a.yaml", {"extend.timeout", 3, "bad"}), "a.yaml:3: extend.timeout: bad");
  EXPECT_EQ(format_problem("a.yaml", {"", 0, "cannot read"}), "a.yaml: cannot read");
  EXPECT_EQ(format_problem("a.yaml", {"", 4, "not valid YAML"}), "a.yaml:4: not valid YAML");
}

// --- files ---

class config_file_test : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream{path} << text;
    return path;
  }
  test::temp_dir temp_{"hookless_config"};
  std::filesystem::path dir_ = temp_.path();
};

TEST_F(config_file_test, loads_a_file) {
  const auto result = load_config_file(write("h.yaml", "logging:\n  format: json\n"));
  ASSERT_TRUE(result.value);
  EXPECT_EQ(result.value->logging.format, log_format::json);
}

TEST_F(config_file_test, missing_file_is_one_problem_naming_the_path) {
  const auto path = (dir_ / "nope.yaml").string();
  const auto result = load_config_file(path);
  EXPECT_FALSE(result.value);
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0].line, 0);
  EXPECT_THAT(result.problems[0].message, HasSubstr(path));
  EXPECT_THAT(result.problems[0].message, HasSubstr("No such file"));
}

TEST_F(config_file_test, directory_is_not_a_config_file) {
  const auto result = load_config_file(dir_.string());
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_THAT(result.problems[0].message, HasSubstr(dir_.string()));
}

TEST_F(config_file_test, oversized_file_is_refused) {
  const auto result = load_config_file(write("big.yaml", "# " + std::string(2 << 20, 'x') + "\n"));
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_THAT(result.problems[0].message, HasSubstr("larger than"));
}

TEST_F(config_file_test, problems_in_a_file_carry_its_lines) {
  const auto path = write("h.yaml", "# comment\n\nextend:\n  timeout: soon\n");
  const auto result = load_config_file(path);
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(format_problem(path, result.problems[0]), path +
                                                          ":4: extend.timeout: expected a duration like 250ms, 30s, "
                                                          "1m30s, 1.5h or 7d (units d, h, m, s, ms); got \"soon\"");
}

// --- per-user limits (control.max_pending_per_user, control.requests_per_second_per_user) ---

TEST(per_user_limits_config, defaults_are_generous) {
  const auto result = load_config_text("", "test.yaml");
  ASSERT_TRUE(result.value);
  EXPECT_EQ(result.value->control.max_pending_per_user, 1'000'000u);
  EXPECT_DOUBLE_EQ(result.value->control.requests_per_second_per_user, 1000.0);
}

TEST(per_user_limits_config, reads_both_keys) {
  const auto result =
      load_config_text("control:\n  max_pending_per_user: 5\n  requests_per_second_per_user: 2.5\n", "t");
  ASSERT_TRUE(result.value) << (result.problems.empty() ? "" : result.problems[0].message);
  EXPECT_EQ(result.value->control.max_pending_per_user, 5u);
  EXPECT_DOUBLE_EQ(result.value->control.requests_per_second_per_user, 2.5);
}

TEST(per_user_limits_config, refuses_bad_values_with_key_and_line) {
  expect_problem("control:\n  max_pending_per_user: 0\n", "control.max_pending_per_user", 2, "between 1 and");
  expect_problem("control:\n  max_pending_per_user: -3\n", "control.max_pending_per_user", 2, "between 1 and");
  expect_problem("control:\n  max_pending_per_user: 2.5\n", "control.max_pending_per_user", 2, "whole number");
  expect_problem("control:\n  max_pending_per_user: 999999999999\n", "control.max_pending_per_user", 2,
                 "between 1 and");
  expect_problem("control:\n\n  requests_per_second_per_user: 0\n", "control.requests_per_second_per_user", 3,
                 "greater than 0");
  expect_problem("control:\n  requests_per_second_per_user: fast\n", "control.requests_per_second_per_user", 2,
                 "expected a number");
  expect_problem("control:\n  requests_per_second_per_user: [1]\n", "control.requests_per_second_per_user", 2,
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

}  // namespace
}  // namespace hookless
