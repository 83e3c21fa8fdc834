// hooklessctl's human output and exit-code rules.
#include "daemon/ctl/ctl_output.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <utility>

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

std::string table_stream::page(const std::vector<std::vector<std::string>>& rows) {
  const auto widen = [this](const std::vector<std::string>& row) {
    if (widths_.size() < row.size()) widths_.resize(row.size(), 0);
    for (std::size_t column = 0; column < row.size(); ++column)
      widths_[column] = std::max(widths_[column], row[column].size());
  };
  if (!header_done_) widen(header_);
  for (const auto& row : rows) widen(row);
  const auto line = [this](const std::vector<std::string>& row) {
    std::string out;
    for (std::size_t column = 0; column < row.size(); ++column) {
      out += row[column];
      if (column + 1 < row.size()) out.append(widths_[column] - row[column].size() + 2, ' ');
    }
    return out + '\n';
  };
  std::string out;
  if (!header_done_) {
    out += line(header_);
    header_done_ = true;
  }
  for (const auto& row : rows) out += line(row);
  return out;
}

int worst_exit_code(int a, int b) {
  // 0 < 3 (unsuccessful) < 4 (timed out) < 1 (error); anything else counts as an error.
  const auto rank = [](int code) {
    switch (code) {
      case 0: return 0;
      case 3: return 1;
      case 4: return 2;
      default: return 3;
    }
  };
  return rank(a) >= rank(b) ? a : b;
}

std::string explain_registration_error(std::string_view message, const std::vector<std::string>& ids) {
  // "runs[N].field: why", or "field: why" for a batch of one.
  std::optional<std::size_t> index;
  auto rest = message;
  if (rest.starts_with("runs[")) {
    const auto close = rest.find("].");
    std::size_t number = 0;
    const auto digits = rest.substr(5, close == std::string_view::npos ? 0 : close - 5);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (close == std::string_view::npos || digits.empty() || ec != std::errc{} ||
        end != digits.data() + digits.size() || number >= ids.size()) {
      return std::string{message};
    }
    index = number;
    rest = rest.substr(close + 2);
  } else if (ids.size() == 1) {
    index = 0;
  }
  const auto colon = rest.find(": ");
  if (!index || colon == std::string_view::npos) return std::string{message};
  const auto field = rest.substr(0, colon);
  const auto why = rest.substr(colon + 2);
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> flags{
      {{"id", ""}, {"kind", "--kind"}, {"sinks", "--sink"}, {"context", "--context"}, {"deadline", "--deadline"}}};
  const auto flag = std::ranges::find(flags, field, &std::pair<std::string_view, std::string_view>::first);
  if (flag == flags.end()) return std::string{message};
  std::string out = "ID '" + ids[*index] + "' refused";
  out += flag->second.empty() ? std::string{": "} : ", " + std::string{flag->second} + ": ";
  out += why;
  if (ids.size() > 1) out += "; none of the " + std::to_string(ids.size()) + " IDs sent with it was registered";
  return out;
}

std::string explain_query_error(std::string_view message) {
  for (const std::string_view name : {"kind", "outcome", "state", "limit", "run"}) {
    if (message.size() > name.size() + 1 && message.starts_with(name) && message[name.size()] == ':') {
      return "--" + std::string{message};
    }
  }
  return std::string{message};
}

std::string wait_progress_line(const json::object& record, std::chrono::seconds waited) {
  const auto status = field_text(record, "status");
  const auto polls = field_text(record, "polls");
  return field_text(record, "id") + ": " + (status == "-" ? std::string{"not polled yet"} : status) + ", " + polls +
         (polls == "1" ? " poll, " : " polls, ") + std::to_string(waited.count()) + " s";
}

std::string error_json(std::string_view code, std::string_view message) {
  return json::serialize(json::object{{"error", json::object{{"code", code}, {"message", message}}}});
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
  // A run a subscription found (no user's); a registered run has none.
  if (record.contains("subscription")) out += "subscription: " + field_text(record, "subscription") + '\n';
  if (const auto* deliveries = record.if_contains("deliveries"); deliveries != nullptr && deliveries->is_array()) {
    for (const auto& item : deliveries->get_array()) {
      if (!item.is_object()) continue;
      const auto& one = item.get_object();
      out += "delivery: " + field_text(one, "id") + " to " + field_text(one, "sink") + ", " + field_text(one, "state") +
             " (" + field_text(one, "attempts") + " attempts)\n";
    }
  }
  return out;
}

namespace {

// "1 run", "3 runs".
std::string health_count_text(const json::object& object, std::string_view key, std::string_view one,
                              std::string_view many) {
  const auto* value = object.if_contains(key);
  const auto count = value != nullptr && value->is_int64()    ? value->get_int64()
                     : value != nullptr && value->is_uint64() ? static_cast<std::int64_t>(value->get_uint64())
                                                              : 0;
  return std::to_string(count) + " " + std::string{count == 1 ? one : many};
}

bool health_positive(const json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  return value != nullptr &&
         ((value->is_int64() && value->get_int64() > 0) || (value->is_uint64() && value->get_uint64() > 0));
}

std::string health_api_sentence(const json::object& api) {
  const auto state = field_text(api, "state");
  std::string out = "api: ";
  if (state == "ok") {
    out += "healthy, Extend answers and takes the key";
  } else if (state == "rate_limited") {
    out += "rate limited, Extend answered 429";
  } else if (state == "unauthorized") {
    out += "unauthorized, Extend refused the API key";
  } else if (state == "unreachable") {
    out += "unreachable, Extend could not be reached";
  } else {
    out += state;
  }
  const auto error = field_text(api, "last_error");
  if (error != "-") out += "; last error: " + error;
  return out + '\n';
}

std::string health_sink_sentence(const std::string& name, const json::object& sink) {
  std::string out = "sink " + name;
  const auto type = field_text(sink, "type");
  if (type != "-" && !type.empty()) out += " (" + type + ")";
  out += ": ";
  const bool retrying = field_text(sink, "state") == "retrying";
  const bool dead = health_positive(sink, "dead");
  if (!retrying && !dead) out += "healthy, ";
  if (retrying) out += "retrying, ";
  if (dead) out += health_count_text(sink, "dead", "dead delivery", "dead deliveries") + ", ";
  out += field_text(sink, "backlog") + " queued";
  const auto error = field_text(sink, "last_error");
  if (error != "-") out += "; last error: " + error;
  if (dead) out += " (hooklessctl deliveries --state dead; hooklessctl redeliver --all-dead)";
  return out + '\n';
}

// "subscription invoices (extract_run): healthy, position 2026-...Z (swept 3 s ago); 12 sweeps, 4 runs
// found, 5 events".
std::string health_subscription_sentence(const std::string& name, const std::string& kind, const json::object& status) {
  std::string out = "subscription " + name + " (" + kind + "): ";
  const auto state = field_text(status, "state");
  const auto position = field_text(status, "position");
  const auto age = field_text(status, "position_age_seconds");
  const auto where = position == "-" ? std::string{"no position yet"}
                                     : "position " + position + (age == "-" ? "" : " (swept " + age + " s ago)");
  if (state == "ok") {
    out += "healthy, " + where;
  } else if (state == "starting") {
    out += "starting, no sweep has completed yet";
  } else if (state == "standby") {
    out += "standby, another daemon sweeps it; " + where;
  } else if (state == "failing") {
    out += "failing, the sweep is retried and nothing is skipped; " + where;
  } else {
    out += state + ", " + where;
  }
  out += "; " + health_count_text(status, "sweeps", "sweep", "sweeps") + ", " +
         health_count_text(status, "runs_found", "run found", "runs found") + ", " +
         health_count_text(status, "events", "event", "events");
  const auto error = field_text(status, "last_error");
  if (error != "-") out += "; last error: " + error;
  return out + '\n';
}

}  // namespace

std::string describe_health(const json::object& health) {
  std::string out = "hooklessd is " + field_text(health, "status") + ": " +
                    health_count_text(health, "pending", "run", "runs") + " pending\n";
  if (const auto* api = health.if_contains("api"); api != nullptr && api->is_object()) {
    out += health_api_sentence(api->get_object());
  }
  if (const auto* sinks = health.if_contains("sinks"); sinks != nullptr && sinks->is_object()) {
    for (const auto& [name, sink] : sinks->get_object()) {
      if (sink.is_object()) out += health_sink_sentence(std::string{name}, sink.get_object());
    }
  }
  if (const auto* subscriptions = health.if_contains("subscriptions");
      subscriptions != nullptr && subscriptions->is_object()) {
    for (const auto& [name, kinds] : subscriptions->get_object()) {
      if (!kinds.is_object()) continue;
      for (const auto& [kind, status] : kinds.get_object()) {
        if (status.is_object()) {
          out += health_subscription_sentence(std::string{name}, std::string{kind}, status.get_object());
        }
      }
    }
  }
  if (const auto* store = health.if_contains("store"); store != nullptr && store->is_object()) {
    const auto& st = store->get_object();
    const auto state = field_text(st, "state");
    out += "store (" + field_text(st, "backend") +
           "): " + (state == "ok" ? std::string{"healthy"} : state + ", registrations are refused until it answers") +
           '\n';
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
    out += "cluster: node " + field_text(c, "node") + " is the " + field_text(c, "role") + " (term " +
           field_text(c, "term") + "); live nodes " + name_list_text(c, "nodes") + "; delivers for " +
           name_list_text(c, "homes") + '\n';
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
