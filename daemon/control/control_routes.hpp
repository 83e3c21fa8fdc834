// The control API's routes (docs/control-api.md): one parsed HTTP request in, one backend call, one
// response out. No sockets here, so every status code is tested without I/O.
#pragma once

#include "daemon/control/control_backend.hpp"

#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hookless {

// Bodies above this are refused with 413 (a batch of 10,000 typical registrations is ~1.2 MiB).
inline constexpr std::size_t max_request_body_bytes = 2 * 1024 * 1024;
// The longest ?wait= a GET /v1/runs/{id} may ask for.
inline constexpr std::chrono::milliseconds max_run_wait{3'600'000};
inline constexpr std::size_t max_list_limit = 1000;

// A caller over one of its per-user limits (control.max_pending_per_user,
// control.requests_per_second_per_user): answered 429 busy, nothing of the request is kept.
struct caller_over_limit : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct control_request {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target;  // origin form, e.g. "/v1/runs?state=pending&limit=10"
  std::string body;
  caller who;
};

struct control_response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;   // empty for 204
  std::string allow;  // the Allow header of a 405
  // GET /v1/events: the server streams these as application/x-ndjson after the headers, then
  // closes the connection (the body is not used).
  std::shared_ptr<event_stream> stream;
};

// The last line of a stream whose reader fell too far behind (then the connection is closed).
std::string too_slow_line(const live_event_bounds& bounds);

// {"error":{"code","message"}} with the given status.
control_response error_response(unsigned status, std::string_view code, std::string_view message);

// 413 too_large when a declared Content-Length is over max_request_body_bytes, decided before any
// of the body is read; nullopt when the request may go on.
std::optional<control_response> check_content_length(std::optional<std::uint64_t> content_length);

// 429 busy for a caller over a per-user limit; `why` names the limit.
control_response over_limit_response(std::string_view why);

// The 413 for a body that grew over the limit while being read (chunked).
control_response body_too_large_response();

// Serves one request. Backend failures map to 400 (invalid_registration), 403
// (registration_forbidden), 429 (caller_over_limit), 503 busy (store_full) and 500; cancellation
// (server stop) propagates as an exception.
awaitable<control_response> handle_control_request(control_backend& backend, control_request request);

}  // namespace hookless
