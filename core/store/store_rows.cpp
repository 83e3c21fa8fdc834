// The column conversions both backends share (see store_rows.hpp).
#include "core/store/store_rows.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <limits>
#include <stdexcept>
#include <utility>

namespace hookless::store_rows {

std::int64_t to_ms(time_point t) { return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count(); }

std::optional<std::int64_t> to_ms(const std::optional<time_point>& t) {
  if (!t) return std::nullopt;
  return to_ms(*t);
}

time_point from_ms(std::int64_t ms) { return time_point{std::chrono::milliseconds{ms}}; }

std::optional<time_point> from_ms(const std::optional<std::int64_t>& ms) {
  if (!ms) return std::nullopt;
  return from_ms(*ms);
}

run_state stored_run_state(const std::string& text) {
  if (const auto state = parse_run_state(text)) return *state;
  throw std::runtime_error("state store: unknown run state '" + text + "'");
}

delivery_state stored_delivery_state(const std::string& text) {
  if (const auto state = parse_delivery_state(text)) return *state;
  throw std::runtime_error("state store: unknown delivery state '" + text + "'");
}

std::string sinks_to_json(const std::vector<std::string>& sinks) {
  boost::json::array array;
  array.reserve(sinks.size());
  for (const auto& sink : sinks) array.emplace_back(sink);
  return boost::json::serialize(array);
}

std::vector<std::string> sinks_from_json(const std::string& text) {
  // Named, not a temporary in the range-for: the parsed value must outlive the loop.
  const auto parsed = boost::json::parse(text);
  std::vector<std::string> sinks;
  for (const auto& value : parsed.as_array()) sinks.emplace_back(value.as_string());
  return sinks;
}

std::string context_to_json(const boost::json::object& context) { return boost::json::serialize(context); }

boost::json::object context_from_json(const std::string& text) {
  if (text == "{}") return {};  // the common case, without a parse
  auto parsed = boost::json::parse(text);
  return std::move(parsed.as_object());  // moved, not copied, out of the parsed value
}

std::int64_t to_int64(std::size_t value) {
  constexpr auto max = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(value > max ? max : value);
}

std::string delivery_id_of(const delivery& record) {
  return record.id.empty() ? record.event_id + ":" + record.sink : record.id;
}

}  // namespace hookless::store_rows
