// Loads hookless.yaml into the typed settings of core/model/settings.hpp and validates it (interface.md §2).
// The YAML tree is walked once; every problem is collected with its key path and line rather than
// thrown, so a user sees every mistake in one `--check-config` run. No YAML type leaves this file.
#include "config/config_loader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <span>
#include <stdexcept>
#include <utility>
#include <variant>

#include <yaml-cpp/yaml.h>

#include "core/formats/base_url.hpp"
#include "core/formats/duration.hpp"
#include "core/formats/proxy_url.hpp"
#include "core/formats/quoted.hpp"
#include "core/formats/sink_target.hpp"
#include "core/formats/url_rules.hpp"

namespace hookless {
namespace {

// A config file is a few kilobytes; refusing anything huge keeps a wrong path (a log, a disk image)
// from being read into memory.
constexpr std::size_t max_config_bytes = 1 << 20;

// steady_clock counts nanoseconds in 64 bits (about 292 years): durations beyond this cap could
// overflow when added to now(), and no real setting comes near it.
constexpr milliseconds max_duration{36'500LL * 24 * 3600 * 1000};

// The kernel's limit for sun_path, less the terminating NUL.
constexpr std::size_t max_socket_path = 107;

constexpr std::string_view duration_expected = "a duration like 30s, 5m, 250ms";

using name_list = std::span<const std::string_view>;
using namespace std::string_view_literals;

constexpr std::array top_level_keys = {"extend"sv, "polling"sv, "control"sv, "state"sv, "sinks"sv, "default_sinks"sv, "logging"sv};
constexpr std::array extend_keys = {"base_url"sv,     "api_version"sv,         "api_key_file"sv,    "workspace_id"sv, "ca_file"sv,
                                   "proxy"sv,        "requests_per_second"sv, "max_connections"sv, "timeout"sv};
constexpr std::array polling_keys = {"fast_interval"sv, "fast_period"sv,   "backoff"sv,       "max_interval"sv,
                                    "jitter"sv,        "deadline"sv,      "follow_review"sv, "list_endpoints"sv};
constexpr std::array control_keys = {"socket"sv,     "socket_mode"sv,          "socket_group"sv,
                                    "admin_uids"sv, "max_pending_per_user"sv, "requests_per_second_per_user"sv};
constexpr std::array state_keys = {"path"sv, "retention"sv};
constexpr std::array logging_keys = {"level"sv, "format"sv};
constexpr std::array api_versions = {"2026-02-09"sv, "2025-04-21"sv, "2024-12-23"sv};
constexpr std::array log_levels = {"trace"sv, "debug"sv, "info"sv, "warn"sv, "error"sv};
constexpr std::array log_formats = {"text"sv, "json"sv};
constexpr std::array sink_types = {"stdout"sv, "file"sv, "http"sv};

// Keys each sink type takes; `events` filters what any sink receives.
constexpr std::array stdout_sink_keys = {"type"sv, "events"sv};
constexpr std::array file_sink_keys = {"type"sv, "path"sv, "events"sv};
constexpr std::array http_sink_keys = {"type"sv,         "url"sv,     "signing_secret_file"sv, "standard_webhooks"sv,
                                      "allow_remote"sv, "ca_file"sv, "timeout"sv,             "max_age"sv,
                                      "events"sv};
constexpr std::array any_sink_keys = {"type"sv,         "path"sv,    "url"sv,     "signing_secret_file"sv, "standard_webhooks"sv,
                                     "allow_remote"sv, "ca_file"sv, "timeout"sv, "max_age"sv,             "events"sv};

bool contains(name_list names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string join(name_list names) {
  std::string out;
  for (const auto name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return quoted(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

int line_of(const YAML::Node& node) {
  const auto mark = node.Mark();
  return mark.line < 0 ? 0 : mark.line + 1;
}

bool is_zero_duration(std::string_view text) {
  const auto unit_at = text.find_first_not_of("0123456789");
  if (unit_at == 0 || unit_at == std::string_view::npos) return false;
  const auto unit = text.substr(unit_at);
  const bool known_unit = unit == "ms" || unit == "s" || unit == "m" || unit == "h" || unit == "d";
  return known_unit && text.substr(0, unit_at).find_first_not_of('0') == std::string_view::npos;
}

// One `key: value` pair met while walking a map.
struct entry {
  std::string path;  // full key path, e.g. "sinks.app.url"
  int line = 0;      // 1-based line of the key
  YAML::Node value;
};

std::string child_path(std::string_view parent, std::string_view name) {
  return parent.empty() ? std::string{name} : std::string{parent} + "." + std::string{name};
}

// Walks the YAML tree into a config, collecting problems.
class loader {
 public:
  std::vector<config_problem> problems;
  std::map<std::string, int> key_lines;

  config read(const YAML::Node& root) {
    config out;
    const entry top{"", line_of(root), root};
    std::optional<entry> sinks_entry;
    std::optional<entry> default_sinks_entry;
    for_each_entry(top, [&](const entry& e, std::string_view name) {
      if (name == "extend") {
        read_extend(e, out.extend);
      } else if (name == "polling") {
        read_polling(e, out.polling);
      } else if (name == "control") {
        read_control(e, out.control);
      } else if (name == "state") {
        read_state(e, out.state);
      } else if (name == "sinks") {
        sinks_entry = e;
      } else if (name == "default_sinks") {
        default_sinks_entry = e;
      } else if (name == "logging") {
        read_logging(e, out.logging);
      } else {
        report_unknown(e, "allowed top-level keys", top_level_keys);
      }
    });
    if (sinks_entry) {
      out.sinks = read_sinks(*sinks_entry);
    } else {
      sink_config out_sink;
      out_sink.name = "out";
      out.sinks.emplace("out", std::move(out_sink));
    }
    read_default_sinks(default_sinks_entry, sinks_entry, out);
    return out;
  }

 private:
  void add(std::string key, int line, std::string message) {
    problems.push_back({std::move(key), line, std::move(message)});
  }

  // A core parser's result: the value, or its message as the problem of `e`.
  template <class T>
  std::optional<T> take(const entry& e, std::variant<T, std::string> parsed) {
    if (auto* wrong = std::get_if<std::string>(&parsed)) {
      add(e.path, e.line, std::move(*wrong));
      return std::nullopt;
    }
    return std::get<T>(std::move(parsed));
  }

  void report_unknown(const entry& e, std::string_view allowed_what, name_list allowed) {
    add(e.path, e.line, "unknown key; " + std::string{allowed_what} + ": " + join(allowed));
  }

  // Calls on_entry(entry, name) for each pair of the map in `section`. A missing value (the section's
  // contents all commented out) is an empty map; duplicate and non-scalar keys are problems.
  template <class on_entry_fn>
  void for_each_entry(const entry& section, on_entry_fn&& on_entry) {
    if (section.value.IsNull()) return;
    if (!section.value.IsMap()) {
      add(section.path, section.line, "expected a map of keys; got " + describe(section.value));
      return;
    }
    std::map<std::string, int, std::less<>> seen;
    for (auto it = section.value.begin(); it != section.value.end(); ++it) {
      const YAML::Node key = it->first;
      const int line = line_of(key);
      if (!key.IsScalar()) {
        add(section.path, line, "keys must be plain names; got " + describe(key));
        continue;
      }
      const std::string& name = key.Scalar();
      const auto path = child_path(section.path, name);
      if (const auto [first, inserted] = seen.emplace(name, line); !inserted) {
        add(path, line, "duplicate key (first at line " + std::to_string(first->second) + ")");
        continue;
      }
      key_lines.emplace(path, line);
      on_entry(entry{path, line, it->second}, std::string_view{name});
    }
  }

  bool expect_scalar(const entry& e, std::string_view expected) {
    if (e.value.IsScalar()) return true;
    add(e.path, e.line, "expected " + std::string{expected} + "; got " + describe(e.value));
    return false;
  }

  std::optional<std::string> read_string(const entry& e) {
    if (!expect_scalar(e, "a string")) return std::nullopt;
    if (e.value.Scalar().empty()) {
      add(e.path, e.line, "must not be empty");
      return std::nullopt;
    }
    return e.value.Scalar();
  }

  std::optional<std::string> read_choice(const entry& e, name_list allowed) {
    const auto expected = "one of " + join(allowed);
    if (!expect_scalar(e, expected)) return std::nullopt;
    if (!contains(allowed, e.value.Scalar())) {
      add(e.path, e.line, "expected " + expected + "; got " + quoted(e.value.Scalar()));
      return std::nullopt;
    }
    return e.value.Scalar();
  }

  std::optional<milliseconds> read_duration(const entry& e) {
    if (!expect_scalar(e, duration_expected)) return std::nullopt;
    const auto& text = e.value.Scalar();
    const auto value = parse_duration(text);
    if (!value) {
      if (is_zero_duration(text)) {
        add(e.path, e.line, "must be greater than 0; got " + quoted(text));
      } else {
        add(e.path, e.line, "expected " + std::string{duration_expected} + "; got " + quoted(text));
      }
      return std::nullopt;
    }
    if (*value > max_duration) {
      add(e.path, e.line, "must be at most " + format_duration(max_duration) + "; got " + quoted(text));
      return std::nullopt;
    }
    return value;
  }

  std::optional<double> read_number(const entry& e) {
    if (!expect_scalar(e, "a number")) return std::nullopt;
    const auto& text = e.value.Scalar();
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value)) {
      add(e.path, e.line, "expected a number; got " + quoted(text));
      return std::nullopt;
    }
    return value;
  }

  std::optional<long long> read_integer(const entry& e) {
    if (!expect_scalar(e, "a whole number")) return std::nullopt;
    const auto& text = e.value.Scalar();
    long long value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
      add(e.path, e.line, "expected a whole number; got " + quoted(text));
      return std::nullopt;
    }
    return value;
  }

  // YAML 1.2's core schema spellings only: "yes"/"on" are YAML 1.1 and surprise people.
  std::optional<bool> read_bool(const entry& e) {
    if (!expect_scalar(e, "true or false")) return std::nullopt;
    const auto& text = e.value.Scalar();
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
    add(e.path, e.line, "expected true or false; got " + quoted(text));
    return std::nullopt;
  }

  // The elements of a list, each as an entry named "path[i]" on its own line.
  std::optional<std::vector<entry>> read_list(const entry& e) {
    if (!e.value.IsSequence()) {
      add(e.path, e.line, "expected a list like [a, b]; got " + describe(e.value));
      return std::nullopt;
    }
    std::vector<entry> items;
    std::size_t index = 0;
    for (const auto& item : e.value) {
      const int line = line_of(item);
      items.push_back({e.path + "[" + std::to_string(index) + "]", line == 0 ? e.line : line, item});
      ++index;
    }
    return items;
  }

  std::optional<std::vector<std::string>> read_string_list(const entry& e) {
    const auto items = read_list(e);
    if (!items) return std::nullopt;
    std::vector<std::string> out;
    bool ok = true;
    for (const auto& item : *items) {
      if (auto text = read_string(item)) {
        out.push_back(std::move(*text));
      } else {
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  void read_extend(const entry& section, extend_config& out) {
    for_each_entry(section, [&](const entry& e, std::string_view name) {
      if (name == "base_url") {
        if (auto text = read_string(e)) {
          if (auto origin = take(e, parse_base_url(*text))) out.base_url = std::move(*origin);
        }
      } else if (name == "api_version") {
        if (auto version = read_choice(e, api_versions)) out.api_version = std::move(*version);
      } else if (name == "api_key_file") {
        if (auto text = read_string(e)) out.api_key_file = std::move(*text);
      } else if (name == "workspace_id") {
        if (auto text = read_string(e)) out.workspace_id = std::move(*text);
      } else if (name == "ca_file") {
        if (auto text = read_string(e)) out.ca_file = std::move(*text);
      } else if (name == "proxy") {
        if (auto text = read_string(e)) {
          try {
            out.proxy = parse_configured_proxy_url(*text);
          } catch (const std::invalid_argument& wrong) {
            add(e.path, e.line, wrong.what());
          }
        }
      } else if (name == "requests_per_second") {
        if (const auto value = read_number(e)) {
          if (*value > 0) {
            out.requests_per_second = *value;
          } else {
            add(e.path, e.line, "must be greater than 0; got " + quoted(e.value.Scalar()));
          }
        }
      } else if (name == "max_connections") {
        if (const auto value = read_integer(e)) {
          if (*value >= 1 && *value <= 256) {
            out.max_connections = static_cast<int>(*value);
          } else {
            add(e.path, e.line, "must be between 1 and 256; got " + quoted(e.value.Scalar()));
          }
        }
      } else if (name == "timeout") {
        if (const auto value = read_duration(e)) out.timeout = *value;
      } else {
        report_unknown(e, "allowed keys in extend", extend_keys);
      }
    });
  }

  void read_polling(const entry& section, polling_config& out) {
    std::optional<entry> fast_interval;  // kept for the cross-check below, when written
    std::optional<entry> max_interval;
    for_each_entry(section, [&](const entry& e, std::string_view name) {
      if (name == "fast_interval") {
        if (const auto value = read_duration(e)) {
          out.fast_interval = *value;
          fast_interval = e;
        }
      } else if (name == "fast_period") {
        if (const auto value = read_duration(e)) out.fast_period = *value;
      } else if (name == "backoff") {
        if (const auto value = read_number(e)) {
          if (*value >= 1.0) {
            out.backoff = *value;
          } else {
            add(e.path, e.line, "must be at least 1.0; got " + quoted(e.value.Scalar()));
          }
        }
      } else if (name == "max_interval") {
        if (const auto value = read_duration(e)) {
          out.max_interval = *value;
          max_interval = e;
        }
      } else if (name == "jitter") {
        if (const auto value = read_number(e)) {
          if (*value >= 0.0 && *value <= 1.0) {
            out.jitter = *value;
          } else {
            add(e.path, e.line, "must be between 0 and 1; got " + quoted(e.value.Scalar()));
          }
        }
      } else if (name == "deadline") {
        if (const auto value = read_duration(e)) out.deadline = *value;
      } else if (name == "follow_review") {
        if (const auto value = read_bool(e)) out.follow_review = *value;
      } else if (name == "list_endpoints") {
        if (const auto value = read_bool(e)) out.list_endpoints = *value;
      } else {
        report_unknown(e, "allowed keys in polling", polling_keys);
      }
    });
    if (out.max_interval < out.fast_interval) {
      // Blame the key the user wrote; when both are written, max_interval is the cap that is too low.
      if (max_interval) {
        add(max_interval->path, max_interval->line,
            "must be at least polling.fast_interval (" + format_duration(out.fast_interval) + "); got " +
                quoted(max_interval->value.Scalar()));
      } else if (fast_interval) {
        add(fast_interval->path, fast_interval->line,
            "must not exceed polling.max_interval (" + format_duration(out.max_interval) + "); got " +
                quoted(fast_interval->value.Scalar()));
      }
    }
  }

  void read_control(const entry& section, control_config& out) {
    for_each_entry(section, [&](const entry& e, std::string_view name) {
      if (name == "socket") {
        if (auto text = read_string(e)) {
          if (text->size() <= max_socket_path) {
            out.socket = std::move(*text);
          } else {
            add(e.path, e.line, "is longer than " + std::to_string(max_socket_path) + " bytes, the limit for a Unix socket path");
          }
        }
      } else if (name == "socket_mode") {
        if (const auto mode = read_socket_mode(e)) out.socket_mode = *mode;
      } else if (name == "socket_group") {
        if (auto text = read_string(e)) out.socket_group = std::move(*text);
      } else if (name == "admin_uids") {
        read_admin_uids(e, out.admin_uids);
      } else if (name == "max_pending_per_user") {
        if (const auto value = read_integer(e)) {
          if (*value >= 1 && *value <= 100'000'000) {
            out.max_pending_per_user = static_cast<std::size_t>(*value);
          } else {
            add(e.path, e.line, "must be between 1 and 100000000; got " + quoted(e.value.Scalar()));
          }
        }
      } else if (name == "requests_per_second_per_user") {
        if (const auto value = read_number(e)) {
          if (*value > 0 && *value <= 1'000'000) {
            out.requests_per_second_per_user = *value;
          } else {
            add(e.path, e.line, "must be greater than 0 and at most 1000000; got " + quoted(e.value.Scalar()));
          }
        }
      } else {
        report_unknown(e, "allowed keys in control", control_keys);
      }
    });
  }

  // "0660" or an unquoted 660 / 0660: the digits are always read as octal, as chmod does.
  std::optional<std::uint32_t> read_socket_mode(const entry& e) {
    constexpr std::string_view expected = "an octal mode like \"0660\"";
    if (!expect_scalar(e, expected)) return std::nullopt;
    const auto& text = e.value.Scalar();
    std::uint32_t mode = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), mode, 8);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
      add(e.path, e.line, "expected " + std::string{expected} + "; got " + quoted(text));
      return std::nullopt;
    }
    if (mode > 0777) {
      add(e.path, e.line, "must be at most 0777; got " + quoted(text));
      return std::nullopt;
    }
    return mode;
  }

  void read_admin_uids(const entry& e, std::vector<std::uint32_t>& out) {
    const auto items = read_list(e);
    if (!items) return;
    std::vector<std::uint32_t> uids;
    bool ok = true;
    for (const auto& item : *items) {
      const auto value = read_integer(item);
      // (uid_t)-1 means "no uid" to the kernel, so it is not a valid admin.
      if (value && *value >= 0 && *value < 4'294'967'295LL) {
        uids.push_back(static_cast<std::uint32_t>(*value));
      } else {
        if (value) add(item.path, item.line, "expected a uid from 0 to 4294967294; got " + quoted(item.value.Scalar()));
        ok = false;
      }
    }
    if (ok) out = std::move(uids);
  }

  void read_state(const entry& section, state_config& out) {
    for_each_entry(section, [&](const entry& e, std::string_view name) {
      if (name == "path") {
        if (auto text = read_string(e)) out.path = std::move(*text);
      } else if (name == "retention") {
        if (const auto value = read_duration(e)) out.retention = *value;
      } else {
        report_unknown(e, "allowed keys in state", state_keys);
      }
    });
  }

  void read_logging(const entry& section, logging_config& out) {
    for_each_entry(section, [&](const entry& e, std::string_view name) {
      if (name == "level") {
        if (auto level = read_choice(e, log_levels)) out.level = std::move(*level);
      } else if (name == "format") {
        if (const auto format = read_choice(e, log_formats)) {
          out.format = *format == "json" ? log_format::json : log_format::text;
        }
      } else {
        report_unknown(e, "allowed keys in logging", logging_keys);
      }
    });
  }

  std::map<std::string, sink_config> read_sinks(const entry& section) {
    std::map<std::string, sink_config> out;
    for_each_entry(section, [&](const entry& e, std::string_view name) {
      const bool good_name = !name.empty() && name.size() <= 64 &&
                             std::all_of(name.begin(), name.end(), [](char c) {
                               return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                      c == '_' || c == '-';
                             });
      if (!good_name) add(e.path, e.line, "a sink name is 1 to 64 of the characters A-Z a-z 0-9 _ -");
      // Still read the body, so that its own mistakes are reported in the same run.
      auto sink = read_sink(e, name);
      if (good_name && sink) out.emplace(std::string{name}, std::move(*sink));
    });
    return out;
  }

  std::optional<sink_config> read_sink(const entry& section, std::string_view name) {
    if (!section.value.IsMap() && !section.value.IsNull()) {
      add(section.path, section.line, "expected a sink: a map with at least `type`; got " + describe(section.value));
      return std::nullopt;
    }
    std::vector<std::pair<std::string, entry>> entries;
    for_each_entry(section, [&](const entry& e, std::string_view key) { entries.emplace_back(std::string{key}, e); });

    const std::size_t problems_before = problems.size();
    sink_config out;
    out.name = std::string{name};
    std::optional<std::string> type;
    bool type_written = false;
    for (const auto& [key, e] : entries) {
      if (key != "type") continue;
      type_written = true;
      type = read_choice(e, sink_types);
    }
    if (!type_written) add(child_path(section.path, "type"), section.line, "missing; every sink needs a type: stdout, file or http");

    name_list allowed = stdout_sink_keys;
    if (type == "file") {
      out.type = sink_type::file;
      allowed = file_sink_keys;
    } else if (type == "http") {
      out.type = sink_type::http;
      allowed = http_sink_keys;
    }

    const entry* url = nullptr;
    std::string url_text;
    const entry* ca_file = nullptr;
    bool has_path = false;
    bool has_secret = false;
    for (const auto& [key, e] : entries) {
      if (key == "type") continue;
      if (!contains(any_sink_keys, key)) {
        report_unknown(e, type ? "allowed keys for a " + *type + " sink" : std::string{"allowed keys in a sink"},
                       type ? allowed : name_list{any_sink_keys});
        continue;
      }
      if (type && !contains(allowed, key)) {
        add(e.path, e.line, "`" + key + "` does not apply to a " + *type + " sink (allowed: " + join(allowed) + ")");
        continue;
      }
      if (key == "path") {
        has_path = true;
        if (auto text = read_string(e)) out.path = std::move(*text);
      } else if (key == "url") {
        url = &e;
        if (auto text = read_string(e)) url_text = std::move(*text);
      } else if (key == "signing_secret_file") {
        // Only whether it is set: the daemon opens the secret at start, where a missing file is its error.
        has_secret = true;
        if (auto text = read_string(e)) out.signing_secret_file = std::move(*text);
      } else if (key == "standard_webhooks") {
        if (const auto value = read_bool(e)) out.standard_webhooks = *value;
      } else if (key == "allow_remote") {
        if (const auto value = read_bool(e)) out.allow_remote = *value;
      } else if (key == "ca_file") {
        ca_file = &e;
        if (auto text = read_string(e)) out.ca_file = std::move(*text);
      } else if (key == "timeout") {
        if (const auto value = read_duration(e)) out.timeout = *value;
      } else if (key == "max_age") {
        if (const auto value = read_duration(e)) out.max_age = *value;
      } else if (key == "events") {
        if (auto events = read_string_list(e)) {
          if (events->empty()) {
            add(e.path, e.line, "must name at least one pattern, e.g. [\"*\"]");
          } else {
            out.events = std::move(*events);
          }
        }
      }
    }

    if (type == "file" && !has_path) {
      add(child_path(section.path, "path"), section.line, "missing; a file sink needs the path of its JSON Lines file");
    }
    if (type == "http") {
      std::optional<sink_target> target;
      if (url == nullptr) {
        add(child_path(section.path, "url"), section.line, "missing; an http sink needs a url");
      } else if (!url_text.empty()) {
        target = take(*url, parse_sink_target(url_text, out.allow_remote));
      }
      if (target) out.target = std::move(*target);
      // A url with problems of its own has them reported already.
      if (out.ca_file && target && target->scheme != target_scheme::https) {
        add(ca_file->path, ca_file->line,
            "applies only to an https:// url (it names the CA of the receiver's certificate); the url is " +
                quoted_url(url_text));
      }
      if (!has_secret) {
        add(child_path(section.path, "signing_secret_file"), section.line,
            "missing; an http sink needs the file holding its signing secret");
      }
    }
    if (problems.size() != problems_before || !type) return std::nullopt;
    return out;
  }

  void read_default_sinks(const std::optional<entry>& written, const std::optional<entry>& sinks_entry, config& out) {
    const auto known_names = [&] {
      // Sinks written with mistakes in them count as defined: their own problems are reported already.
      std::vector<std::string> defined;
      for (const auto& [name, sink] : out.sinks) defined.push_back(name);
      if (sinks_entry && sinks_entry->value.IsMap()) {
        for (auto it = sinks_entry->value.begin(); it != sinks_entry->value.end(); ++it) {
          if (it->first.IsScalar() && !out.sinks.contains(it->first.Scalar())) defined.push_back(it->first.Scalar());
        }
      }
      std::string names;
      for (const auto& name : defined) names += (names.empty() ? "" : ", ") + name;
      return names.empty() ? std::string{"none defined"} : "defined: " + names;
    };
    // A sink whose body was wrong is missing from out.sinks but must not be reported a second time.
    const auto written_sink = [&](const std::string& name) {
      return sinks_entry && sinks_entry->value.IsMap() && sinks_entry->value[name];
    };
    // A `sinks:` that is not a map was reported already; every name would look missing.
    if (sinks_entry && !sinks_entry->value.IsMap() && !sinks_entry->value.IsNull()) return;
    if (!written) {
      for (const auto& name : out.default_sinks) {
        if (out.sinks.contains(name) || written_sink(name)) continue;
        add("default_sinks", sinks_entry ? sinks_entry->line : 0,
            "is [" + name + "] by default, but there is no sink named " + quoted(name) + " (" + known_names() +
                "); define it or set default_sinks");
      }
      return;
    }
    const auto items = read_list(*written);
    if (!items) return;
    std::vector<std::string> names;
    bool ok = true;
    for (const auto& item : *items) {
      auto name = read_string(item);
      if (!name) {
        ok = false;
      } else if (!out.sinks.contains(*name) && !written_sink(*name)) {
        add(item.path, item.line, "there is no sink named " + quoted(*name) + " (" + known_names() + ")");
        ok = false;
      } else if (std::find(names.begin(), names.end(), *name) == names.end()) {
        names.push_back(std::move(*name));  // a name listed twice is still delivered once
      }
    }
    if (ok) out.default_sinks = std::move(names);
  }
};

// Reads a whole file, refusing anything over max_config_bytes. Returns the error text on failure.
std::optional<std::string> read_small_file(const std::string& path, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::strerror(errno);
  std::array<char, 16384> buffer{};
  std::optional<std::string> error;
  while (true) {
    const auto got = ::read(fd, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      error = std::strerror(errno);
      break;
    }
    if (got == 0) break;
    out.append(buffer.data(), static_cast<std::size_t>(got));
    if (out.size() > max_config_bytes) {
      error = "larger than " + std::to_string(max_config_bytes) + " bytes, which is not a config file";
      break;
    }
  }
  ::close(fd);
  return error;
}

}  // namespace

config_result load_config_text(std::string_view yaml, std::string_view source_name) {
  config_result result;
  YAML::Node root;
  try {
    root = YAML::Load(std::string{yaml});
  } catch (const YAML::Exception& e) {
    const int line = e.mark.line < 0 ? 0 : e.mark.line + 1;
    result.problems.push_back({"", line, "not valid YAML: " + e.msg});
    return result;
  }
  loader walker;
  try {
    auto value = walker.read(root);
    if (walker.problems.empty()) result.value = std::move(value);
  } catch (const YAML::Exception& e) {
    // Not expected from a tree that parsed; kept so that no input can end the daemon with an exception.
    walker.problems.push_back({"", e.mark.line < 0 ? 0 : e.mark.line + 1,
                               "could not read " + std::string{source_name} + ": " + e.msg});
  }
  result.problems = std::move(walker.problems);
  result.key_lines = std::move(walker.key_lines);
  if (!result.problems.empty()) result.value.reset();
  // File order reads best; problems found by cross-checks after the walk are sorted into place.
  std::stable_sort(result.problems.begin(), result.problems.end(),
                   [](const config_problem& a, const config_problem& b) { return a.line < b.line; });
  return result;
}

config_result load_config_file(const std::string& path) {
  std::string text;
  if (const auto error = read_small_file(path, text)) {
    config_result result;
    result.problems.push_back({"", 0, "cannot read " + path + ": " + *error});
    return result;
  }
  return load_config_text(text, path);
}

std::string format_problem(std::string_view source_name, const config_problem& p) {
  std::string out{source_name};
  if (p.line > 0) out += ":" + std::to_string(p.line);
  out += ": ";
  if (!p.key.empty()) out += p.key + ": ";
  out += p.message;
  return out;
}

}  // namespace hookless
