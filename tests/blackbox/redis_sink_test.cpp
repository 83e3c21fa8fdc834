// Black box: hooklessd's redis sink against a real redis-server the test starts (Debian's package):
// on a Unix socket, killed with SIGKILL and restarted while events flow, every event must be in the
// stream afterwards with its fields right (read with redis-cli XRANGE; at-least-once, so the
// duplicates a consumer would de-duplicate on eventId are counted and reported); on 127.0.0.1 with a
// password, a wrong one shows as the sink's last_error in health and is retried until it is right.
#include "core/model/event_envelope.hpp"
#include "tests/blackbox/blackbox_fixture.hpp"
#include "tests/blackbox/redis_server.hpp"
#include "tests/support/test_certs.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <map>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;

class redis_sink_test : public blackbox_test {
 protected:
  // The redis sink "queue" in the config, and the runs' default sinks: the file sink and it.
  daemon_config config_with_queue(const std::string& url, const std::string& more = {}) const {
    auto c = base_config();
    c.extra_sinks = "  queue:\n    type: redis\n    url: " + json::serialize(json::value(url)) +
                    "\n    stream: \"hookless:test\"\n    maxlen: 100000\n    timeout: 2s\n    max_age: 1h\n" + more;
    c.default_sinks = {"archive", "queue"};
    return c;
  }

  // Runs that finish `spacing` apart, the first at once; registered with the default sinks.
  std::vector<std::string> watch_runs(const std::string& prefix, int n, std::chrono::milliseconds spacing) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      ids.push_back("exr_" + prefix + std::to_string(i));
      fake_->add_run({.id = ids.back(),
                      .kind = "",
                      .timeline = {{"PENDING", 0ms}, {"PROCESSED", 100ms + spacing * i}},
                      .fields = {}});
    }
    const auto answer = daemon_->watch(ids);
    EXPECT_EQ(answer.status, 201u) << answer.body;
    return ids;
  }

  json::object queue_health() const { return object_field(object_field(daemon_->health(), "sinks"), "queue"); }

  bool queue_drained() const {
    const auto health = queue_health();
    return health.at("backlog").to_number<std::int64_t>() == 0 && string_field(health, "state") == "ok";
  }

  // Every event of the file sink is in the stream with the right fields; returns how many entries
  // repeat an eventId (allowed: at-least-once).
  std::size_t expect_stream_holds_file_events(const redis_server& redis, unsigned db = 0) {
    const auto entries = redis.xrange("hookless:test", db);
    std::map<std::string, int> seen;
    for (const auto& entry : entries) {
      EXPECT_EQ(entry.fields.size(), 4u) << entry.id;
      const auto event = json::parse(entry.fields.at("event")).as_object();
      const auto event_id = entry.fields.at("eventId");
      EXPECT_EQ(string_field(event, "eventId"), event_id);
      EXPECT_EQ(string_field(event, "eventType"), entry.fields.at("eventType"));
      EXPECT_EQ(string_field(object_field(event, "payload"), "id"), entry.fields.at("runId"));
      EXPECT_EQ(event_id, make_event_id(entry.fields.at("runId"), entry.fields.at("eventType")));
      ++seen[event_id];
    }
    const auto file = file_events();
    for (const auto& event : file.events) {
      EXPECT_TRUE(seen.contains(string_field(event, "eventId"))) << json::serialize(event);
    }
    EXPECT_EQ(seen.size(), file.events.size());
    return entries.size() - seen.size();
  }

  void expect_no_deliveries_left() const {
    for (const std::string state : {"pending", "dead"}) {
      const auto answer = daemon_->request("GET", "/v1/deliveries?state=" + state);
      EXPECT_EQ(answer.status, 200u);
      EXPECT_TRUE(answer.json().as_object().at("deliveries").as_array().empty()) << state << ": " << answer.body;
    }
  }
};

TEST_F(redis_sink_test, a_redis_killed_and_restarted_while_events_flow_ends_up_with_every_event) {
  start_fake();
  redis_server redis{dir_ / "redis", {}};
  ASSERT_TRUE(make_daemon(config_with_queue("unix:" + redis.socket().string())).start());
  EXPECT_EQ(string_field(queue_health(), "type"), "redis");

  constexpr int runs = 40;
  watch_runs("flow", runs, 60ms);  // finish over 2.4 s
  std::this_thread::sleep_for(700ms);
  redis.kill();
  // The sink notices: failed attempts, retried, the reason in health.
  ASSERT_TRUE(wait_until([&] { return string_field(queue_health(), "state") == "retrying"; }, 10s));
  const auto error = string_field(queue_health(), "last_error");
  EXPECT_NE(error.find("redis.sock"), std::string::npos) << error;
  std::this_thread::sleep_for(1500ms);  // more events finish meanwhile
  redis.start();

  ASSERT_TRUE(wait_for_file_events(runs, 30s));
  ASSERT_TRUE(wait_until([&] { return queue_drained(); }, 60s)) << json::serialize(queue_health());
  expect_no_deliveries_left();
  const auto repeats = expect_stream_holds_file_events(redis);
  EXPECT_EQ(file_event_count(), static_cast<std::size_t>(runs));
  std::cout << "redis stream: " << runs << " events, " << repeats
            << " entries repeated an eventId (at-least-once; consumers de-duplicate)\n";
  RecordProperty("duplicate_entries", static_cast<int>(repeats));

  // A second kill, now idle: the kept-alive connection is stale and the next event still arrives.
  redis.kill();
  redis.start();
  watch_runs("after", 1, 0ms);
  ASSERT_TRUE(wait_for_file_events(runs + 1, 20s));
  ASSERT_TRUE(wait_until([&] { return queue_drained(); }, 30s)) << json::serialize(queue_health());
  expect_stream_holds_file_events(redis);
}

TEST_F(redis_sink_test, a_wrong_password_is_the_sinks_last_error_and_is_retried_until_it_is_right) {
  start_fake();
  redis_server redis{dir_ / "redis", {.tcp = true, .password = "right-password"}};
  write_text_file(dir_ / "redis-password", "wrong-password\n");
  const auto url = "redis://127.0.0.1:" + std::to_string(redis.port()) + "/2";
  ASSERT_TRUE(
      make_daemon(config_with_queue(url, "    password_file: " +
                                             json::serialize(json::value((dir_ / "redis-password").string())) + "\n"))
          .start());
  constexpr int runs = 3;
  watch_runs("auth", runs, 0ms);
  ASSERT_TRUE(wait_for_file_events(runs, 20s));
  ASSERT_TRUE(wait_until([&] { return string_field(queue_health(), "state") == "retrying"; }, 10s));
  const auto error = string_field(queue_health(), "last_error");
  EXPECT_NE(error.find("AUTH refused by redis://127.0.0.1:"), std::string::npos) << error;
  EXPECT_NE(error.find("WRONGPASS"), std::string::npos) << error;
  EXPECT_EQ(error.find("wrong-password"), std::string::npos) << "the password leaked: " << error;
  EXPECT_EQ(daemon_->log().find("wrong-password"), std::string::npos) << "the password is in the log";
  EXPECT_TRUE(redis.xrange("hookless:test", 2).empty());

  // The operator makes the server's password the one hookless has: the retries get through.
  redis.set_password("wrong-password");
  ASSERT_TRUE(wait_until([&] { return queue_drained(); }, 30s)) << json::serialize(queue_health());
  expect_no_deliveries_left();
  EXPECT_EQ(expect_stream_holds_file_events(redis, 2), 0u);
  EXPECT_TRUE(redis.xrange("hookless:test", 0).empty());  // SELECT 2 took effect
}

TEST_F(redis_sink_test, a_rediss_url_verifies_the_server_against_the_sinks_ca_file) {
  start_fake();
  redis_server redis{dir_ / "redis", {.tcp = true, .tls = true, .password = {}}};
  const auto url = "rediss://127.0.0.1:" + std::to_string(redis.port());
  ASSERT_TRUE(make_daemon(config_with_queue(
                              url, "    ca_file: " + json::serialize(json::value(redis.ca_file().string())) + "\n"))
                  .start());
  constexpr int runs = 3;
  watch_runs("tls", runs, 0ms);
  ASSERT_TRUE(wait_for_file_events(runs, 20s));
  ASSERT_TRUE(wait_until([&] { return queue_drained(); }, 30s)) << json::serialize(queue_health());
  expect_no_deliveries_left();
  EXPECT_EQ(expect_stream_holds_file_events(redis), 0u);
}

TEST_F(redis_sink_test, a_rediss_server_whose_certificate_the_sink_cannot_verify_gets_nothing) {
  start_fake();
  redis_server redis{dir_ / "redis", {.tcp = true, .tls = true, .password = {}}};
  // Another CA than the one that signed the server's certificate.
  write_text_file(dir_ / "other-ca.pem", make_test_certs({"localhost"}, {"127.0.0.1"}).ca_pem);
  const auto url = "rediss://127.0.0.1:" + std::to_string(redis.port());
  ASSERT_TRUE(
      make_daemon(config_with_queue(
                      url, "    ca_file: " + json::serialize(json::value((dir_ / "other-ca.pem").string())) + "\n"))
          .start());
  watch_runs("untrusted", 2, 0ms);
  ASSERT_TRUE(wait_for_file_events(2, 20s));
  ASSERT_TRUE(wait_until([&] { return string_field(queue_health(), "state") == "retrying"; }, 10s));
  const auto error = string_field(queue_health(), "last_error");
  EXPECT_NE(error.find("certificate"), std::string::npos) << error;
  EXPECT_TRUE(redis.xrange("hookless:test").empty()) << "nothing may reach a server that was not verified";
}

}  // namespace
}  // namespace hookless::blackbox
