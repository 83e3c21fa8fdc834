// The redis sink's pure parts: its url, RESP written and read (every prefix of a reply is
// incomplete, broken replies are invalid, never a crash), the XADD command it sends, and its config
// keys with their errors (key and line), including what --check-config says about its files.
#include "config/config_files.hpp"
#include "config/config_loader.hpp"
#include "core/delivery/redis_sink.hpp"
#include "core/formats/redis_url.hpp"
#include "core/formats/resp.hpp"
#include "tests/support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>

namespace hookless {
namespace {

using ::testing::HasSubstr;

redis_target redis_url_ok(std::string_view url) {
  auto parsed = parse_redis_target(url);
  if (auto* why = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << url << ": " << *why;
    return {};
  }
  return std::get<redis_target>(parsed);
}

std::string redis_url_error(std::string_view url) {
  auto parsed = parse_redis_target(url);
  if (auto* why = std::get_if<std::string>(&parsed)) return *why;
  ADD_FAILURE() << url << " was accepted";
  return {};
}

TEST(redis_url, the_three_forms) {
  const auto plain = redis_url_ok("redis://127.0.0.1:6380/2");
  EXPECT_EQ(plain.scheme, redis_scheme::tcp);
  EXPECT_EQ(plain.host, "127.0.0.1");
  EXPECT_EQ(plain.port, "6380");
  EXPECT_EQ(plain.db, 2u);
  EXPECT_EQ(plain.user, "");
  EXPECT_EQ(describe(plain), "redis://127.0.0.1:6380/2");

  const auto tls = redis_url_ok("rediss://hookless@cache.internal");
  EXPECT_EQ(tls.scheme, redis_scheme::tls);
  EXPECT_EQ(tls.host, "cache.internal");
  EXPECT_EQ(tls.port, "6379");
  EXPECT_EQ(tls.user, "hookless");
  EXPECT_EQ(tls.db, 0u);
  EXPECT_EQ(describe(tls), "rediss://hookless@cache.internal:6379/0");

  EXPECT_EQ(redis_url_ok("redis://[::1]:7000/").host, "::1");
  EXPECT_EQ(describe(redis_url_ok("redis://[::1]:7000/")), "redis://[::1]:7000/0");

  const auto socket = redis_url_ok("unix:/run/redis/redis.sock");
  EXPECT_EQ(socket.scheme, redis_scheme::unix_socket);
  EXPECT_EQ(socket.socket_path, "/run/redis/redis.sock");
  EXPECT_EQ(socket.db, 0u);
  EXPECT_EQ(redis_url_ok("unix:/run/redis/redis.sock?db=3").db, 3u);
  EXPECT_EQ(describe(redis_url_ok("unix:/r.sock?db=3")), "unix:/r.sock?db=3");
}

TEST(redis_url, mistakes_say_what_is_allowed) {
  EXPECT_THAT(redis_url_error("http://127.0.0.1:6379"), HasSubstr("expected redis://[user@]host[:port][/db]"));
  EXPECT_THAT(redis_url_error("redis://u:secret@127.0.0.1/0"), HasSubstr("put it in password_file"));
  EXPECT_THAT(redis_url_error("redis://u:secret@127.0.0.1/0"), ::testing::Not(HasSubstr("secret")));
  EXPECT_THAT(redis_url_error("redis://127.0.0.1/x"), HasSubstr("the path is the database number"));
  EXPECT_THAT(redis_url_error("redis://127.0.0.1/1/2"), HasSubstr("the path is the database number"));
  EXPECT_THAT(redis_url_error("redis://127.0.0.1:99999/0"), HasSubstr("port"));
  EXPECT_THAT(redis_url_error("redis://127.0.0.1/0?timeout=1"), HasSubstr("no ?query"));
  EXPECT_THAT(redis_url_error("unix:relative.sock"), HasSubstr("unix:/path/to/redis.sock"));
  EXPECT_THAT(redis_url_error("unix:/r.sock?database=1"), HasSubstr("?db=N"));
  EXPECT_THAT(redis_url_error("unix:/" + std::string(120, 'a')), HasSubstr("longer than 107 bytes"));
}

TEST(resp, a_command_is_an_array_of_bulk_strings) {
  EXPECT_EQ(resp_command({"PING"}), "*1\r\n$4\r\nPING\r\n");
  EXPECT_EQ(resp_command({"SET", "k", ""}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
  // Binary-safe: CRLF and NUL inside an argument are only bytes.
  const std::string odd{"a\r\n\0b", 5};
  EXPECT_EQ(resp_command({odd}), std::string("*1\r\n$5\r\na\r\n\0b\r\n", 15));
}

TEST(resp, replies_are_read_whole_or_not_at_all) {
  const std::vector<std::pair<std::string, resp_reply>> cases{
      {"+OK\r\n", {.type = resp_type::simple, .text = "OK", .number = 0}},
      {"-WRONGPASS invalid username-password pair\r\n",
       {.type = resp_type::error, .text = "WRONGPASS invalid username-password pair", .number = 0}},
      {":42\r\n", {.type = resp_type::integer, .text = "", .number = 42}},
      {":-7\r\n", {.type = resp_type::integer, .text = "", .number = -7}},
      {"$15\r\n1733456789012-0\r\n", {.type = resp_type::bulk, .text = "1733456789012-0", .number = 0}},
      {"$0\r\n\r\n", {.type = resp_type::bulk, .text = "", .number = 0}},
      {"$-1\r\n", {.type = resp_type::null, .text = "", .number = 0}},
      {"*-1\r\n", {.type = resp_type::null, .text = "", .number = 0}},
      {"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", {.type = resp_type::array, .text = "", .number = 2}},
  };
  for (const auto& [bytes, expected] : cases) {
    SCOPED_TRACE(bytes);
    const auto whole = parse_resp(bytes + "+next\r\n");
    ASSERT_EQ(whole.state, resp_state::complete) << whole.problem;
    EXPECT_EQ(whole.length, bytes.size());
    EXPECT_EQ(whole.reply.type, expected.type);
    EXPECT_EQ(whole.reply.text, expected.text);
    EXPECT_EQ(whole.reply.number, expected.number);
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
      EXPECT_EQ(parse_resp(bytes.substr(0, cut)).state, resp_state::incomplete) << "cut at " << cut;
    }
  }
}

TEST(resp, broken_replies_are_invalid) {
  for (const std::string bytes :
       {"?x\r\n", ":12a\r\n", ":\r\n", "$-2\r\n", "$3\r\nabcd\r\n", "*-5\r\n", "$99999999\r\n", "*5000\r\n"}) {
    const auto parsed = parse_resp(bytes);
    EXPECT_EQ(parsed.state, resp_state::invalid) << bytes;
    EXPECT_FALSE(parsed.problem.empty()) << bytes;
  }
  EXPECT_EQ(parse_resp("+" + std::string(5000, 'x')).state, resp_state::invalid);   // a line that never ends
  EXPECT_EQ(parse_resp(std::string(9, '*') + "1\r\n").state, resp_state::invalid);  // '*' is not a count
  std::string deep;
  for (int i = 0; i < 20; ++i) deep += "*1\r\n";
  EXPECT_EQ(parse_resp(deep + ":1\r\n").state, resp_state::invalid);
}

// Random bytes and random cuts of valid replies: the reader answers, never reads out of bounds
// (the sanitizer build runs this too) and never reports a length past the input.
TEST(resp, random_input_never_breaks_the_reader) {
  std::mt19937 generator{16};
  const std::string alphabet = "+-:$*\r\n0123456789-abc";
  for (int round = 0; round < 20'000; ++round) {
    std::string bytes;
    const auto size = generator() % 24;
    for (std::size_t i = 0; i < size; ++i) bytes += alphabet[generator() % alphabet.size()];
    const auto parsed = parse_resp(bytes);
    if (parsed.state == resp_state::complete) {
      EXPECT_GT(parsed.length, 0u);
      EXPECT_LE(parsed.length, bytes.size()) << bytes;
    }
  }
}

TEST(redis_sink, xadd_carries_the_four_fields_and_trims_approximately) {
  delivery_job job;
  job.record.event_id = "event_abc";
  job.record.run_id = "exr_1";
  job.event_type = "extract_run.processed";
  job.body = R"({"eventId":"event_abc"})";
  redis_sink_options options;
  options.stream = "hookless:events";
  options.maxlen = 1000;
  EXPECT_EQ(redis_xadd_command(options, job),
            resp_command({"XADD", "hookless:events", "MAXLEN", "~", "1000", "*", "eventId", "event_abc", "eventType",
                          "extract_run.processed", "runId", "exr_1", "event", job.body}));
  options.maxlen.reset();
  EXPECT_EQ(redis_xadd_command(options, job),
            resp_command({"XADD", "hookless:events", "*", "eventId", "event_abc", "eventType", "extract_run.processed",
                          "runId", "exr_1", "event", job.body}));
}

// ---- config ---------------------------------------------------------------------------------

config_result load_redis_yaml(std::string_view sink_body) {
  const std::string yaml = "sinks:\n  out:\n    type: stdout\n  queue:\n    type: redis\n" + std::string{sink_body};
  return load_config_text(yaml, "test.yaml");
}

// The single problem of a config whose queue sink has `sink_body` (starting on line 6).
void expect_redis_problem(std::string_view sink_body, std::string_view key, int line, std::string_view fragment) {
  SCOPED_TRACE(std::string{sink_body});
  const auto result = load_redis_yaml(sink_body);
  EXPECT_FALSE(result.value.has_value());
  ASSERT_EQ(result.problems.size(), 1u) << (result.problems.empty() ? "" : result.problems[0].message);
  EXPECT_EQ(result.problems[0].key, key);
  EXPECT_EQ(result.problems[0].line, line);
  EXPECT_THAT(result.problems[0].message, HasSubstr(std::string{fragment}));
}

TEST(redis_sink_config, every_key_is_read) {
  const auto result = load_redis_yaml(
      "    url: rediss://hookless@cache.internal:6380/4\n"
      "    password_file: /etc/hookless/redis-password\n"
      "    stream: \"app:events\"\n"
      "    maxlen: 5000\n"
      "    ca_file: /etc/hookless/redis-ca.pem\n"
      "    timeout: 5s\n"
      "    max_age: 1d\n"
      "    events: [\"extract_run.*\"]\n");
  ASSERT_TRUE(result.value) << (result.problems.empty() ? "" : result.problems[0].message);
  const auto& queue = result.value->sinks.at("queue");
  EXPECT_EQ(queue.type, sink_type::redis);
  EXPECT_EQ(describe(queue.redis), "rediss://hookless@cache.internal:6380/4");
  EXPECT_EQ(queue.password_file, "/etc/hookless/redis-password");
  EXPECT_EQ(queue.stream, "app:events");
  EXPECT_EQ(queue.maxlen, 5000u);
  EXPECT_EQ(queue.ca_file, "/etc/hookless/redis-ca.pem");
  EXPECT_EQ(queue.timeout, std::chrono::milliseconds{5000});
  EXPECT_EQ(queue.max_age, std::chrono::milliseconds{24LL * 3600 * 1000});
  EXPECT_EQ(queue.events, std::vector<std::string>{"extract_run.*"});
}

TEST(redis_sink_config, defaults) {
  const auto result = load_redis_yaml("    url: unix:/run/redis/redis.sock\n");
  ASSERT_TRUE(result.value);
  const auto& queue = result.value->sinks.at("queue");
  EXPECT_EQ(queue.stream, "hookless:events");
  EXPECT_FALSE(queue.maxlen);
  EXPECT_FALSE(queue.password_file);
  EXPECT_EQ(queue.timeout, std::chrono::milliseconds{30'000});
}

TEST(redis_sink_config, mistakes_name_the_key_and_line) {
  expect_redis_problem("    stream: s\n", "sinks.queue.url", 4, "a redis sink needs a url");
  expect_redis_problem("    url: http://127.0.0.1:6379\n", "sinks.queue.url", 6, "expected redis://");
  expect_redis_problem("    url: redis://u:pw@127.0.0.1/0\n", "sinks.queue.url", 6, "password_file");
  expect_redis_problem("    url: redis://127.0.0.1/0\n    maxlen: 0\n", "sinks.queue.maxlen", 7, "at least 1");
  expect_redis_problem("    url: redis://127.0.0.1/0\n    maxlen: many\n", "sinks.queue.maxlen", 7, "");
  expect_redis_problem("    url: redis://127.0.0.1/0\n    ca_file: /ca.pem\n", "sinks.queue.ca_file", 7,
                       "only to a rediss:// url");
  expect_redis_problem("    url: redis://app@127.0.0.1/0\n", "sinks.queue.url", 6, "no password_file");
  expect_redis_problem("    url: redis://127.0.0.1/0\n    signing_secret_file: /s\n", "sinks.queue.signing_secret_file",
                       7, "does not apply to a redis sink");
  expect_redis_problem("    url: redis://127.0.0.1/0\n    stram: x\n", "sinks.queue.stram", 7,
                       "did you mean `stream`?");
  // And the redis keys do not apply to other sinks.
  const auto result = load_config_text("sinks:\n  out:\n    type: stdout\n    stream: x\n", "test.yaml");
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0].key, "sinks.out.stream");
  EXPECT_THAT(result.problems[0].message, HasSubstr("does not apply to a stdout sink"));
}

TEST(redis_sink_config, check_config_opens_the_password_and_ca_files) {
  test::temp_dir dir{"hookless-redis-config"};
  const auto password = (dir / "password").string();
  const auto result = load_redis_yaml("    url: rediss://127.0.0.1/0\n    password_file: " + password +
                                      "\n    ca_file: " + (dir / "ca.pem").string() + "\n");
  ASSERT_TRUE(result.value);
  const std::map<std::string, int> lines{{"sinks.queue.password_file", 7}, {"sinks.queue.ca_file", 8}};
  auto problems = check_config_files(*result.value, lines);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].key, "sinks.queue.password_file");
  EXPECT_EQ(problems[0].line, 7);
  EXPECT_THAT(problems[0].message, HasSubstr(password));
  EXPECT_EQ(problems[1].key, "sinks.queue.ca_file");
  std::ofstream{password} << "\n";
  problems = check_config_files(*result.value, lines);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_THAT(problems[0].message, HasSubstr("empty"));
  std::ofstream{password} << "s3cret\n";
  problems = check_config_files(*result.value, lines);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].key, "sinks.queue.ca_file");
}

}  // namespace
}  // namespace hookless
