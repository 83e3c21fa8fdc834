// What one answer from Extend amounts to, in the few kinds the scheduler, the request budget and
// the health report each treat in their own way.
#pragma once

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

// The kind's name in logs and metrics: run, not_found, rate_limited, unauthorized, error,
// unreachable, malformed.
const char* answer_name(answer_kind kind);

}  // namespace hookless
