// hooklessctl's human output and exit-code rules, kept apart from I/O so they read plainly.
#pragma once

#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace hookless {

// `wait`'s exit code for a finished run: 0 when its final event is `*.processed` or
// `workflow_run.completed`, 3 for any other outcome (docs/events.md).
int wait_exit_code(std::string_view final_event_type);

// Rows aligned in columns two spaces apart; the first row is the header.
std::string format_table(const std::vector<std::vector<std::string>>& rows);

// One run as "field: value" lines.
std::string describe_run(const boost::json::object& record);
// A short report of GET /v1/health.
std::string describe_health(const boost::json::object& health);

// A JSON string's text, a number's digits, "-" for null or missing.
std::string field_text(const boost::json::object& object, std::string_view key);

// Percent-encodes one path segment (delivery IDs carry ':').
std::string encode_path_segment(std::string_view segment);

}  // namespace hookless
