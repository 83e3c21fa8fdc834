// Which events a sink takes (its `events:` patterns in the config): one rule for the events the
// tracker makes and for the deliveries a subscription adds to a run's events so far.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hookless {

// Sink name -> its event patterns; a sink not listed takes every event.
using sink_event_filters = std::map<std::string, std::vector<std::string>>;

// True when `event_type` matches one of the glob patterns (fnmatch rules: *, ?, [...]).
bool matches_any(const std::vector<std::string>& patterns, std::string_view event_type);

// True when the sink takes events of this type.
bool sink_takes(const sink_event_filters& filters, const std::string& sink_name, std::string_view event_type);

}  // namespace hookless
