// What a status Extend reports means: keep polling, or which event it makes. The SDKs' rule: a
// run is in progress while PENDING, PROCESSING or CANCELLING; any other value, even one never seen
// before, means it has stopped.
#pragma once

#include "core/model/run_kind.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookless {

bool is_in_progress(std::string_view status);

struct status_verdict {
  std::optional<std::string> event_type;  // the event this status makes, if any
  std::optional<std::string> outcome;     // the record's outcome, when the status is not in progress
  bool finished = false;                  // stop polling
};

// needs_review stops a workflow run for a human; with follow_review the run stays pending so its
// final outcome is reported too.
status_verdict judge_status(const run_kind_info& kind, std::string_view run_id, std::string_view status,
                            bool follow_review);

// Events the daemon makes itself.
inline constexpr std::string_view expired_event = "run.expired";
inline constexpr std::string_view not_found_event = "run.not_found";

// Every event type hookless makes, under any API version, sorted: each kind's final statuses as
// judge_status names them, and the daemon's own events. The list `events:` patterns are checked
// against (docs/events.md lists them).
std::vector<std::string> known_event_types();

// True for the event types that mean the run succeeded (hooklessctl wait exits 0 for them).
bool is_success_event(std::string_view event_type);

}  // namespace hookless
