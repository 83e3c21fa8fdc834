// How records map to the columns both backends store them in (the same columns in SQLite and
// PostgreSQL): times as whole milliseconds since the epoch, sinks and context as JSON text, states by
// name. The read_* templates take any row type with column_text/column_int64/column_optional_text/
// column_optional_int64(index), so each backend reads rows with the same code.
#pragma once

#include "core/model/run.hpp"
#include "core/model/subscription.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hookless::store_rows {

std::int64_t to_ms(time_point t);
std::optional<std::int64_t> to_ms(const std::optional<time_point>& t);
time_point from_ms(std::int64_t ms);
std::optional<time_point> from_ms(const std::optional<std::int64_t>& ms);

// A state column holds one of the names run.hpp gives; anything else is a bug or a foreign database.
run_state stored_run_state(const std::string& text);
delivery_state stored_delivery_state(const std::string& text);

std::string sinks_to_json(const std::vector<std::string>& sinks);
std::vector<std::string> sinks_from_json(const std::string& text);
std::string context_to_json(const boost::json::object& context);
boost::json::object context_from_json(const std::string& text);

// A count or limit as a bound parameter, saturating.
std::int64_t to_int64(std::size_t value);

// The delivery ID run.hpp describes, for a record made without one.
std::string delivery_id_of(const delivery& record);

// A run's columns, in the order read_run reads them (qualified by the alias r).
inline constexpr const char* run_columns =
    "r.id, r.kind, r.owner_uid, r.state, r.status, r.outcome, r.polls, r.registered_at, r.updated_at, "
    "r.next_poll_at, r.finished_at, r.deadline_at, r.sinks, r.context, r.looked_at, r.subscription";

template <typename Row>
run_record read_run(const Row& row, int first) {
  run_record run;
  run.id = row.column_text(first);
  run.kind = row.column_text(first + 1);
  run.owner_uid = static_cast<std::uint32_t>(row.column_int64(first + 2));
  run.state = stored_run_state(row.column_text(first + 3));
  run.status = row.column_optional_text(first + 4);
  run.outcome = row.column_optional_text(first + 5);
  run.polls = static_cast<std::uint32_t>(row.column_int64(first + 6));
  run.registered_at = from_ms(row.column_int64(first + 7));
  run.updated_at = from_ms(row.column_int64(first + 8));
  run.next_poll_at = from_ms(row.column_optional_int64(first + 9));
  run.finished_at = from_ms(row.column_optional_int64(first + 10));
  run.deadline_at = from_ms(row.column_int64(first + 11));
  run.sinks = sinks_from_json(row.column_text(first + 12));
  run.context = context_from_json(row.column_text(first + 13));
  run.looked_at = from_ms(row.column_int64(first + 14));
  run.subscription = row.column_optional_text(first + 15);
  return run;
}

// A delivery's columns, in the order read_delivery reads them (qualified by the alias d).
inline constexpr const char* delivery_columns =
    "d.id, d.event_id, d.run_id, d.sink, d.state, d.attempts, d.last_error, d.next_attempt_at, d.redelivered_at";
inline constexpr int delivery_column_count = 9;

template <typename Row>
delivery read_delivery(const Row& row, int first) {
  delivery record;
  record.id = row.column_text(first);
  record.event_id = row.column_text(first + 1);
  record.run_id = row.column_text(first + 2);
  record.sink = row.column_text(first + 3);
  record.state = stored_delivery_state(row.column_text(first + 4));
  record.attempts = static_cast<std::uint32_t>(row.column_int64(first + 5));
  record.last_error = row.column_optional_text(first + 6);
  record.next_attempt_at = from_ms(row.column_optional_int64(first + 7));
  record.redelivered_at = from_ms(row.column_optional_int64(first + 8));
  return record;
}

// A subscription position's columns, in the order read_subscription_position reads them.
inline constexpr const char* subscription_position_columns = "subscription, kind, since, position, swept_at";

template <typename Row>
subscription_position read_subscription_position(const Row& row, int first) {
  subscription_position position;
  position.subscription = row.column_text(first);
  position.kind = row.column_text(first + 1);
  position.since = from_ms(row.column_optional_int64(first + 2));
  position.position = from_ms(row.column_optional_int64(first + 3));
  position.swept_at = from_ms(row.column_optional_int64(first + 4));
  return position;
}

// event_id, event_type, body.
template <typename Row>
run_event read_event(const Row& row, int first) {
  return run_event{row.column_text(first), row.column_text(first + 1), row.column_text(first + 2)};
}

}  // namespace hookless::store_rows
