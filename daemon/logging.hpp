// hooklessd's logs: stderr (journald and container runtimes collect it), one line per event, as
// text or as JSON objects.
#pragma once

#include "config/config.hpp"

#include <optional>
#include <string>

namespace hookless {

// True when `level` is one of trace, debug, info, warn, error.
bool is_log_level(const std::string& level);

// Sets the default logger up; `level_override` (--log-level) wins over the config.
void configure_logging(const logging_config& logging, const std::optional<std::string>& level_override);

}  // namespace hookless
