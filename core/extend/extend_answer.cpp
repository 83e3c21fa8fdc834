// Reading Extend's answers: bare 2026 objects, legacy wrapped objects, and every error body shape.
#include "core/extend/extend_answer.hpp"

#include "core/formats/json_span.hpp"
#include "core/formats/retry_after.hpp"
#include "core/formats/timestamp.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>

namespace hookless {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

// The fields of an error body: the object itself, or its "error" member when that is an object.
const json::object* error_fields(const json::value& parsed) {
  const json::object* fields = parsed.is_object() ? &parsed.get_object() : nullptr;
  if (fields != nullptr && fields->contains("error") && fields->at("error").is_object()) {
    fields = &fields->at("error").get_object();
  }
  return fields;
}

// The message of an error body: {"code","message"}, {"error":{"code","message"}},
// {"success":false,"error":"..."} or {"error":"..."}; the raw start of the body otherwise.
std::string error_message(unsigned http_status, std::string_view body) {
  std::string message = "HTTP " + std::to_string(http_status);
  boost::system::error_code ec;
  const auto parsed = parse_extend_json(body, ec);
  const json::object* fields = error_fields(parsed);
  if (fields == nullptr) {
    if (!body.empty()) message += ": " + std::string{body.substr(0, 200)};
    return message;
  }
  for (const auto* key : {"code", "message", "error"}) {
    if (const auto* value = fields->if_contains(key); value != nullptr && value->is_string()) {
      message += std::string{key == std::string_view{"code"} ? " " : ": "} + std::string{value->get_string()};
    }
  }
  if (const auto* id = fields->if_contains("requestId"); id != nullptr && id->is_string()) {
    message += " (request " + std::string{id->get_string()} + ")";
  }
  return message;
}

extend_answer failure(answer_kind kind, std::string error) {
  extend_answer answer;
  answer.kind = kind;
  answer.error = std::move(error);
  return answer;
}

// The run object inside a 2xx body: the body itself (2026) or the member that wraps it (legacy).
extend_answer read_run(std::string_view body, const run_kind_info& kind, std::string_view run_id) {
  boost::system::error_code ec;
  const auto parsed = parse_extend_json(body, ec);
  if (ec || !parsed.is_object()) return failure(answer_kind::malformed, "answer is not a JSON object");
  const auto& top = parsed.get_object();

  std::string_view wrapper;
  if (const auto* success = top.if_contains("success"); success != nullptr) {
    if (!success->is_bool() || !success->get_bool()) return failure(answer_kind::retryable, error_message(200, body));
    // The documented key first; else the one member that holds an object with a status.
    if (const auto* inner = kind.wrapper_key.empty() ? nullptr : top.if_contains(kind.wrapper_key);
        inner != nullptr && inner->is_object()) {
      wrapper = kind.wrapper_key;
    } else {
      for (const auto& member : top) {
        if (member.value().is_object() && member.value().get_object().contains("status")) wrapper = member.key();
      }
    }
    if (wrapper.empty()) return failure(answer_kind::malformed, "wrapped answer has no run object");
  }
  const auto& run = wrapper.empty() ? top : top.at(wrapper).as_object();

  const auto* status = run.if_contains("status");
  if (status == nullptr || !status->is_string() || status->get_string().empty()) {
    return failure(answer_kind::malformed, "run object has no status");
  }
  if (const auto* id = run.if_contains("id"); id != nullptr && (!id->is_string() || id->get_string() != run_id)) {
    return failure(answer_kind::malformed, "answer is for another run: " + json::serialize(*id));
  }
  extend_answer answer;
  answer.kind = answer_kind::run;
  answer.status = std::string{status->get_string()};
  answer.payload = std::string{wrapper.empty() ? trim_json(body) : *find_member_text(body, wrapper)};
  // With a key given twice the parser keeps the last value and the scanner finds the first: the
  // payload passed on must be the object judged above (found by fuzz_extend_answer).
  if (!wrapper.empty() && parse_extend_json(answer.payload, ec) != json::value(run)) {
    return failure(answer_kind::malformed, "wrapped answer repeats its run object's key");
  }
  return answer;
}

answer_kind kind_of_error(unsigned http_status) {
  if (http_status == 404) return answer_kind::not_found;
  if (http_status == 429) return answer_kind::rate_limited;
  if (http_status == 401 || http_status == 403) return answer_kind::unauthorized;
  return answer_kind::retryable;
}

list_answer unusable_list(std::string error) {
  list_answer answer;
  answer.kind = answer_kind::retryable;
  answer.unusable = true;
  answer.error = std::move(error);
  return answer;
}

// A 2xx list page; anything not exactly a page makes the list unusable for this kind.
list_answer read_list(std::string_view body, const run_kind_info& kind) {
  boost::system::error_code ec;
  const auto parsed = parse_extend_json(body, ec);
  if (ec || !parsed.is_object()) return unusable_list("list answer is not a JSON object");
  const auto& top = parsed.get_object();
  const std::string items_key = kind.wrapper_key.empty() ? "data" : std::string{kind.wrapper_key} + "s";
  if (kind.wrapper_key.empty()) {
    if (const auto* object = top.if_contains("object");
        object != nullptr && !(object->is_string() && object->get_string() == "list")) {
      return unusable_list("list answer has \"object\": " + json::serialize(*object) + ", not \"list\"");
    }
  } else if (const auto* success = top.if_contains("success");
             success == nullptr || !success->is_bool() || !success->get_bool()) {
    list_answer failed;
    failed.kind = answer_kind::retryable;
    failed.error = error_message(200, body);
    return failed;
  }
  const auto* items = top.if_contains(items_key);
  if (items == nullptr || !items->is_array()) return unusable_list("list answer has no \"" + items_key + "\" array");

  list_answer answer;
  answer.kind = answer_kind::run;
  answer.runs.reserve(items->get_array().size());
  std::size_t index = 0;
  for (const auto& item : items->get_array()) {
    const auto where = items_key + "[" + std::to_string(index++) + "]";
    const auto* fields = item.if_object();
    if (fields == nullptr) return unusable_list(where + " is not an object");
    const auto* id = fields->if_contains("id");
    const auto* status = fields->if_contains("status");
    const auto* updated = fields->if_contains("updatedAt");
    if (id == nullptr || !id->is_string() || id->get_string().empty())
      return unusable_list(where + " has no string id");
    if (status == nullptr || !status->is_string() || status->get_string().empty()) {
      return unusable_list(where + " has no string status");
    }
    const auto updated_at =
        updated != nullptr && updated->is_string() ? parse_time(updated->get_string()) : std::nullopt;
    if (!updated_at) return unusable_list(where + " has no RFC 3339 updatedAt");
    // The feed pages back to a point in time: a list in another order would hide changes.
    if (!answer.runs.empty() && *updated_at > answer.runs.back().updated_at) {
      return unusable_list(where + " is newer than the summary before it: not sorted by updatedAt, newest first");
    }
    answer.runs.push_back(run_summary{
        .id = std::string{id->get_string()}, .status = std::string{status->get_string()}, .updated_at = *updated_at});
  }
  if (const auto* token = top.if_contains("nextPageToken"); token != nullptr && !token->is_null()) {
    if (!token->is_string()) return unusable_list("nextPageToken is not a string");
    if (!token->get_string().empty()) answer.next_page_token = std::string{token->get_string()};
  }
  return answer;
}

}  // namespace

json::value parse_extend_json(std::string_view text, boost::system::error_code& ec) {
  json::parse_options options;
  options.max_depth = 1024;
  return json::parse(text, ec, {}, options);
}

extend_answer interpret_answer(unsigned http_status, std::string_view body, std::optional<std::string_view> retry_after,
                               const run_kind_info& kind, std::string_view run_id,
                               std::chrono::system_clock::time_point now) {
  if (http_status >= 200 && http_status < 300) return read_run(body, kind, run_id);
  auto answer = failure(kind_of_error(http_status), error_message(http_status, body));
  if (retry_after) answer.retry_after = parse_retry_after(*retry_after, now);
  return answer;
}

list_answer interpret_list(unsigned http_status, std::string_view body, std::optional<std::string_view> retry_after,
                           const run_kind_info& kind, std::chrono::system_clock::time_point now) {
  if (http_status >= 200 && http_status < 300) return read_list(body, kind);
  boost::system::error_code ec;
  const auto parsed = parse_extend_json(body, ec);
  const auto* fields = error_fields(parsed);
  const auto* code = fields != nullptr ? fields->if_contains("code") : nullptr;
  const bool removed = code != nullptr && code->is_string() && code->get_string() == "ENDPOINT_REMOVED";
  constexpr std::array refusals{400U, 403U, 404U, 405U, 410U, 422U};
  if (removed || std::ranges::find(refusals, http_status) != refusals.end()) {
    return unusable_list(error_message(http_status, body));
  }
  list_answer answer;
  answer.kind = kind_of_error(http_status);
  answer.error = error_message(http_status, body);
  if (retry_after) answer.retry_after = parse_retry_after(*retry_after, now);
  return answer;
}

}  // namespace hookless
