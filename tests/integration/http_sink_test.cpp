// The http sink against a real receiver on 127.0.0.1 (port 0), over HTTPS with a test CA, and on a
// Unix socket in a temp dir: the signed request, kept-alive connections, every kind of failure,
// certificates that must be refused; and the delivery queue in front of it: retries, Retry-After,
// dead letters, order per run, the in-flight bound, isolation.
#include "core/delivery/http_sink.hpp"
#include "core/delivery/delivery_queue.hpp"
#include "core/formats/timestamp.hpp"
#include "core/model/event_envelope.hpp"
#include "core/net/tls_context.hpp"
#include "tests/integration/callback_receiver.hpp"
#include "tests/support/run_with_deadline.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_certs.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <filesystem>
#include <functional>

namespace hookless {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using testing::callback_receiver;
using testing::received_request;
using testing::receiver_answer;
using testing::tls_identity;

const std::string secret = "wss_integration_secret";

// Only what the queue uses; the rest answers nothing.
class memory_store final : public state_store {
 public:
  std::vector<delivery> updates;

  awaitable<std::vector<run_record>> load_pending() override { co_return std::vector<run_record>{}; }
  awaitable<std::vector<delivery_job>> load_undone_deliveries() override { co_return std::vector<delivery_job>{}; }
  awaitable<std::vector<bool>> insert_runs(std::vector<run_record>) override { co_return std::vector<bool>{}; }
  awaitable<void> save_progress(std::vector<run_progress>) override { co_return; }
  awaitable<void> record_outcome(run_outcome) override { co_return; }
  awaitable<void> update_delivery(delivery record) override {
    updates.push_back(std::move(record));
    co_return;
  }
  awaitable<std::optional<run_record>> find_run(std::string) override { co_return std::nullopt; }
  awaitable<std::vector<std::optional<std::uint32_t>>> owners_of(std::vector<std::string> ids) override {
    co_return std::vector<std::optional<std::uint32_t>>(ids.size());
  }
  awaitable<std::vector<run_record>> list_runs(run_query) override { co_return std::vector<run_record>{}; }
  awaitable<std::vector<delivery>> list_deliveries(delivery_query) override { co_return std::vector<delivery>{}; }
  awaitable<std::map<std::string, std::size_t>> count_dead_deliveries() override {
    co_return std::map<std::string, std::size_t>{};
  }
  awaitable<std::optional<delivery_job>> find_delivery(std::string) override { co_return std::nullopt; }
  awaitable<bool> delete_run(std::string) override { co_return false; }
  awaitable<std::size_t> prune_finished(time_point) override { co_return 0; }
  awaitable<std::vector<subscription_position>> load_subscription_positions() override {
    co_return std::vector<subscription_position>{};
  }
  awaitable<std::vector<found_run>> save_finds(subscription_finds) override { co_return std::vector<found_run>{}; }
  awaitable<void> drop_subscription_position(std::string, std::string) override { co_return; }

  awaitable<std::vector<recorded_event>> events_after(event_position, std::size_t) override {
    co_return std::vector<recorded_event>{};
  }
  awaitable<event_position> newest_event_position() override { co_return 0; }

  std::optional<delivery> last_of(const std::string& id) const {
    for (auto it = updates.rbegin(); it != updates.rend(); ++it) {
      if (it->id == id) return *it;
    }
    return std::nullopt;
  }
};

delivery_job make_job(const std::string& run_id, const std::string& event_type,
                      time_point detected = clock_type::now()) {
  const auto event_id = make_event_id(run_id, event_type);
  const std::string body = R"({"eventId":")" + event_id + R"(","eventType":")" + event_type + R"(","payload":{"id":")" +
                           run_id + R"(","note":"caf\u00e9 \u2713"},"hookless":{"detectedAt":")" +
                           format_time(detected) + R"(","polls":1}})";
  return delivery_job{.record = delivery{.id = event_id + ":app",
                                         .event_id = event_id,
                                         .run_id = run_id,
                                         .sink = "app",
                                         .state = delivery_state::pending,
                                         .attempts = 0,
                                         .last_error = std::nullopt,
                                         .next_attempt_at = std::nullopt,
                                         .redelivered_at = std::nullopt},
                      .event_type = event_type,
                      .body = body,
                      .home = {}};
}

http_sink_options options_for(const std::string& url, milliseconds timeout = 5s, std::size_t in_flight = 4,
                              std::optional<milliseconds> max_age = std::nullopt, bool standard = false) {
  const bool https = url.starts_with("https://");  // only with allow_remote, as the config loader says
  auto parsed = parse_sink_target(url, https);
  return http_sink_options{.target = std::get<sink_target>(parsed),
                           .signing = callback_signing{.secret = secret,
                                                       .standard_webhooks = standard,
                                                       .api_version = "2026-02-09",
                                                       .user_agent = "hookless/test"},
                           .timeout = timeout,
                           .limits = delivery_limits{.max_in_flight = in_flight, .max_age = max_age}};
}

using test::run_until;

// One delivery through the sink, driven to completion.
delivery_result deliver_once(asio::io_context& io, sink& target, const delivery_job& job,
                             std::chrono::milliseconds limit = 10s) {
  std::optional<delivery_result> result;
  asio::co_spawn(io, target.deliver(job), [&](std::exception_ptr failure, delivery_result r) {
    if (failure) std::rethrow_exception(failure);
    result = std::move(r);
  });
  if (!run_until(
          io, [&] { return result.has_value(); }, limit)) {
    ADD_FAILURE() << "the delivery did not finish";
    return {};
  }
  return *result;
}

TEST(http_sink, posts_the_envelope_signed_byte_for_byte) {
  callback_receiver receiver;
  asio::io_context io;
  auto target = make_http_sink(io.get_executor(), nullptr, options_for(receiver.url("/webhooks/extend?v=1")));
  const auto job = make_job("exr_sign", "extract_run.processed");
  const auto result = deliver_once(io, *target, job);
  ASSERT_TRUE(result.delivered) << result.error;

  ASSERT_EQ(receiver.count(), 1u);
  const auto request = receiver.requests().front();
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/webhooks/extend?v=1");
  EXPECT_EQ(request.body, job.body);
  EXPECT_EQ(request.header("content-type"), "application/json");
  EXPECT_EQ(request.header("content-length"), std::to_string(job.body.size()));
  EXPECT_EQ(request.header("host"), "127.0.0.1:" + std::to_string(receiver.port()));
  EXPECT_EQ(request.header("x-extend-api-version"), "2026-02-09");
  EXPECT_EQ(request.header("idempotency-key"), job.record.event_id);
  EXPECT_EQ(request.header("user-agent"), "hookless/test");
  const auto timestamp = std::stoll(request.header("x-extend-request-timestamp"));
  EXPECT_LE(std::abs(timestamp - request.received_unix), 2);
  EXPECT_EQ(request.header("x-extend-request-signature"), extend_signature(secret, timestamp, request.body));
  EXPECT_EQ(request.header("webhook-signature"), "");
}

TEST(http_sink, standard_webhooks_headers_when_configured) {
  callback_receiver receiver;
  asio::io_context io;
  auto target = make_http_sink(io.get_executor(), nullptr, options_for(receiver.url(), 5s, 4, std::nullopt, true));
  const auto job = make_job("exr_std", "extract_run.processed");
  ASSERT_TRUE(deliver_once(io, *target, job).delivered);
  const auto request = receiver.requests().at(0);
  EXPECT_EQ(request.header("webhook-id"), job.record.event_id);
  EXPECT_EQ(request.header("webhook-timestamp"), request.header("x-extend-request-timestamp"));
  EXPECT_EQ(request.header("webhook-signature"),
            standard_webhooks_signature(secret, job.record.event_id, std::stoll(request.header("webhook-timestamp")),
                                        request.body));
}

TEST(http_sink, keeps_the_connection_alive_between_deliveries) {
  callback_receiver receiver;
  asio::io_context io;
  auto target = make_http_sink(io.get_executor(), nullptr, options_for(receiver.url()));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(deliver_once(io, *target, make_job("exr_keep" + std::to_string(i), "extract_run.processed")).delivered);
  }
  EXPECT_EQ(receiver.count(), 5u);
  EXPECT_EQ(receiver.connections_accepted(), 1u);
}

TEST(http_sink, a_kept_alive_connection_closed_by_the_receiver_is_replaced) {
  callback_receiver receiver;
  asio::io_context io;
  auto target = make_http_sink(io.get_executor(), nullptr, options_for(receiver.url()));
  ASSERT_TRUE(deliver_once(io, *target, make_job("exr_stale1", "extract_run.processed")).delivered);
  receiver.close_idle_connections();
  const auto second = deliver_once(io, *target, make_job("exr_stale2", "extract_run.processed"));
  EXPECT_TRUE(second.delivered) << second.error;
  EXPECT_EQ(receiver.count(), 2u);
  EXPECT_EQ(receiver.connections_accepted(), 2u);
}

TEST(http_sink, delivers_to_a_unix_socket) {
  const test::temp_dir dir{"hookless-http"};
  const auto socket = dir / "app.sock";
  {
    callback_receiver receiver{socket};
    asio::io_context io;
    auto target = make_http_sink(io.get_executor(), nullptr, options_for("unix:" + socket.string() + ":/webhooks/x"));
    const auto job = make_job("exr_unix", "extract_run.processed");
    const auto result = deliver_once(io, *target, job);
    ASSERT_TRUE(result.delivered) << result.error;
    const auto request = receiver.requests().at(0);
    EXPECT_EQ(request.target, "/webhooks/x");
    EXPECT_EQ(request.body, job.body);
    EXPECT_EQ(request.header("host"), "localhost");
    EXPECT_EQ(request.header("x-extend-request-signature"),
              extend_signature(secret, std::stoll(request.header("x-extend-request-timestamp")), job.body));
  }
}

TEST(http_sink, any_2xx_is_success_anything_else_a_failure_with_its_status) {
  callback_receiver receiver;
  asio::io_context io;
  auto target = make_http_sink(io.get_executor(), nullptr, options_for(receiver.url()));
  const auto job = make_job("exr_status", "extract_run.processed");

  receiver.answer_always(204);
  EXPECT_TRUE(deliver_once(io, *target, job).delivered);
  receiver.answer_always(299);
  EXPECT_TRUE(deliver_once(io, *target, job).delivered);

  receiver.answer_always(500);
  auto failed = deliver_once(io, *target, job);
  EXPECT_FALSE(failed.delivered);
  EXPECT_NE(failed.error.find("HTTP 500"), std::string::npos) << failed.error;
  EXPECT_FALSE(failed.retry_after);

  receiver.answer_always(301);
  EXPECT_FALSE(deliver_once(io, *target, job).delivered);

  receiver.answer_always(429, "3");
  failed = deliver_once(io, *target, job);
  EXPECT_FALSE(failed.delivered);
  EXPECT_NE(failed.error.find("HTTP 429"), std::string::npos) << failed.error;
  ASSERT_TRUE(failed.retry_after);
  EXPECT_EQ(*failed.retry_after, 3000ms);
}

TEST(http_sink, a_refused_connection_fails_at_once) {
  std::uint16_t port = 0;
  {
    callback_receiver gone;
    port = gone.port();
  }
  asio::io_context io;
  auto target =
      make_http_sink(io.get_executor(), nullptr, options_for("http://127.0.0.1:" + std::to_string(port) + "/hook"));
  const auto started = std::chrono::steady_clock::now();
  const auto result = deliver_once(io, *target, make_job("exr_refused", "extract_run.processed"));
  EXPECT_FALSE(result.delivered);
  EXPECT_NE(result.error.find("connect"), std::string::npos) << result.error;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(http_sink, a_receiver_that_hangs_times_out) {
  callback_receiver receiver;
  receiver.set_policy([](const received_request&, std::size_t) { return receiver_answer::hang(); });
  asio::io_context io;
  auto target = make_http_sink(io.get_executor(), nullptr, options_for(receiver.url(), 300ms));
  const auto started = std::chrono::steady_clock::now();
  const auto result = deliver_once(io, *target, make_job("exr_hang", "extract_run.processed"));
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(result.delivered);
  EXPECT_NE(result.error.find("timeout"), std::string::npos) << result.error;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
  receiver.release_hung();
}

TEST(http_sink, a_receiver_that_closes_without_answering_is_a_failure) {
  callback_receiver receiver;
  receiver.set_policy([](const received_request&, std::size_t) { return receiver_answer::close(); });
  asio::io_context io;
  auto target = make_http_sink(io.get_executor(), nullptr, options_for(receiver.url()));
  const auto result = deliver_once(io, *target, make_job("exr_cut", "extract_run.processed"));
  EXPECT_FALSE(result.delivered);
  EXPECT_FALSE(result.error.empty());
}

TEST(http_sink, retry_after_in_seconds_or_as_a_date) {
  const auto now = clock_type::from_time_t(1'700'000'000);  // Tue, 14 Nov 2023 22:13:20 GMT
  const auto judged = judge_reply(503, "busy\nnow", std::string_view{"7"}, now);
  EXPECT_FALSE(judged.delivered);
  EXPECT_EQ(judged.error, "HTTP 503: busy now");
  EXPECT_EQ(judged.retry_after, 7'000ms);
  EXPECT_TRUE(judge_reply(200, "", std::nullopt, now).delivered);
}

TEST(http_sink, the_event_time_is_read_from_the_envelope) {
  const auto at = std::chrono::floor<milliseconds>(clock_type::now());
  EXPECT_EQ(detected_at_of(make_job("exr_t", "extract_run.processed", at).body), at);
  EXPECT_FALSE(detected_at_of("{}"));
  EXPECT_FALSE(detected_at_of("not json"));
  EXPECT_FALSE(detected_at_of(R"({"hookless":{"detectedAt":"yesterday"}})"));
}

// ---- the delivery queue in front of the sink ----------------------------------------------------

class queue_test : public ::testing::Test {
 protected:
  void TearDown() override {
    // Let every delivery still with a sink come back before the queue goes away.
    for (auto& queue : queues_) queue->stop();
    for (auto& receiver : receivers_) receiver->release_hung();
    run_until(
        io_,
        [&] {
          return std::ranges::all_of(queues_, [](const auto& q) { return q->in_flight() == 0; }) &&
                 stopped_ == queues_.size();
        },
        10s);
  }

  delivery_queue& start_queue(sink& target, delivery_queue::retry_policy policy = fast_policy()) {
    queues_.push_back(std::make_shared<delivery_queue>(io_.get_executor(), "app", target, store_, policy));
    auto& queue = *queues_.back();
    asio::co_spawn(io_, queue.run(), [this](std::exception_ptr failure) {
      ++stopped_;
      if (failure) std::rethrow_exception(failure);
    });
    return queue;
  }

  callback_receiver& add_receiver() { return *receivers_.emplace_back(std::make_unique<callback_receiver>()); }
  callback_receiver& add_receiver(const test_certs& certs) {
    return *receivers_.emplace_back(std::make_unique<callback_receiver>(tls_identity{certs.cert_pem, certs.key_pem}));
  }
  sink& add_sink(http_sink_options options, std::shared_ptr<asio::ssl::context> tls = nullptr) {
    return *sinks_.emplace_back(make_http_sink(io_.get_executor(), std::move(tls), std::move(options)));
  }

  // A client context as hooklessd builds an https sink's: the system store plus the CA in the
  // sink's ca_file.
  static std::shared_ptr<asio::ssl::context> trusting(const std::string& ca_pem) {
    static int files = 0;
    const auto file = fs::temp_directory_path() /
                      ("hookless-sink-ca-" + std::to_string(::getpid()) + "-" + std::to_string(++files) + ".pem");
    write_text_file(file, ca_pem);
    auto context = std::make_shared<asio::ssl::context>(make_client_tls_context(std::nullopt));
    add_trust_anchors(*context, file.string(), "sinks.app.ca_file");
    fs::remove(file);
    return context;
  }

  // One event to an https receiver the client must not trust: every attempt fails in the TLS
  // handshake (nothing is ever sent), it is retried until max_age and then dead.
  void expect_refused(callback_receiver& receiver, const std::string& url, std::shared_ptr<asio::ssl::context> tls) {
    auto& target = add_sink(options_for(url, 5s, 4, 700ms), std::move(tls));
    auto& queue = start_queue(target);
    const auto job = make_job("exr_refused", "extract_run.processed");
    queue.push(job);
    ASSERT_TRUE(run_until(
        io_, [&] { return queue.dead() == 1; }, 10s))
        << receiver.handshakes_failed();
    const auto dead = store_.last_of(job.record.id);
    ASSERT_TRUE(dead);
    EXPECT_GE(dead->attempts, 2u) << "retried";
    EXPECT_NE(dead->last_error.value_or("").find("certificate verify failed"), std::string::npos) << *dead->last_error;
    EXPECT_EQ(queue.delivered(), 0u);
    EXPECT_EQ(receiver.count(), 0u) << "no request is sent over a connection that failed verification";
    // The receiver sees the last handshake fail a moment after the client does: wait for it.
    EXPECT_TRUE(run_until(
        io_, [&] { return receiver.handshakes_failed() >= dead->attempts; }, 5s))
        << receiver.handshakes_failed() << " handshakes failed at the receiver, " << dead->attempts << " attempts";
  }

  static delivery_queue::retry_policy fast_policy() {
    return delivery_queue::retry_policy{.first_delay = 50ms, .longest_delay = 200ms, .longest_retry_after = 5s};
  }

  asio::io_context io_;
  memory_store store_;
  // Owned here, not by the test body: TearDown still needs them to finish what is in flight.
  std::vector<std::unique_ptr<callback_receiver>> receivers_;
  std::vector<std::unique_ptr<sink>> sinks_;
  std::vector<std::shared_ptr<delivery_queue>> queues_;
  std::size_t stopped_ = 0;
};

TEST_F(queue_test, retries_until_a_2xx_and_records_each_attempt) {
  auto& receiver = add_receiver();
  receiver.set_policy(
      [](const received_request&, std::size_t n) { return receiver_answer::reply(n < 2 ? 500U : 200U); });
  auto& target = add_sink(options_for(receiver.url()));
  auto& queue = start_queue(target);
  const auto job = make_job("exr_retry", "extract_run.processed");
  queue.push(job);
  ASSERT_TRUE(run_until(
      io_, [&] { return queue.delivered() == 1; }, 5s));
  EXPECT_EQ(receiver.count(), 3u);
  ASSERT_EQ(store_.updates.size(), 3u);
  EXPECT_EQ(store_.updates[0].state, delivery_state::pending);
  EXPECT_EQ(store_.updates[0].attempts, 1u);
  EXPECT_NE(store_.updates[0].last_error.value_or("").find("HTTP 500"), std::string::npos);
  EXPECT_TRUE(store_.updates[0].next_attempt_at);
  EXPECT_EQ(store_.updates[2].state, delivery_state::done);
  EXPECT_EQ(store_.updates[2].attempts, 3u);
  EXPECT_EQ(queue.backlog(), 0u);
  EXPECT_FALSE(queue.retrying());
  // Every attempt carried the same body and eventId, each signed afresh.
  for (const auto& request : receiver.requests()) {
    EXPECT_EQ(request.body, job.body);
    EXPECT_EQ(request.header("idempotency-key"), job.record.event_id);
  }
}

TEST_F(queue_test, dead_after_max_age_then_delivered_once_put_back) {
  auto& receiver = add_receiver();
  receiver.answer_always(500);
  auto& target = add_sink(options_for(receiver.url(), 5s, 4, 600ms));
  auto& queue = start_queue(target);
  const auto job = make_job("exr_dead", "extract_run.processed");
  const auto started = std::chrono::steady_clock::now();
  queue.push(job);
  ASSERT_TRUE(run_until(
      io_, [&] { return queue.dead() == 1; }, 5s));
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, 550ms) << "retried until max_age";
  EXPECT_LT(took, 2s);
  const auto dead = store_.last_of(job.record.id);
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->state, delivery_state::dead);
  EXPECT_GE(dead->attempts, 3u);
  EXPECT_NE(dead->last_error.value_or("").find("HTTP 500"), std::string::npos);
  EXPECT_EQ(queue.backlog(), 0u);
  const auto attempts_when_dead = receiver.count();
  run_until(
      io_, [] { return false; }, 300ms);
  EXPECT_EQ(receiver.count(), attempts_when_dead) << "a dead delivery is not tried again by itself";

  // Put back the way POST /v1/deliveries/{id}/retry does: pending, attempts kept, no next attempt,
  // redelivered now. It gets a whole max_age again: retried, dead only after 600 ms more.
  auto again = job;
  again.record = *dead;
  again.record.state = delivery_state::pending;
  again.record.next_attempt_at.reset();
  again.record.redelivered_at = clock_type::now();
  const auto put_back = std::chrono::steady_clock::now();
  queue.push(again);
  ASSERT_TRUE(run_until(
      io_, [&] { return queue.dead() == 2; }, 5s));
  EXPECT_GE(std::chrono::steady_clock::now() - put_back, 550ms) << "a fresh max_age window";
  EXPECT_GE(receiver.count(), attempts_when_dead + 3);

  // And once the receiver is back, a delivery put back again arrives.
  receiver.answer_always(200);
  again.record = *store_.last_of(job.record.id);
  again.record.state = delivery_state::pending;
  again.record.next_attempt_at.reset();
  again.record.redelivered_at = clock_type::now();
  queue.push(again);
  ASSERT_TRUE(run_until(
      io_, [&] { return queue.delivered() == 1; }, 5s));
  EXPECT_EQ(store_.last_of(job.record.id)->state, delivery_state::done);
  EXPECT_EQ(receiver.requests().back().body, job.body);
}

// What the queue gets from the store after a restart for a delivery put back (redelivered_at) that
// failed once since (next_attempt_at): its max_age counts from the redelivery, not from the old event.
TEST_F(queue_test, a_delivery_put_back_before_a_restart_counts_max_age_from_the_redelivery) {
  auto& receiver = add_receiver();
  receiver.answer_always(500);
  auto& target = add_sink(options_for(receiver.url(), 5s, 4, 600ms));
  auto& queue = start_queue(target);
  auto job = make_job("exr_reborn", "extract_run.processed", clock_type::now() - 1h);
  job.record.attempts = 6;
  job.record.last_error = "HTTP 500";
  job.record.redelivered_at = clock_type::now() - 50ms;
  job.record.next_attempt_at = clock_type::now() + 50ms;
  const auto started = std::chrono::steady_clock::now();
  queue.push(job);
  ASSERT_TRUE(run_until(
      io_, [&] { return queue.dead() == 1; }, 5s));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 500ms) << "retried until 600 ms after the redelivery";
  EXPECT_GE(receiver.count(), 3u);
}

TEST_F(queue_test, an_event_older_than_max_age_gets_one_last_attempt) {
  auto& receiver = add_receiver();
  auto& target = add_sink(options_for(receiver.url(), 5s, 4, 1s));
  auto& queue = start_queue(target);
  queue.push(make_job("exr_old", "extract_run.processed", clock_type::now() - 1h));
  ASSERT_TRUE(run_until(
      io_, [&] { return queue.delivered() == 1; }, 5s));
  EXPECT_EQ(receiver.count(), 1u);
}

TEST_F(queue_test, a_runs_events_arrive_in_order_while_other_runs_go_ahead) {
  auto& receiver = add_receiver();
  const auto first_a = make_job("exr_a", "workflow_run.needs_review");
  int a_failures = 0;
  receiver.set_policy([&, first = first_a.record.event_id](const received_request& r, std::size_t) {
    if (r.header("idempotency-key") == first && a_failures < 2) {
      ++a_failures;  // the receiver thread only
      return receiver_answer::reply(503);
    }
    return receiver_answer{};
  });
  auto& target = add_sink(options_for(receiver.url()));
  auto& queue = start_queue(target);
  const auto second_a = make_job("exr_a", "workflow_run.completed");
  const auto only_b = make_job("exr_b", "extract_run.processed");
  queue.push(first_a);
  queue.push(second_a);
  queue.push(only_b);
  ASSERT_TRUE(run_until(
      io_, [&] { return queue.delivered() == 3; }, 5s));
  std::vector<std::string> order;
  for (const auto& r : receiver.requests()) order.push_back(r.header("idempotency-key"));
  const std::vector<std::string> expected{first_a.record.event_id, only_b.record.event_id, first_a.record.event_id,
                                          first_a.record.event_id, second_a.record.event_id};
  EXPECT_EQ(order, expected) << "run A's second event waits for its first; run B does not wait for A";
}

TEST_F(queue_test, no_more_than_max_in_flight_requests_at_once) {
  auto& receiver = add_receiver();
  receiver.set_policy([](const received_request&, std::size_t) { return receiver_answer::hang(); });
  auto& target = add_sink(options_for(receiver.url(), 10s, 3));
  auto& queue = start_queue(target);
  for (int i = 0; i < 10; ++i) queue.push(make_job("exr_many" + std::to_string(i), "extract_run.processed"));
  ASSERT_TRUE(run_until(
      io_, [&] { return receiver.in_progress() == 3; }, 5s));
  run_until(
      io_, [] { return false; }, 300ms);
  EXPECT_EQ(receiver.count(), 3u);
  EXPECT_EQ(queue.in_flight(), 3u);
  receiver.set_policy([](const received_request&, std::size_t) { return receiver_answer{}; });
  receiver.release_hung();
  ASSERT_TRUE(run_until(
      io_, [&] { return queue.delivered() == 10; }, 5s));
  EXPECT_EQ(receiver.max_concurrent(), 3u);
  EXPECT_EQ(receiver.count(), 10u);
  EXPECT_LE(receiver.connections_accepted(), 3u) << "connections are kept alive and reused";
}

TEST_F(queue_test, retry_after_holds_the_sink_for_as_long_as_asked) {
  auto& receiver = add_receiver();
  receiver.set_policy([](const received_request&, std::size_t n) {
    if (n == 0) return receiver_answer::reply(429, "1");
    return receiver_answer{};
  });
  auto& target = add_sink(options_for(receiver.url(), 5s, 1));
  auto& queue = start_queue(target);
  queue.push(make_job("exr_ra1", "extract_run.processed"));
  queue.push(make_job("exr_ra2", "extract_run.processed"));
  ASSERT_TRUE(run_until(
      io_, [&] { return queue.delivered() == 2; }, 5s));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_GE(requests[1].at - requests[0].at, 950ms) << "nothing goes to the sink during Retry-After";
}

TEST_F(queue_test, a_hanging_sink_does_not_delay_another) {
  auto& stuck = add_receiver();
  stuck.set_policy([](const received_request&, std::size_t) { return receiver_answer::hang(); });
  auto& healthy = add_receiver();
  auto& stuck_sink = add_sink(options_for(stuck.url(), 30s));
  auto& healthy_sink = add_sink(options_for(healthy.url()));
  auto& stuck_queue = start_queue(stuck_sink);
  auto& healthy_queue = start_queue(healthy_sink);
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    const auto job = make_job("exr_iso" + std::to_string(i), "extract_run.processed");
    stuck_queue.push(job);
    healthy_queue.push(job);
  }
  ASSERT_TRUE(run_until(
      io_, [&] { return healthy_queue.delivered() == 20; }, 5s));
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, 1s) << "the healthy sink took " << std::chrono::duration_cast<milliseconds>(took).count() << "ms";
  EXPECT_EQ(stuck_queue.delivered(), 0u);
  EXPECT_EQ(stuck_queue.in_flight(), 4u);
}

TEST_F(queue_test, a_forgotten_runs_deliveries_are_dropped) {
  auto& receiver = add_receiver();
  receiver.set_policy([](const received_request&, std::size_t) { return receiver_answer::hang(); });
  auto& target = add_sink(options_for(receiver.url()));
  auto& queue = start_queue(target);
  queue.push(make_job("exr_forget", "workflow_run.needs_review"));
  queue.push(make_job("exr_forget", "workflow_run.completed"));
  ASSERT_TRUE(run_until(
      io_, [&] { return receiver.in_progress() == 1; }, 5s));
  queue.drop_run("exr_forget");
  EXPECT_EQ(queue.backlog(), 1u) << "the one with the sink stays until it comes back";
  receiver.answer_always(500);
  receiver.release_hung();
  ASSERT_TRUE(run_until(
      io_, [&] { return queue.in_flight() == 0 && queue.backlog() == 0; }, 5s));
  run_until(
      io_, [] { return false; }, 300ms);
  EXPECT_EQ(receiver.count(), 1u) << "neither retried nor followed by the run's next event";
}

// ---- https targets (allow_remote: true) -----------------------------------------------------------

TEST_F(queue_test, https_with_the_receivers_ca_trusted_delivers_over_one_kept_alive_connection) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  auto& receiver = add_receiver(certs);
  const auto tls = trusting(certs.ca_pem);
  const auto port = std::to_string(receiver.port());
  // An IP literal (checked against the certificate's IP addresses) and a host name (SNI, DNS names).
  auto& by_ip = start_queue(add_sink(options_for("https://127.0.0.1:" + port + "/webhooks/extend"), tls));
  auto& by_name = start_queue(add_sink(options_for("https://localhost:" + port + "/webhooks/extend"), tls));
  const auto first = make_job("exr_tls1", "extract_run.processed");
  const auto second = make_job("exr_tls2", "extract_run.processed");
  by_ip.push(first);
  ASSERT_TRUE(run_until(
      io_, [&] { return by_ip.delivered() == 1; }, 5s))
      << by_ip.last_error();
  by_ip.push(second);
  by_name.push(first);
  ASSERT_TRUE(run_until(
      io_, [&] { return by_ip.delivered() == 2 && by_name.delivered() == 1; }, 5s))
      << by_ip.last_error() << " / " << by_name.last_error();
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].target, "/webhooks/extend");
  EXPECT_EQ(requests[0].header("host"), "127.0.0.1:" + port);
  EXPECT_EQ(requests[0].body, first.body);
  EXPECT_EQ(requests[0].header("x-extend-request-signature"),
            extend_signature(secret, std::stoll(requests[0].header("x-extend-request-timestamp")), first.body));
  EXPECT_EQ(requests[1].connection, requests[0].connection) << "the TLS connection is kept alive";
  EXPECT_EQ(receiver.connections_accepted(), 2u) << "one per sink";
  EXPECT_EQ(receiver.handshakes_failed(), 0u);
}

TEST_F(queue_test, https_with_an_unknown_ca_fails_closed) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  const auto stranger = make_test_certs({"localhost"}, {"127.0.0.1"});  // another CA, same names
  auto& receiver = add_receiver(certs);
  expect_refused(receiver, "https://localhost:" + std::to_string(receiver.port()) + "/hook", trusting(stranger.ca_pem));
}

TEST_F(queue_test, https_with_the_system_store_alone_refuses_a_private_ca) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.1"});
  auto& receiver = add_receiver(certs);
  auto system_only = std::make_shared<asio::ssl::context>(make_client_tls_context(std::nullopt));
  expect_refused(receiver, "https://127.0.0.1:" + std::to_string(receiver.port()) + "/hook", std::move(system_only));
}

TEST_F(queue_test, https_to_a_host_name_the_certificate_does_not_name_fails_closed) {
  const auto certs = make_test_certs({"receiver.example"}, {"127.0.0.2"});  // trusted CA, other names
  auto& receiver = add_receiver(certs);
  expect_refused(receiver, "https://localhost:" + std::to_string(receiver.port()) + "/hook", trusting(certs.ca_pem));
}

TEST_F(queue_test, https_to_an_ip_address_the_certificate_does_not_name_fails_closed) {
  const auto certs = make_test_certs({"localhost"}, {"127.0.0.2"});
  auto& receiver = add_receiver(certs);
  expect_refused(receiver, "https://127.0.0.1:" + std::to_string(receiver.port()) + "/hook", trusting(certs.ca_pem));
}

}  // namespace
}  // namespace hookless
