// The control API in front of a real run tracker and SQLite store, in-process, with fake uids (so
// no root and no real users): a run belongs to the uid that registered it and is invisible to
// others (404), admins see every run, a batch naming another user's run is refused whole (403),
// and each uid has its own control.max_pending_per_user (429), counted from the store after a
// restart. Requests go through the control routes, so the statuses are the ones clients get.
#include "daemon/hooklessd/tracker_backend.hpp"
#include "config/config_loader.hpp"
#include "core/delivery/sink.hpp"
#include "core/model/event_envelope.hpp"
#include "core/net/request_budget.hpp"
#include "core/store/sqlite_store.hpp"
#include "core/tracking/run_tracker.hpp"
#include "daemon/control/control_routes.hpp"
#include "tests/support/run_with_deadline.hpp"
#include "tests/support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace hookless {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using boost::beast::http::verb;

const caller alice{.uid = 1001, .admin = false};
const caller bob{.uid = 1002, .admin = false};
const caller admin{.uid = 0, .admin = true};

// Every run stays PENDING: the tests are about who may see and register what, not outcomes.
class pending_source final : public run_source {
 public:
  awaitable<extend_answer> fetch(const run_kind_info& kind, std::string_view run_id, send_turn wait_turn,
                                 request_place) override {
    // (Awaited into a named local: g++ 12 mishandles a co_await inside an if condition.)
    const bool may_send = co_await wait_turn();
    if (!may_send) co_return extend_answer{};
    extend_answer answer;
    answer.kind = answer_kind::run;
    answer.status = "PENDING";
    answer.payload =
        R"({"object":")" + std::string{kind.kind} + R"(","id":")" + std::string{run_id} + R"(","status":"PENDING"})";
    co_return answer;
  }
  awaitable<list_answer> list(const run_kind_info&, const page_request&, send_turn, request_place) override {
    co_return interpret_list(404, "", std::nullopt, describe_kind("extract_run", api_generation::current).value(),
                             clock_type::now());
  }
};

// Never reached (no run finishes); the tracker needs the configured sink to exist.
class unused_sink final : public sink {
 public:
  awaitable<delivery_result> deliver(const delivery_job&) override {
    co_return delivery_result{.delivered = true, .error = {}, .retry_after = {}};
  }
};

class tracker_backend_test : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto loaded = load_config_text(
        "sinks:\n  app:\n    type: stdout\ndefault_sinks: [app]\n"
        "control:\n  max_pending_per_user: 3\n",
        "test.yaml");
    ASSERT_TRUE(loaded.value) << (loaded.problems.empty() ? "" : loaded.problems[0].message);
    settings_ = *loaded.value;
    open_report report;
    store_ = sqlite_store::open(io_.get_executor(), (dir_ / "state.db").string(), report);
    budget_ =
        std::make_unique<request_budget>(io_.get_executor(), request_budget::options{.requests_per_second = 5000});
    tracker_settings tracking;
    tracking.polling.list_endpoints = false;
    tracker_ = std::make_unique<run_tracker>(io_.get_executor(), *store_, source_, *budget_,
                                             std::map<std::string, sink*>{{"app", &sink_}}, tracking,
                                             [this](std::exception_ptr) { ++fatal_calls_; });
    start_backend();
    run([this]() -> awaitable<void> { co_await tracker_->start(); });
  }

  void TearDown() override {
    if (tracker_) tracker_->stop();
    if (budget_) budget_->stop();
    io_.restart();
    io_.run_for(100ms);  // let the stopped tasks end before their objects go
    EXPECT_EQ(fatal_calls_, 0);
  }

  // A fresh backend on the same tracker and store: what a restarted daemon starts with.
  void start_backend() {
    backend_ = std::make_unique<tracker_backend>(*tracker_, *store_, settings_,
                                                 [this](std::exception_ptr) { ++fatal_calls_; });
  }

  void run(std::function<awaitable<void>()> body) { test::run_with_deadline(io_, std::move(body), 10s); }

  // One request through the control routes to the backend, as `who`.
  control_response serve(const caller& who, verb method, std::string target, std::string body = {}) {
    control_response response;
    run([&]() -> awaitable<void> {
      // A named local, not a temporary in the co_await: g++ 12 frees those twice.
      control_request request{.method = method, .target = std::move(target), .body = std::move(body), .who = who};
      response = co_await handle_control_request(*backend_, std::move(request));
    });
    return response;
  }

  unsigned status(const caller& who, verb method, std::string target, std::string body = {}) {
    return serve(who, method, std::move(target), std::move(body)).status;
  }

  // The IDs GET /v1/runs lists for `who`.
  std::set<std::string> listed(const caller& who) {
    const auto response = serve(who, verb::get, "/v1/runs?state=all");
    EXPECT_EQ(response.status, 200u) << response.body;
    const auto page = json::parse(response.body);
    std::set<std::string> ids;
    for (const auto& run : page.at("runs").as_array()) {
      ids.insert(std::string{run.at("id").as_string()});
    }
    return ids;
  }

  test::temp_dir temp_{"hookless-backend"};
  std::filesystem::path dir_ = temp_.path();
  asio::io_context io_{1};
  config settings_;
  std::unique_ptr<sqlite_store> store_;
  pending_source source_;
  unused_sink sink_;
  std::unique_ptr<request_budget> budget_;
  std::unique_ptr<run_tracker> tracker_;
  std::unique_ptr<tracker_backend> backend_;
  int fatal_calls_ = 0;
};

TEST_F(tracker_backend_test, a_run_is_seen_and_changed_only_by_its_owner_and_admins) {
  ASSERT_EQ(status(alice, verb::post, "/v1/runs", R"({"id":"exr_alice"})"), 201u);
  ASSERT_EQ(status(bob, verb::post, "/v1/runs", R"({"id":"exr_bob"})"), 201u);

  EXPECT_EQ(status(alice, verb::get, "/v1/runs/exr_alice"), 200u);
  EXPECT_EQ(status(bob, verb::get, "/v1/runs/exr_alice"), 404u);
  EXPECT_EQ(status(bob, verb::get, "/v1/runs/exr_alice/events"), 404u);
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(status(bob, verb::get, "/v1/runs/exr_alice?wait=5s"), 404u);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 4s) << "404 at once, not when the run finishes";
  EXPECT_EQ(status(admin, verb::get, "/v1/runs/exr_alice"), 200u);

  EXPECT_EQ(listed(alice), (std::set<std::string>{"exr_alice"}));
  EXPECT_EQ(listed(bob), (std::set<std::string>{"exr_bob"}));
  EXPECT_EQ(listed(admin), (std::set<std::string>{"exr_alice", "exr_bob"}));

  EXPECT_EQ(status(bob, verb::delete_, "/v1/runs/exr_alice"), 404u);
  EXPECT_EQ(status(alice, verb::get, "/v1/runs/exr_alice"), 200u);  // still there
  EXPECT_EQ(status(admin, verb::delete_, "/v1/runs/exr_bob"), 204u);
  EXPECT_EQ(listed(bob), std::set<std::string>{});
}

TEST_F(tracker_backend_test, a_batch_naming_another_users_run_is_refused_whole) {
  ASSERT_EQ(status(alice, verb::post, "/v1/runs", R"({"id":"exr_alice","context":{"secret":"alice-context"}})"), 201u);
  const auto single = serve(bob, verb::post, "/v1/runs", R"({"id":"exr_alice"})");
  EXPECT_EQ(single.status, 403u) << single.body;
  EXPECT_NE(single.body.find("\"forbidden\""), std::string::npos) << single.body;
  EXPECT_NE(single.body.find("exr_alice"), std::string::npos) << "the error names the refused ID: " << single.body;
  for (const std::string hidden : {"alice-context", "pending", "1001"}) {
    EXPECT_EQ(single.body.find(hidden), std::string::npos) << "the answer tells '" << hidden << "': " << single.body;
  }

  const auto refused = serve(bob, verb::post, "/v1/runs", R"({"runs":[{"id":"exr_bob"},{"id":"exr_alice"}]})");
  EXPECT_EQ(refused.status, 403u) << refused.body;
  // Nothing of the batch was kept, and the owner did not change.
  EXPECT_EQ(status(admin, verb::get, "/v1/runs/exr_bob"), 404u);
  EXPECT_EQ(listed(bob), std::set<std::string>{});
  EXPECT_EQ(listed(alice), (std::set<std::string>{"exr_alice"}));
  EXPECT_EQ(status(bob, verb::get, "/v1/runs/exr_alice"), 404u) << "a refused registration gives no access";
  // Bob's quota (max_pending_per_user: 3) was given back in full.
  EXPECT_EQ(status(bob, verb::post, "/v1/runs", R"({"runs":[{"id":"exr_b1"},{"id":"exr_b2"},{"id":"exr_b3"}]})"), 201u);
  // The owner registering it again is fine (200: nothing new), and so is an admin.
  EXPECT_EQ(status(alice, verb::post, "/v1/runs", R"({"id":"exr_alice"})"), 200u);
  EXPECT_EQ(status(admin, verb::post, "/v1/runs", R"({"id":"exr_alice"})"), 200u);
}

TEST_F(tracker_backend_test, each_uid_has_its_own_pending_limit_and_admins_none) {
  ASSERT_EQ(status(alice, verb::post, "/v1/runs", R"({"runs":[{"id":"exr_a1"},{"id":"exr_a2"},{"id":"exr_a3"}]})"),
            201u);
  const auto over = serve(alice, verb::post, "/v1/runs", R"({"id":"exr_a4"})");
  EXPECT_EQ(over.status, 429u) << over.body;
  EXPECT_NE(over.body.find("max_pending_per_user"), std::string::npos) << over.body;
  EXPECT_EQ(status(admin, verb::get, "/v1/runs/exr_a4"), 404u);  // nothing kept
  // Runs already held do not count twice; another uid has a whole limit of its own.
  EXPECT_EQ(status(alice, verb::post, "/v1/runs", R"({"id":"exr_a3"})"), 200u);
  EXPECT_EQ(status(bob, verb::post, "/v1/runs", R"({"runs":[{"id":"exr_b1"},{"id":"exr_b2"},{"id":"exr_b3"}]})"), 201u);
  EXPECT_EQ(status(admin, verb::post, "/v1/runs",
                   R"({"runs":[{"id":"exr_z1"},{"id":"exr_z2"},{"id":"exr_z3"},{"id":"exr_z4"}]})"),
            201u);
  // A run that stops pending gives its place back.
  EXPECT_EQ(status(alice, verb::delete_, "/v1/runs/exr_a1"), 204u);
  EXPECT_EQ(status(alice, verb::post, "/v1/runs", R"({"id":"exr_a4"})"), 201u);
}

TEST_F(tracker_backend_test, the_pending_limit_counts_the_runs_in_the_store_after_a_restart) {
  ASSERT_EQ(status(alice, verb::post, "/v1/runs", R"({"runs":[{"id":"exr_a1"},{"id":"exr_a2"},{"id":"exr_a3"}]})"),
            201u);
  start_backend();
  EXPECT_EQ(status(alice, verb::post, "/v1/runs", R"({"id":"exr_a4"})"), 429u);
  EXPECT_EQ(status(bob, verb::post, "/v1/runs", R"({"id":"exr_b1"})"), 201u);
}

// GET /v1/events: the recent events and the live ones are the caller's only (an admin's: all),
// ?run= narrows them to one run of the caller's (another user's run is 404), and the query is checked.
class tracker_backend_events_test : public tracker_backend_test {
 protected:
  // Records an event for the stored run `id` as the tracker would (the run stays pending).
  std::string record_event(const std::string& id, const std::string& event_type) {
    std::string event_id;
    run([&]() -> awaitable<void> {
      auto stored = co_await store_->find_run(id);
      EXPECT_TRUE(stored.has_value()) << id;
      if (!stored) co_return;
      run_outcome change;
      change.run = *stored;
      const auto payload = R"({"object":"extract_run","id":")" + id + R"(","status":"PROCESSED"})";
      auto event = make_event(change.run, event_type, payload, clock_type::now());
      event_id = event.event_id;
      change.run.events.push_back(event);
      change.new_events.push_back(std::move(event));
      co_await store_->record_outcome(std::move(change));
    });
    return event_id;
  }

  // The run IDs of a stream's lines, in order.
  static std::vector<std::string> run_ids(const std::vector<std::string>& lines) {
    std::vector<std::string> ids;
    for (const auto& line : lines) {
      ids.emplace_back(json::parse(line).at("payload").at("id").as_string());
    }
    return ids;
  }

  live_events hub_{{.max_events = 10, .max_bytes = 1'000'000}};
};

TEST_F(tracker_backend_events_test, recent_and_live_events_are_the_callers_own) {
  backend_->serve_events(&hub_);
  ASSERT_EQ(status(alice, verb::post, "/v1/runs", R"({"id":"exr_alice"})"), 201u);
  ASSERT_EQ(status(bob, verb::post, "/v1/runs", R"({"id":"exr_bob"})"), 201u);
  record_event("exr_alice", "extract_run.processed");
  record_event("exr_bob", "extract_run.processed");

  const auto mine = serve(alice, verb::get, "/v1/events?follow=1");
  ASSERT_EQ(mine.status, 200u) << mine.body;
  EXPECT_EQ(mine.content_type, "application/x-ndjson");
  ASSERT_TRUE(mine.stream && mine.stream->live);
  EXPECT_EQ(run_ids(mine.stream->recent), std::vector<std::string>{"exr_alice"});
  const auto everyone = serve(admin, verb::get, "/v1/events");
  ASSERT_TRUE(everyone.stream);
  EXPECT_EQ(everyone.stream->live, nullptr) << "no follower without follow=1";
  EXPECT_EQ(run_ids(everyone.stream->recent), (std::vector<std::string>{"exr_alice", "exr_bob"}));

  const auto bobs = serve(bob, verb::get, "/v1/events?follow=1&run=exr_bob");
  ASSERT_TRUE(bobs.stream && bobs.stream->live);
  hub_.publish(live_event{.run_id = "exr_bob", .owner_uid = bob.uid, .event_id = "event_b2", .body = R"({"b":2})"});
  hub_.publish(live_event{.run_id = "exr_alice", .owner_uid = alice.uid, .event_id = "event_a2", .body = R"({"a":2})"});
  EXPECT_EQ(mine.stream->live->take(), std::vector<std::string>{R"({"a":2})"});
  EXPECT_EQ(bobs.stream->live->take(), std::vector<std::string>{R"({"b":2})"});

  // Another user's run is as unknown as a run never registered.
  EXPECT_EQ(status(bob, verb::get, "/v1/events?follow=1&run=exr_alice"), 404u);
  EXPECT_EQ(status(bob, verb::get, "/v1/events?run=exr_nobody"), 404u);
  EXPECT_EQ(status(admin, verb::get, "/v1/events?run=exr_alice"), 200u);
  EXPECT_EQ(status(alice, verb::get, "/v1/events?follow=yes"), 400u);
  EXPECT_EQ(status(alice, verb::get, "/v1/events?since=1"), 400u);
  EXPECT_EQ(status(alice, verb::post, "/v1/events"), 405u);
}

TEST_F(tracker_backend_events_test, a_live_event_already_among_the_recent_ones_is_not_sent_twice) {
  backend_->serve_events(&hub_);
  ASSERT_EQ(status(alice, verb::post, "/v1/runs", R"({"id":"exr_alice"})"), 201u);
  const auto event_id = record_event("exr_alice", "extract_run.processed");
  const auto mine = serve(alice, verb::get, "/v1/events?follow=1");
  ASSERT_TRUE(mine.stream && mine.stream->live);
  ASSERT_EQ(mine.stream->recent.size(), 1u);
  // The tracker publishes after the store has it: a stream opened in between saw it in the store.
  hub_.publish(live_event{.run_id = "exr_alice", .owner_uid = alice.uid, .event_id = event_id, .body = "{}"});
  EXPECT_TRUE(mine.stream->live->take().empty());
}

// A run a subscription found belongs to no user (owner no_owner_uid): no user sees it, in a
// record, a list or the event stream; admins see it everywhere.
TEST_F(tracker_backend_events_test, a_run_of_no_user_is_seen_by_admins_only) {
  backend_->serve_events(&hub_);
  ASSERT_EQ(status(alice, verb::post, "/v1/runs", R"({"id":"exr_alice"})"), 201u);
  run([&]() -> awaitable<void> {
    registration one;
    one.id = "exr_found";
    one.kind = "extract_run";
    one.sinks = {"app"};
    std::vector<registration> found{std::move(one)};
    co_await tracker_->register_runs(no_owner_uid, std::move(found));
  });
  record_event("exr_found", "extract_run.processed");

  for (const auto& who : {alice, bob}) {
    EXPECT_EQ(status(who, verb::get, "/v1/runs/exr_found"), 404u);
    EXPECT_EQ(status(who, verb::get, "/v1/runs/exr_found/events"), 404u);
    EXPECT_EQ(status(who, verb::get, "/v1/events?run=exr_found"), 404u);
    EXPECT_EQ(status(who, verb::delete_, "/v1/runs/exr_found"), 404u);
    EXPECT_FALSE(listed(who).contains("exr_found"));
  }
  const auto mine = serve(alice, verb::get, "/v1/events?follow=1");
  ASSERT_TRUE(mine.stream && mine.stream->live);
  EXPECT_TRUE(mine.stream->recent.empty());
  hub_.publish(live_event{.run_id = "exr_found", .owner_uid = no_owner_uid, .event_id = "event_f", .body = "{}"});
  EXPECT_TRUE(mine.stream->live->take().empty());

  EXPECT_EQ(status(admin, verb::get, "/v1/runs/exr_found"), 200u);
  EXPECT_EQ(listed(admin), (std::set<std::string>{"exr_alice", "exr_found"}));
  // Registering it after the subscription found it is no error (an application moving to a
  // subscription keeps registering for a while), and it stays the subscription's.
  EXPECT_EQ(status(bob, verb::post, "/v1/runs", R"({"id":"exr_found"})"), 200u);
  EXPECT_EQ(status(bob, verb::get, "/v1/runs/exr_found"), 404u);
  const auto everyone = serve(admin, verb::get, "/v1/events");
  ASSERT_TRUE(everyone.stream);
  EXPECT_EQ(run_ids(everyone.stream->recent), std::vector<std::string>{"exr_found"});
}

// Health and metrics tell which store the daemon runs on; with a database, what it knows of the
// cluster, and an unreachable database makes it degraded (hooklessctl health exits 1).
TEST_F(tracker_backend_test, sqlite_health_shows_the_store_and_no_cluster) {
  const auto body = json::parse(serve(admin, verb::get, "/v1/health").body).as_object();
  EXPECT_EQ(body.at("store"), (json::object{{"state", "ok"}, {"backend", "sqlite"}}));
  EXPECT_FALSE(body.contains("cluster"));
  const auto text = backend_->metrics();
  EXPECT_NE(text.find("\nhookless_store_up 1\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("hookless_cluster_"), std::string::npos) << "no cluster families on SQLite";
}

TEST_F(tracker_backend_test, database_health_and_metrics_show_the_cluster_and_an_unreachable_store) {
  cluster_status status{.node = "web-1",
                        .poller = true,
                        .term = 7,
                        .live_nodes = {"web-1", "web-2"},
                        .homes = {"web-1", "web-3"},
                        .takeovers = 1,
                        .poller_terms = 2,
                        .store_reachable = true};
  backend_ = std::make_unique<tracker_backend>(
      *tracker_, *store_, settings_, [this](std::exception_ptr) { ++fatal_calls_; }, nullptr, nullptr,
      [&status] { return status; });
  auto body = json::parse(serve(admin, verb::get, "/v1/health").body).as_object();
  EXPECT_EQ(body.at("status"), "ok");
  EXPECT_EQ(body.at("store"), (json::object{{"state", "ok"}, {"backend", "postgresql"}}));
  EXPECT_EQ(body.at("cluster"), (json::object{{"node", "web-1"},
                                              {"role", "poller"},
                                              {"term", 7},
                                              {"nodes", json::array{"web-1", "web-2"}},
                                              {"homes", json::array{"web-1", "web-3"}}}));
  auto text = backend_->metrics();
  for (const char* line :
       {"\nhookless_store_up 1\n", "\nhookless_cluster_poller 1\n", "\nhookless_cluster_poller_terms_total 2\n",
        "\nhookless_cluster_takeovers_total 1\n", "\nhookless_cluster_live_nodes 2\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " in\n" << text;
  }

  status.poller = false;
  status.store_reachable = false;
  body = json::parse(serve(admin, verb::get, "/v1/health").body).as_object();
  EXPECT_EQ(body.at("status"), "degraded");
  EXPECT_EQ(body.at("store").at("state"), "unreachable");
  EXPECT_EQ(body.at("cluster").at("role"), "standby");
  text = backend_->metrics();
  EXPECT_NE(text.find("\nhookless_store_up 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nhookless_cluster_poller 0\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace hookless
