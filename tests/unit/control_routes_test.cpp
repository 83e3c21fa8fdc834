// The control API's routes and JSON without sockets: every status code, error body and field
// name of interface.md §3, against a hand-written fake backend; the 429 busy answer of the per-user
// limits; error bodies that stay valid JSON whatever bytes a client sent.
#include "daemon/control/control_routes.hpp"
#include "core/formats/duration.hpp"
#include "core/formats/timestamp.hpp"
#include "daemon/control/control_json.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>

namespace hookless {
namespace {

namespace json = boost::json;
using boost::beast::http::verb;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

time_point at(std::int64_t millis) { return time_point{std::chrono::milliseconds{millis}}; }

// 2026-11-28T15:04:05.123Z
constexpr std::int64_t sample_millis = 1'795'878'245'123;

run_record sample_run(std::string id) {
  run_record run;
  run.id = std::move(id);
  run.kind = "extract_run";
  run.owner_uid = 1000;
  run.registered_at = at(sample_millis);
  run.updated_at = at(sample_millis + 1000);
  run.next_poll_at = at(sample_millis + 2000);
  run.deadline_at = at(sample_millis + 86'400'000);
  run.sinks = {"app"};
  run.context = json::object{{"order", 7}};
  return run;
}

run_event sample_event(std::string type) {
  run_event event;
  event.event_id = "event_" + type;
  event.event_type = type;
  event.body = json::serialize(json::object{{"eventId", event.event_id}, {"eventType", type}});
  return event;
}

// Records what the routes asked for and answers as the test says.
class fake_backend : public control_backend {
 public:
  std::vector<run_record> runs;
  std::vector<delivery> deliveries;
  health_report report;
  bool any_new = true;
  std::function<void()> before_register;  // may throw what the test wants

  std::optional<caller> last_caller;
  std::vector<registration> registered;
  std::optional<std::chrono::milliseconds> waited;
  std::optional<run_query> last_run_query;
  std::optional<delivery_query> last_delivery_query;
  std::vector<std::string> retried;

  awaitable<registration_result> register_runs(caller who, std::vector<registration> batch) override {
    last_caller = who;
    if (before_register) before_register();
    registered = batch;
    registration_result result;
    for (const auto& one : batch) {
      auto run = sample_run(one.id);
      run.kind = one.kind;
      result.runs.push_back(run);
    }
    result.any_new = any_new;
    co_return result;
  }
  awaitable<std::optional<run_record>> get_run(caller who, std::string id) override {
    last_caller = who;
    co_return find(id);
  }
  awaitable<std::optional<run_record>> wait_run(caller who, std::string id, std::chrono::milliseconds limit) override {
    last_caller = who;
    waited = limit;
    co_return find(id);
  }
  awaitable<std::vector<run_record>> list_runs(caller who, run_query query) override {
    last_caller = who;
    last_run_query = query;
    std::vector<run_record> page(runs.begin(),
                                 runs.begin() + static_cast<std::ptrdiff_t>(std::min(query.limit, runs.size())));
    co_return page;
  }
  awaitable<bool> forget_run(caller who, std::string id) override {
    last_caller = who;
    co_return find(id).has_value();
  }
  awaitable<std::vector<delivery>> list_deliveries(caller who, delivery_query query) override {
    last_caller = who;
    last_delivery_query = query;
    const auto count = std::min(query.limit.value_or(deliveries.size()), deliveries.size());
    co_return std::vector<delivery>(deliveries.begin(), deliveries.begin() + static_cast<std::ptrdiff_t>(count));
  }
  awaitable<bool> retry_delivery(caller who, std::string delivery_id) override {
    last_caller = who;
    retried.push_back(delivery_id);
    co_return delivery_id == "event_a:app";
  }
  awaitable<std::size_t> retry_dead_deliveries(caller who) override {
    last_caller = who;
    co_return 3;
  }
  health_report health() const override { return report; }
  std::vector<subscription_status> subscriptions() const override { return report.subscriptions; }
  std::string metrics() const override { return "hookless_runs_pending 2\n"; }
  std::optional<std::string> kind_for(std::string_view run_id) const override {
    if (run_id.starts_with("exr_")) return "extract_run";
    if (run_id.starts_with("workflow_run_")) return "workflow_run";
    return std::nullopt;
  }
  std::vector<std::string> known_kinds() const override { return {"extract_run", "workflow_run"}; }

 private:
  std::optional<run_record> find(const std::string& id) const {
    for (const auto& run : runs) {
      if (run.id == id) return run;
    }
    return std::nullopt;
  }
};

class control_routes : public ::testing::Test {
 protected:
  fake_backend backend;
  caller who{1000, false};

  control_response serve(verb method, std::string target, std::string body = {}) {
    boost::asio::io_context context;
    std::optional<control_response> answer;
    boost::asio::co_spawn(
        context, handle_control_request(backend, control_request{method, std::move(target), std::move(body), who}),
        [&answer](std::exception_ptr failure, control_response response) {
          if (failure) std::rethrow_exception(failure);
          answer = std::move(response);
        });
    context.run();
    if (!answer) throw std::logic_error("the request did not complete");
    return *answer;
  }

  static json::object body_of(const control_response& response) { return json::parse(response.body).as_object(); }

  // Asserts an error answer and returns its message.
  static std::string expect_error(const control_response& response, unsigned status, std::string_view code) {
    EXPECT_EQ(response.status, status) << response.body;
    const auto body = body_of(response);
    EXPECT_EQ(body.at("error").at("code").as_string(), code);
    return std::string{body.at("error").at("message").as_string()};
  }
};

TEST(control_json, formats_times_as_rfc3339_utc_with_milliseconds) {
  EXPECT_EQ(format_time(at(sample_millis)), "2026-11-28T15:04:05.123Z");
  EXPECT_EQ(format_time(at(0)), "1970-01-01T00:00:00.000Z");
}

TEST(control_json, record_has_every_field_with_nulls_for_absent_ones) {
  auto run = sample_run("exr_1");
  run.events.push_back(sample_event("extract_run.processed"));
  run.deliveries.push_back(
      delivery{"event_x:app", "event_x", "exr_1", "app", delivery_state::dead, 4, "500", std::nullopt, std::nullopt});
  const auto record = record_to_json(run);
  for (const auto* key : {"id", "kind", "state", "status", "outcome", "polls", "registered_at", "updated_at",
                          "next_poll_at", "finished_at", "deadline_at", "sinks", "context", "events", "deliveries"}) {
    EXPECT_TRUE(record.contains(key)) << key;
  }
  EXPECT_EQ(record.size(), 15u);
  EXPECT_EQ(record.at("state").as_string(), "pending");
  EXPECT_TRUE(record.at("status").is_null());
  EXPECT_TRUE(record.at("finished_at").is_null());
  EXPECT_EQ(record.at("registered_at").as_string(), "2026-11-28T15:04:05.123Z");
  EXPECT_EQ(record.at("events").as_array().at(0).as_string(), "event_extract_run.processed");
  const auto& sent = record.at("deliveries").as_array().at(0).as_object();
  EXPECT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent.at("id").as_string(), "event_x:app");
  EXPECT_EQ(sent.at("state").as_string(), "dead");
  EXPECT_EQ(sent.at("attempts").to_number<std::int64_t>(), 4);
}

TEST(control_json, a_run_a_subscription_found_names_it) {
  auto run = sample_run("exr_1");
  run.owner_uid = no_owner_uid;
  run.subscription = "invoices";
  const auto record = record_to_json(run);
  EXPECT_EQ(record.at("subscription").as_string(), "invoices");
  EXPECT_EQ(record.size(), 16u);
  EXPECT_FALSE(record_to_json(sample_run("exr_2")).contains("subscription")) << "a registered run has none";
}

subscription_status sample_subscription(std::string name, std::string kind, std::string state) {
  subscription_status out;
  out.subscription = std::move(name);
  out.kind = std::move(kind);
  out.state = std::move(state);
  return out;
}

TEST(control_json, subscriptions_show_by_name_and_kind) {
  const auto now = at(sample_millis);
  auto swept = sample_subscription("invoices", "extract_run", "ok");
  swept.position = at(sample_millis - 60'000);
  swept.swept_at = at(sample_millis - 3'700);
  swept.sweeps = 12;
  swept.pages = 14;
  swept.runs_found = 5;
  swept.events = 6;
  auto failing = sample_subscription("invoices", "workflow_run", "failing");
  failing.last_error = "a page was not sorted by updatedAt";
  const auto starting = sample_subscription("all", "parse_run", "starting");
  const auto out = subscriptions_to_json({swept, failing, starting}, now);
  // What a kind that has not swept yet shows.
  const auto unswept = [](std::string_view state, json::value last_error) {
    return json::object{
        {"state", state},  {"position", nullptr}, {"position_age_seconds", nullptr},    {"sweeps", 0}, {"pages", 0},
        {"runs_found", 0}, {"events", 0},         {"last_error", std::move(last_error)}};
  };
  EXPECT_EQ(out,
            (json::object{
                {"invoices", json::object{{"extract_run", json::object{{"state", "ok"},
                                                                       {"position", "2026-11-28T15:03:05.123Z"},
                                                                       {"position_age_seconds", 3},
                                                                       {"sweeps", 12},
                                                                       {"pages", 14},
                                                                       {"runs_found", 5},
                                                                       {"events", 6},
                                                                       {"last_error", nullptr}}},
                                          {"workflow_run", unswept("failing", "a page was not sorted by updatedAt")}}},
                {"all", json::object{{"parse_run", unswept("starting", nullptr)}}}}));
  // A clock stepped back shows age 0, not a negative one.
  swept.swept_at = at(sample_millis + 5'000);
  EXPECT_EQ(subscriptions_to_json({swept}, now).at("invoices").at("extract_run").at("position_age_seconds"), 0);
  EXPECT_TRUE(subscriptions_to_json({}, now).empty());
}

TEST(control_json, only_a_failing_subscription_degrades_health) {
  EXPECT_FALSE(any_subscription_failing({}));
  EXPECT_FALSE(any_subscription_failing({sample_subscription("a", "extract_run", "ok"),
                                         sample_subscription("a", "parse_run", "starting"),
                                         sample_subscription("b", "parse_run", "standby")}));
  EXPECT_TRUE(any_subscription_failing(
      {sample_subscription("a", "extract_run", "ok"), sample_subscription("b", "parse_run", "failing")}));
}

TEST(control_json, a_batch_of_ten_thousand_typical_registrations_fits_the_body_limit) {
  json::array runs;
  for (int index = 0; index < 10'000; ++index) {
    runs.push_back(json::object{{"id", "exr_" + std::string(24, 'a') + std::to_string(100000 + index)},
                                {"kind", "extract_run"},
                                {"sinks", json::array{"app", "archive"}},
                                {"context", json::object{{"customer", "cus_0123456789"}}},
                                {"deadline", "24h"}});
  }
  const auto body = json::serialize(json::object{{"runs", runs}});
  EXPECT_LT(body.size(), max_request_body_bytes);
  EXPECT_FALSE(check_content_length(body.size()).has_value());
}

TEST(control_json, content_length_over_two_mebibytes_is_413_before_reading) {
  EXPECT_FALSE(check_content_length(std::nullopt).has_value());
  EXPECT_FALSE(check_content_length(max_request_body_bytes).has_value());
  const auto refused = check_content_length(max_request_body_bytes + 1);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 413u);
  EXPECT_EQ(json::parse(refused->body).at("error").at("code").as_string(), "too_large");
}

TEST_F(control_routes, single_registration_answers_201_with_one_record) {
  const auto response =
      serve(verb::post, "/v1/runs", R"({"id":"exr_1","sinks":["app","app"],"context":{"a":1},"deadline":"24h"})");
  EXPECT_EQ(response.status, 201u) << response.body;
  EXPECT_EQ(response.content_type, "application/json");
  const auto runs = body_of(response).at("runs").as_array();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].at("id").as_string(), "exr_1");
  ASSERT_EQ(backend.registered.size(), 1u);
  const auto& got = backend.registered[0];
  EXPECT_EQ(got.kind, "extract_run");  // from the prefix
  EXPECT_EQ(got.sinks, std::vector<std::string>{"app"});
  EXPECT_EQ(got.context.at("a").as_int64(), 1);
  EXPECT_EQ(got.deadline, std::chrono::milliseconds{24h});
  ASSERT_TRUE(backend.last_caller.has_value());
  EXPECT_EQ(backend.last_caller->uid, 1000u);
}

TEST_F(control_routes, deadlines_may_be_compound_or_fractional) {
  EXPECT_EQ(
      serve(verb::post, "/v1/runs", R"({"runs":[{"id":"exr_1","deadline":"1d12h"},{"id":"exr_2","deadline":"1.5h"}]})")
          .status,
      201u);
  ASSERT_EQ(backend.registered.size(), 2u);
  EXPECT_EQ(backend.registered[0].deadline, std::chrono::milliseconds{36h});
  EXPECT_EQ(backend.registered[1].deadline, std::chrono::milliseconds{90min});
}

TEST_F(control_routes, registering_nothing_new_answers_200) {
  backend.any_new = false;
  EXPECT_EQ(serve(verb::post, "/v1/runs", R"({"id":"exr_1"})").status, 200u);
}

TEST_F(control_routes, batch_registration_keeps_order_and_explicit_kind) {
  const auto response = serve(verb::post, "/v1/runs", R"({"runs":[{"id":"exr_1"},{"id":"odd_2","kind":"split_run"}]})");
  EXPECT_EQ(response.status, 201u);
  ASSERT_EQ(backend.registered.size(), 2u);
  EXPECT_EQ(backend.registered[1].kind, "split_run");
  EXPECT_FALSE(backend.registered[0].deadline.has_value());
  EXPECT_EQ(body_of(response).at("runs").as_array().size(), 2u);
}

TEST_F(control_routes, batch_errors_name_the_index_and_field) {
  const auto message = expect_error(
      serve(verb::post, "/v1/runs", R"({"runs":[{"id":"exr_0"},{"id":"exr_1"},{"id":"exr_2"},{"id":"bad id"}]})"), 400,
      "invalid_request");
  EXPECT_THAT(message, HasSubstr("runs[3].id"));
  EXPECT_TRUE(backend.registered.empty());
}

TEST_F(control_routes, refuses_invalid_registrations_naming_the_field) {
  struct refusal {
    std::string body;
    std::string names;
  };
  const std::vector<refusal> cases{
      {R"({"kind":"extract_run"})", "id: is required"},
      {R"({"id":42})", "id: must be a string"},
      {R"({"id":""})", "id:"},
      {"{\"id\":\"" + std::string(256, 'a') + "\",\"kind\":\"extract_run\"}", "id:"},
      {R"({"id":"zzz_1"})", "zzz_1"},  // kind cannot be told
      {R"({"id":"exr_1","kind":7})", "kind:"},
      {R"({"id":"exr_1","sinks":"app"})", "sinks:"},
      {R"({"id":"exr_1","sinks":[1]})", "sinks:"},
      {R"({"id":"exr_1","context":[1]})", "context:"},
      {"{\"id\":\"exr_1\",\"context\":{\"big\":\"" + std::string(16 * 1024, 'x') + "\"}}",
       "context: is larger than 16 KiB"},
      {R"({"id":"exr_1","deadline":"soon"})", "deadline: expected a duration like 250ms, 30s, 1m30s, 1.5h or 7d"},
      {R"({"id":"exr_1","deadline":"0s"})", "deadline: must be greater than 0"},
      {R"({"id":"exr_1","deadline":24})", "deadline:"},
      {R"({"id":"exr_1","deadline":"366d"})", "deadline: must be at most 365d"},
      {R"({"id":"exr_1","url":"http://evil"})", "url: unknown field"},
      {R"({"runs":[{"id":"exr_1"}],"extra":1})", "extra: unknown field"},
      {R"({"runs":[]})", "runs:"},
      {R"({"runs":{}})", "runs:"},
      {R"({"runs":[{"id":"exr_1"},"exr_2"]})", "runs[1]"},
      {R"(["exr_1"])", "body"},
      {R"({"id":"exr_1")", "not valid JSON"},
      {"{\"id\":\"exr_\xff\"}", "not valid JSON"},
  };
  for (const auto& one : cases) {
    const auto message = expect_error(serve(verb::post, "/v1/runs", one.body), 400, "invalid_request");
    EXPECT_THAT(message, HasSubstr(one.names)) << one.body.substr(0, 80);
  }
  EXPECT_TRUE(backend.registered.empty());
}

TEST_F(control_routes, a_context_of_exactly_16_kib_is_accepted) {
  const std::string filler(16 * 1024 - std::string_view{R"({"big":""})"}.size(), 'x');
  const auto response = serve(verb::post, "/v1/runs", "{\"id\":\"exr_1\",\"context\":{\"big\":\"" + filler + "\"}}");
  EXPECT_EQ(response.status, 201u) << response.body;
}

TEST_F(control_routes, more_than_ten_thousand_registrations_is_refused) {
  std::string body = R"({"runs":[)";
  for (int index = 0; index <= 10'000; ++index)
    body += (index ? "," : "") + std::string{R"({"id":"exr_)"} + std::to_string(index) + "\"}";
  body += "]}";
  EXPECT_THAT(expect_error(serve(verb::post, "/v1/runs", body), 400, "invalid_request"), HasSubstr("10000"));
}

TEST_F(control_routes, backend_refusals_map_to_400_and_503) {
  backend.before_register = [] { throw invalid_registration("sinks: no sink named 'nope'"); };
  EXPECT_THAT(expect_error(serve(verb::post, "/v1/runs", R"({"id":"exr_1"})"), 400, "invalid_request"),
              HasSubstr("nope"));
  backend.before_register = [] { throw store_full("disk full"); };
  expect_error(serve(verb::post, "/v1/runs", R"({"id":"exr_1"})"), 503, "busy");
  backend.before_register = [] { throw std::runtime_error("bug"); };
  expect_error(serve(verb::post, "/v1/runs", R"({"id":"exr_1"})"), 500, "internal");
}

TEST_F(control_routes, get_run_answers_the_record_or_404) {
  backend.runs.push_back(sample_run("exr_1"));
  const auto response = serve(verb::get, "/v1/runs/exr_1");
  EXPECT_EQ(response.status, 200u);
  EXPECT_EQ(body_of(response).at("deadline_at").as_string(), "2026-11-29T15:04:05.123Z");
  EXPECT_FALSE(backend.waited.has_value());
  expect_error(serve(verb::get, "/v1/runs/exr_2"), 404, "not_found");
  expect_error(serve(verb::get, "/v1/runs/bad%20id"), 404, "not_found");
}

TEST_F(control_routes, wait_is_passed_to_the_backend_and_capped_at_an_hour) {
  backend.runs.push_back(sample_run("exr_1"));
  EXPECT_EQ(serve(verb::get, "/v1/runs/exr_1?wait=30s").status, 200u);
  EXPECT_EQ(backend.waited, std::chrono::milliseconds{30s});
  EXPECT_EQ(serve(verb::get, "/v1/runs/exr_1?wait=1h").status, 200u);
  EXPECT_THAT(expect_error(serve(verb::get, "/v1/runs/exr_1?wait=61m"), 400, "invalid_request"), HasSubstr("wait"));
  EXPECT_THAT(expect_error(serve(verb::get, "/v1/runs/exr_1?wait=soon"), 400, "invalid_request"), HasSubstr("wait"));
  EXPECT_EQ(serve(verb::get, "/v1/runs/exr_1?wait=1m30s").status, 200u);
  EXPECT_THAT(expect_error(serve(verb::get, "/v1/runs/exr_1?wait=30s1m"), 400, "invalid_request"),
              HasSubstr("wait: expected the units from the largest to the smallest"));
  EXPECT_THAT(expect_error(serve(verb::get, "/v1/runs/exr_1?sleep=1s"), 400, "invalid_request"), HasSubstr("sleep"));
}

TEST_F(control_routes, list_runs_pages_with_next) {
  for (const auto* id : {"exr_3", "exr_2", "exr_1"}) backend.runs.push_back(sample_run(id));
  auto page = body_of(serve(verb::get, "/v1/runs?limit=2&state=pending"));
  EXPECT_EQ(page.at("runs").as_array().size(), 2u);
  EXPECT_EQ(page.at("next").as_string(), "exr_2");
  ASSERT_TRUE(backend.last_run_query.has_value());
  EXPECT_EQ(backend.last_run_query->state, run_state::pending);
  EXPECT_EQ(backend.last_run_query->owner, 1000u);  // a non-admin only ever asks for their own

  page = body_of(serve(verb::get, "/v1/runs?after=exr_2&state=all"));
  EXPECT_TRUE(page.at("next").is_null());
  EXPECT_EQ(backend.last_run_query->limit, 100u);
  EXPECT_FALSE(backend.last_run_query->state.has_value());
  EXPECT_EQ(backend.last_run_query->after, "exr_2");

  who.admin = true;
  serve(verb::get, "/v1/runs?state=finished&limit=1000");
  EXPECT_FALSE(backend.last_run_query->owner.has_value());
  EXPECT_EQ(backend.last_run_query->state, run_state::finished);
}

TEST_F(control_routes, list_runs_refuses_bad_parameters_by_name) {
  EXPECT_THAT(expect_error(serve(verb::get, "/v1/runs?state=done"), 400, "invalid_request"), HasSubstr("state"));
  for (const auto* limit : {"0", "1001", "ten", "-1", "5x"}) {
    EXPECT_THAT(expect_error(serve(verb::get, std::string{"/v1/runs?limit="} + limit), 400, "invalid_request"),
                HasSubstr("limit"));
  }
  EXPECT_THAT(expect_error(serve(verb::get, "/v1/runs?after=a%20b"), 400, "invalid_request"), HasSubstr("after"));
  EXPECT_THAT(expect_error(serve(verb::get, "/v1/runs?limit=1&limit=2"), 400, "invalid_request"), HasSubstr("limit"));
  EXPECT_THAT(expect_error(serve(verb::get, "/v1/runs?owner=0"), 400, "invalid_request"), HasSubstr("owner"));
}

TEST_F(control_routes, list_runs_filters_by_kind_and_outcome) {
  body_of(serve(verb::get, "/v1/runs?kind=workflow_run&outcome=needs_review"));
  ASSERT_TRUE(backend.last_run_query.has_value());
  EXPECT_EQ(backend.last_run_query->kind, "workflow_run");
  EXPECT_EQ(backend.last_run_query->outcome, "needs_review");
  body_of(serve(verb::get, "/v1/runs"));
  EXPECT_FALSE(backend.last_run_query->kind.has_value());
  EXPECT_FALSE(backend.last_run_query->outcome.has_value());
}

TEST_F(control_routes, list_runs_names_the_kinds_when_refusing_one) {
  const auto message = expect_error(serve(verb::get, "/v1/runs?kind=extract"), 400, "invalid_request");
  EXPECT_THAT(message, HasSubstr("kind: 'extract' is not a run kind"));
  EXPECT_THAT(message, HasSubstr("extract_run, workflow_run"));
  for (const auto* outcome : {"PROCESSED", "", "proc%20essed", "a-b"}) {
    EXPECT_THAT(expect_error(serve(verb::get, std::string{"/v1/runs?outcome="} + outcome), 400, "invalid_request"),
                HasSubstr("outcome: must be an outcome in lower case"))
        << outcome;
  }
}

TEST_F(control_routes, forget_answers_204_or_404) {
  backend.runs.push_back(sample_run("exr_1"));
  const auto response = serve(verb::delete_, "/v1/runs/exr_1");
  EXPECT_EQ(response.status, 204u);
  EXPECT_TRUE(response.body.empty());
  expect_error(serve(verb::delete_, "/v1/runs/exr_9"), 404, "not_found");
}

TEST_F(control_routes, events_answers_the_parsed_envelopes_in_order) {
  auto run = sample_run("workflow_run_1");
  run.events = {sample_event("workflow_run.needs_review"), sample_event("workflow_run.completed")};
  backend.runs.push_back(run);
  const auto response = serve(verb::get, "/v1/runs/workflow_run_1/events");
  EXPECT_EQ(response.status, 200u);
  const auto events = body_of(response).at("events").as_array();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].at("eventType").as_string(), "workflow_run.needs_review");
  EXPECT_EQ(events[1].at("eventType").as_string(), "workflow_run.completed");
  expect_error(serve(verb::get, "/v1/runs/exr_9/events"), 404, "not_found");
}

TEST_F(control_routes, deliveries_list_with_state_filter) {
  backend.deliveries.push_back(delivery{"event_a:app", "event_a", "exr_1", "app", delivery_state::dead, 9, "HTTP 500",
                                        at(sample_millis), std::nullopt});
  auto response = serve(verb::get, "/v1/deliveries?state=dead");
  EXPECT_EQ(response.status, 200u);
  EXPECT_EQ(backend.last_delivery_query->state, delivery_state::dead);
  EXPECT_EQ(backend.last_delivery_query->owner, 1000u);
  const auto item = body_of(response).at("deliveries").as_array().at(0).as_object();
  EXPECT_EQ(item.size(), 8u);
  EXPECT_EQ(item.at("id").as_string(), "event_a:app");
  EXPECT_EQ(item.at("event_id").as_string(), "event_a");
  EXPECT_EQ(item.at("run_id").as_string(), "exr_1");
  EXPECT_EQ(item.at("last_error").as_string(), "HTTP 500");
  EXPECT_EQ(item.at("next_attempt_at").as_string(), "2026-11-28T15:04:05.123Z");
  serve(verb::get, "/v1/deliveries");
  EXPECT_FALSE(backend.last_delivery_query->state.has_value());
  EXPECT_THAT(expect_error(serve(verb::get, "/v1/deliveries?state=done"), 400, "invalid_request"), HasSubstr("state"));
}

// Paged like /v1/runs: limit (default 100, at most 1000), after, and "next" while a page is full.
TEST_F(control_routes, deliveries_page_like_runs) {
  for (const auto* id : {"event_a:app", "event_b:app", "event_c:app"}) {
    backend.deliveries.push_back(
        delivery{id, "event", "exr_1", "app", delivery_state::pending, 0, std::nullopt, std::nullopt, std::nullopt});
  }
  auto page = body_of(serve(verb::get, "/v1/deliveries?limit=2&state=pending"));
  EXPECT_EQ(page.at("deliveries").as_array().size(), 2u);
  EXPECT_EQ(page.at("next").as_string(), "event_b:app");
  EXPECT_EQ(backend.last_delivery_query->limit, 2u);
  EXPECT_FALSE(backend.last_delivery_query->after.has_value());

  page = body_of(serve(verb::get, "/v1/deliveries?after=event_b%3Aapp"));
  EXPECT_TRUE(page.at("next").is_null());
  EXPECT_EQ(backend.last_delivery_query->limit, 100u);
  EXPECT_EQ(backend.last_delivery_query->after, "event_b:app");

  for (const auto* limit : {"0", "1001", "ten", "-1"}) {
    EXPECT_THAT(expect_error(serve(verb::get, std::string{"/v1/deliveries?limit="} + limit), 400, "invalid_request"),
                HasSubstr("limit"));
  }
  EXPECT_THAT(expect_error(serve(verb::get, "/v1/deliveries?after="), 400, "invalid_request"), HasSubstr("after"));
  EXPECT_THAT(expect_error(serve(verb::get, "/v1/deliveries?sink=app"), 400, "invalid_request"), HasSubstr("sink"));
}

TEST_F(control_routes, retry_answers_202_or_404) {
  EXPECT_EQ(serve(verb::post, "/v1/deliveries/event_a%3Aapp/retry").status, 202u);
  EXPECT_EQ(backend.retried.back(), "event_a:app");
  EXPECT_THAT(expect_error(serve(verb::post, "/v1/deliveries/event_b:app/retry"), 404, "not_found"),
              HasSubstr("no delivery event_b:app"));
  const auto all = serve(verb::post, "/v1/deliveries/retry");
  EXPECT_EQ(all.status, 202u);
  EXPECT_EQ(body_of(all).at("retried").as_int64(), 3);
}

TEST_F(control_routes, health_reports_status_api_and_sinks) {
  backend.report.ok = false;
  backend.report.pending = 5;
  backend.report.api_state = "rate_limited";
  backend.report.sinks["app"] = sink_health{"retrying", 4, 2, "HTTP 503", "http"};
  const auto response = serve(verb::get, "/v1/health");
  EXPECT_EQ(response.status, 200u);
  const auto body = body_of(response);
  EXPECT_EQ(body.at("status").as_string(), "degraded");
  EXPECT_EQ(body.at("pending").as_int64(), 5);
  EXPECT_EQ(body.at("api").at("state").as_string(), "rate_limited");
  EXPECT_TRUE(body.at("api").at("last_error").is_null());
  EXPECT_EQ(body.at("sinks").at("app").at("backlog").as_int64(), 4);
  EXPECT_EQ(body.at("sinks").at("app").at("dead").as_int64(), 2);
  EXPECT_EQ(body.at("sinks").at("app").at("last_error").as_string(), "HTTP 503");
  EXPECT_EQ(body.at("store"), (json::object{{"state", "ok"}, {"backend", "sqlite"}}));
  EXPECT_FALSE(body.contains("cluster"));
  EXPECT_EQ(body.at("subscriptions"), json::object{}) << "present, empty, without subscriptions";
  backend.report.ok = true;
  EXPECT_EQ(body_of(serve(verb::get, "/v1/health")).at("status").as_string(), "ok");
}

TEST_F(control_routes, health_with_a_database_shows_the_store_and_the_cluster) {
  backend.report.ok = false;
  backend.report.store = store_health{.state = "unreachable", .backend = "postgresql"};
  backend.report.cluster =
      cluster_status{.node = "web-2", .term = 3, .live_nodes = {"web-1", "web-2"}, .homes = {"web-2"}};
  const auto body = body_of(serve(verb::get, "/v1/health"));
  EXPECT_EQ(body.at("status").as_string(), "degraded");
  EXPECT_EQ(body.at("store"), (json::object{{"state", "unreachable"}, {"backend", "postgresql"}}));
  EXPECT_EQ(body.at("cluster"), (json::object{{"node", "web-2"},
                                              {"role", "standby"},
                                              {"term", 3},
                                              {"nodes", json::array{"web-1", "web-2"}},
                                              {"homes", json::array{"web-2"}}}));
}

TEST_F(control_routes, health_shows_the_config_file_and_how_the_last_reload_went) {
  const auto started = parse_time("2026-12-06T03:00:00.000Z").value();
  const auto rejected = parse_time("2026-12-06T03:05:00.250Z").value();
  backend.report.config =
      config_health{.path = "/etc/hookless/hookless.yaml", .loaded_at = started, .last_reload = std::nullopt};
  EXPECT_EQ(body_of(serve(verb::get, "/v1/health")).at("config"),
            (json::object{{"path", "/etc/hookless/hookless.yaml"},
                          {"loaded_at", "2026-12-06T03:00:00.000Z"},
                          {"last_reload", nullptr}}));

  backend.report.config->last_reload = reload_result{
      .ok = false, .at = rejected, .error = "/etc/hookless/hookless.yaml:7: extend.timeout: bad", .needs_restart = {}};
  auto body = body_of(serve(verb::get, "/v1/health"));
  EXPECT_EQ(body.at("status").as_string(), "ok") << "a rejected reload leaves the daemon as it was";
  EXPECT_EQ(body.at("config").at("loaded_at").as_string(), "2026-12-06T03:00:00.000Z");
  EXPECT_EQ(body.at("config").at("last_reload"),
            (json::object{{"ok", false},
                          {"at", "2026-12-06T03:05:00.250Z"},
                          {"error", "/etc/hookless/hookless.yaml:7: extend.timeout: bad"},
                          {"needs_restart", json::array{}}}));

  backend.report.config->loaded_at = rejected;
  backend.report.config->last_reload =
      reload_result{.ok = true, .at = rejected, .error = std::nullopt, .needs_restart = {"state.path"}};
  body = body_of(serve(verb::get, "/v1/health"));
  EXPECT_EQ(body.at("config").at("loaded_at").as_string(), "2026-12-06T03:05:00.250Z");
  EXPECT_EQ(body.at("config").at("last_reload"), (json::object{{"ok", true},
                                                               {"at", "2026-12-06T03:05:00.250Z"},
                                                               {"error", nullptr},
                                                               {"needs_restart", json::array{"state.path"}}}));
}

TEST_F(control_routes, metrics_are_prometheus_text) {
  const auto response = serve(verb::get, "/metrics");
  EXPECT_EQ(response.status, 200u);
  EXPECT_THAT(response.content_type, HasSubstr("text/plain"));
  EXPECT_EQ(response.body, "hookless_runs_pending 2\n");
}

TEST_F(control_routes, unknown_paths_are_404_and_wrong_methods_405_with_allow) {
  for (const auto* path : {"/", "/v1", "/v2/runs", "/v1/runs/exr_1/extra", "/v1/runs/", "/v1/health/x"}) {
    expect_error(serve(verb::get, path), 404, "not_found");
  }
  auto response = serve(verb::put, "/v1/runs");
  expect_error(response, 405, "invalid_request");
  EXPECT_EQ(response.allow, "GET, POST");
  response = serve(verb::post, "/v1/runs/exr_1");
  expect_error(response, 405, "invalid_request");
  EXPECT_EQ(response.allow, "GET, DELETE");
  EXPECT_EQ(serve(verb::delete_, "/v1/health").allow, "GET");
  EXPECT_EQ(serve(verb::get, "/v1/deliveries/retry").allow, "POST");
  expect_error(serve(verb::get, "http://[bad"), 400, "invalid_request");
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
  const auto body =
      error_body("not_found", "no run exr_\xff\xfe, no path /\xc3\x28, fine: \xc3\xa9 \xf0\x9f\x98\x80, cut \xe2\x82");
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

}  // namespace
}  // namespace hookless
