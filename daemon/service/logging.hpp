// hooklessd's logs: stderr (journald and container runtimes collect it), one line per event, as
// text or as JSON objects. Messages name what they are about as key=value words
// ("run_id=exr_1 event_id=event_..."); in JSON those also become fields of the object.
#pragma once

#include "core/model/settings.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hookless {

// True when `level` is one of trace, debug, info, warn, error.
bool is_log_level(const std::string& level);

// Sets the default logger up; `level_override` (--log-level) wins over the config. May be called
// again (on reload) to change the level or the format.
void configure_logging(const logging_config& logging, const std::optional<std::string>& level_override);

// The key=value words of a log message, in order: a key is [a-z][a-z0-9_]* at the start or after
// a space; the value runs to the next space, without a trailing , ; or : (the prose's punctuation).
// Keys the JSON line itself uses (time, level, message) are left out.
std::vector<std::pair<std::string, std::string>> message_fields(std::string_view message);

}  // namespace hookless
