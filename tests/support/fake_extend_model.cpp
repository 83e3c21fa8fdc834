// The fake Extend API's decisions (see fake_extend_model.hpp): routing, answer shapes per API
// version, timelines, faults, the rate limit and the stats. No sockets here, so it stays quick to build.
#include "tests/support/fake_extend_model.hpp"

#include "core/model/run_kind.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_to.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>
#include <stdexcept>

namespace hookless {
namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

// Every kind either generation serves; describe_kind says where.
constexpr std::array all_kinds{
    std::string_view{"extract_run"},
    std::string_view{"classify_run"},
    std::string_view{"split_run"},
    std::string_view{"parse_run"},
    std::string_view{"edit_run"},
    std::string_view{"form_detection_run"},
    std::string_view{"workflow_run"},
    std::string_view{"batch_run"},
    std::string_view{"evaluation_set_run"},
    std::string_view{"processor_run"},
    std::string_view{"batch_processor_run"},
    std::string_view{"parser_run"},
};

std::optional<run_kind_info> kind_for_collection(std::string_view collection, api_generation generation) {
  for (const auto kind : all_kinds) {
    const auto info = describe_kind(kind, generation);
    if (info && info->path.substr(1) == collection) return info;
  }
  return std::nullopt;
}

std::string_view object_name(std::string_view kind) {
  return kind == "processor_run" ? std::string_view{"document_processor_run"} : kind;
}

bool in_progress(std::string_view status) {
  return status == "PENDING" || status == "PROCESSING" || status == "CANCELLING";
}

fake_response json_response(unsigned status, const json::value& body) {
  fake_response r;
  r.status = status;
  r.body = json::serialize(body);
  return r;
}

fake_response error_response(unsigned status, std::string_view code, std::string_view message, bool retryable) {
  return json_response(status, json::object{{"code", code}, {"message", message}, {"retryable", retryable}});
}

fake_response not_found(std::string_view what) {
  return error_response(404, "NOT_FOUND", std::string{what} + " not found", false);
}

const timeline_step* current_step(const std::vector<timeline_step>& timeline, milliseconds elapsed) {
  const timeline_step* step = nullptr;
  for (const auto& s : timeline) {
    if (s.at <= elapsed) step = &s;
  }
  return step;
}

std::optional<std::string> header_text(const std::optional<std::string>& value) { return value; }

std::string format_wall(std::chrono::system_clock::time_point t, const char* format, bool with_millis) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm parts{};
  gmtime_r(&secs, &parts);
  std::array<char, 64> text{};
  const std::size_t n = std::strftime(text.data(), text.size(), format, &parts);
  std::string out{text.data(), n};
  if (with_millis) {
    const auto ms = std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count() % 1000;
    std::array<char, 8> frac{};
    const auto written = std::snprintf(frac.data(), frac.size(), ".%03lldZ", static_cast<long long>(ms));
    out.append(frac.data(), static_cast<std::size_t>(written));
  }
  return out;
}

std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

void count(std::map<std::string, std::uint64_t>& counters, const std::optional<std::string>& key) {
  ++counters[key.value_or("")];
}

}  // namespace

std::size_t fake_extend_stats::max_requests_in_any_window(std::chrono::nanoseconds window) const {
  std::vector<fake_clock::time_point> times;
  times.reserve(requests.size());
  for (const auto& r : requests) times.push_back(r.at);
  std::ranges::sort(times);
  std::size_t best = 0;
  std::size_t first = 0;
  for (std::size_t last = 0; last < times.size(); ++last) {
    while (times[last] - times[first] >= window) ++first;
    best = std::max(best, last - first + 1);
  }
  return best;
}

std::optional<std::vector<timeline_step>> auto_timeline(std::string_view id, std::string_view kind,
                                                        milliseconds finish_after) {
  if (id.find("missing") != std::string_view::npos) return std::nullopt;
  std::vector<timeline_step> steps;
  // Edit and form detection runs have no PENDING status (extend-api.md).
  if (kind == "edit_run" || kind == "form_detection_run") {
    steps.push_back({"PROCESSING", milliseconds{0}});
  } else {
    steps.push_back({"PENDING", milliseconds{0}});
    steps.push_back({"PROCESSING", std::min(milliseconds{1000}, finish_after / 2)});
  }
  const auto has = [&](std::string_view word) { return id.find(word) != std::string_view::npos; };
  if (has("fail")) {
    steps.push_back({"FAILED", finish_after});
  } else if (has("cancel")) {
    steps.push_back({"CANCELLED", finish_after});
  } else if (has("reject") && kind == "workflow_run") {
    steps.push_back({"REJECTED", finish_after});
  } else if (has("review")) {
    steps.push_back({"NEEDS_REVIEW", finish_after});
    steps.push_back({"PROCESSED", finish_after + milliseconds{2000}});
  } else {
    steps.push_back({"PROCESSED", finish_after});
  }
  return steps;
}

std::optional<fault_kind> parse_fault_kind(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, fault_kind>, 12> names{{
      {"400", fault_kind::status_400},
      {"500", fault_kind::status_500},
      {"502", fault_kind::status_502},
      {"503", fault_kind::status_503},
      {"429", fault_kind::status_429},
      {"401", fault_kind::unauthorized},
      {"404", fault_kind::not_found},
      {"cut", fault_kind::cut},
      {"slow", fault_kind::slow},
      {"truncated", fault_kind::truncated},
      {"malformed", fault_kind::malformed},
      {"list_unsorted", fault_kind::list_unsorted},
  }};
  const auto found = std::ranges::find_if(names, [&](const auto& n) { return n.first == text; });
  if (found == names.end()) return std::nullopt;
  return found->second;
}

fake_extend_model::fake_extend_model(fake_extend_options options, fake_clock::time_point start)
    : options_{std::move(options)}, start_{start}, start_wall_{std::chrono::system_clock::now()} {}

std::string fake_extend_model::iso_time(fake_clock::time_point t) const {
  const auto wall = start_wall_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - start_);
  return format_wall(wall, "%Y-%m-%dT%H:%M:%S", true);
}

void fake_extend_model::add_run(run_script script, fake_clock::time_point now) {
  if (script.id.empty()) throw std::invalid_argument("fake_extend: a run needs an id");
  if (script.kind.empty()) {
    if (!kind_for_id(script.id, api_generation::current) && !kind_for_id(script.id, api_generation::legacy)) {
      throw std::invalid_argument("fake_extend: no kind given and none known for the prefix of " + script.id);
    }
  } else if (!describe_kind(script.kind, api_generation::current) &&
             !describe_kind(script.kind, api_generation::legacy)) {
    throw std::invalid_argument("fake_extend: unknown kind " + script.kind);
  }
  if (script.timeline.empty()) script.timeline.push_back({"PROCESSED", milliseconds{0}});
  if (!std::ranges::is_sorted(script.timeline, {}, &timeline_step::at)) {
    throw std::invalid_argument("fake_extend: the timeline of " + script.id + " is out of order");
  }
  auto id = script.id;
  runs_.insert_or_assign(std::move(id), run_entry{std::move(script), now});
}

bool fake_extend_model::set_status_now(const std::string& id, const std::string& status, fake_clock::time_point now) {
  const auto run = runs_.find(id);
  if (run == runs_.end()) return false;
  auto& timeline = run->second.script.timeline;
  const auto elapsed = std::chrono::duration_cast<milliseconds>(now - run->second.created);
  std::erase_if(timeline, [&](const timeline_step& s) { return s.at > elapsed; });
  timeline.push_back({status, elapsed});
  return true;
}

bool fake_extend_model::over_rate_limit(fake_clock::time_point now) {
  if (!options_.rate_limit) return false;
  while (!window_.empty() && window_.front() <= now - std::chrono::seconds{1}) window_.pop_front();
  // Every request counts, the refused ones too, as a real limiter counts what it receives.
  const bool over = static_cast<double>(window_.size() + 1) > *options_.rate_limit;
  window_.push_back(now);
  return over;
}

fake_response fake_extend_model::too_many_requests(fake_clock::time_point now) const {
  auto r = error_response(429, "RATE_LIMIT_EXCEEDED", "Too many requests", true);
  switch (options_.retry_after.kind) {
    case retry_after_mode::form::seconds:
      r.headers.emplace_back("Retry-After", std::to_string(options_.retry_after.value.count()));
      break;
    case retry_after_mode::form::http_date: {
      const auto wall = start_wall_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(now - start_) +
                        options_.retry_after.value;
      r.headers.emplace_back("Retry-After", format_wall(wall, "%a, %d %b %Y %H:%M:%S GMT", false));
      break;
    }
    case retry_after_mode::form::none: break;
  }
  return r;
}

std::optional<fault> fake_extend_model::take_fault(const std::optional<std::string>& run_id, const std::string& path) {
  // A fault for this run wins over a global one: tests aim those at one run on purpose.
  auto pick = faults_.end();
  if (run_id) pick = std::ranges::find_if(faults_, [&](const fault& f) { return f.run_id == run_id; });
  if (pick == faults_.end()) {
    const auto applies = [&](const fault& f) {
      const bool lists_only = f.lists_only || f.kind == fault_kind::list_unsorted;
      return !f.run_id && !(lists_only && run_id) && (!f.path || *f.path == path);
    };
    pick = std::ranges::find_if(faults_, applies);
  }
  if (pick == faults_.end()) return std::nullopt;
  fault taken = *pick;
  if (pick->count && --*pick->count == 0) faults_.erase(pick);
  return taken;
}

fake_extend_model::run_entry* fake_extend_model::find_or_create(const std::string& id, std::string_view api_version,
                                                                fake_clock::time_point now) {
  if (const auto run = runs_.find(id); run != runs_.end()) return &run->second;
  if (!options_.auto_runs) return nullptr;
  const auto kind = kind_for_id(id, generation_of(api_version));
  if (!kind) return nullptr;
  auto timeline = auto_timeline(id, *kind, options_.auto_finish_after);
  if (!timeline) return nullptr;
  // The kind stays empty so a prefix that means different kinds per version (bpr_) follows the request.
  add_run(run_script{id, "", std::move(*timeline), {}}, now);
  return &runs_.at(id);
}

fake_response fake_extend_model::handle(const fake_request& request, fake_clock::time_point now) {
  request_record record;
  record.at = now;
  record.method = request.method;
  record.target = request.target;
  record.api_version = header_text(request.api_version);
  record.workspace_id = header_text(request.workspace_id);
  record.user_agent = header_text(request.user_agent);
  if (request.authorization && request.authorization->starts_with("Bearer ")) {
    record.api_key = request.authorization->substr(7);
  }

  fake_response response = answer(request, record, now);

  record.status = response.what == fake_response::action::cut ? 0 : response.status;
  ++stats_.total_requests;
  ++stats_.requests_per_path[record.path];
  if (record.run_id) ++stats_.requests_per_run[*record.run_id];
  count(stats_.api_versions, record.api_version);
  count(stats_.workspaces, record.workspace_id);
  count(stats_.user_agents, record.user_agent);
  count(stats_.api_keys, record.api_key);
  if (record.status == 429) ++stats_.responses_429;
  if (options_.record_requests) stats_.requests.push_back(std::move(record));
  response.headers.emplace_back("x-extend-request-id", "req_fake_" + std::to_string(next_request_id_++));
  return response;
}

fake_response fake_extend_model::answer(const fake_request& request, request_record& record,
                                        fake_clock::time_point now) {
  std::vector<std::string> segments;
  // The params view points into this url_view, so it must outlive every use of `params`.
  boost::urls::url_view url;
  if (const auto parsed = boost::urls::parse_origin_form(request.target); parsed) {
    url = *parsed;
    record.path = std::string{url.encoded_path()};
    for (auto segment : url.segments()) segments.push_back(segment);
  } else {
    record.path = request.target;
  }
  const boost::urls::params_view params = url.params();
  if (segments.size() == 2) record.run_id = segments[1];

  if (over_rate_limit(now)) return too_many_requests(now);

  std::chrono::milliseconds delay{0};
  auto what = fake_response::action::respond;
  bool unsorted = false;
  if (const auto f = take_fault(record.run_id, record.path)) {
    switch (f->kind) {
      case fault_kind::status_400: return error_response(400, "INVALID_REQUEST", "Injected: invalid request", false);
      case fault_kind::status_500: return error_response(500, "INTERNAL_ERROR", "Injected internal error", true);
      case fault_kind::status_502: return error_response(502, "BAD_GATEWAY", "Injected bad gateway", true);
      case fault_kind::status_503: return error_response(503, "SERVICE_UNAVAILABLE", "Injected unavailability", true);
      case fault_kind::status_429: return too_many_requests(now);
      case fault_kind::unauthorized: return error_response(401, "UNAUTHORIZED", "Injected: invalid API key", false);
      case fault_kind::not_found: return not_found("Injected: resource");
      case fault_kind::cut: {
        fake_response cut;
        cut.what = fake_response::action::cut;
        return cut;
      }
      case fault_kind::malformed: {
        fake_response bad;
        bad.body = R"({"object":"extract_run","id":")" + record.run_id.value_or("x") + R"(","status":"PROCES)";
        return bad;
      }
      case fault_kind::slow: delay = f->delay; break;
      case fault_kind::truncated: what = fake_response::action::truncate; break;
      case fault_kind::list_unsorted: unsorted = true; break;
    }
  }

  auto response = [&]() -> fake_response {
    const bool key_accepted =
        record.api_key && (*record.api_key == options_.api_key ||
                           std::ranges::find(options_.more_api_keys, *record.api_key) != options_.more_api_keys.end());
    if (!key_accepted) {
      return error_response(401, "UNAUTHORIZED", "Invalid or missing API key", false);
    }
    if (request.method != "GET" && request.method != "POST") {
      return error_response(405, "INVALID_REQUEST", "The fake serves GET, and POST to create a run", false);
    }
    if (!request.api_version) {
      return error_response(400, "INVALID_REQUEST", "Missing x-extend-api-version header", false);
    }
    const auto generation = generation_of(*request.api_version);
    if (segments.empty() || segments.size() > 2) return not_found("Endpoint");
    const auto collection = kind_for_collection(segments[0], generation);
    if (!collection) return not_found("Endpoint");
    if (request.method == "POST") {
      // Creating a run (what the SDKs' create calls send): 2026's collections that take a file.
      const bool creatable = generation == api_generation::current && segments.size() == 1 &&
                             (collection->kind == "extract_run" || collection->kind == "classify_run" ||
                              collection->kind == "split_run" || collection->kind == "parse_run");
      if (!creatable) return not_found("Endpoint");
      return create_run(request.body, *collection, now);
    }

    const auto wrap = [&](json::value inner, std::string_view key) -> json::value {
      if (collection->wrapper_key.empty()) return inner;
      return json::object{{"success", true}, {key, std::move(inner)}};
    };
    const auto resolved_kind = [&](const run_entry& run) -> std::optional<std::string_view> {
      if (!run.script.kind.empty()) return run.script.kind;
      return kind_for_id(run.script.id, generation);
    };

    if (segments.size() == 2) {
      const run_entry* run = find_or_create(segments[1], *request.api_version, now);
      if (!run || resolved_kind(*run) != collection->kind) return not_found("Run " + segments[1]);
      const auto elapsed = std::chrono::duration_cast<milliseconds>(now - run->created);
      const timeline_step* step = current_step(run->script.timeline, elapsed);
      if (!step) return not_found("Run " + segments[1]);  // its first step lies ahead: not created yet
      return json_response(200, wrap(run_object(*run, *step, *collection, generation), collection->wrapper_key));
    }

    if (!collection->listable) return not_found("Endpoint");
    return list_runs(params, *collection, generation, now, unsorted);
  }();
  response.delay = delay;
  response.what = what;
  return response;
}

}  // namespace hookless

namespace hookless {

json::object fake_extend_model::run_object(const run_entry& run, const timeline_step& step, const run_kind_info& info,
                                           api_generation generation) const {
  const std::string& id = run.script.id;
  json::object o{{"object", object_name(info.kind)}, {"id", id}, {"status", step.status}};
  // Legacy parser runs answer a small status-only object while in progress (extend-api.md).
  if (info.kind == "parser_run" && in_progress(step.status)) {
    for (const auto& field : run.script.fields) o[field.key()] = field.value();
    return o;
  }
  o["metadata"] = json::object{};
  o[generation == api_generation::current ? "dashboardUrl" : "url"] = "https://dashboard.extend.ai/runs/" + id;
  o["createdAt"] = iso_time(run.created);
  o["updatedAt"] = iso_time(run.created + step.at);
  if (step.status == "PROCESSED") {
    if (info.kind == "batch_run" || info.kind == "batch_processor_run" || info.kind == "evaluation_set_run") {
      o["runCount"] = 2;  // batches report aggregates only, never outputs
    } else {
      o["output"] = json::object{{"value", json::object{{"runId", id}, {"fake", true}}}};
    }
    o["usage"] = json::object{{"credits", 1}};
  } else if (step.status == "FAILED") {
    o["failureReason"] = "PROCESSING_ERROR";
    o["failureMessage"] = "The fake run failed as scripted";
  }
  if (run.script.output_bytes > 0 && (step.status == "PROCESSED" || step.status == "NEEDS_REVIEW")) {
    o["output"] =
        json::object{{"value", json::object{{"runId", id}, {"filler", std::string(run.script.output_bytes, 'x')}}}};
  }
  for (const auto& field : run.script.fields) o[field.key()] = field.value();
  return o;
}

// POST /{collection} as Extend answers it (2026-02-09): the body is a JSON object naming the input
// as `file` (or `package`), the answer the new run, already PROCESSING, which then follows the
// auto timeline (PROCESSED after auto_finish_after, or as its `metadata.fake_outcome` says:
// "fail", "cancel"). Its `metadata` comes back in the run as given.
fake_response fake_extend_model::create_run(const std::string& body, const run_kind_info& info,
                                            fake_clock::time_point now) {
  boost::system::error_code ec;
  const auto parsed = json::parse(body, ec);
  if (ec || !parsed.is_object()) {
    return error_response(400, "INVALID_REQUEST", "The body must be a JSON object", false);
  }
  const auto& request = parsed.as_object();
  if (!request.contains("file") && !request.contains("package")) {
    return error_response(400, "INVALID_REQUEST", "Provide the input as `file` (or `package`)", false);
  }
  json::object metadata;
  if (const auto* given = request.if_contains("metadata")) {
    if (!given->is_object()) return error_response(400, "INVALID_REQUEST", "`metadata` must be an object", false);
    metadata = given->as_object();
  }
  std::string outcome_word;
  if (const auto* outcome = metadata.if_contains("fake_outcome"); outcome && outcome->is_string()) {
    if (outcome->as_string() == "fail" || outcome->as_string() == "cancel") outcome_word = outcome->as_string();
  }
  const auto prefix = info.kind == "extract_run"    ? std::string_view{"exr_"}
                      : info.kind == "classify_run" ? std::string_view{"clr_"}
                      : info.kind == "split_run"    ? std::string_view{"splr_"}
                                                    : std::string_view{"pr_"};
  const auto id = std::string{prefix} + "created" + std::to_string(next_created_run_++) + outcome_word;
  auto timeline = auto_timeline(id, info.kind, options_.auto_finish_after).value_or(std::vector<timeline_step>{});
  // The answer is already PROCESSING: the run's PENDING step, if any, lies behind it.
  std::erase_if(timeline, [](const timeline_step& s) { return s.status == "PENDING"; });
  if (timeline.empty() || timeline.front().status != "PROCESSING") {
    timeline.insert(timeline.begin(), timeline_step{"PROCESSING", milliseconds{0}});
  }
  timeline.front().at = milliseconds{0};
  add_run(run_script{id, std::string{info.kind}, std::move(timeline), json::object{{"metadata", metadata}}}, now);
  const auto& run = runs_.at(id);
  return json_response(200, run_object(run, run.script.timeline.front(), info, api_generation::current));
}

fake_response fake_extend_model::list_runs(const boost::urls::params_view& params, const run_kind_info& info,
                                           api_generation generation, fake_clock::time_point now, bool unsorted) const {
  std::string sort_by = "createdAt";
  bool ascending = false;
  std::size_t page_size = 10;
  std::size_t offset = 0;
  std::optional<std::string> status;
  std::optional<std::string> batch_id;
  for (const auto param : params) {
    const std::string value = param.has_value ? std::string{param.value} : std::string{};
    if (param.key == "sortBy") {
      if (value != "updatedAt" && value != "createdAt")
        return error_response(400, "INVALID_REQUEST", "Bad sortBy", false);
      sort_by = value;
    } else if (param.key == "sortDir") {
      if (value != "asc" && value != "desc") return error_response(400, "INVALID_REQUEST", "Bad sortDir", false);
      ascending = value == "asc";
    } else if (param.key == "maxPageSize") {
      const auto n = parse_unsigned(value);
      if (!n || *n == 0 || *n > 1000) return error_response(400, "INVALID_REQUEST", "Bad maxPageSize", false);
      page_size = static_cast<std::size_t>(*n);
    } else if (param.key == "nextPageToken") {
      const auto n =
          value.starts_with("fake_page_") ? parse_unsigned(std::string_view{value}.substr(10)) : std::nullopt;
      if (!n) return error_response(400, "INVALID_REQUEST", "Bad nextPageToken", false);
      offset = static_cast<std::size_t>(*n);
    } else if (param.key == "status") {
      status = value;
    } else if (param.key == "batchId") {
      batch_id = value;
    }
  }

  struct row {
    fake_clock::time_point sort_key;
    json::object summary;
  };
  std::vector<row> rows;
  for (const auto& [id, run] : runs_) {
    const auto kind =
        run.script.kind.empty() ? kind_for_id(id, generation) : std::optional<std::string_view>{run.script.kind};
    if (kind != info.kind) continue;
    const auto elapsed = std::chrono::duration_cast<milliseconds>(now - run.created);
    const timeline_step* step = current_step(run.script.timeline, elapsed);
    if (!step || (status && step->status != *status)) continue;
    if (batch_id) {
      const auto* field = run.script.fields.if_contains("batchId");
      if (!field || !field->is_string() || field->as_string() != *batch_id) continue;
    }
    json::object summary{{"id", id},
                         {"status", step->status},
                         {"createdAt", iso_time(run.created)},
                         {"updatedAt", iso_time(run.created + step->at)}};
    if (generation == api_generation::current) summary["object"] = object_name(info.kind);
    rows.push_back({sort_by == "updatedAt" ? run.created + step->at : run.created, std::move(summary)});
  }
  std::ranges::stable_sort(
      rows, [&](const row& a, const row& b) { return ascending ? a.sort_key < b.sort_key : b.sort_key < a.sort_key; });

  json::array page;
  for (std::size_t i = offset; i < rows.size() && page.size() < page_size; ++i)
    page.push_back(std::move(rows[i].summary));
  const std::size_t next = offset + page.size();
  // The page the query asked for, in the other order (fault_kind::list_unsorted).
  if (unsorted) std::reverse(page.begin(), page.end());
  // Parentheses: json::value{...} would build a one-element array.
  const json::value token =
      next < rows.size() ? json::value("fake_page_" + std::to_string(next)) : json::value(nullptr);
  if (info.wrapper_key.empty()) {
    return json_response(200, json::object{{"object", "list"}, {"data", std::move(page)}, {"nextPageToken", token}});
  }
  return json_response(
      200, json::object{
               {"success", true}, {std::string{info.wrapper_key} + "s", std::move(page)}, {"nextPageToken", token}});
}

json::object fake_extend_model::stats_json() const {
  const auto counters = [](const std::map<std::string, std::uint64_t>& m) {
    json::object o;
    for (const auto& [key, n] : m) o[key] = n;
    return o;
  };
  json::array times;  // whole microseconds since the fake started: exact, and plain integers in JSON
  for (const auto& r : stats_.requests) {
    times.push_back(std::chrono::duration_cast<std::chrono::microseconds>(r.at - start_).count());
  }
  return json::object{
      {"total_requests", stats_.total_requests},
      {"requests_per_path", counters(stats_.requests_per_path)},
      {"requests_per_run", counters(stats_.requests_per_run)},
      {"api_versions", counters(stats_.api_versions)},
      {"workspaces", counters(stats_.workspaces)},
      {"user_agents", counters(stats_.user_agents)},
      {"api_keys", counters(stats_.api_keys)},
      {"responses_429", stats_.responses_429},
      {"connections_accepted", stats_.connections_accepted},
      {"open_connections", stats_.open_connections},
      {"max_requests_in_any_second", stats_.max_requests_in_any_second()},
      {"request_times_us", std::move(times)},
  };
}

fake_response fake_extend_model::handle_control(const std::string& method, const std::string& target,
                                                const std::string& body, fake_clock::time_point now) {
  const auto ok = [] { return json_response(200, json::object{{"ok", true}}); };
  const auto bad = [](const std::string& why) { return json_response(400, json::object{{"error", why}}); };
  try {
    const std::string_view path = std::string_view{target}.substr(0, target.find('?'));
    if (method == "GET" && path == "/_fake/stats") return json_response(200, stats_json());
    if (method == "DELETE" && path == "/_fake/faults") {
      clear_faults();
      return ok();
    }
    if (method != "POST") return json_response(404, json::object{{"error", "no such control endpoint"}});
    const json::object request = json::parse(body).as_object();

    if (path == "/_fake/runs") {
      run_script script;
      script.id = json::value_to<std::string>(request.at("id"));
      if (const auto* kind = request.if_contains("kind")) script.kind = json::value_to<std::string>(*kind);
      if (const auto* timeline = request.if_contains("timeline")) {
        for (const auto& step : timeline->as_array()) {
          const auto& s = step.as_object();
          const auto* at = s.if_contains("at_ms");
          script.timeline.push_back(
              {json::value_to<std::string>(s.at("status")), milliseconds{at ? json::value_to<std::int64_t>(*at) : 0}});
        }
      }
      if (const auto* fields = request.if_contains("fields")) script.fields = fields->as_object();
      add_run(std::move(script), now);
      return ok();
    }
    if (path.starts_with("/_fake/runs/") && path.ends_with("/status")) {
      const std::string id{path.substr(12, path.size() - 12 - 7)};
      if (!set_status_now(id, json::value_to<std::string>(request.at("status")), now)) {
        return json_response(404, json::object{{"error", "unknown run " + id}});
      }
      return ok();
    }
    if (path == "/_fake/faults") {
      fault f;
      const auto kind = parse_fault_kind(json::value_to<std::string>(request.at("kind")));
      if (!kind) return bad("unknown fault kind");
      f.kind = *kind;
      if (const auto* scope = request.if_contains("scope"); scope && scope->as_string() != "all") {
        f.run_id = json::value_to<std::string>(*scope);
      }
      if (const auto* n = request.if_contains("count")) {
        if (n->is_string() && n->as_string() == "always") {
          f.count = std::nullopt;
        } else {
          f.count = json::value_to<std::uint32_t>(*n);
        }
      }
      if (const auto* delay = request.if_contains("delay_ms"))
        f.delay = milliseconds{json::value_to<std::int64_t>(*delay)};
      if (const auto* lists = request.if_contains("lists_only")) f.lists_only = lists->as_bool();
      if (const auto* fault_path = request.if_contains("path")) f.path = json::value_to<std::string>(*fault_path);
      inject(std::move(f));
      return ok();
    }
    return json_response(404, json::object{{"error", "no such control endpoint"}});
  } catch (const std::exception& e) {
    return bad(e.what());
  }
}

}  // namespace hookless
