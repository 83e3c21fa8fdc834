// Black box: hooklessd's http sink as an application sees it. Requests are checked by the official
// Extend SDK's verifier (extend-ai from npm, pinned in tests/sdk_verify, run with the machine's
// Node.js) and by our own checks; an independent Node.js receiver that accepts only what that
// verifier accepts, started late and failing part of the time; receivers that start late, fail,
// hang, listen on a Unix socket or on HTTPS with a private CA; dead letters (in health too) and
// redelivery through the control API and hooklessctl; SIGKILL while a delivery is with the
// receiver; a hanging sink next to a healthy one.
#include "core/delivery/webhook_signature.hpp"
#include "core/formats/base64.hpp"
#include "core/model/event_envelope.hpp"
#include "tests/blackbox/blackbox_fixture.hpp"
#include "tests/integration/callback_receiver.hpp"
#include "tests/support/test_certs.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <set>
#include <thread>

namespace hookless::blackbox {
namespace {

namespace json = boost::json;
using hookless::testing::callback_receiver;
using hookless::testing::received_request;
using hookless::testing::receiver_answer;
using hookless::testing::tls_identity;

const std::string secret = "wss_blackbox_signing_secret";

struct http_sink_spec {
  std::string name;
  std::string url;
  std::string timeout = "5s";
  std::string max_age = "1h";
  bool standard_webhooks = false;
  bool allow_remote = false;
  std::optional<fs::path> ca_file = std::nullopt;
};

// The sdk_verify directory in the build tree, with node_modules installed once (npm_workspace).
// Empty, with the reason in `why`, when it cannot be.
fs::path sdk_verifier(std::string& why) {
  const fs::path source = HOOKLESS_SDK_VERIFY_SOURCE;
  return npm_workspace(HOOKLESS_SDK_VERIFY_WORK,
                       {source / "package.json", source / "package-lock.json", source / "verify.mjs"}, "extend-ai",
                       why);
}

class http_sink_test : public blackbox_test {
 protected:
  void TearDown() override {
    if (HasFailure() && daemon_child_) {
      std::cerr << "---- hooklessd log ----\n" << read_file(dir_ / "hooklessd.stderr") << "\n---- end ----\n";
    }
    daemon_child_.reset();
    blackbox_test::TearDown();
  }

  // hookless.yaml as the other black-box tests write it, with these http sinks added.
  void write_config(const std::vector<http_sink_spec>& sinks) {
    write_text_file(dir_ / "secret", secret + "\n");
    auto c = base_config();
    c.default_sinks = {"archive"};
    config_ = c;
    auto text = render_config(c);
    std::string added;
    for (const auto& s : sinks) {
      added += "  " + s.name + ":\n    type: http\n    url: " + json::serialize(json::value(s.url)) +
               "\n    signing_secret_file: " + json::serialize(json::value((dir_ / "secret").string())) +
               "\n    timeout: " + s.timeout + "\n    max_age: " + s.max_age +
               "\n    standard_webhooks: " + (s.standard_webhooks ? "true" : "false") +
               "\n    allow_remote: " + (s.allow_remote ? "true" : "false") + "\n";
      if (s.ca_file) added += "    ca_file: " + json::serialize(json::value(s.ca_file->string())) + "\n";
    }
    const auto at = text.find("\nsinks:\n");
    ASSERT_NE(at, std::string::npos);
    text.insert(at + 8, added);
    write_text_file(dir_ / "hookless.yaml", text);
  }

  // Starts hooklessd on the written config; true once its control socket answers.
  bool start_daemon() {
    spawn_spec spec;
    spec.program = hooklessd_program();
    spec.args = {"--config", (dir_ / "hookless.yaml").string()};
    spec.env = base_environment();
    spec.env["EXTEND_API_KEY"] = "sk_test_hookless";
    spec.stdout_path = dir_ / "hooklessd.stdout";
    spec.stderr_path = dir_ / "hooklessd.stderr";
    daemon_child_.emplace(spec);
    return wait_until(
               [&] {
                 if (!daemon_child_->running()) return true;
                 try {
                   return socket_accepts(config_.socket) &&
                          control_request(config_.socket, "GET", "/v1/health").status == 200;
                 } catch (const std::exception&) {
                   return false;
                 }
               },
               10s, 20ms) &&
           daemon_child_->running();
  }

  void kill_daemon() {
    daemon_child_->signal(SIGKILL);
    daemon_child_->wait_for(10s);
    daemon_child_.reset();
  }

  // Scripts runs that finish at once in the fake and registers them for `sinks`.
  std::vector<std::string> register_runs(const std::string& prefix, int n, const std::vector<std::string>& sinks) {
    json::array runs;
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      const auto id = "exr_" + prefix + std::to_string(i);
      fake_->add_run({.id = id, .kind = "", .timeline = {{"PENDING", 0ms}, {"PROCESSED", 200ms}}, .fields = {}});
      json::array names;
      for (const auto& s : sinks) names.push_back(json::value(s));
      runs.push_back(json::object{{"id", id}, {"sinks", names}, {"context", json::object{{"n", i}}}});
      ids.push_back(id);
    }
    const auto answer =
        control_request(config_.socket, "POST", "/v1/runs", json::serialize(json::object{{"runs", runs}}));
    EXPECT_EQ(answer.status, 201u) << answer.body;
    return ids;
  }

  json::object health() const {
    const auto answer = control_request(config_.socket, "GET", "/v1/health");
    EXPECT_EQ(answer.status, 200u) << answer.body;
    return answer.json().as_object();
  }

  json::array deliveries(const std::string& state) const {
    const auto answer = control_request(config_.socket, "GET", "/v1/deliveries?state=" + state);
    EXPECT_EQ(answer.status, 200u) << answer.body;
    return answer.json().as_object().at("deliveries").as_array();
  }

  // The eventIds of requests the receiver answered with a 2xx (its policy says which it did).
  static std::set<std::string> event_ids(const std::vector<received_request>& requests) {
    std::set<std::string> ids;
    for (const auto& r : requests) ids.insert(r.header("idempotency-key"));
    return ids;
  }

  // Our own checks of one request: the envelope, its eventId, the headers and both signatures.
  static void check_request(const received_request& r, bool standard_webhooks) {
    SCOPED_TRACE(r.body.substr(0, 120));
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.header("x-extend-api-version"), "2026-02-09");
    EXPECT_TRUE(r.header("user-agent").starts_with("hookless/"));
    const auto event = json::parse(r.body).as_object();
    const auto event_id = string_field(event, "eventId");
    const auto run_id = string_field(event.at("payload").as_object(), "id");
    EXPECT_EQ(event_id, make_event_id(run_id, string_field(event, "eventType")));
    EXPECT_EQ(r.header("idempotency-key"), event_id);
    const auto timestamp = std::stoll(r.header("x-extend-request-timestamp"));
    EXPECT_LE(std::llabs(timestamp - r.received_unix), 2);
    EXPECT_EQ(r.header("x-extend-request-signature"), extend_signature(secret, timestamp, r.body));
    if (standard_webhooks) {
      EXPECT_EQ(r.header("webhook-id"), event_id);
      EXPECT_EQ(r.header("webhook-signature"), standard_webhooks_signature(secret, event_id, timestamp, r.body));
    }
  }

  temp_dir& dir() { return dir_; }
  daemon_config config_;
  std::optional<child_process> daemon_child_;
};

TEST_F(http_sink_test, a_late_and_flaky_receiver_gets_every_event_as_the_official_sdk_verifies_it) {
  std::string why;
  const auto verifier = sdk_verifier(why);
  ASSERT_FALSE(verifier.empty()) << why;

  start_fake();
  const auto port = free_port();
  write_config({{.name = "app",
                 .url = "http://127.0.0.1:" + std::to_string(port) + "/webhooks/extend",
                 .timeout = "5s",
                 .max_age = "1h",
                 .standard_webhooks = true}});
  ASSERT_TRUE(start_daemon());
  const auto ids = register_runs("sdk", 8, {"app", "archive"});
  ASSERT_TRUE(wait_until([&] { return read_json_lines(config_.events_file).events.size() >= ids.size(); }, 15s))
      << "the events were made (file sink)";
  std::this_thread::sleep_for(1500ms);  // the receiver is down: connections refused, retries pile up

  const auto receiver_started = std::chrono::steady_clock::now();
  callback_receiver receiver{port};
  receiver.set_policy([](const received_request&, std::size_t n) {
    return n % 3 == 0 ? receiver_answer::reply(n % 2 ? 503 : 500) : receiver_answer::reply(200);  // a third fail
  });
  // Every event answered 200 at least once.
  const auto delivered = [&] {
    std::set<std::string> ok;
    const auto all = receiver.requests();
    for (std::size_t n = 0; n < all.size(); ++n) {
      if (n % 3 != 0) ok.insert(all[n].header("idempotency-key"));
    }
    return ok;
  };
  ASSERT_TRUE(wait_until([&] { return delivered().size() == ids.size(); }, 30s))
      << delivered().size() << " of " << ids.size() << " delivered";
  const auto caught_up =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - receiver_started);
  ASSERT_TRUE(wait_until([&] { return deliveries("pending").empty(); }, 5s)) << "every delivery is marked done";

  const auto requests = receiver.requests();
  json::array to_verify;
  for (const auto& r : requests) {
    check_request(r, true);
    json::object headers;
    for (const auto& [name, value] : r.headers) headers[name] = value;
    to_verify.push_back(json::object{{"headers", headers}, {"body_base64", encode_base64(r.body)}});
  }
  write_text_file(dir_ / "verify.json", json::serialize(json::object{{"secret", secret}, {"requests", to_verify}}));
  const auto verified =
      run_program("/usr/bin/node", {(verifier / "verify.mjs").string(), (dir_ / "verify.json").string()}, {}, 60s);
  ASSERT_EQ(verified.exit_code, 0) << verified.err;
  const auto results = json::parse(verified.out).as_object().at("results").as_array();
  ASSERT_EQ(results.size(), requests.size());
  std::set<std::string> verified_ids;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& result = results[i].as_object();
    EXPECT_TRUE(result.at("ok").as_bool()) << json::serialize(result);
    if (result.at("ok").as_bool()) verified_ids.insert(string_field(result, "eventId"));
  }
  EXPECT_EQ(verified_ids.size(), ids.size());
  std::cerr << "measured: " << ids.size() << " events, " << requests.size() << " requests (a third answered 5xx), all "
            << verified_ids.size() << " events verified by extend-ai's verifyAndParse; caught up " << caught_up.count()
            << "ms after the receiver came up\n";
  // Each request's body is the envelope exactly as the file sink wrote it (byte for byte as signed).
  const auto lines = read_file(config_.events_file);
  for (const auto& r : requests) EXPECT_NE(lines.find(r.body + "\n"), std::string::npos);

  // And a tampered body or a wrong secret is refused by the same verifier (the check can fail).
  json::object tampered_headers;
  for (const auto& [name, value] : requests.front().headers) tampered_headers[name] = value;
  json::array bad{
      json::object{{"headers", tampered_headers}, {"body_base64", encode_base64(requests.front().body + " ")}}};
  write_text_file(dir_ / "bad.json", json::serialize(json::object{{"secret", secret}, {"requests", bad}}));
  const auto refused =
      run_program("/usr/bin/node", {(verifier / "verify.mjs").string(), (dir_ / "bad.json").string()}, {}, 60s);
  ASSERT_EQ(refused.exit_code, 0) << refused.err;
  EXPECT_FALSE(json::parse(refused.out).as_object().at("results").as_array().at(0).as_object().at("ok").as_bool());
}

// The check: an independent receiver (Node.js, the official SDK's verifyAndParse as its
// handler: nothing else is accepted) that comes up late and then fails a third of the requests ends
// up with every event, each exactly as signed and as the file sink wrote it.
TEST_F(http_sink_test, an_independent_sdk_receiver_started_late_and_failing_gets_every_event_as_signed) {
  std::string why;
  const auto verifier = sdk_verifier(why);
  ASSERT_FALSE(verifier.empty()) << why;
  fs::copy_file(fs::path{HOOKLESS_SDK_VERIFY_SOURCE} / "receiver.mjs", verifier / "receiver.mjs",
                fs::copy_options::overwrite_existing);

  start_fake();
  const auto port = free_port();
  write_config({{.name = "app", .url = "http://127.0.0.1:" + std::to_string(port) + "/webhooks/extend"}});
  ASSERT_TRUE(start_daemon());
  const auto ids = register_runs("indep", 10, {"app", "archive"});
  ASSERT_TRUE(wait_until([&] { return read_json_lines(config_.events_file).events.size() >= ids.size(); }, 15s));
  std::this_thread::sleep_for(1500ms);  // nobody listens yet: connections refused, retried
  EXPECT_EQ(deliveries("pending").size(), ids.size());

  const auto log = dir_ / "receiver.jsonl";
  spawn_spec spec;
  spec.program = "/usr/bin/node";
  spec.args = {(verifier / "receiver.mjs").string(), std::to_string(port), secret, log.string(), "3"};
  spec.env = base_environment();
  spec.stdout_path = dir_ / "receiver.stdout";
  spec.stderr_path = dir_ / "receiver.stderr";
  child_process receiver{spec};
  ASSERT_TRUE(wait_until([&] { return read_file(spec.stdout_path).find("listening") != std::string::npos; }, 30s))
      << read_file(spec.stderr_path);

  // Complete lines only: the receiver may be writing the last one.
  const auto entries = [&] { return read_json_lines(log).events; };
  const auto accepted = [&] {
    std::set<std::string> ok;
    for (const auto& e : entries()) {
      if (e.at("answer").to_number<int>() == 200) ok.insert(string_field(e, "eventId"));
    }
    return ok;
  };
  std::set<std::string> expected;
  for (const auto& event : read_json_lines(config_.events_file).events) expected.insert(string_field(event, "eventId"));
  ASSERT_EQ(expected.size(), ids.size());
  ASSERT_TRUE(wait_until([&] { return accepted() == expected; }, 60s)) << accepted().size() << " of " << ids.size();
  ASSERT_TRUE(wait_until([&] { return deliveries("pending").empty(); }, 10s)) << "every delivery is marked done";

  EXPECT_TRUE(read_json_lines(log).bad_lines.empty());
  const auto lines = read_file(config_.events_file);
  std::size_t failed_on_purpose = 0;
  for (const auto& e : entries()) {
    const auto answer = e.at("answer").to_number<int>();
    failed_on_purpose += answer == 503 ? 1 : 0;
    EXPECT_NE(answer, 400) << "the SDK refused a request: " << json::serialize(e);
    received_request request;
    request.method = "POST";
    for (const auto& [name, value] : e.at("headers").as_object())
      request.headers[name] = std::string{value.as_string()};
    request.body = decode_base64(string_field(e, "body_base64")).value_or("");
    request.received_unix = std::stoll(request.header("x-extend-request-timestamp"));
    check_request(request, false);
    EXPECT_NE(lines.find(request.body + "\n"), std::string::npos) << "byte for byte the envelope the file sink wrote";
  }
  EXPECT_GE(failed_on_purpose, ids.size() / 3);
  std::cerr << "measured: " << ids.size() << " events accepted by an SDK-verifying receiver that came up 1.5 s late "
            << "and answered 503 to " << failed_on_purpose << " of " << entries().size() << " requests\n";
  receiver.signal(SIGTERM);
  receiver.wait_for(5s);
}

// allow_remote with an https:// receiver whose certificate comes from a private CA: delivered with the
// sink's ca_file; a sink without it refuses the same receiver (the system store does not know the CA)
// and keeps retrying, never sending the event.
TEST_F(http_sink_test, an_https_receiver_with_a_private_ca_named_by_the_sinks_ca_file) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  write_text_file(dir_ / "app-ca.pem", certs.ca_pem);
  callback_receiver trusted{tls_identity{certs.cert_pem, certs.key_pem}};
  callback_receiver untrusted{tls_identity{certs.cert_pem, certs.key_pem}};
  start_fake();
  write_config({{.name = "app",
                 .url = "https://localhost:" + std::to_string(trusted.port()) + "/webhooks/extend",
                 .allow_remote = true,
                 .ca_file = dir_ / "app-ca.pem"},
                {.name = "plain", .url = untrusted.url("/hook"), .allow_remote = true}});
  ASSERT_TRUE(start_daemon());
  const auto ids = register_runs("tls", 2, {"app", "plain"});
  ASSERT_TRUE(wait_until([&] { return event_ids(trusted.requests()).size() == ids.size(); }, 15s));
  for (const auto& r : trusted.requests()) check_request(r, false);
  ASSERT_TRUE(wait_until([&] { return untrusted.handshakes_failed() >= 2 * ids.size(); }, 15s)) << "retried";
  EXPECT_EQ(untrusted.count(), 0u) << "nothing sent to a receiver that failed verification";
  const auto waiting = deliveries("pending");
  ASSERT_EQ(waiting.size(), ids.size());
  for (const auto& d : waiting) {
    EXPECT_EQ(string_field(d.as_object(), "sink"), "plain");
    EXPECT_NE(string_field(d.as_object(), "last_error").find("certificate verify failed"), std::string::npos)
        << json::serialize(d);
  }
}

TEST_F(http_sink_test, a_receiver_on_a_unix_socket) {
  start_fake();
  const auto socket = dir_ / "app.sock";
  callback_receiver receiver{socket};
  write_config({{.name = "app", .url = "unix:" + socket.string() + ":/webhooks/extend"}});
  ASSERT_TRUE(start_daemon());
  const auto ids = register_runs("unix", 3, {"app"});
  ASSERT_TRUE(wait_until([&] { return event_ids(receiver.requests()).size() == ids.size(); }, 15s));
  for (const auto& r : receiver.requests()) {
    EXPECT_EQ(r.target, "/webhooks/extend");
    check_request(r, false);
  }
}

TEST_F(http_sink_test, dead_deliveries_are_listed_and_arrive_once_redelivered) {
  start_fake();
  callback_receiver receiver;
  receiver.set_policy([](const received_request&, std::size_t) { return receiver_answer::hang(); });
  write_config({{.name = "app", .url = receiver.url("/hook"), .timeout = "300ms", .max_age = "2s"}});
  ASSERT_TRUE(start_daemon());
  const auto ids = register_runs("dead", 3, {"app"});
  ASSERT_TRUE(wait_until([&] { return deliveries("dead").size() == ids.size(); }, 20s))
      << json::serialize(deliveries("pending"));
  const auto dead = deliveries("dead");
  std::set<std::string> dead_events;
  for (const auto& d : dead) dead_events.insert(string_field(d.as_object(), "event_id"));
  EXPECT_EQ(dead_events.size(), ids.size());
  for (const auto& d : dead) {
    const auto& record = d.as_object();
    EXPECT_EQ(string_field(record, "state"), "dead");
    EXPECT_EQ(string_field(record, "sink"), "app");
    EXPECT_GE(record.at("attempts").to_number<std::int64_t>(), 2);
    EXPECT_NE(string_field(record, "last_error").find("timeout"), std::string::npos) << json::serialize(record);
  }
  const auto listed = run_ctl(config_.socket, {"deliveries", "--state", "dead"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  for (const auto& d : dead)
    EXPECT_NE(listed.out.find(string_field(d.as_object(), "id")), std::string::npos) << listed.out;
  // Health counts them and is degraded while they wait for an operator.
  const auto sick = health();
  EXPECT_EQ(string_field(sick, "status"), "degraded") << json::serialize(sick);
  EXPECT_EQ(sick.at("sinks").at("app").at("dead").to_number<std::int64_t>(), 3) << json::serialize(sick);
  const auto said = run_ctl(config_.socket, {"health"});
  EXPECT_EQ(said.exit_code, 1) << said.out;
  EXPECT_NE(said.out.find("3 dead"), std::string::npos) << said.out;

  // Nothing is tried while they are dead.
  const auto attempts_when_dead = receiver.count();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(receiver.count(), attempts_when_dead);

  receiver.set_policy([](const received_request&, std::size_t) { return receiver_answer::reply(200); });
  receiver.release_hung();
  const auto first_id = string_field(dead.at(0).as_object(), "id");
  const auto retried = control_request(config_.socket, "POST", "/v1/deliveries/" + first_id + "/retry");
  EXPECT_EQ(retried.status, 202u) << retried.body;
  const auto first_event = string_field(dead.at(0).as_object(), "event_id");
  ASSERT_TRUE(wait_until([&] { return deliveries("dead").size() == 2; }, 10s));
  ASSERT_TRUE(wait_until([&] { return deliveries("pending").empty(); }, 10s));
  const auto second_id = string_field(dead.at(1).as_object(), "id");
  const auto one = run_ctl(config_.socket, {"redeliver", second_id});
  EXPECT_EQ(one.exit_code, 0) << one.err;
  ASSERT_TRUE(wait_until([&] { return deliveries("dead").size() == 1 && deliveries("pending").empty(); }, 10s));
  const auto rest = run_ctl(config_.socket, {"redeliver", "--all-dead"});
  EXPECT_EQ(rest.exit_code, 0) << rest.err;
  ASSERT_TRUE(wait_until([&] { return deliveries("dead").empty() && deliveries("pending").empty(); }, 10s));

  // Every one arrived after the redelivery, answered 200, with its original eventId.
  std::set<std::string> answered;
  const auto requests = receiver.requests();
  for (std::size_t n = attempts_when_dead; n < requests.size(); ++n) {
    check_request(requests[n], false);
    answered.insert(requests[n].header("idempotency-key"));
  }
  EXPECT_TRUE(answered.contains(first_event));
  EXPECT_EQ(answered, dead_events);
  const auto well = health();
  EXPECT_EQ(well.at("sinks").at("app").at("dead").to_number<std::int64_t>(), 0) << json::serialize(well);
  EXPECT_EQ(string_field(well, "status"), "ok") << json::serialize(well);
}

TEST_F(http_sink_test, killed_mid_delivery_the_event_still_arrives_with_the_same_event_id) {
  start_fake();
  callback_receiver receiver;
  receiver.set_policy([](const received_request&, std::size_t) { return receiver_answer::hang(); });
  write_config({{.name = "app", .url = receiver.url("/hook"), .timeout = "30s"}});
  ASSERT_TRUE(start_daemon());
  const auto ids = register_runs("kill", 1, {"app"});
  ASSERT_TRUE(receiver.wait_for_count(1, 15s));
  const auto first = receiver.requests().front();
  kill_daemon();  // the receiver still holds the request: it was never answered

  receiver.set_policy([](const received_request&, std::size_t) { return receiver_answer::reply(200); });
  receiver.release_hung();
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(receiver.wait_for_count(2, 15s));
  const auto again = receiver.requests().at(1);
  EXPECT_EQ(again.header("idempotency-key"), first.header("idempotency-key"));
  EXPECT_EQ(again.body, first.body) << "the same envelope, byte for byte";
  EXPECT_EQ(first.header("idempotency-key"), make_event_id(ids[0], "extract_run.processed"));
  check_request(again, false);
  ASSERT_TRUE(wait_until([&] { return deliveries("pending").empty(); }, 10s));
}

TEST_F(http_sink_test, a_hanging_sink_delays_neither_another_sink_nor_polling) {
  start_fake();
  callback_receiver stuck;
  stuck.set_policy([](const received_request&, std::size_t) { return receiver_answer::hang(); });
  callback_receiver healthy;
  write_config(
      {{.name = "stuck", .url = stuck.url("/hook"), .timeout = "60s"}, {.name = "fast", .url = healthy.url("/hook")}});
  ASSERT_TRUE(start_daemon());
  const auto first = register_runs("iso_a", 6, {"stuck", "fast", "archive"});
  ASSERT_TRUE(wait_until([&] { return event_ids(healthy.requests()).size() == first.size(); }, 15s));
  ASSERT_TRUE(wait_until([&] { return stuck.in_progress() >= 4; }, 5s)) << "the stuck sink holds its requests";

  // New runs registered now are polled and delivered while the stuck sink still hangs.
  const auto started = std::chrono::steady_clock::now();
  const auto second = register_runs("iso_b", 3, {"stuck", "fast"});
  ASSERT_TRUE(wait_until([&] { return event_ids(healthy.requests()).size() == first.size() + second.size(); }, 10s));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  EXPECT_LT(took, 5s) << "took " << took.count() << "ms";
  EXPECT_EQ(stuck.count(), 4u) << "no more than 4 requests in flight to one sink";
  EXPECT_TRUE(wait_until([&] { return read_json_lines(config_.events_file).events.size() >= first.size(); }, 5s));
  std::cerr << "measured: 3 runs registered to delivered at the healthy sink in " << took.count()
            << "ms while the other sink hung\n";
  stuck.release_hung();
}

TEST_F(http_sink_test, retry_after_is_honoured) {
  start_fake();
  callback_receiver receiver;
  receiver.set_policy([](const received_request&, std::size_t n) {
    return n == 0 ? receiver_answer::reply(429, "2") : receiver_answer::reply(200);
  });
  write_config({{.name = "app", .url = receiver.url("/hook")}});
  ASSERT_TRUE(start_daemon());
  register_runs("ra", 1, {"app"});
  ASSERT_TRUE(receiver.wait_for_count(2, 15s));
  const auto requests = receiver.requests();
  EXPECT_GE(requests[1].at - requests[0].at, 1900ms);
  EXPECT_EQ(requests[1].header("idempotency-key"), requests[0].header("idempotency-key"));
}

}  // namespace
}  // namespace hookless::blackbox
