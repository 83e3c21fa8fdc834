// The event every sink receives: Extend's webhook envelope plus hookless's own fields
// (docs/events.md), and its deterministic eventId.
#pragma once

#include "core/model/run.hpp"

#include <string>
#include <string_view>

namespace hookless {

// "event_" + a digest of the run ID and event type only: a redelivery after a crash carries the
// same eventId, so receivers can de-duplicate on it.
std::string make_event_id(std::string_view run_id, std::string_view event_type);

// The envelope for `run` with `payload_json` (valid JSON text, passed on byte for byte).
run_event make_event(const run_record& run, std::string_view event_type, std::string_view payload_json,
                     time_point detected_at);

// The payload of the events the daemon makes itself (run.expired, run.not_found).
std::string daemon_event_payload(const run_record& run, std::string_view reason);

}  // namespace hookless
