// The control API's JSON: records, deliveries and health as docs/control-api.md spells them, and the
// parsing of POST /v1/runs bodies into validated registrations. Pure functions, no I/O.
#pragma once

#include "core/model/run.hpp"
#include "core/model/subscription.hpp"
#include "daemon/control/control_backend.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hookless {

// Limits of a registration body (docs/control-api.md).
inline constexpr std::size_t max_registrations_per_request = 10'000;
inline constexpr std::size_t max_context_bytes = 16 * 1024;
inline constexpr std::chrono::milliseconds max_registration_deadline{365LL * 24 * 3600 * 1000};

// {"id","kind","state",...,"events":[eventId...],"deliveries":[{"sink","state","attempts"}]}, and
// "subscription" for a run a subscription found.
boost::json::object record_to_json(const run_record& run);
// {"id","event_id","run_id","sink","state","attempts","last_error","next_attempt_at"}.
boost::json::object delivery_to_json(const delivery& item);
// {"status":"ok"|"degraded","pending",...,"api":{...},"sinks":{NAME:{"state","backlog"}},
//  "subscriptions":{NAME:{KIND:{...}}}, "store":{"state","backend"}, with a database
//  "cluster":{"node","role","term","nodes","homes"}}.
boost::json::object health_to_json(const health_report& report);
// {NAME:{KIND:{"state","position","position_age_seconds","sweeps","pages","runs_found","events",
// "last_error"}}}: position is Extend's newest updatedAt a complete sweep read (RFC 3339, null before
// the first), its age the whole seconds from the last complete sweep (swept_at) to `now` (null before it).
boost::json::object subscriptions_to_json(const std::vector<subscription_status>& subscriptions, time_point now);
// True when a subscription's sweep is failing (its list refuses, or a page was not sorted): health
// is degraded then, as with a failing sink.
bool any_subscription_failing(const std::vector<subscription_status>& subscriptions);
// The run's event envelopes, parsed, in order (an envelope that is not JSON comes back as a string).
boost::json::array events_to_json(const run_record& run);
// {"error":{"code":...,"message":...}}.
std::string error_body(std::string_view code, std::string_view message);

// The kind an ID's prefix names, if any (control_backend::kind_for).
using kind_lookup = std::function<std::optional<std::string>(std::string_view run_id)>;

struct parsed_registrations {
  std::vector<registration> runs;
  bool batch = false;  // the body was {"runs":[...]}; a single registration answers one record
};

// Why a body was refused: a message naming the field ("runs[3].id: ...").
struct registration_error {
  std::string message;
};

// Parses and validates a POST /v1/runs body: one registration object or {"runs":[...]}.
std::variant<parsed_registrations, registration_error> parse_registrations(std::string_view body,
                                                                           const kind_lookup& kind_for);

}  // namespace hookless
