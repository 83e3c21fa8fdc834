// hooklessctl's human output and exit-code rules, kept apart from I/O so they read plainly.
#pragma once

#include <boost/json/object.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace hookless {

// `wait`'s exit code for a finished run: 0 when its final event is `*.processed` or
// `workflow_run.completed`, 3 for any other outcome (docs/events.md).
int wait_exit_code(std::string_view final_event_type);

// Rows aligned in columns two spaces apart; the first row is the header.
std::string format_table(const std::vector<std::vector<std::string>>& rows);

// A table printed a page at a time (rows as they arrive): the first page sets the column widths,
// a later row that is wider widens its column from then on.
class table_stream {
 public:
  explicit table_stream(std::vector<std::string> header) : header_(std::move(header)) {}
  // The header (before the first rows) and `rows`, aligned.
  std::string page(const std::vector<std::vector<std::string>>& rows);

 private:
  std::vector<std::string> header_;
  std::vector<std::size_t> widths_;
  bool header_done_ = false;
};

// The exit code of several outcomes: the worst of them, 1 (error) over 4 (timed out) over 3
// (unsuccessful) over 0.
int worst_exit_code(int a, int b);

// A refusal of POST /v1/runs told in hooklessctl's words: the message's "runs[N]." (or, for a
// batch of one, the bare field) becomes the ID it was about, and the registration field the flag
// that sets it ("kind" is --kind). `ids` are the batch's IDs in the order sent.
std::string explain_registration_error(std::string_view message, const std::vector<std::string>& ids);

// A refusal of a listing's query told in flags: "kind: ..." becomes "--kind: ..." (kind, outcome,
// state, limit, run); any other message is left as it is.
std::string explain_query_error(std::string_view message);

// {"error":{"code":...,"message":...}}, what hooklessctl --json prints for a failure.
std::string error_json(std::string_view code, std::string_view message);

// One run as "field: value" lines.
std::string describe_run(const boost::json::object& record);
// A short report of GET /v1/health.
std::string describe_health(const boost::json::object& health);

// `wait`'s progress line on a terminal, from the run's record: "exr_1: PROCESSING, 3 polls, 12 s"
// ("not polled yet" before Extend first answered for it).
std::string wait_progress_line(const boost::json::object& record, std::chrono::seconds waited);

// A JSON string's text, a number's digits, "-" for null or missing.
std::string field_text(const boost::json::object& object, std::string_view key);

// Percent-encodes one path segment (delivery IDs carry ':').
std::string encode_path_segment(std::string_view segment);

}  // namespace hookless
