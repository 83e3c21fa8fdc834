// hooklessctl's human output and exit-code rules.
#include "daemon/ctl/ctl_output.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstdio>

namespace hookless {
namespace json = boost::json;

int wait_exit_code(std::string_view final_event_type) {
  if (final_event_type.ends_with(".processed") || final_event_type == "workflow_run.completed") return 0;
  return 3;
}

std::string format_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t column = 0; column < row.size(); ++column)
      widths[column] = std::max(widths[column], row[column].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t column = 0; column < row.size(); ++column) {
      line += row[column];
      if (column + 1 < row.size()) line.append(widths[column] - row[column].size() + 2, ' ');
    }
    out += line;
    out += '\n';
  }
  return out;
}

std::string field_text(const json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (value == nullptr || value->is_null()) return "-";
  if (value->is_string()) return std::string{value->get_string()};
  return json::serialize(*value);
}

namespace {

// ["a","b"] as "a, b"; "-" when missing or empty.
std::string name_list_text(const json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (value == nullptr || !value->is_array() || value->get_array().empty()) return "-";
  std::string out;
  for (const auto& item : value->get_array()) {
    if (!out.empty()) out += ", ";
    out += item.is_string() ? std::string{item.get_string()} : json::serialize(item);
  }
  return out;
}

}  // namespace

std::string describe_run(const json::object& record) {
  std::string out;
  for (const std::string_view key : {"id", "kind", "state", "status", "outcome", "polls", "registered_at", "updated_at",
                                     "next_poll_at", "finished_at", "deadline_at", "sinks", "context", "events"}) {
    out += std::string{key} + ": " + field_text(record, key) + '\n';
  }
  if (const auto* deliveries = record.if_contains("deliveries"); deliveries != nullptr && deliveries->is_array()) {
    for (const auto& item : deliveries->get_array()) {
      if (!item.is_object()) continue;
      const auto& one = item.get_object();
      out += "delivery: " + field_text(one, "sink") + " " + field_text(one, "state") + " (" +
             field_text(one, "attempts") + " attempts)\n";
    }
  }
  return out;
}

std::string describe_health(const json::object& health) {
  std::string out = field_text(health, "status") + ": " + field_text(health, "pending") + " runs pending\n";
  if (const auto* api = health.if_contains("api"); api != nullptr && api->is_object()) {
    out += "api: " + field_text(api->get_object(), "state");
    const auto error = field_text(api->get_object(), "last_error");
    if (error != "-") out += " (" + error + ")";
    out += '\n';
  }
  if (const auto* sinks = health.if_contains("sinks"); sinks != nullptr && sinks->is_object()) {
    for (const auto& [name, sink] : sinks->get_object()) {
      if (!sink.is_object()) continue;
      out += "sink " + std::string{name} + ": " + field_text(sink.get_object(), "state") + ", backlog " +
             field_text(sink.get_object(), "backlog");
      const auto* dead = sink.get_object().if_contains("dead");
      if (dead != nullptr && dead->is_int64() && dead->get_int64() > 0) {
        out += ", " + field_text(sink.get_object(), "dead") + " dead (see hooklessctl deliveries --state dead)";
      }
      const auto error = field_text(sink.get_object(), "last_error");
      if (error != "-") out += " (" + error + ")";
      out += '\n';
    }
  }
  if (const auto* store = health.if_contains("store"); store != nullptr && store->is_object()) {
    out += "store: " + field_text(store->get_object(), "state") + " (" + field_text(store->get_object(), "backend") +
           ")\n";
  }
  if (const auto* config = health.if_contains("config"); config != nullptr && config->is_object()) {
    const auto* reload = config->get_object().if_contains("last_reload");
    const auto* ok = reload != nullptr && reload->is_object() ? reload->get_object().if_contains("ok") : nullptr;
    if (ok != nullptr && ok->is_bool() && !ok->get_bool()) {
      out += "config: the reload at " + field_text(reload->get_object(), "at") + " was rejected (" +
             field_text(reload->get_object(), "error") + "); the configuration read at " +
             field_text(config->get_object(), "loaded_at") + " still runs\n";
    }
  }
  if (const auto* cluster = health.if_contains("cluster"); cluster != nullptr && cluster->is_object()) {
    const auto& c = cluster->get_object();
    out += "cluster: node " + field_text(c, "node") + ", " + field_text(c, "role") + " (term " + field_text(c, "term") +
           "), live nodes " + name_list_text(c, "nodes") + ", delivers for " + name_list_text(c, "homes") + '\n';
  }
  return out;
}

std::string encode_path_segment(std::string_view segment) {
  std::string out;
  for (const char c : segment) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') || (byte >= '0' && byte <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", byte);
      out += escaped;
    }
  }
  return out;
}

}  // namespace hookless
