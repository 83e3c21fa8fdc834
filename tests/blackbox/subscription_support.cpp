// The subscription tests' helpers: scripted runs, the sinks' lines, their check, health's entry.
#include "tests/blackbox/subscription_support.hpp"

#include "core/model/event_envelope.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <set>
#include <sstream>

namespace hookless::blackbox {

namespace json = boost::json;

std::string subscription_event_type(const std::string& kind, const std::string& status) {
  if (kind == "workflow_run") {
    if (status == "PROCESSED") return "workflow_run.completed";
    if (status == "NEEDS_REVIEW") return "workflow_run.needs_review";
  }
  std::string lower;
  for (const char c : status) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return kind + "." + lower;
}

scripted_run script_run(std::string id, std::string kind, const std::string& outcome, std::chrono::milliseconds appear,
                        std::chrono::milliseconds finish, bool delivered, std::chrono::milliseconds review_for,
                        bool required_review) {
  scripted_run run;
  run.script.id = id;
  run.script.kind = kind;
  run.script.timeline.push_back({"PENDING", appear});
  if (finish > appear + std::chrono::milliseconds{1000}) {
    run.script.timeline.push_back({"PROCESSING", appear + std::chrono::milliseconds{1000}});
  }
  run.expect.id = std::move(id);
  run.expect.kind = std::move(kind);
  if (outcome == "REVIEW") {
    run.script.timeline.push_back({"NEEDS_REVIEW", finish});
    run.script.timeline.push_back({"PROCESSED", finish + review_for});
    if (delivered) {
      auto& review = required_review ? run.expect.required : run.expect.optional;
      review.push_back("workflow_run.needs_review");
      run.expect.required.push_back("workflow_run.completed");
    }
  } else {
    run.script.timeline.push_back({outcome, finish});
    if (delivered) run.expect.required.push_back(subscription_event_type(run.expect.kind, outcome));
  }
  return run;
}

void add_scripted_runs(fake_extend& fake, std::map<std::string, expected_run>& plan, std::vector<scripted_run> runs) {
  std::vector<run_script> scripts;
  for (auto& run : runs) {
    plan[run.expect.id] = run.expect;
    scripts.push_back(std::move(run.script));
  }
  fake.add_runs(std::move(scripts));
}

std::vector<sink_event> read_sink_events(const std::vector<fs::path>& files, std::vector<std::string>* bad_lines) {
  std::vector<sink_event> events;
  for (std::size_t sink = 0; sink < files.size(); ++sink) {
    auto lines = read_json_lines(files[sink]);
    if (bad_lines) bad_lines->insert(bad_lines->end(), lines.bad_lines.begin(), lines.bad_lines.end());
    for (auto& envelope : lines.events) {
      const auto* payload = envelope.if_contains("payload");
      sink_event e;
      e.sink = sink;
      e.run_id = payload && payload->is_object() ? string_field(payload->get_object(), "id") : "";
      e.event_type = string_field(envelope, "eventType");
      e.event_id = string_field(envelope, "eventId");
      e.envelope = std::move(envelope);
      events.push_back(std::move(e));
    }
  }
  return events;
}

std::string subscription_delivery_check::summary() const {
  std::ostringstream out;
  const auto some = [&](const char* what, const std::vector<std::string>& items) {
    out << "; " << items.size() << " " << what;
    for (std::size_t i = 0; i < items.size() && i < 8; ++i) out << (i ? ", " : ": ") << items[i];
  };
  out << events << " events, " << duplicates << " duplicate lines (same eventId, same sink), " << optional_delivered
      << " of " << optional_possible << " optional events";
  some("missing", missing);
  some("unexpected", unexpected);
  some("with unstable eventIds", unstable_ids);
  some("out of order", out_of_order);
  return out.str();
}

subscription_delivery_check check_subscription_deliveries(const std::vector<sink_event>& events,
                                                          const std::map<std::string, expected_run>& plan,
                                                          std::size_t sink_count, bool each_sink) {
  subscription_delivery_check check;
  check.events = events.size();
  std::map<std::pair<std::string, std::string>, std::set<std::string>> ids;  // (run, type) -> eventIds
  std::set<std::tuple<std::size_t, std::string, std::string>> seen;          // (sink, run, type)
  std::set<std::pair<std::size_t, std::string>> lines_seen;                  // (sink, eventId)
  std::set<std::pair<std::string, std::string>> unexpected_seen;
  for (const auto& e : events) {
    if (!lines_seen.emplace(e.sink, e.event_id).second) ++check.duplicates;
    ids[{e.run_id, e.event_type}].insert(e.event_id);
    const auto run = plan.find(e.run_id);
    const bool wanted =
        run != plan.end() && (std::ranges::find(run->second.required, e.event_type) != run->second.required.end() ||
                              std::ranges::find(run->second.optional, e.event_type) != run->second.optional.end());
    if (!wanted && unexpected_seen.emplace(e.run_id, e.event_type).second) {
      check.unexpected.push_back(e.run_id + " " + e.event_type);
    }
    // A workflow's needs_review must not follow its outcome in the same sink.
    if (e.event_type == "workflow_run.needs_review" && (seen.contains({e.sink, e.run_id, "workflow_run.completed"}) ||
                                                        seen.contains({e.sink, e.run_id, "workflow_run.failed"}))) {
      check.out_of_order.push_back(e.run_id + " (sink " + std::to_string(e.sink) + ")");
    }
    seen.emplace(e.sink, e.run_id, e.event_type);
  }
  for (const auto& [key, found] : ids) {
    const auto derived = make_event_id(key.first, key.second);
    if (found.size() > 1 || *found.begin() != derived) {
      std::string text = key.first + " " + key.second + ":";
      for (const auto& id : found) text += " " + id;
      check.unstable_ids.push_back(text + " (derived: " + derived + ")");
    }
  }
  for (const auto& [id, run] : plan) {
    for (const auto& type : run.required) {
      bool anywhere = false;
      for (std::size_t sink = 0; sink < sink_count; ++sink) {
        const bool here = seen.contains({sink, id, type});
        anywhere = anywhere || here;
        if (each_sink && !here) check.missing.push_back(id + " " + type + " (sink " + std::to_string(sink) + ")");
      }
      if (!each_sink && !anywhere) check.missing.push_back(id + " " + type);
    }
    for (const auto& type : run.optional) {
      ++check.optional_possible;
      for (std::size_t sink = 0; sink < sink_count; ++sink) {
        if (seen.contains({sink, id, type})) {
          ++check.optional_delivered;
          break;
        }
      }
    }
  }
  return check;
}

namespace {

// Depth-first through health's subscriptions part: an object with a string "state" is an entry; it
// belongs to (name, kind) when each is either one of the keys on the way to it or its own field.
std::optional<json::object> find_subscription_entry(const json::value& value, std::vector<std::string>& keys,
                                                    const std::string& name, const std::string& kind) {
  const auto named = [&](const json::object& o, const char* field, const std::string& wanted) {
    return std::ranges::find(keys, wanted) != keys.end() || string_field(o, field) == wanted;
  };
  if (value.is_object()) {
    const auto& o = value.get_object();
    if (const auto* state = o.if_contains("state"); state && state->is_string()) {
      if (named(o, "subscription", name) && named(o, "kind", kind)) return o;
      if (named(o, "name", name) && named(o, "kind", kind)) return o;
    }
    for (const auto& item : o) {
      keys.emplace_back(item.key());
      auto found = find_subscription_entry(item.value(), keys, name, kind);
      keys.pop_back();
      if (found) return found;
    }
  } else if (value.is_array()) {
    for (const auto& item : value.get_array()) {
      // An entry naming its subscription, with its kinds inside: the name counts for them.
      std::string entry_name;
      if (item.is_object()) entry_name = string_field(item.get_object(), "name");
      if (entry_name.empty() && item.is_object()) entry_name = string_field(item.get_object(), "subscription");
      if (!entry_name.empty()) keys.push_back(entry_name);
      auto found = find_subscription_entry(item, keys, name, kind);
      if (!entry_name.empty()) keys.pop_back();
      if (found) return found;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<json::object> subscription_health(const json::object& health, const std::string& name,
                                                const std::string& kind) {
  const auto* part = health.if_contains("subscriptions");
  if (part == nullptr) return std::nullopt;
  std::vector<std::string> keys;
  return find_subscription_entry(*part, keys, name, kind);
}

std::string subscription_state(const json::object& health, const std::string& name, const std::string& kind) {
  const auto entry = subscription_health(health, name, kind);
  return entry ? string_field(*entry, "state") : std::string{};
}

}  // namespace hookless::blackbox
