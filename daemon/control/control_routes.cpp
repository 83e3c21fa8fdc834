// The control API's routes: request -> backend call -> response, no I/O of its own.
#include "daemon/control/control_routes.hpp"

#include "core/formats/duration.hpp"
#include "core/model/run_kind.hpp"
#include "daemon/control/control_json.hpp"

#include <boost/asio/error.hpp>
#include <boost/json/serialize.hpp>
#include <boost/system/system_error.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <variant>
#include <vector>

namespace hookless {
namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

control_response json_response(unsigned status, const json::value& body) {
  control_response out;
  out.status = status;
  out.body = json::serialize(body);
  return out;
}

control_response bad_request(std::string_view message) { return error_response(400, "invalid_request", message); }

control_response not_found(std::string_view message) { return error_response(404, "not_found", message); }

control_response method_not_allowed(http::verb method, std::string allow) {
  auto out = error_response(405, "invalid_request",
                            "method " + std::string{http::to_string(method)} + " is not allowed here; use " + allow);
  out.allow = std::move(allow);
  return out;
}

// The query parameters of a request, each at most once, checked against the ones a route takes.
using query_params = std::map<std::string, std::string, std::less<>>;

std::variant<query_params, control_response> read_query(const boost::urls::url_view& url,
                                                        std::initializer_list<std::string_view> allowed) {
  query_params out;
  for (const auto& param : url.params()) {
    if (std::find(allowed.begin(), allowed.end(), param.key) == allowed.end()) {
      return bad_request(param.key + ": unknown query parameter");
    }
    if (!out.emplace(param.key, param.value).second) return bad_request(param.key + ": given more than once");
  }
  return out;
}

// Longer than any delivery ID (an event ID, ':' and a sink name).
constexpr std::size_t max_delivery_id_size = 1024;

// A list's `limit` query parameter: a whole number from 1 to max_list_limit.
std::optional<std::size_t> parse_list_limit(const std::string& text) {
  std::size_t limit = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
  if (ec != std::errc{} || end != text.data() + text.size() || limit < 1 || limit > max_list_limit) return std::nullopt;
  return limit;
}

// An outcome as records show it: 1 to 64 of a-z and '_' (Extend's final status in lower case).
bool is_outcome_name(std::string_view text) {
  return !text.empty() && text.size() <= 64 &&
         std::ranges::all_of(text, [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

control_response bad_limit() { return bad_request("limit: must be a whole number from 1 to 1000"); }

// A list answer's "next": the last item's ID when the page is full (more may follow), else null.
template <typename Item>
json::value next_page(const std::vector<Item>& page, std::size_t limit) {
  if (page.empty() || page.size() < limit) return nullptr;
  return json::string(page.back().id);
}

awaitable<control_response> register_runs(control_backend& backend, const control_request& request) {
  const kind_lookup kind_for = [&backend](std::string_view id) { return backend.kind_for(id); };
  auto parsed = parse_registrations(request.body, kind_for);
  if (auto* error = std::get_if<registration_error>(&parsed)) co_return bad_request(error->message);
  auto& registrations = std::get<parsed_registrations>(parsed);
  const auto result = co_await backend.register_runs(request.who, std::move(registrations.runs));
  json::array runs;
  for (const auto& run : result.runs) runs.push_back(record_to_json(run));
  co_return json_response(result.any_new ? 201 : 200, json::object{{"runs", std::move(runs)}});
}

awaitable<control_response> list_runs(control_backend& backend, const control_request& request,
                                      const boost::urls::url_view& url) {
  auto query = read_query(url, {"state", "limit", "after", "kind", "outcome"});
  if (auto* error = std::get_if<control_response>(&query)) co_return std::move(*error);
  const auto& params = std::get<query_params>(query);

  run_query wanted;
  // Belt and braces: the backend also filters by owner, but a non-admin's query never asks for more.
  if (!request.who.admin) wanted.owner = request.who.uid;
  if (auto it = params.find("state"); it != params.end()) {
    if (it->second != "all") {
      wanted.state = parse_run_state(it->second);
      if (!wanted.state) co_return bad_request("state: must be pending, finished or all");
    }
  }
  if (auto it = params.find("limit"); it != params.end()) {
    const auto limit = parse_list_limit(it->second);
    if (!limit) co_return bad_limit();
    wanted.limit = *limit;
  }
  if (auto it = params.find("after"); it != params.end()) {
    if (!is_valid_run_id(it->second)) co_return bad_request("after: must be a run ID");
    wanted.after = it->second;
  }
  if (auto it = params.find("kind"); it != params.end()) {
    const auto kinds = backend.known_kinds();
    if (std::ranges::find(kinds, it->second) == kinds.end()) {
      std::string names;
      for (const auto& kind : kinds) names += (names.empty() ? "" : ", ") + kind;
      co_return bad_request("kind: '" + it->second + "' is not a run kind; kinds: " + names);
    }
    wanted.kind = it->second;
  }
  if (auto it = params.find("outcome"); it != params.end()) {
    if (!is_outcome_name(it->second)) {
      co_return bad_request(
          "outcome: must be an outcome in lower case, such as processed, failed, cancelled, rejected, needs_review, "
          "expired or not_found");
    }
    wanted.outcome = it->second;
  }

  const auto limit = wanted.limit;
  const auto runs = co_await backend.list_runs(request.who, std::move(wanted));
  json::array list;
  for (const auto& run : runs) list.push_back(record_to_json(run));
  co_return json_response(200, json::object{{"runs", std::move(list)}, {"next", next_page(runs, limit)}});
}

awaitable<control_response> get_run(control_backend& backend, const control_request& request,
                                    const boost::urls::url_view& url, const std::string& id) {
  auto query = read_query(url, {"wait"});
  if (auto* error = std::get_if<control_response>(&query)) co_return std::move(*error);
  const auto& params = std::get<query_params>(query);

  std::optional<std::chrono::milliseconds> wait;
  if (auto it = params.find("wait"); it != params.end()) {
    auto parsed = parse_duration_text(it->second);
    if (const auto* wrong = std::get_if<std::string>(&parsed)) co_return bad_request("wait: " + *wrong);
    wait = std::get<std::chrono::milliseconds>(parsed);
    if (*wait > max_run_wait) co_return bad_request("wait: must be at most 1h");
  }
  if (!is_valid_run_id(id)) co_return not_found("no run " + id);

  std::optional<run_record> run;
  if (wait) {
    run = co_await backend.wait_run(request.who, id, *wait);
  } else {
    run = co_await backend.get_run(request.who, id);
  }
  if (!run) co_return not_found("no run " + id);
  co_return json_response(200, record_to_json(*run));
}

awaitable<control_response> get_events(control_backend& backend, const control_request& request,
                                       const std::string& id) {
  if (!is_valid_run_id(id)) co_return not_found("no run " + id);
  const auto run = co_await backend.get_run(request.who, id);
  if (!run) co_return not_found("no run " + id);
  co_return json_response(200, json::object{{"events", events_to_json(*run)}});
}

awaitable<control_response> serve_event_stream(control_backend& backend, const control_request& request,
                                               const boost::urls::url_view& url) {
  auto query = read_query(url, {"follow", "run"});
  if (auto* error = std::get_if<control_response>(&query)) co_return std::move(*error);
  const auto& params = std::get<query_params>(query);
  bool follow = false;
  if (auto it = params.find("follow"); it != params.end()) {
    if (it->second == "1" || it->second == "true") {
      follow = true;
    } else if (it->second != "0" && it->second != "false") {
      co_return bad_request("follow: must be 1 or 0 (true or false)");
    }
  }
  std::optional<std::string> run_id;
  if (auto it = params.find("run"); it != params.end()) {
    if (!is_valid_run_id(it->second)) co_return bad_request("run: must be a run ID");
    // Another user's run is as unknown as one never registered.
    const auto run = co_await backend.get_run(request.who, it->second);
    if (!run) co_return not_found("no run " + it->second);
    run_id = it->second;
  }
  control_response out;
  out.content_type = "application/x-ndjson";
  auto opened = co_await backend.open_events(request.who, run_id, follow);
  out.stream = std::make_shared<event_stream>(std::move(opened));
  co_return out;
}

awaitable<control_response> forget_run(control_backend& backend, const control_request& request,
                                       const std::string& id) {
  if (!is_valid_run_id(id)) co_return not_found("no run " + id);
  const bool forgotten = co_await backend.forget_run(request.who, id);
  if (!forgotten) co_return not_found("no run " + id);
  control_response out;
  out.status = 204;
  co_return out;
}

awaitable<control_response> list_deliveries(control_backend& backend, const control_request& request,
                                            const boost::urls::url_view& url) {
  auto query = read_query(url, {"state", "limit", "after"});
  if (auto* error = std::get_if<control_response>(&query)) co_return std::move(*error);
  const auto& params = std::get<query_params>(query);

  delivery_query wanted;
  wanted.limit = run_query{}.limit;  // the same page size as /v1/runs by default
  if (!request.who.admin) wanted.owner = request.who.uid;
  if (auto it = params.find("state"); it != params.end()) {
    // The listing holds deliveries not yet done: pending or dead, not done.
    wanted.state = parse_delivery_state(it->second);
    if (!wanted.state || *wanted.state == delivery_state::done) co_return bad_request("state: must be pending or dead");
  }
  if (auto it = params.find("limit"); it != params.end()) {
    wanted.limit = parse_list_limit(it->second);
    if (!wanted.limit) co_return bad_limit();
  }
  if (auto it = params.find("after"); it != params.end()) {
    // The store looks the ID up (an unknown one ends the listing), so only its size matters here.
    if (it->second.empty() || it->second.size() > max_delivery_id_size)
      co_return bad_request("after: must be a delivery ID");
    wanted.after = it->second;
  }
  const auto limit = *wanted.limit;
  const auto deliveries = co_await backend.list_deliveries(request.who, std::move(wanted));
  json::array list;
  for (const auto& item : deliveries) list.push_back(delivery_to_json(item));
  co_return json_response(200, json::object{{"deliveries", std::move(list)}, {"next", next_page(deliveries, limit)}});
}

awaitable<control_response> retry_delivery(control_backend& backend, const control_request& request,
                                           const std::string& id) {
  const bool retried = co_await backend.retry_delivery(request.who, id);
  if (!retried) co_return not_found("no delivery " + id);
  co_return json_response(202, json::object{{"retried", 1}});
}

awaitable<control_response> retry_dead(control_backend& backend, const control_request& request) {
  const auto count = co_await backend.retry_dead_deliveries(request.who);
  co_return json_response(202, json::object{{"retried", count}});
}

// Finds the route for a path and method; 404 or 405 when there is none.
awaitable<control_response> route(control_backend& backend, const control_request& request) {
  const auto parsed = boost::urls::parse_origin_form(request.target);
  if (!parsed) co_return bad_request("the request target is not a valid path");
  const boost::urls::url_view url = *parsed;
  const std::vector<std::string> path(url.segments().begin(), url.segments().end());
  const auto method = request.method;
  using http::verb;

  const auto is = [&path](std::initializer_list<std::string_view> pattern) {
    if (path.size() != pattern.size()) return false;
    std::size_t index = 0;
    for (const auto part : pattern) {
      // "*" stands for one non-empty segment (an ID).
      if (part == "*" ? path[index].empty() : path[index] != part) return false;
      ++index;
    }
    return true;
  };
  const auto no_query = [&url]() -> std::optional<control_response> {
    if (url.params().empty()) return std::nullopt;
    return bad_request((*url.params().begin()).key + ": unknown query parameter");
  };

  if (is({"v1", "runs"})) {
    if (method == verb::get) co_return co_await list_runs(backend, request, url);
    if (method == verb::post) {
      if (auto error = no_query()) co_return std::move(*error);
      co_return co_await register_runs(backend, request);
    }
    co_return method_not_allowed(method, "GET, POST");
  }
  if (is({"v1", "runs", "*"})) {
    if (method == verb::get) co_return co_await get_run(backend, request, url, path[2]);
    if (method == verb::delete_) {
      if (auto error = no_query()) co_return std::move(*error);
      co_return co_await forget_run(backend, request, path[2]);
    }
    co_return method_not_allowed(method, "GET, DELETE");
  }
  if (is({"v1", "runs", "*", "events"})) {
    if (method != verb::get) co_return method_not_allowed(method, "GET");
    if (auto error = no_query()) co_return std::move(*error);
    co_return co_await get_events(backend, request, path[2]);
  }
  if (is({"v1", "events"})) {
    if (method != verb::get) co_return method_not_allowed(method, "GET");
    co_return co_await serve_event_stream(backend, request, url);
  }
  if (is({"v1", "deliveries"})) {
    if (method != verb::get) co_return method_not_allowed(method, "GET");
    co_return co_await list_deliveries(backend, request, url);
  }
  if (is({"v1", "deliveries", "retry"})) {
    if (method != verb::post) co_return method_not_allowed(method, "POST");
    if (auto error = no_query()) co_return std::move(*error);
    co_return co_await retry_dead(backend, request);
  }
  if (is({"v1", "deliveries", "*", "retry"})) {
    if (method != verb::post) co_return method_not_allowed(method, "POST");
    if (auto error = no_query()) co_return std::move(*error);
    co_return co_await retry_delivery(backend, request, path[2]);
  }
  if (is({"v1", "health"})) {
    if (method != verb::get) co_return method_not_allowed(method, "GET");
    if (auto error = no_query()) co_return std::move(*error);
    co_return json_response(200, health_to_json(backend.health()));
  }
  if (is({"metrics"})) {
    if (method != verb::get) co_return method_not_allowed(method, "GET");
    control_response out;
    out.content_type = "text/plain; version=0.0.4; charset=utf-8";
    out.body = backend.metrics();
    co_return out;
  }
  co_return not_found("no such path: " + std::string{url.path()});
}

}  // namespace

control_response error_response(unsigned status, std::string_view code, std::string_view message) {
  control_response out;
  out.status = status;
  out.body = error_body(code, message);
  return out;
}

std::optional<control_response> check_content_length(std::optional<std::uint64_t> content_length) {
  if (content_length && *content_length > max_request_body_bytes) return body_too_large_response();
  return std::nullopt;
}

std::string too_slow_line(const live_event_bounds& bounds) {
  return error_body("too_slow", fmt::format("this reader fell behind by more than {} events or {} bytes and is "
                                            "dropped; read faster, or follow one run (?run=)",
                                            bounds.max_events, bounds.max_bytes));
}

control_response over_limit_response(std::string_view why) { return error_response(429, "busy", why); }

control_response body_too_large_response() {
  return error_response(413, "too_large",
                        "the request body is larger than 2 MiB (at most 10000 registrations per request)");
}

awaitable<control_response> handle_control_request(control_backend& backend, control_request request) {
  try {
    co_return co_await route(backend, request);
  } catch (const invalid_registration& refused) {
    co_return bad_request(refused.what());
  } catch (const registration_forbidden& refused) {
    co_return error_response(403, "forbidden", refused.what());
  } catch (const caller_over_limit& over) {
    co_return over_limit_response(over.what());
  } catch (const store_full& full) {
    co_return error_response(503, "busy", std::string{"the daemon cannot take more right now: "} + full.what());
  } catch (const boost::system::system_error& failure) {
    // Cancellation means the server is stopping: let the connection end rather than answer.
    if (failure.code() == boost::asio::error::operation_aborted) throw;
    spdlog::error("control: {} {} failed: {}", http::to_string(request.method), request.target, failure.what());
  } catch (const store_failed& failure) {
    spdlog::error("control: {} {} failed, the state store lost writes: {}", http::to_string(request.method),
                  request.target, failure.what());
    co_return error_response(503, "busy", "the state store failed; the daemon is stopping");
  } catch (const std::exception& failure) {
    spdlog::error("control: {} {} failed: {}", http::to_string(request.method), request.target, failure.what());
  }
  co_return error_response(500, "internal", "the daemon could not answer this request; see its log");
}

}  // namespace hookless
