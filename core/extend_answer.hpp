// What one answer from Extend means for the run that was polled: a run object with its status,
// or an error of a kind the scheduler treats in its own way. Pure: no I/O, the time passed in.
#pragma once

#include "core/run_kind.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace hookless {

enum class answer_kind {
  run,           // a well-formed run object
  not_found,     // 404
  rate_limited,  // 429
  unauthorized,  // 401, 403: the key is wrong for every run
  retryable,     // 5xx, 408, other 4xx: try again later
  unreachable,   // no HTTP answer at all: connect, TLS, timeout, cut or truncated
  malformed,     // 2xx that is not a run object for this ID: never read as a finished run
};

struct extend_answer {
  answer_kind kind = answer_kind::malformed;
  std::string status;                  // run: the run's status
  std::string payload;                 // run: the run object's JSON text exactly as Extend sent it
  std::optional<std::chrono::milliseconds> retry_after;  // from Retry-After, when given and sane
  std::string error;                   // otherwise: what went wrong, for logs and health
};

// `retry_after` is the Retry-After header (seconds or an HTTP date), if any.
extend_answer interpret_answer(unsigned http_status, std::string_view body, std::optional<std::string_view> retry_after,
                               const run_kind_info& kind, std::string_view run_id,
                               std::chrono::system_clock::time_point now);

// Retry-After as a delay from `now`: "120" or "Wed, 21 Oct 2026 07:28:00 GMT"; nullopt when
// unparsable; a date in the past is zero; capped at one hour.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

}  // namespace hookless
