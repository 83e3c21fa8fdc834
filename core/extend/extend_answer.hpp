// What one answer from Extend means: for the run that was polled, a run object with its status; for
// a list request, a page of run summaries; otherwise an error of a kind the scheduler treats in its
// own way. Pure: no I/O, the time passed in.
#pragma once

#include "core/model/answer_kind.hpp"
#include "core/model/run_kind.hpp"

#include <boost/json/value.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookless {

struct extend_answer {
  answer_kind kind = answer_kind::malformed;
  std::string status;                                    // run: the run's status
  std::string payload;                                   // run: the run object's JSON text exactly as Extend sent it
  std::optional<std::chrono::milliseconds> retry_after;  // from Retry-After, when given and sane
  std::string error;                                     // otherwise: what went wrong, for logs and health
};

// `retry_after` is the Retry-After header (seconds or an HTTP date), if any.
extend_answer interpret_answer(unsigned http_status, std::string_view body, std::optional<std::string_view> retry_after,
                               const run_kind_info& kind, std::string_view run_id,
                               std::chrono::system_clock::time_point now);

// One entry of a list answer: a run's status and when it last changed (Extend's clock), without
// its output.
struct run_summary {
  std::string id;
  std::string status;
  std::chrono::system_clock::time_point updated_at;
};

struct list_answer {
  // run: a well-formed page; otherwise what it would mean for a poll (the budget and health read it).
  answer_kind kind = answer_kind::malformed;
  // The list cannot serve this kind (400, 403, 404, 405, 410, 422, code ENDPOINT_REMOVED, or a 2xx
  // that is not a page): polling one run at a time is the way. Such an answer is never a pause:
  // its kind is retryable.
  bool unusable = false;
  std::vector<run_summary> runs;               // newest first as sent
  std::optional<std::string> next_page_token;  // absent on the last page
  std::optional<std::chrono::milliseconds> retry_after;
  std::string error;
};

// An answer to GET {kind.path}?sortBy=updatedAt...: {"object":"list","data":[...],"nextPageToken"}
// (2026) or {"success":true,"<wrapper_key>s":[...],"nextPageToken"} (wrapped kinds). Every summary
// needs a string id, a non-empty string status and an RFC 3339 updatedAt, or the page is unusable.
list_answer interpret_list(unsigned http_status, std::string_view body, std::optional<std::string_view> retry_after,
                           const run_kind_info& kind, std::chrono::system_clock::time_point now);

// Extend's JSON parsed with room for deep nesting: up to 1,024 levels (Boost.JSON's default of 32
// is too few for real run outputs).
boost::json::value parse_extend_json(std::string_view text, boost::system::error_code& ec);

}  // namespace hookless
