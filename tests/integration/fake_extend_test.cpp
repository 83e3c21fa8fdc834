// Tests of the fake Extend API through a real TLS client that verifies the fake's certificate
// against its CA: answer shapes per API version, timelines, errors, faults, the rate limit, auto
// mode, lists, the control API and the standalone program.
#include "tests/support/fake_extend.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_certs.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <fstream>
#include <optional>
#include <regex>
#include <thread>

namespace hookless {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using asio::use_awaitable;
using namespace std::chrono_literals;

constexpr const char* current_version = "2026-02-09";
constexpr const char* legacy_version = "2025-04-21";

struct reply {
  beast::error_code ec;  // set when no complete response arrived
  unsigned status = 0;
  std::map<std::string, std::string> headers;
  std::string body;

  json::object object() const { return json::parse(body).as_object(); }
};

struct request_headers {
  std::string api_version = current_version;
  std::optional<std::string> authorization = "Bearer sk_test_hookless";
  std::optional<std::string> workspace_id;
  std::string user_agent = "fake-extend-test/1";
};

// An HTTP/1.1 client over TLS (verify_peer + host name verification against `ca_pem`), or over
// plain TCP when ca_pem is empty; one kept-alive connection; every step has a deadline.
class test_client {
 public:
  test_client(std::uint16_t port, std::string ca_pem, std::string host = "127.0.0.1")
      : port_{port}, ca_pem_{std::move(ca_pem)}, host_{std::move(host)} {
    if (!ca_pem_.empty()) {
      tls_.add_certificate_authority(asio::buffer(ca_pem_));
      tls_.set_verify_mode(asio::ssl::verify_peer);
    }
  }

  beast::error_code connect() {
    return run([this]() -> asio::awaitable<beast::error_code> {
      stream_.emplace(beast::tcp_stream{ioc_}, tls_);
      auto& tcp_layer = beast::get_lowest_layer(*stream_);
      tcp_layer.expires_after(5s);
      const tcp::endpoint endpoint{asio::ip::make_address("127.0.0.1"), port_};
      if (auto [ec] = co_await tcp_layer.async_connect(endpoint, asio::as_tuple(use_awaitable)); ec) co_return ec;
      if (ca_pem_.empty()) co_return beast::error_code{};
      stream_->set_verify_callback(asio::ssl::host_name_verification(host_));
      if (host_ != "127.0.0.1") {
        // SSL_set_tlsext_host_name is a macro with an old-style cast; this is what it expands to.
        SSL_ctrl(stream_->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(host_.c_str()));
      }
      auto [ec] = co_await stream_->async_handshake(asio::ssl::stream_base::client, asio::as_tuple(use_awaitable));
      co_return ec;
    });
  }

  reply send(http::verb method, const std::string& target, const request_headers& h = {}, std::string body = {}) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, host_);
    req.set("x-extend-api-version", h.api_version);
    if (h.authorization) req.set(http::field::authorization, *h.authorization);
    if (h.workspace_id) req.set("x-extend-workspace-id", *h.workspace_id);
    req.set(http::field::user_agent, h.user_agent);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
    return run([this, req = std::move(req)]() mutable -> asio::awaitable<reply> {
      reply out;
      auto& tcp_layer = beast::get_lowest_layer(*stream_);
      tcp_layer.expires_after(5s);
      http::response<http::string_body> res;
      if (ca_pem_.empty()) {
        if (auto [ec, n] = co_await http::async_write(tcp_layer, req, asio::as_tuple(use_awaitable)); ec) {
          out.ec = ec;
          co_return out;
        }
        auto [ec, n] = co_await http::async_read(tcp_layer, buffer_, res, asio::as_tuple(use_awaitable));
        out.ec = ec;
      } else {
        if (auto [ec, n] = co_await http::async_write(*stream_, req, asio::as_tuple(use_awaitable)); ec) {
          out.ec = ec;
          co_return out;
        }
        auto [ec, n] = co_await http::async_read(*stream_, buffer_, res, asio::as_tuple(use_awaitable));
        out.ec = ec;
      }
      if (out.ec) co_return out;
      out.status = res.result_int();
      for (const auto& field : res) out.headers[std::string{field.name_string()}] = std::string{field.value()};
      out.body = res.body();
      co_return out;
    });
  }

  reply get(const std::string& target, const request_headers& h = {}) { return send(http::verb::get, target, h); }

 private:
  template <typename Make>
  auto run(Make make) -> typename decltype(make())::value_type {
    using result = typename decltype(make())::value_type;
    std::optional<result> value;
    std::exception_ptr error;
    auto done = [&](std::exception_ptr e, result r) {
      error = e;
      value = std::move(r);
    };
    asio::co_spawn(ioc_, make(), done);
    ioc_.restart();
    ioc_.run_for(10s);
    if (error) std::rethrow_exception(error);
    if (!value) throw std::runtime_error("test_client: no answer within 10 s");
    return std::move(*value);
  }

  asio::io_context ioc_;
  asio::ssl::context tls_{asio::ssl::context::tls_client};
  std::uint16_t port_;
  std::string ca_pem_;
  std::string host_;
  std::optional<asio::ssl::stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
};

// One request on a fresh, verified connection.
reply fetch(const fake_extend& fake, const std::string& target, const request_headers& h = {}) {
  test_client client{fake.port(), fake.ca_pem()};
  if (const auto ec = client.connect()) {
    reply failed;
    failed.ec = ec;
    return failed;
  }
  return client.get(target, h);
}

request_headers with_version(std::string version) {
  request_headers h;
  h.api_version = std::move(version);
  return h;
}

std::unique_ptr<fake_extend> start_fake(fake_extend_options options = {}) {
  auto fake = std::make_unique<fake_extend>(std::move(options));
  fake->start();
  return fake;
}

// ---- certificates -------------------------------------------------------------------------------

TEST(FakeExtendTls, VerifiesWithItsCaForIpAndLocalhost) {
  auto fake = start_fake();
  EXPECT_FALSE(test_client(fake->port(), fake->ca_pem(), "127.0.0.1").connect());
  EXPECT_FALSE(test_client(fake->port(), fake->ca_pem(), "localhost").connect());
}

TEST(FakeExtendTls, FailsClosedForAnotherCaAWrongNameOrAnExpiredCertificate) {
  auto fake = start_fake();
  const auto stranger = make_test_certs({"localhost"}, {"127.0.0.1"});
  EXPECT_TRUE(test_client(fake->port(), stranger.ca_pem).connect());
  EXPECT_TRUE(test_client(fake->port(), fake->ca_pem(), "example.com").connect());

  fake_extend_options expired;
  expired.certs = make_test_certs({"localhost"}, {"127.0.0.1"}, -std::chrono::hours{48}, -std::chrono::hours{24});
  auto old = start_fake(expired);
  EXPECT_EQ(old->ca_pem(), expired.certs->ca_pem);
  EXPECT_TRUE(test_client(old->port(), old->ca_pem()).connect());
}

// ---- shapes ---------------------------------------------------------------------------------------

TEST(FakeExtendShapes, CurrentVersionAnswersBareObjectsAndLegacyWrapsThem) {
  auto fake = start_fake();
  fake->add_run({"exr_1", "", {{"PROCESSED", 0ms}}, {}});
  fake->add_run({"dpr_1", "", {{"PROCESSED", 0ms}}, {}});
  fake->add_run({"workflow_run_1", "", {{"PROCESSING", 0ms}}, {}});

  const auto bare = fetch(*fake, "/extract_runs/exr_1");
  ASSERT_EQ(bare.status, 200u) << bare.body;
  const auto exr = bare.object();
  EXPECT_EQ(exr.at("object"), "extract_run");
  EXPECT_EQ(exr.at("id"), "exr_1");
  EXPECT_EQ(exr.at("status"), "PROCESSED");
  EXPECT_TRUE(exr.contains("output"));
  EXPECT_TRUE(exr.contains("usage"));
  EXPECT_TRUE(exr.contains("dashboardUrl"));
  EXPECT_FALSE(exr.contains("url"));
  EXPECT_TRUE(exr.contains("metadata"));
  EXPECT_TRUE(std::regex_match(std::string{exr.at("createdAt").as_string()},
                               std::regex{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"}));
  EXPECT_TRUE(bare.headers.contains("x-extend-request-id"));

  // processor_run is wrapped even in 2026-02-09.
  const auto processor = fetch(*fake, "/processor_runs/dpr_1").object();
  EXPECT_EQ(processor.at("success"), true);
  EXPECT_EQ(processor.at("processorRun").at("object"), "document_processor_run");

  const auto legacy = fetch(*fake, "/workflow_runs/workflow_run_1", with_version(legacy_version)).object();
  EXPECT_EQ(legacy.at("success"), true);
  const auto& workflow = legacy.at("workflowRun").as_object();
  EXPECT_EQ(workflow.at("status"), "PROCESSING");
  EXPECT_TRUE(workflow.contains("url"));
  EXPECT_FALSE(workflow.contains("dashboardUrl"));
  EXPECT_FALSE(workflow.contains("output"));
  EXPECT_EQ(fetch(*fake, "/workflow_runs/workflow_run_1").object().at("object"), "workflow_run");

  // Extract runs do not exist before 2026-02-09.
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_1", with_version("2024-12-23")).status, 404u);
}

TEST(FakeExtendShapes, APrefixMeansTheKindOfTheRequestedVersion) {
  auto fake = start_fake();
  fake->add_run({"bpr_7", "", {{"PROCESSED", 0ms}}, {}});
  const auto batch = fetch(*fake, "/batch_runs/bpr_7").object();
  EXPECT_EQ(batch.at("object"), "batch_run");
  EXPECT_EQ(batch.at("runCount"), 2);
  EXPECT_FALSE(batch.contains("output"));
  const auto legacy = fetch(*fake, "/batch_processor_runs/bpr_7", with_version(legacy_version)).object();
  EXPECT_EQ(legacy.at("batchProcessorRun").at("object"), "batch_processor_run");
  EXPECT_EQ(fetch(*fake, "/batch_processor_runs/bpr_7").status, 404u);  // no such endpoint in 2026
}

TEST(FakeExtendShapes, NotFoundForUnknownIdsAndTheWrongCollection) {
  auto fake = start_fake();
  fake->add_run({"exr_1", "", {}, {}});
  const auto unknown = fetch(*fake, "/extract_runs/exr_nope");
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(unknown.object().at("code"), "NOT_FOUND");
  EXPECT_EQ(unknown.object().at("retryable"), false);
  EXPECT_EQ(fetch(*fake, "/classify_runs/exr_1").status, 404u);
  EXPECT_EQ(fetch(*fake, "/no_such_things/exr_1").status, 404u);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_1").status, 200u);
}

TEST(FakeExtendShapes, ExplicitKindFailedRunsUnknownStatusesAndExtraFields) {
  auto fake = start_fake();
  fake->add_run({"odd-id-1", "classify_run", {{"FAILED", 0ms}}, {}});
  fake->add_run({"exr_2", "", {{"ARCHIVED", 0ms}}, json::object{{"metadata", json::object{{"order", 42}}}}});

  const auto failed = fetch(*fake, "/classify_runs/odd-id-1").object();
  EXPECT_EQ(failed.at("status"), "FAILED");
  EXPECT_TRUE(failed.contains("failureReason"));
  EXPECT_TRUE(failed.contains("failureMessage"));
  EXPECT_FALSE(failed.contains("output"));

  const auto archived = fetch(*fake, "/extract_runs/exr_2").object();
  EXPECT_EQ(archived.at("status"), "ARCHIVED");
  EXPECT_EQ(archived.at("metadata").at("order"), 42);

  EXPECT_THROW(fake->add_run({"zzz_1", "", {}, {}}), std::invalid_argument);
  EXPECT_THROW(fake->add_run({"exr_3", "", {{"PROCESSED", 5ms}, {"PENDING", 0ms}}, {}}), std::invalid_argument);
}

TEST(FakeExtendCreate, PostCreatesAProcessingRunThatFinishesLater) {
  fake_extend_options options;
  options.auto_finish_after = 300ms;
  auto fake = start_fake(options);
  test_client client{fake->port(), fake->ca_pem()};
  ASSERT_FALSE(client.connect());
  const auto created = client.send(http::verb::post, "/extract_runs", {},
                                   R"({"file":{"url":"https://example.com/a.pdf"},"metadata":{"order":7}})");
  ASSERT_EQ(created.status, 200u) << created.body;
  const auto run = created.object();
  const std::string id{run.at("id").as_string()};
  EXPECT_TRUE(id.starts_with("exr_")) << id;
  EXPECT_EQ(run.at("object"), "extract_run");
  EXPECT_EQ(run.at("status"), "PROCESSING");
  EXPECT_EQ(run.at("metadata").at("order"), 7);

  // It is then a run like any other: PROCESSED once its time has come.
  std::this_thread::sleep_for(400ms);
  const auto later = client.get("/extract_runs/" + id).object();
  EXPECT_EQ(later.at("status"), "PROCESSED");
  EXPECT_EQ(later.at("metadata").at("order"), 7);

  const auto failing =
      client.send(http::verb::post, "/classify_runs", {}, R"({"file":{"url":"u"},"metadata":{"fake_outcome":"fail"}})");
  ASSERT_EQ(failing.status, 200u) << failing.body;
  EXPECT_TRUE(std::string{failing.object().at("id").as_string()}.starts_with("clr_"));
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(client.get("/classify_runs/" + std::string{failing.object().at("id").as_string()}).object().at("status"),
            "FAILED");

  // What the real API refuses: no input, a body that is not an object, a collection that cannot be created.
  EXPECT_EQ(client.send(http::verb::post, "/extract_runs", {}, R"({"metadata":{}})").status, 400u);
  EXPECT_EQ(client.send(http::verb::post, "/extract_runs", {}, "[1]").status, 400u);
  EXPECT_EQ(client.send(http::verb::post, "/workflow_runs", {}, R"({"file":{"url":"u"}})").status, 404u);
  EXPECT_EQ(client.send(http::verb::post, "/extract_runs/exr_1", {}, R"({"file":{"url":"u"}})").status, 404u);
  EXPECT_EQ(client.send(http::verb::post, "/processor_runs", with_version("2025-04-21"), R"({"file":{}})").status,
            404u);
}

// ---- timeline ----------------------------------------------------------------------------------

TEST(FakeExtendTimeline, ShowsTheLastStatusWhoseOffsetPassed) {
  auto fake = start_fake();
  fake->add_run({"exr_t", "", {{"PENDING", 0ms}, {"PROCESSING", 250ms}, {"PROCESSED", 500ms}}, {}});
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_t").object().at("status"), "PENDING");
  std::this_thread::sleep_for(300ms);
  const auto processing = fetch(*fake, "/extract_runs/exr_t").object();
  EXPECT_EQ(processing.at("status"), "PROCESSING");
  EXPECT_FALSE(processing.contains("output"));
  std::this_thread::sleep_for(250ms);
  const auto done = fetch(*fake, "/extract_runs/exr_t").object();
  EXPECT_EQ(done.at("status"), "PROCESSED");
  EXPECT_TRUE(done.contains("output"));
  EXPECT_NE(done.at("updatedAt"), done.at("createdAt"));
}

TEST(FakeExtendTimeline, ARunWhoseFirstStepLiesAheadDoesNotExistYet) {
  auto fake = start_fake();
  fake->add_run({"exr_late", "", {{"PENDING", 300ms}}, {}});
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_late").status, 404u);
  std::this_thread::sleep_for(350ms);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_late").status, 200u);
}

TEST(FakeExtendTimeline, SetStatusNowOverridesTheScript) {
  auto fake = start_fake();
  fake->add_run({"exr_s", "", {{"PENDING", 0ms}, {"PROCESSED", 10min}}, {}});
  EXPECT_TRUE(fake->set_status_now("exr_s", "CANCELLED"));
  EXPECT_FALSE(fake->set_status_now("exr_unknown", "CANCELLED"));
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_s").object().at("status"), "CANCELLED");
}

// ---- auth, headers, connections ----------------------------------------------------------------

TEST(FakeExtendAuth, RejectsAWrongOrMissingKeyWith401) {
  auto fake = start_fake();
  fake->add_run({"exr_1", "", {}, {}});
  request_headers wrong;
  wrong.authorization = "Bearer sk_wrong";
  const auto denied = fetch(*fake, "/extract_runs/exr_1", wrong);
  EXPECT_EQ(denied.status, 401u);
  EXPECT_EQ(denied.object().at("code"), "UNAUTHORIZED");
  EXPECT_EQ(denied.object().at("retryable"), false);
  request_headers none;
  none.authorization.reset();
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_1", none).status, 401u);

  fake_extend_options custom;
  custom.api_key = "sk_custom";
  auto other = start_fake(custom);
  other->add_run({"exr_1", "", {}, {}});
  request_headers right;
  right.authorization = "Bearer sk_custom";
  EXPECT_EQ(fetch(*other, "/extract_runs/exr_1", right).status, 200u);
  EXPECT_EQ(fetch(*other, "/extract_runs/exr_1").status, 401u);
}

TEST(FakeExtendStats, RecordsHeadersPathsAndKeptAliveConnections) {
  auto fake = start_fake();
  fake->add_run({"exr_1", "", {}, {}});
  {
    test_client client{fake->port(), fake->ca_pem()};
    ASSERT_FALSE(client.connect());
    request_headers h;
    h.workspace_id = "ws_123";
    for (int i = 0; i < 3; ++i) EXPECT_EQ(client.get("/extract_runs/exr_1", h).status, 200u);
    EXPECT_EQ(client.get("/extract_runs/exr_1", with_version(legacy_version)).status, 404u);
    const auto during = fake->stats();
    EXPECT_EQ(during.connections_accepted, 1u);
    EXPECT_EQ(during.open_connections, 1u);
  }
  const auto stats = fake->stats();
  EXPECT_EQ(stats.total_requests, 4u);
  EXPECT_EQ(stats.requests_per_path.at("/extract_runs/exr_1"), 4u);
  EXPECT_EQ(stats.requests_per_run.at("exr_1"), 4u);
  EXPECT_EQ(stats.api_versions.at(current_version), 3u);
  EXPECT_EQ(stats.api_versions.at(legacy_version), 1u);
  EXPECT_EQ(stats.workspaces.at("ws_123"), 3u);
  EXPECT_EQ(stats.workspaces.at(""), 1u);
  EXPECT_EQ(stats.user_agents.at("fake-extend-test/1"), 4u);
  ASSERT_EQ(stats.requests.size(), 4u);
  EXPECT_EQ(stats.requests[3].status, 404u);
  EXPECT_EQ(stats.requests[0].workspace_id, "ws_123");

  // The client hung up: the fake notices soon.
  for (int i = 0; i < 100 && fake->stats().open_connections != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(fake->stats().open_connections, 0u);
}

TEST(FakeExtendStats, MaxRequestsInAnyWindowSlidesOverArrivalTimes) {
  fake_extend_stats stats;
  const auto t0 = fake_clock::now();
  for (const auto offset : {0ms, 100ms, 900ms, 1000ms, 1050ms, 1950ms, 3000ms}) {
    request_record r;
    r.at = t0 + offset;
    stats.requests.push_back(r);
  }
  // [100, 1100) holds 100, 900, 1000, 1050; [1000, 2000) holds 1000, 1050, 1950.
  EXPECT_EQ(stats.max_requests_in_any_second(), 4u);
  EXPECT_EQ(stats.max_requests_in_any_window(100ms), 2u);
}

TEST(FakeExtendLifecycle, StopClosesOpenConnectionsPromptly) {
  auto fake = start_fake();
  fake->add_run({"exr_1", "", {}, {}});
  test_client client{fake->port(), fake->ca_pem()};
  ASSERT_FALSE(client.connect());
  ASSERT_EQ(client.get("/extract_runs/exr_1").status, 200u);
  const auto before = std::chrono::steady_clock::now();
  fake->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
  EXPECT_TRUE(client.get("/extract_runs/exr_1").ec);
}

// ---- faults -------------------------------------------------------------------------------------

TEST(FakeExtendFaults, ServerErrorsForTheNextNRequestsThenNormal) {
  auto fake = start_fake();
  fake->add_run({"exr_1", "", {}, {}});
  fake->inject({fault_kind::status_500, std::nullopt, 2, 0ms});
  const auto first = fetch(*fake, "/extract_runs/exr_1");
  EXPECT_EQ(first.status, 500u);
  EXPECT_EQ(first.object().at("code"), "INTERNAL_ERROR");
  EXPECT_EQ(first.object().at("retryable"), true);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_1").status, 500u);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_1").status, 200u);

  fake->inject({fault_kind::status_502, std::nullopt, 1, 0ms});
  fake->inject({fault_kind::status_503, std::nullopt, 1, 0ms});
  fake->inject({fault_kind::unauthorized, std::nullopt, 1, 0ms});
  fake->inject({fault_kind::not_found, std::nullopt, 1, 0ms});
  fake->inject({fault_kind::status_429, std::nullopt, 1, 0ms});
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_1").status, 502u);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_1").status, 503u);
  const auto unauthorized = fetch(*fake, "/extract_runs/exr_1");
  EXPECT_EQ(unauthorized.status, 401u);
  EXPECT_EQ(unauthorized.object().at("code"), "UNAUTHORIZED");
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_1").status, 404u);
  const auto limited = fetch(*fake, "/extract_runs/exr_1");
  EXPECT_EQ(limited.status, 429u);
  EXPECT_EQ(limited.headers.at("Retry-After"), "1");
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_1").status, 200u);
  EXPECT_EQ(fake->stats().responses_429, 1u);
}

TEST(FakeExtendFaults, ARunScopedFaultSparesOtherRunsAndAlwaysLastsUntilCleared) {
  auto fake = start_fake();
  fake->add_run({"exr_1", "", {}, {}});
  fake->add_run({"exr_2", "", {}, {}});
  fake->inject({fault_kind::status_503, "exr_2", std::nullopt, 0ms});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(fetch(*fake, "/extract_runs/exr_2").status, 503u);
    EXPECT_EQ(fetch(*fake, "/extract_runs/exr_1").status, 200u);
  }
  fake->clear_faults();
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_2").status, 200u);
}

TEST(FakeExtendFaults, CutClosesTheConnectionWithoutAnAnswer) {
  auto fake = start_fake();
  fake->add_run({"exr_1", "", {}, {}});
  fake->inject({fault_kind::cut, "exr_1", 1, 0ms});
  const auto cut = fetch(*fake, "/extract_runs/exr_1");
  EXPECT_TRUE(cut.ec);
  EXPECT_EQ(cut.status, 0u);
  EXPECT_EQ(fake->stats().requests.back().status, 0u);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_1").status, 200u);
}

TEST(FakeExtendFaults, SlowAnswersAfterTheDelay) {
  auto fake = start_fake();
  fake->add_run({"exr_1", "", {}, {}});
  fake->inject({fault_kind::slow, std::nullopt, 1, 300ms});
  const auto before = std::chrono::steady_clock::now();
  const auto slow = fetch(*fake, "/extract_runs/exr_1");
  EXPECT_GE(std::chrono::steady_clock::now() - before, 300ms);
  EXPECT_EQ(slow.status, 200u);
  EXPECT_EQ(slow.object().at("id"), "exr_1");
}

TEST(FakeExtendFaults, TruncatedAnswersAreCutShortOfTheirContentLength) {
  auto fake = start_fake();
  fake->add_run({"exr_1", "", {}, {}});
  fake->inject({fault_kind::truncated, std::nullopt, 1, 0ms});
  const auto truncated = fetch(*fake, "/extract_runs/exr_1");
  EXPECT_TRUE(truncated.ec) << truncated.body;
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_1").status, 200u);
}

TEST(FakeExtendFaults, MalformedAnswersAre200WithBrokenJson) {
  auto fake = start_fake();
  fake->add_run({"exr_1", "", {}, {}});
  fake->inject({fault_kind::malformed, "exr_1", 1, 0ms});
  const auto malformed = fetch(*fake, "/extract_runs/exr_1");
  EXPECT_FALSE(malformed.ec);
  EXPECT_EQ(malformed.status, 200u);
  boost::system::error_code ec;
  (void)json::parse(malformed.body, ec);
  EXPECT_TRUE(ec) << malformed.body;
}

// ---- rate limit -------------------------------------------------------------------------------

TEST(FakeExtendRateLimit, AnswersOverTheLimitWith429AndRetryAfter) {
  fake_extend_options options;
  options.rate_limit = 5;
  auto fake = start_fake(options);
  fake->add_run({"exr_1", "", {}, {}});
  test_client client{fake->port(), fake->ca_pem()};
  ASSERT_FALSE(client.connect());
  std::vector<unsigned> statuses;
  std::optional<reply> limited;
  for (int i = 0; i < 8; ++i) {
    auto r = client.get("/extract_runs/exr_1");
    statuses.push_back(r.status);
    if (r.status == 429 && !limited) limited = r;
  }
  EXPECT_EQ(statuses, (std::vector<unsigned>{200, 200, 200, 200, 200, 429, 429, 429}));
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->headers.at("Retry-After"), "1");
  EXPECT_EQ(limited->object().at("code"), "RATE_LIMIT_EXCEEDED");
  EXPECT_EQ(limited->object().at("retryable"), true);
  const auto stats = fake->stats();
  EXPECT_EQ(stats.responses_429, 3u);
  EXPECT_EQ(stats.max_requests_in_any_second(), 8u);

  std::this_thread::sleep_for(1050ms);  // the window slides past every earlier request
  EXPECT_EQ(client.get("/extract_runs/exr_1").status, 200u);
}

TEST(FakeExtendRateLimit, RetryAfterAsAnHttpDateOrNotAtAll) {
  fake_extend_options dated;
  dated.rate_limit = 1;
  dated.retry_after = {retry_after_mode::form::http_date, std::chrono::seconds{2}};
  auto fake = start_fake(dated);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_1").status, 404u);
  const auto limited = fetch(*fake, "/extract_runs/exr_1");
  ASSERT_EQ(limited.status, 429u);
  EXPECT_TRUE(std::regex_match(limited.headers.at("Retry-After"),
                               std::regex{R"([A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT)"}))
      << limited.headers.at("Retry-After");

  fake_extend_options bare;
  bare.rate_limit = 1;
  bare.retry_after.kind = retry_after_mode::form::none;
  auto other = start_fake(bare);
  (void)fetch(*other, "/extract_runs/exr_1");
  const auto no_header = fetch(*other, "/extract_runs/exr_1");
  ASSERT_EQ(no_header.status, 429u);
  EXPECT_FALSE(no_header.headers.contains("Retry-After"));
}

// ---- auto mode ----------------------------------------------------------------------------------

TEST(FakeExtendAuto, CreatesRunsFromTheirIdAtFirstSight) {
  fake_extend_options options;
  options.auto_runs = true;
  options.auto_finish_after = 1000ms;  // PROCESSING from 500 ms
  auto fake = start_fake(options);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_auto_fail").object().at("status"), "PENDING");
  EXPECT_EQ(fetch(*fake, "/workflow_runs/workflow_run_reject").object().at("status"), "PENDING");
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_cancel").object().at("status"), "PENDING");
  EXPECT_EQ(fetch(*fake, "/workflow_runs/workflow_run_review").object().at("status"), "PENDING");
  EXPECT_EQ(fetch(*fake, "/edit_runs/edr_1").object().at("status"), "PROCESSING");
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_missing").status, 404u);
  EXPECT_EQ(fetch(*fake, "/extract_runs/zzz_unknown_prefix").status, 404u);
  EXPECT_EQ(fetch(*fake, "/classify_runs/exr_wrong_collection").status, 404u);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_auto").object().at("status"), "PENDING");  // created last
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_auto").object().at("status"), "PROCESSING");
  std::this_thread::sleep_for(450ms);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_auto").object().at("status"), "PROCESSED");
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_auto_fail").object().at("status"), "FAILED");
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_cancel").object().at("status"), "CANCELLED");
  EXPECT_EQ(fetch(*fake, "/workflow_runs/workflow_run_reject").object().at("status"), "REJECTED");
  EXPECT_EQ(fetch(*fake, "/workflow_runs/workflow_run_review").object().at("status"), "NEEDS_REVIEW");
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_missing").status, 404u);
}

TEST(FakeExtendAuto, TimelinesFollowTheIdWords) {
  const auto review = auto_timeline("workflow_run_review", "workflow_run", 3s);
  ASSERT_TRUE(review);
  ASSERT_EQ(review->size(), 4u);
  EXPECT_EQ((*review)[1].status, "PROCESSING");
  EXPECT_EQ((*review)[1].at, 1s);
  EXPECT_EQ((*review)[2].status, "NEEDS_REVIEW");
  EXPECT_EQ((*review)[2].at, 3s);
  EXPECT_EQ((*review)[3].status, "PROCESSED");
  EXPECT_EQ((*review)[3].at, 5s);
  // "reject" is a workflow outcome only; elsewhere the run just succeeds.
  EXPECT_EQ(auto_timeline("exr_reject", "extract_run", 3s)->back().status, "PROCESSED");
  EXPECT_FALSE(auto_timeline("exr_missing_1", "extract_run", 3s));
}

TEST(FakeExtendAuto, OffByDefaultInTheCppApi) {
  auto fake = start_fake();
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_auto").status, 404u);
}

// ---- lists --------------------------------------------------------------------------------------

TEST(FakeExtendList, PagesThroughRunsSortedByUpdatedAt) {
  auto fake = start_fake();
  fake->add_run({"exr_a", "", {{"PROCESSED", 0ms}}, {}});
  std::this_thread::sleep_for(5ms);
  fake->add_run({"exr_b", "", {{"PROCESSING", 0ms}}, {}});
  std::this_thread::sleep_for(5ms);
  fake->add_run({"exr_c", "", {{"PROCESSED", 0ms}}, {}});
  fake->add_run({"clr_x", "", {}, {}});

  const auto first = fetch(*fake, "/extract_runs?sortBy=updatedAt&sortDir=asc&maxPageSize=2").object();
  EXPECT_EQ(first.at("object"), "list");
  ASSERT_EQ(first.at("data").as_array().size(), 2u);
  EXPECT_EQ(first.at("data").at(0).at("id"), "exr_a");
  EXPECT_EQ(first.at("data").at(1).at("id"), "exr_b");
  EXPECT_FALSE(first.at("data").at(0).as_object().contains("output"));
  const std::string token{first.at("nextPageToken").as_string()};
  const auto second =
      fetch(*fake, "/extract_runs?sortBy=updatedAt&sortDir=asc&maxPageSize=2&nextPageToken=" + token).object();
  ASSERT_EQ(second.at("data").as_array().size(), 1u);
  EXPECT_EQ(second.at("data").at(0).at("id"), "exr_c");
  EXPECT_TRUE(second.at("nextPageToken").is_null());

  const auto desc = fetch(*fake, "/extract_runs?sortBy=updatedAt&sortDir=desc&status=PROCESSED").object();
  ASSERT_EQ(desc.at("data").as_array().size(), 2u);
  EXPECT_EQ(desc.at("data").at(0).at("id"), "exr_c");
  EXPECT_EQ(fetch(*fake, "/extract_runs?maxPageSize=0").status, 400u);
}

TEST(FakeExtendList, LegacyListsAreWrapped) {
  auto fake = start_fake();
  fake->add_run({"dpr_1", "", {}, {}});
  const auto legacy = fetch(*fake, "/processor_runs?sortBy=updatedAt", with_version(legacy_version)).object();
  EXPECT_EQ(legacy.at("success"), true);
  ASSERT_EQ(legacy.at("processorRuns").as_array().size(), 1u);
  EXPECT_EQ(legacy.at("processorRuns").at(0).at("id"), "dpr_1");
  EXPECT_EQ(fetch(*fake, "/batch_runs").status, 404u);  // not listable
}

// What a subscription's sweep relies on: newest first by updatedAt across pages of maxPageSize,
// every run of the kind whether or not anyone asked for it by ID (runs added through the control
// API too), a run showing up only once its timeline starts, and a run moving to the front when
// a scheduled step changes its status.
TEST(FakeExtendList, SweepsNewestFirstAcrossPagesWithScheduledFinishes) {
  fake_extend_options options;
  options.control_port = 0;
  auto fake = start_fake(options);
  test_client control{*fake->control_port(), ""};
  ASSERT_FALSE(control.connect());
  fake->add_run({"exr_s1", "", {{"PROCESSED", 0ms}}, {}});
  std::this_thread::sleep_for(5ms);
  fake->add_run({"exr_s2", "", {{"PROCESSING", 0ms}, {"PROCESSED", 300ms}}, {}});
  std::this_thread::sleep_for(5ms);
  ASSERT_EQ(
      control.send(http::verb::post, "/_fake/runs", {}, R"({"id":"exr_s3","timeline":[{"status":"PENDING"}]})").status,
      200u);
  fake->add_run({"exr_later", "", {{"PENDING", 60'000ms}}, {}});  // not created yet
  fake->add_run({"wr_s4", "workflow_run", {}, {}});               // another kind, another list

  const auto ids_of = [&](const std::string& query) {
    std::vector<std::string> ids;
    std::string token;
    for (int page = 0; page < 10; ++page) {
      const auto body = fetch(*fake, "/extract_runs?sortBy=updatedAt&sortDir=desc&maxPageSize=2" +
                                         (token.empty() ? "" : "&nextPageToken=" + token) + query)
                            .object();
      EXPECT_LE(body.at("data").as_array().size(), 2u);
      for (const auto& row : body.at("data").as_array()) ids.emplace_back(row.at("id").as_string());
      if (body.at("nextPageToken").is_null()) break;
      token = std::string{body.at("nextPageToken").as_string()};
    }
    return ids;
  };
  EXPECT_EQ(ids_of(""), (std::vector<std::string>{"exr_s3", "exr_s2", "exr_s1"}));
  std::this_thread::sleep_for(350ms);  // exr_s2 finishes as scheduled: now the newest change
  EXPECT_EQ(ids_of(""), (std::vector<std::string>{"exr_s2", "exr_s3", "exr_s1"}));
  const auto first = fetch(*fake, "/extract_runs?sortBy=updatedAt&sortDir=desc&maxPageSize=1").object();
  EXPECT_EQ(first.at("data").at(0).at("status"), "PROCESSED");
  EXPECT_GT(first.at("data").at(0).at("updatedAt").as_string(), first.at("data").at(0).at("createdAt").as_string());
  EXPECT_EQ(fake->stats().requests_per_path.at("/extract_runs"), 5u);
}

// Faults a subscription must survive: a list that refuses (400, aimed at one list path, sparing
// the other list and single runs) and a page out of updatedAt order (lists only).
TEST(FakeExtendList, FaultsAimedAtOneListAndPagesOutOfOrder) {
  fake_extend_options options;
  options.control_port = 0;
  auto fake = start_fake(options);
  for (const char* id : {"exr_u1", "exr_u2", "exr_u3"}) {
    fake->add_run({id, "", {}, {}});
    std::this_thread::sleep_for(5ms);
  }
  fake->add_run({"wr_u4", "workflow_run", {}, {}});
  fake->inject({.kind = fault_kind::status_400,
                .run_id = std::nullopt,
                .count = std::nullopt,
                .delay = 0ms,
                .lists_only = true,
                .path = "/extract_runs"});
  const auto refused = fetch(*fake, "/extract_runs?sortBy=updatedAt&sortDir=desc");
  EXPECT_EQ(refused.status, 400u);
  EXPECT_EQ(refused.object().at("code"), "INVALID_REQUEST");
  EXPECT_EQ(fetch(*fake, "/extract_runs?sortBy=updatedAt&sortDir=desc").status, 400u);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_u1").status, 200u);
  EXPECT_EQ(fetch(*fake, "/workflow_runs?sortBy=updatedAt&sortDir=desc").status, 200u);
  fake->clear_faults();

  fake->inject({.kind = fault_kind::list_unsorted, .run_id = std::nullopt, .count = 1, .delay = 0ms});
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_u1").status, 200u) << "a single run's GET leaves the fault alone";
  const auto page_ids = [&] {
    std::vector<std::string> ids;
    const auto body = fetch(*fake, "/extract_runs?sortBy=updatedAt&sortDir=desc&maxPageSize=2").object();
    for (const auto& row : body.at("data").as_array()) ids.emplace_back(row.at("id").as_string());
    EXPECT_EQ(body.at("nextPageToken"), "fake_page_2");
    return ids;
  };
  EXPECT_EQ(page_ids(), (std::vector<std::string>{"exr_u2", "exr_u3"})) << "the newest two, oldest first";
  EXPECT_EQ(page_ids(), (std::vector<std::string>{"exr_u3", "exr_u2"})) << "count 1: sorted again";

  // The same faults through the control API.
  test_client control{*fake->control_port(), ""};
  ASSERT_FALSE(control.connect());
  EXPECT_EQ(control
                .send(http::verb::post, "/_fake/faults", {},
                      R"({"kind":"404","count":"always","lists_only":true,"path":"/workflow_runs"})")
                .status,
            200u);
  EXPECT_EQ(control.send(http::verb::post, "/_fake/faults", {}, R"({"kind":"list_unsorted","count":"always"})").status,
            200u);
  EXPECT_EQ(fetch(*fake, "/workflow_runs?sortBy=updatedAt&sortDir=desc").status, 404u);
  EXPECT_EQ(fetch(*fake, "/workflow_runs/wr_u4").status, 200u);
  EXPECT_EQ(page_ids(), (std::vector<std::string>{"exr_u2", "exr_u3"}));
  EXPECT_EQ(page_ids(), (std::vector<std::string>{"exr_u2", "exr_u3"}));
  EXPECT_EQ(control.send(http::verb::delete_, "/_fake/faults").status, 200u);
  EXPECT_EQ(page_ids(), (std::vector<std::string>{"exr_u3", "exr_u2"}));
  EXPECT_EQ(fetch(*fake, "/workflow_runs?sortBy=updatedAt&sortDir=desc").status, 200u);
}

// ---- control API and program --------------------------------------------------------------------

TEST(FakeExtendControl, DrivesRunsFaultsAndStatsOverPlainHttp) {
  fake_extend_options options;
  options.control_port = 0;
  auto fake = start_fake(options);
  ASSERT_TRUE(fake->control_port());
  test_client control{*fake->control_port(), ""};
  ASSERT_FALSE(control.connect());

  EXPECT_EQ(
      control
          .send(http::verb::post, "/_fake/runs", {},
                R"({"id":"exr_c1","timeline":[{"status":"PENDING","at_ms":0},{"status":"PROCESSED","at_ms":60000}],
                                "fields":{"metadata":{"k":"v"}}})")
          .status,
      200u);
  const auto run = fetch(*fake, "/extract_runs/exr_c1").object();
  EXPECT_EQ(run.at("status"), "PENDING");
  EXPECT_EQ(run.at("metadata").at("k"), "v");
  EXPECT_EQ(control.send(http::verb::post, "/_fake/runs/exr_c1/status", {}, R"({"status":"FAILED"})").status, 200u);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_c1").object().at("status"), "FAILED");

  EXPECT_EQ(
      control.send(http::verb::post, "/_fake/faults", {}, R"({"scope":"all","kind":"503","count":"always"})").status,
      200u);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_c1").status, 503u);
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_c1").status, 503u);
  EXPECT_EQ(control.send(http::verb::delete_, "/_fake/faults").status, 200u);
  EXPECT_EQ(
      control.send(http::verb::post, "/_fake/faults", {}, R"({"scope":"exr_c1","kind":"slow","delay_ms":200})").status,
      200u);
  const auto before = std::chrono::steady_clock::now();
  EXPECT_EQ(fetch(*fake, "/extract_runs/exr_c1").status, 200u);
  EXPECT_GE(std::chrono::steady_clock::now() - before, 200ms);

  EXPECT_EQ(control.send(http::verb::post, "/_fake/faults", {}, R"({"kind":"explode"})").status, 400u);
  EXPECT_EQ(control.send(http::verb::post, "/_fake/runs", {}, R"({"timeline":[]})").status, 400u);

  const auto stats = control.get("/_fake/stats");
  ASSERT_EQ(stats.status, 200u);
  const auto s = stats.object();
  EXPECT_EQ(s.at("total_requests"), 5);
  EXPECT_EQ(s.at("requests_per_run").at("exr_c1"), 5);
  EXPECT_EQ(s.at("api_versions").at(current_version), 5);
  ASSERT_EQ(s.at("request_times_us").as_array().size(), 5u);
  EXPECT_LE(s.at("request_times_us").at(0).as_int64(), s.at("request_times_us").at(4).as_int64());
  EXPECT_GE(s.at("max_requests_in_any_second").as_int64(), 1);
  EXPECT_EQ(s.at("responses_429"), 0);
}

#ifdef HOOKLESS_FAKE_EXTEND_PROGRAM
std::string read_file(const std::filesystem::path& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, {}};
}

TEST(FakeExtendProgram, ServesUntilSigterm) {
  const test::temp_dir dir{"fake-extend-test"};
  const auto ready = dir / "ready";
  const auto ca = dir / "ca.pem";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string ready_arg = ready.string();
    const std::string ca_arg = ca.string();
    ::execl(HOOKLESS_FAKE_EXTEND_PROGRAM, HOOKLESS_FAKE_EXTEND_PROGRAM, "--ready-file", ready_arg.c_str(), "--ca-out",
            ca_arg.c_str(), "--auto-finish-after-ms", "0", "--quiet", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 500 && !std::filesystem::exists(ready); ++i) std::this_thread::sleep_for(10ms);
  const std::string url = read_file(ready);
  std::smatch match;
  ASSERT_TRUE(std::regex_match(url, match, std::regex{R"(https://127\.0\.0\.1:(\d+)\n)"})) << url;
  const auto port = static_cast<std::uint16_t>(std::stoi(match[1]));

  test_client client{port, read_file(ca)};
  ASSERT_FALSE(client.connect());
  const auto auto_run = client.get("/extract_runs/exr_demo");  // auto mode is on in the program
  EXPECT_EQ(auto_run.status, 200u);
  EXPECT_EQ(auto_run.object().at("status"), "PROCESSED");

  ::kill(child, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}
#endif

}  // namespace
}  // namespace hookless
