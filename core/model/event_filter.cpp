// Which events a sink takes.
#include "core/model/event_filter.hpp"

#include <fnmatch.h>

namespace hookless {

bool matches_any(const std::vector<std::string>& patterns, std::string_view event_type) {
  const std::string type{event_type};
  for (const auto& pattern : patterns) {
    if (fnmatch(pattern.c_str(), type.c_str(), 0) == 0) return true;
  }
  return false;
}

bool sink_takes(const sink_event_filters& filters, const std::string& sink_name, std::string_view event_type) {
  const auto filter = filters.find(sink_name);
  return filter == filters.end() || matches_any(filter->second, event_type);
}

}  // namespace hookless
