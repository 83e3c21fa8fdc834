// libFuzzer target: one control request as raw bytes, taken through the steps the control server
// takes (Beast's request parser under the server's header and body limits, the Content-Length
// check, then the routes and the registration parser) against an in-memory backend. Checks that
// every answer is a known status with a JSON body, not just that nothing crashed.
#include "daemon/control/control_json.hpp"
#include "daemon/control/control_routes.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>

#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>

namespace {

using namespace hookless;
namespace http = boost::beast::http;

// Answers like the real backend would for a store that knows a few runs, without any I/O.
class memory_backend final : public control_backend {
 public:
  awaitable<registration_result> register_runs(caller who, std::vector<registration> runs) override {
    registration_result result;
    for (auto& reg : runs) {
      if (reg.sinks.empty()) reg.sinks = {"out"};
      for (const auto& sink : reg.sinks) {
        if (sink != "out" && sink != "archive") throw invalid_registration("sinks: unknown sink '" + sink + "'");
      }
      if (reg.id == "exr_full") throw store_full("the store is full");
      result.runs.push_back(record_for(reg, who.uid));
      result.any_new = true;
    }
    co_return result;
  }
  awaitable<std::optional<run_record>> get_run(caller who, std::string id) override { co_return known(who, id); }
  awaitable<std::optional<run_record>> wait_run(caller who, std::string id, std::chrono::milliseconds) override {
    co_return known(who, id);
  }
  awaitable<std::vector<run_record>> list_runs(caller who, run_query query) override {
    std::vector<run_record> out;
    if (auto run = known(who, "exr_known")) out.push_back(*run);
    if (out.size() > query.limit) out.resize(query.limit);
    co_return out;
  }
  awaitable<bool> forget_run(caller who, std::string id) override { co_return known(who, id).has_value(); }
  awaitable<std::vector<delivery>> list_deliveries(caller, delivery_query) override {
    delivery item;
    item.id = "event_1:out";
    item.event_id = "event_1";
    item.run_id = "exr_known";
    item.sink = "out";
    item.last_error = "HTTP 500";
    co_return std::vector<delivery>{item};
  }
  awaitable<bool> retry_delivery(caller, std::string delivery_id) override { co_return delivery_id == "event_1:out"; }
  awaitable<std::size_t> retry_dead_deliveries(caller) override { co_return 1; }
  health_report health() const override {
    health_report report;
    report.sinks["out"] =
        sink_health{.state = "ok", .backlog = 0, .dead = 0, .last_error = std::nullopt, .type = "stdout"};
    return report;
  }
  std::vector<subscription_status> subscriptions() const override { return {}; }
  std::string metrics() const override { return "hookless_pending_runs 0\n"; }
  std::optional<std::string> kind_for(std::string_view run_id) const override {
    if (run_id.starts_with("exr_")) return "extract_run";
    if (run_id.starts_with("workflow_run_")) return "workflow_run";
    return std::nullopt;
  }
  std::vector<std::string> known_kinds() const override { return {"extract_run", "workflow_run"}; }

 private:
  static run_record record_for(const registration& reg, std::uint32_t owner) {
    run_record run;
    run.id = reg.id;
    run.kind = reg.kind;
    run.owner_uid = owner;
    run.sinks = reg.sinks;
    run.context = reg.context;
    return run;
  }
  static std::optional<run_record> known(const caller& who, const std::string& id) {
    if (id != "exr_known" && id != "exr_other") return std::nullopt;
    registration reg;
    reg.id = id;
    reg.kind = "extract_run";
    auto run = record_for(reg, id == "exr_known" ? who.uid : who.uid + 1);
    if (!who.admin && run.owner_uid != who.uid) return std::nullopt;
    run.events.push_back(run_event{"event_1", "extract_run.processed", "{\"eventId\":\"event_1\"}"});
    run.events.push_back(run_event{"event_2", "extract_run.failed", "not json"});
    return run;
  }
};

[[noreturn]] void fail(const char* what, unsigned status, const std::string& body) {
  std::fprintf(stderr, "fuzz_control_request: %s (status %u, body %.300s)\n", what, status, body.c_str());
  std::abort();
}

// Every answer must be one of the statuses interface.md names, and every non-empty JSON answer
// must itself be JSON (a client parses it).
void check_answer(const control_response& answer) {
  switch (answer.status) {
    case 200:
    case 201:
    case 202:
    case 204:
    case 400:
    case 403:
    case 404:
    case 405:
    case 413:
    case 429:
    case 503: break;
    default: fail("unexpected status", answer.status, answer.body);
  }
  if (answer.status == 204) {
    if (!answer.body.empty()) fail("204 with a body", answer.status, answer.body);
    return;
  }
  if (answer.content_type != "application/json") return;  // /metrics
  boost::system::error_code ec;
  const auto parsed = boost::json::parse(answer.body, ec);
  if (ec) fail("answer is not valid JSON", answer.status, answer.body);
  if (answer.status >= 400 && !(parsed.is_object() && parsed.as_object().contains("error"))) {
    fail("error answer without an error object", answer.status, answer.body);
  }
}

const bool quiet_logs = [] {
  spdlog::set_level(spdlog::level::off);
  return true;
}();

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)quiet_logs;
  if (size == 0) return 0;
  // The first byte picks the caller: an ordinary user or an admin.
  caller who{.uid = 1000, .admin = (data[0] & 1) != 0};
  ++data;
  --size;

  // As the server does: headers first with no body limit, the declared length checked, then the
  // body under the limit.
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);  // control_server_limits::max_header_bytes
  parser.body_limit(boost::none);
  parser.eager(false);
  boost::beast::error_code ec;
  std::size_t used = 0;
  const auto feed = [&] {
    while (used < size && !parser.is_done()) {
      const auto n = parser.put(boost::asio::buffer(data + used, size - used), ec);
      if (ec == http::error::need_more) {
        ec = {};
        return true;
      }
      if (ec) return false;  // the server answers 400/431/413 and closes; nothing more is parsed
      if (n == 0) break;
      used += n;
      if (parser.is_header_done() && !parser.eager()) break;
    }
    return true;
  };
  if (!feed() || !parser.is_header_done()) return 0;
  const auto declared = parser.content_length();
  if (auto refused = check_content_length(declared ? std::optional<std::uint64_t>{*declared} : std::nullopt)) {
    check_answer(*refused);
    return 0;
  }
  parser.body_limit(max_request_body_bytes);
  parser.eager(true);
  if (!feed()) return 0;
  if (!parser.is_done()) {
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;  // a cut body: the server drops the connection
  }

  auto message = parser.release();
  control_request request{message.method(), std::string{message.target()}, std::move(message.body()), who};
  memory_backend backend;
  boost::asio::io_context context;
  std::optional<control_response> answer;
  std::exception_ptr failure;
  boost::asio::co_spawn(context, handle_control_request(backend, std::move(request)),
                        [&](std::exception_ptr e, control_response r) {
                          failure = e;
                          if (!e) answer = std::move(r);
                        });
  context.run();
  if (failure) fail("handle_control_request threw", 0, "");
  if (!answer) fail("no answer", 0, "");
  check_answer(*answer);
  return 0;
}
