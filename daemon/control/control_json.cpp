// The control API's JSON: records, deliveries and health out, registrations in.
#include "daemon/control/control_json.hpp"

#include "core/formats/duration.hpp"
#include "core/formats/timestamp.hpp"
#include "core/model/run_kind.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace hookless {
namespace json = boost::json;

namespace {

json::value optional_string(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  return json::string(*text);
}

json::value optional_time(const std::optional<time_point>& when) {
  if (!when) return nullptr;
  return json::string(format_time(*when));
}

// The text with every invalid UTF-8 sequence replaced by U+FFFD. Messages echo what a client sent
// (a path, a query key), and an answer with invalid UTF-8 in it is not JSON any client will parse.
std::string to_valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<std::uint32_t>(static_cast<unsigned char>(text[i]));
    if (lead < 0x80) {
      out += text[i++];
      continue;
    }
    std::size_t length = 0;
    std::uint32_t code = 0;
    std::uint32_t smallest = 0;
    if ((lead & 0xE0u) == 0xC0u) {
      length = 2, code = lead & 0x1Fu, smallest = 0x80;
    } else if ((lead & 0xF0u) == 0xE0u) {
      length = 3, code = lead & 0x0Fu, smallest = 0x800;
    } else if ((lead & 0xF8u) == 0xF0u) {
      length = 4, code = lead & 0x07u, smallest = 0x10000;
    }
    bool valid = length != 0 && i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      const auto next = static_cast<std::uint32_t>(static_cast<unsigned char>(text[i + k]));
      valid = (next & 0xC0u) == 0x80u;
      code = (code << 6) | (next & 0x3Fu);
    }
    valid = valid && code >= smallest && code <= 0x10FFFF && (code < 0xD800 || code > 0xDFFF);
    if (valid) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// Reports a refusal for one field; `where` is "" for a single registration, else "runs[3].".
registration_error refuse(const std::string& where, std::string_view field, std::string_view why) {
  return registration_error{where + std::string{field} + ": " + std::string{why}};
}

std::optional<registration_error> parse_one(const json::value& value, const std::string& where,
                                            const kind_lookup& kind_for, registration& out) {
  const auto* object = value.if_object();
  if (object == nullptr) {
    std::string name = where.empty() ? std::string{"body"} : where.substr(0, where.size() - 1);
    return registration_error{name + ": must be a JSON object"};
  }
  for (const auto& field : *object) {
    const std::string_view key = field.key();
    if (key != "id" && key != "kind" && key != "sinks" && key != "context" && key != "deadline") {
      return refuse(where, key, "unknown field");
    }
  }

  const auto* id = object->if_contains("id");
  if (id == nullptr) return refuse(where, "id", "is required");
  if (!id->is_string()) return refuse(where, "id", "must be a string");
  out.id = std::string{id->get_string()};
  if (!is_valid_run_id(out.id)) {
    return refuse(where, "id", "must be 1 to 255 characters of A-Z, a-z, 0-9, '_' and '-'");
  }

  if (const auto* kind = object->if_contains("kind")) {
    if (!kind->is_string() || kind->get_string().empty()) {
      return refuse(where, "kind", "must be a non-empty string");
    }
    out.kind = std::string{kind->get_string()};
  } else if (auto known = kind_for(out.id)) {
    out.kind = std::move(*known);
  } else {
    return refuse(where, "kind", "the kind of run '" + out.id + "' cannot be told from its ID prefix; name its kind");
  }

  if (const auto* sinks = object->if_contains("sinks")) {
    const auto* list = sinks->if_array();
    if (list == nullptr) return refuse(where, "sinks", "must be a list of sink names");
    if (list->empty()) return refuse(where, "sinks", "must name at least one sink (leave it out for the defaults)");
    for (const auto& name : *list) {
      if (!name.is_string() || name.get_string().empty()) {
        return refuse(where, "sinks", "must be a list of sink names");
      }
      std::string sink{name.get_string()};
      // A sink named twice is still delivered to once.
      if (std::find(out.sinks.begin(), out.sinks.end(), sink) == out.sinks.end()) out.sinks.push_back(std::move(sink));
    }
  }

  if (const auto* context = object->if_contains("context")) {
    if (!context->is_object()) return refuse(where, "context", "must be a JSON object");
    if (json::serialize(*context).size() > max_context_bytes) {
      return refuse(where, "context", "is larger than 16 KiB");
    }
    out.context = context->get_object();
  }

  if (const auto* deadline = object->if_contains("deadline")) {
    if (!deadline->is_string()) return refuse(where, "deadline", "must be a duration string such as \"24h\"");
    auto parsed = parse_duration_text(deadline->get_string());
    if (const auto* wrong = std::get_if<std::string>(&parsed)) return refuse(where, "deadline", *wrong);
    const auto wanted = std::get<std::chrono::milliseconds>(parsed);
    if (wanted > max_registration_deadline) return refuse(where, "deadline", "must be at most 365d");
    out.deadline = wanted;
  }
  return std::nullopt;
}

}  // namespace

json::object record_to_json(const run_record& run) {
  json::object out;
  out["id"] = run.id;
  out["kind"] = run.kind;
  out["state"] = to_string(run.state);
  out["status"] = optional_string(run.status);
  out["outcome"] = optional_string(run.outcome);
  out["polls"] = run.polls;
  out["registered_at"] = format_time(run.registered_at);
  out["updated_at"] = format_time(run.updated_at);
  out["next_poll_at"] = optional_time(run.next_poll_at);
  out["finished_at"] = optional_time(run.finished_at);
  out["deadline_at"] = format_time(run.deadline_at);
  json::array sinks;
  for (const auto& sink : run.sinks) sinks.emplace_back(sink);
  out["sinks"] = std::move(sinks);
  out["context"] = run.context;
  if (run.subscription) out["subscription"] = *run.subscription;
  json::array events;
  for (const auto& event : run.events) events.emplace_back(event.event_id);
  out["events"] = std::move(events);
  json::array deliveries;
  for (const auto& item : run.deliveries) {
    deliveries.emplace_back(json::object{
        {"id", item.id}, {"sink", item.sink}, {"state", to_string(item.state)}, {"attempts", item.attempts}});
  }
  out["deliveries"] = std::move(deliveries);
  return out;
}

json::object delivery_to_json(const delivery& item) {
  json::object out;
  out["id"] = item.id;
  out["event_id"] = item.event_id;
  out["run_id"] = item.run_id;
  out["sink"] = item.sink;
  out["state"] = to_string(item.state);
  out["attempts"] = item.attempts;
  out["last_error"] = optional_string(item.last_error);
  out["next_attempt_at"] = optional_time(item.next_attempt_at);
  return out;
}

json::object health_to_json(const health_report& report) {
  json::object out;
  out["status"] = report.ok ? "ok" : "degraded";
  out["pending"] = report.pending;
  out["api"] = json::object{{"state", report.api_state}, {"last_error", optional_string(report.api_last_error)}};
  json::object sinks;
  for (const auto& [name, sink] : report.sinks) {
    sinks[name] = json::object{{"type", sink.type},
                               {"state", sink.state},
                               {"backlog", sink.backlog},
                               {"dead", sink.dead},
                               {"last_error", optional_string(sink.last_error)}};
  }
  out["sinks"] = std::move(sinks);
  out["subscriptions"] = subscriptions_to_json(report.subscriptions, report.at);
  out["store"] = json::object{{"state", report.store.state}, {"backend", report.store.backend}};
  if (report.cluster) {
    const auto names = [](const std::vector<std::string>& list) {
      json::array array;
      for (const auto& name : list) array.emplace_back(name);
      return array;
    };
    out["cluster"] = json::object{{"node", report.cluster->node},
                                  {"role", report.cluster->poller ? "poller" : "standby"},
                                  {"term", report.cluster->term},
                                  {"nodes", names(report.cluster->live_nodes)},
                                  {"homes", names(report.cluster->homes)}};
  }
  if (report.config) {
    json::value last_reload = nullptr;
    if (const auto& reload = report.config->last_reload) {
      json::array needs_restart;
      for (const auto& key : reload->needs_restart) needs_restart.emplace_back(key);
      last_reload = json::object{{"ok", reload->ok},
                                 {"at", format_time(reload->at)},
                                 {"error", reload->error ? json::value(to_valid_utf8(*reload->error)) : nullptr},
                                 {"needs_restart", std::move(needs_restart)}};
    }
    out["config"] = json::object{{"path", to_valid_utf8(report.config->path)},
                                 {"loaded_at", format_time(report.config->loaded_at)},
                                 {"last_reload", std::move(last_reload)}};
  }
  return out;
}

json::object subscriptions_to_json(const std::vector<subscription_status>& subscriptions, time_point now) {
  json::object out;
  for (const auto& one : subscriptions) {
    json::value age = nullptr;
    if (one.swept_at) {
      // Whole seconds: a sweep takes about one, and Boost.JSON writes a double as 3.25E0.
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - *one.swept_at).count();
      age = std::max<std::int64_t>(seconds, 0);
    }
    auto& kinds = out[one.subscription];
    if (!kinds.is_object()) kinds = json::object{};
    kinds.get_object()[one.kind] =
        json::object{{"state", one.state},          {"position", optional_time(one.position)},
                     {"position_age_seconds", age}, {"sweeps", one.sweeps},
                     {"pages", one.pages},          {"runs_found", one.runs_found},
                     {"events", one.events},        {"last_error", optional_string(one.last_error)}};
  }
  return out;
}

bool any_subscription_failing(const std::vector<subscription_status>& subscriptions) {
  return std::ranges::any_of(subscriptions, [](const subscription_status& one) { return one.state == "failing"; });
}

json::array events_to_json(const run_record& run) {
  json::array out;
  for (const auto& event : run.events) {
    boost::system::error_code ec;
    auto parsed = json::parse(event.body, ec);
    if (ec) {
      out.emplace_back(event.body);
    } else {
      out.push_back(std::move(parsed));
    }
  }
  return out;
}

std::string error_body(std::string_view code, std::string_view message) {
  return json::serialize(json::object{{"error", json::object{{"code", code}, {"message", to_valid_utf8(message)}}}});
}

std::variant<parsed_registrations, registration_error> parse_registrations(std::string_view body,
                                                                           const kind_lookup& kind_for) {
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 64;  // deep enough for any real context; deeper bodies are refused, not recursed into
  const json::value document = json::parse(body, ec, {}, options);
  if (ec) return registration_error{"body is not valid JSON: " + ec.message()};
  const auto* object = document.if_object();
  if (object == nullptr) return registration_error{"body must be a registration object or {\"runs\":[...]}"};

  parsed_registrations out;
  if (!object->contains("runs")) {
    registration one;
    if (auto error = parse_one(document, "", kind_for, one)) return *error;
    out.runs.push_back(std::move(one));
    return out;
  }

  out.batch = true;
  for (const auto& field : *object) {
    if (field.key() != "runs") return registration_error{std::string{field.key()} + ": unknown field"};
  }
  const auto* list = object->at("runs").if_array();
  if (list == nullptr) return registration_error{"runs: must be a list of registrations"};
  if (list->empty()) return registration_error{"runs: must hold at least one registration"};
  if (list->size() > max_registrations_per_request) {
    return registration_error{"runs: at most 10000 registrations per request"};
  }
  out.runs.reserve(list->size());
  for (std::size_t index = 0; index < list->size(); ++index) {
    registration one;
    if (auto error = parse_one((*list)[index], "runs[" + std::to_string(index) + "].", kind_for, one)) return *error;
    out.runs.push_back(std::move(one));
  }
  return out;
}

}  // namespace hookless
