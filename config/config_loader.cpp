// Loads hookless.yaml into the typed settings of core/model/settings.hpp and validates it (docs/configuration.md).
// The YAML tree is walked once with yaml_reader, which collects every problem with its key path and
// line rather than throwing, so a user sees every mistake in one `--check-config` run; this file
// says what each of hookless's keys means and allows. No YAML type leaves config/.
#include "config/config_loader.hpp"

#include "config/yaml_reader.hpp"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <stdexcept>
#include <utility>

#include "core/formats/base_url.hpp"
#include "core/formats/closest_name.hpp"
#include "core/formats/database_url.hpp"
#include "core/formats/duration.hpp"
#include "core/formats/listen_address.hpp"
#include "core/formats/proxy_url.hpp"
#include "core/formats/quoted.hpp"
#include "core/formats/redis_url.hpp"
#include "core/formats/sink_target.hpp"
#include "core/formats/url_rules.hpp"
#include "core/model/event_filter.hpp"
#include "core/model/run_kind.hpp"
#include "core/model/run_status.hpp"

namespace hookless {
namespace {

// A config file is a few kilobytes; refusing anything huge keeps a wrong path (a log, a disk image)
// from being read into memory.
constexpr std::size_t max_config_bytes = 1 << 20;

// The kernel's limit for sun_path, less the terminating NUL.
constexpr std::size_t max_socket_path = 107;

using namespace std::string_view_literals;

constexpr std::array top_level_keys = {"extend"sv,  "polling"sv, "control"sv,       "state"sv,         "cluster"sv,
                                       "metrics"sv, "sinks"sv,   "default_sinks"sv, "subscriptions"sv, "logging"sv};
constexpr std::array extend_keys = {"base_url"sv, "api_version"sv, "api_key_file"sv,        "workspace_id"sv,
                                    "ca_file"sv,  "proxy"sv,       "requests_per_second"sv, "max_connections"sv,
                                    "timeout"sv};
constexpr std::array polling_keys = {"fast_interval"sv, "fast_period"sv, "backoff"sv,       "max_interval"sv,
                                     "jitter"sv,        "deadline"sv,    "follow_review"sv, "list_endpoints"sv};
constexpr std::array control_keys = {"socket"sv,     "socket_mode"sv,          "socket_group"sv,
                                     "admin_uids"sv, "max_pending_per_user"sv, "requests_per_second_per_user"sv};
constexpr std::array state_keys = {"path"sv, "url"sv, "password_file"sv, "retention"sv};
constexpr std::array cluster_keys = {"node"sv};
constexpr std::array metrics_keys = {"listen"sv};
constexpr std::array logging_keys = {"level"sv, "format"sv};
constexpr std::array subscription_keys = {"kinds"sv, "sinks"sv};
constexpr std::array api_versions = {"2026-02-09"sv, "2025-04-21"sv, "2024-12-23"sv};
constexpr std::array log_levels = {"trace"sv, "debug"sv, "info"sv, "warn"sv, "error"sv};
constexpr std::array log_formats = {"text"sv, "json"sv};
constexpr std::array sink_types = {"stdout"sv, "file"sv, "http"sv, "exec"sv, "redis"sv};

// Keys each sink type takes; `events` filters what any sink receives.
constexpr std::array stdout_sink_keys = {"type"sv, "events"sv};
constexpr std::array file_sink_keys = {"type"sv, "path"sv, "events"sv};
constexpr std::array http_sink_keys = {
    "type"sv,    "url"sv,   "signing_secret_file"sv, "standard_webhooks"sv, "allow_remote"sv, "ca_file"sv, "timeout"sv,
    "max_age"sv, "events"sv};
constexpr std::array exec_sink_keys = {"type"sv, "command"sv, "timeout"sv, "max_age"sv, "max_running"sv, "events"sv};
constexpr std::array redis_sink_keys = {"type"sv,    "url"sv,     "password_file"sv, "stream"sv, "maxlen"sv,
                                        "ca_file"sv, "timeout"sv, "max_age"sv,       "events"sv};
constexpr std::array any_sink_keys = {
    "type"sv,    "path"sv,    "url"sv,   "signing_secret_file"sv, "standard_webhooks"sv, "allow_remote"sv, "ca_file"sv,
    "timeout"sv, "max_age"sv, "events"sv};
constexpr std::array redis_only_sink_keys = {"password_file"sv, "stream"sv, "maxlen"sv};

// "a file sink", "an exec sink".
std::string a_sink_of_type(const std::string& type) {
  const bool vowel = !type.empty() && std::string_view{"aeiou"}.find(type.front()) != std::string_view::npos;
  return (vowel ? "an " : "a ") + type + " sink";
}

// A sink's or a subscription's name: it shows in logs, metric labels and events, so plain characters only.
constexpr std::string_view plain_name_rule = "1 to 64 of the characters A-Z a-z 0-9 _ -";
bool is_plain_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// This machine's host name, cluster.node's default ("" when it cannot be read).
std::string host_name() {
  std::array<char, HOST_NAME_MAX + 1> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return {};
  return name.data();
}

// Walks the YAML tree into a config: what each of hookless's keys means and allows.
class loader : public yaml_reader {
 public:
  config read(const YAML::Node& root) {
    config out;
    const yaml_entry top{"", line_of(root), root};
    std::optional<yaml_entry> sinks_entry;
    std::optional<yaml_entry> default_sinks_entry;
    std::optional<yaml_entry> subscriptions_entry;
    for_each_entry(top, [&](const yaml_entry& e, std::string_view name) {
      if (name == "extend") {
        read_extend(e, out.extend);
      } else if (name == "polling") {
        read_polling(e, out.polling);
      } else if (name == "control") {
        read_control(e, out.control);
      } else if (name == "state") {
        read_state(e, out.state);
      } else if (name == "cluster") {
        read_cluster(e, out.cluster);
      } else if (name == "metrics") {
        read_metrics(e, out.metrics);
      } else if (name == "sinks") {
        sinks_entry = e;
      } else if (name == "default_sinks") {
        default_sinks_entry = e;
      } else if (name == "subscriptions") {
        subscriptions_entry = e;
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
    if (subscriptions_entry) read_subscriptions(*subscriptions_entry, sinks_entry, out);
    check_state_backend(out);
    return out;
  }

 private:
  void read_extend(const yaml_entry& section, extend_config& out) {
    for_each_entry(section, [&](const yaml_entry& e, std::string_view name) {
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

  void read_polling(const yaml_entry& section, polling_config& out) {
    std::optional<yaml_entry> fast_interval;  // kept for the cross-check below, when written
    std::optional<yaml_entry> max_interval;
    for_each_entry(section, [&](const yaml_entry& e, std::string_view name) {
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

  void read_control(const yaml_entry& section, control_config& out) {
    for_each_entry(section, [&](const yaml_entry& e, std::string_view name) {
      if (name == "socket") {
        if (auto text = read_string(e)) {
          if (text->size() <= max_socket_path) {
            out.socket = std::move(*text);
          } else {
            add(e.path, e.line,
                "is longer than " + std::to_string(max_socket_path) + " bytes, the limit for a Unix socket path");
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
  std::optional<std::uint32_t> read_socket_mode(const yaml_entry& e) {
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

  void read_admin_uids(const yaml_entry& e, std::vector<std::uint32_t>& out) {
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

  void read_state(const yaml_entry& section, state_config& out) {
    for_each_entry(section, [&](const yaml_entry& e, std::string_view name) {
      if (name == "path") {
        state_path_ = e;
        if (auto text = read_string(e)) out.path = std::move(*text);
      } else if (name == "url") {
        state_url_ = e;
        if (auto text = read_string(e)) {
          if (auto wrong = check_database_url(*text)) {
            add(e.path, e.line, std::move(*wrong));
          } else {
            out.url = std::move(*text);
          }
        }
      } else if (name == "password_file") {
        password_file_ = e;
        if (auto text = read_string(e)) out.password_file = std::move(*text);
      } else if (name == "retention") {
        if (const auto value = read_duration(e)) out.retention = *value;
      } else {
        report_unknown(e, "allowed keys in state", state_keys);
      }
    });
  }

  void read_cluster(const yaml_entry& section, cluster_config& out) {
    for_each_entry(section, [&](const yaml_entry& e, std::string_view name) {
      if (name == "node") {
        node_written_ = true;
        // `node:` with nothing after it is an empty name, told what a name may be.
        if (!e.value.IsNull() && !expect_scalar(e, "a node name")) return;
        const auto written = e.value.IsNull() ? std::string{} : e.value.Scalar();
        if (auto wrong = check_node_name(written)) {
          add(e.path, e.line, std::move(*wrong));
        } else {
          out.node = written;
        }
      } else {
        report_unknown(e, "allowed keys in cluster", cluster_keys);
      }
    });
  }

  void read_metrics(const yaml_entry& section, metrics_config& out) {
    for_each_entry(section, [&](const yaml_entry& e, std::string_view name) {
      if (name == "listen") {
        if (auto text = read_string(e)) {
          if (auto address = take(e, parse_listen_address(*text))) out.listen = std::move(*address);
        }
      } else {
        report_unknown(e, "allowed keys in metrics", metrics_keys);
      }
    });
  }

  // The state lives in one place: a SQLite file (state.path, the default) or a PostgreSQL database
  // (state.url). The node name matters only with a database, so a host name that cannot be one is a
  // problem only then.
  void check_state_backend(config& out) {
    if (state_url_ && state_path_) {
      add(state_url_->path, state_url_->line,
          "cannot be used together with state.path (line " + std::to_string(state_path_->line) +
              "): the state is either a SQLite file (state.path, one daemon) or a PostgreSQL database (state.url, "
              "several daemons); remove one of them");
    }
    if (password_file_ && !state_url_) {
      add(password_file_->path, password_file_->line,
          "applies only with state.url (it holds the PostgreSQL password); the state is the SQLite file state.path");
    }
    if (node_written_) return;
    const auto host = host_name();
    const auto wrong = check_node_name(host);
    if (!wrong) {
      out.cluster.node = host;
    } else if (state_url_) {
      add("cluster.node", 0,
          "is not set, and the host name " + quoted(host) + " cannot be its default: " + *wrong + "; set cluster.node");
    }
  }

  void read_logging(const yaml_entry& section, logging_config& out) {
    for_each_entry(section, [&](const yaml_entry& e, std::string_view name) {
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

  std::map<std::string, sink_config> read_sinks(const yaml_entry& section) {
    std::map<std::string, sink_config> out;
    for_each_entry(section, [&](const yaml_entry& e, std::string_view name) {
      const bool good_name = is_plain_name(name);
      if (!good_name) add(e.path, e.line, "a sink name is " + std::string{plain_name_rule});
      // Still read the body, so that its own mistakes are reported in the same run.
      auto sink = read_sink(e, name);
      if (good_name && sink) out.emplace(std::string{name}, std::move(*sink));
    });
    return out;
  }

  std::optional<sink_config> read_sink(const yaml_entry& section, std::string_view name) {
    if (!section.value.IsMap() && !section.value.IsNull()) {
      add(section.path, section.line, "expected a sink: a map with at least `type`; got " + describe(section.value));
      return std::nullopt;
    }
    std::vector<std::pair<std::string, yaml_entry>> entries;
    for_each_entry(section,
                   [&](const yaml_entry& e, std::string_view key) { entries.emplace_back(std::string{key}, e); });

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
    if (!type_written)
      add(child_path(section.path, "type"), section.line, "missing; every sink needs a type: " + join(sink_types));

    name_list allowed = stdout_sink_keys;
    if (type == "file") {
      out.type = sink_type::file;
      allowed = file_sink_keys;
    } else if (type == "http") {
      out.type = sink_type::http;
      allowed = http_sink_keys;
    } else if (type == "exec") {
      out.type = sink_type::exec;
      allowed = exec_sink_keys;
    } else if (type == "redis") {
      out.type = sink_type::redis;
      allowed = redis_sink_keys;
    }

    const yaml_entry* url = nullptr;
    std::string url_text;
    const yaml_entry* ca_file = nullptr;
    bool has_path = false;
    bool has_secret = false;
    bool has_command = false;
    for (const auto& [key, e] : entries) {
      if (key == "type") continue;
      if (!contains(any_sink_keys, key) && !contains(exec_sink_keys, key) && !contains(redis_only_sink_keys, key)) {
        report_unknown(e, type ? "allowed keys for " + a_sink_of_type(*type) : std::string{"allowed keys in a sink"},
                       type ? allowed : name_list{any_sink_keys});
        continue;
      }
      if (type && !contains(allowed, key)) {
        add(e.path, e.line,
            "`" + key + "` does not apply to " + a_sink_of_type(*type) + " (allowed: " + join(allowed) + ")");
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
        if (auto events = read_event_patterns(e)) out.events = std::move(*events);
      } else if (key == "command") {
        has_command = true;
        if (auto argv = read_exec_command(e)) out.command = std::move(*argv);
      } else if (key == "max_running") {
        if (const auto value = read_integer(e)) {
          if (*value >= 1 && *value <= 64) {
            out.max_running = static_cast<std::size_t>(*value);
          } else {
            add(e.path, e.line, "must be between 1 and 64; got " + quoted(e.value.Scalar()));
          }
        }
      } else {
        read_redis_sink_key(key, e, out);
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
    if (type == "exec" && !has_command) {
      add(child_path(section.path, "command"), section.line,
          "missing; an exec sink needs its command as a list, e.g. [\"/usr/local/bin/on-event\", \"--verbose\"]");
    }
    if (type == "redis") check_redis_sink(section, url, url_text, ca_file, out);
    if (problems.size() != problems_before || !type) return std::nullopt;
    return out;
  }

  // An exec sink's command: a list of non-empty strings (argv, run without a shell), the first an
  // absolute path. Whether that program exists and may be run is check_config_files' part.
  std::optional<std::vector<std::string>> read_exec_command(const yaml_entry& e) {
    if (e.value.IsScalar()) {
      add(e.path, e.line,
          "expected a list (argv, no shell), e.g. [\"/usr/local/bin/on-event\", \"--verbose\"]; got " +
              describe(e.value));
      return std::nullopt;
    }
    auto argv = read_string_list(e);
    if (!argv) return std::nullopt;
    if (argv->empty()) {
      add(e.path, e.line, "must name the program to run, e.g. [\"/usr/local/bin/on-event\"]");
      return std::nullopt;
    }
    // Named as read_list names them: "sinks.x.command[1]", on its own line when it has one.
    const auto item_path = [&e](std::size_t i) { return e.path + "[" + std::to_string(i) + "]"; };
    const auto item_line = [&e](std::size_t i) {
      const int line = line_of(e.value[i]);
      return line == 0 ? e.line : line;
    };
    for (std::size_t i = 0; i < argv->size(); ++i) {
      if ((*argv)[i].find('\0') == std::string::npos) continue;
      add(item_path(i), item_line(i), "must not contain a NUL character");
      return std::nullopt;
    }
    if (!argv->front().starts_with('/')) {
      add(item_path(0), item_line(0),
          "the program must be an absolute path (no PATH search, no shell); got " + quoted(argv->front()));
      return std::nullopt;
    }
    return argv;
  }

  // password_file, stream, maxlen: the keys only a redis sink takes.
  void read_redis_sink_key(const std::string& key, const yaml_entry& e, sink_config& out) {
    if (key == "password_file") {
      // The daemon reads it at start (--check-config too), where a missing file is its error.
      if (auto text = read_string(e)) out.password_file = std::move(*text);
    } else if (key == "stream") {
      if (auto text = read_string(e)) out.stream = std::move(*text);
    } else if (key == "maxlen") {
      if (const auto value = read_integer(e)) {
        if (*value >= 1) {
          out.maxlen = static_cast<std::uint64_t>(*value);
        } else {
          add(e.path, e.line,
              "must be at least 1 (the stream is trimmed to about this many entries; leave maxlen out to never "
              "trim); got " +
                  quoted(e.value.Scalar()));
        }
      }
    }
  }

  // A redis sink's url (required) and what depends on it.
  void check_redis_sink(const yaml_entry& section, const yaml_entry* url, const std::string& url_text,
                        const yaml_entry* ca_file, sink_config& out) {
    if (url == nullptr) {
      add(child_path(section.path, "url"), section.line,
          "missing; a redis sink needs a url: redis://host:port/db, rediss://host:port/db or unix:/path/to/redis.sock");
      return;
    }
    if (url_text.empty()) return;  // reported by read_string
    auto target = take(*url, parse_redis_target(url_text));
    if (!target) return;
    out.redis = std::move(*target);
    if (out.ca_file && out.redis.scheme != redis_scheme::tls) {
      add(ca_file->path, ca_file->line,
          "applies only to a rediss:// url (it names the CA of the server's certificate); the url is " +
              quoted_url(url_text));
    }
    if (!out.redis.user.empty() && !out.password_file) {
      add(url->path, url->line,
          "names the user " + quoted(out.redis.user) + " but the sink has no password_file (AUTH needs a password)");
    }
  }

  // Glob patterns on eventType (fnmatch, as the sinks match them), each matching at least one event
  // type hookless makes: a pattern that matches none is a typo that would drop every event quietly.
  std::optional<std::vector<std::string>> read_event_patterns(const yaml_entry& e) {
    const auto items = read_list(e);
    if (!items) return std::nullopt;
    if (items->empty()) {
      add(e.path, e.line, "must name at least one pattern, e.g. [\"*\"]");
      return std::nullopt;
    }
    std::vector<std::string> patterns;
    bool ok = true;
    for (const auto& item : *items) {
      auto pattern = read_string(item);
      if (!pattern) {
        ok = false;
        continue;
      }
      const bool matches = std::any_of(event_types_.begin(), event_types_.end(),
                                       [&](const std::string& type) { return matches_any({*pattern}, type); });
      if (!matches) {
        const std::vector<std::string_view> types(event_types_.begin(), event_types_.end());
        add(item.path, item.line,
            "the pattern " + quoted(*pattern) + " matches no event type; " + did_you_mean(*pattern, types) +
                "patterns are globs (*, ?, [...]) on eventType, and the event types are: " + join(types));
        ok = false;
      }
      patterns.push_back(std::move(*pattern));
    }
    if (!ok) return std::nullopt;
    return patterns;
  }

  // The sinks a list may name: those defined, and those written with mistakes in them (their own
  // problems are reported already, so naming one is not a second problem).
  static std::vector<std::string> defined_sink_names(const std::optional<yaml_entry>& sinks_entry, const config& out) {
    std::vector<std::string> defined;
    for (const auto& [name, sink] : out.sinks) defined.push_back(name);
    if (sinks_entry && sinks_entry->value.IsMap()) {
      for (auto it = sinks_entry->value.begin(); it != sinks_entry->value.end(); ++it) {
        if (it->first.IsScalar() && !out.sinks.contains(it->first.Scalar())) defined.push_back(it->first.Scalar());
      }
    }
    return defined;
  }

  static std::string known_sinks_text(const std::vector<std::string>& defined) {
    const std::vector<std::string_view> names(defined.begin(), defined.end());
    return defined.empty() ? std::string{"none defined"} : "defined: " + join(names);
  }

  // A list of sink names at `e`, each one defined; a name listed twice counts once.
  std::optional<std::vector<std::string>> read_sink_names(const yaml_entry& e,
                                                          const std::vector<std::string>& defined) {
    const auto items = read_list(e);
    if (!items) return std::nullopt;
    const std::vector<std::string_view> defined_names(defined.begin(), defined.end());
    std::vector<std::string> names;
    bool ok = true;
    for (const auto& item : *items) {
      auto name = read_string(item);
      if (!name) {
        ok = false;
      } else if (std::find(defined.begin(), defined.end(), *name) == defined.end()) {
        const auto near = closest_name(*name, defined_names);
        add(item.path, item.line,
            "there is no sink named " + quoted(*name) + " (" + known_sinks_text(defined) + ")" +
                (near ? "; did you mean `" + std::string{*near} + "`?" : ""));
        ok = false;
      } else if (std::find(names.begin(), names.end(), *name) == names.end()) {
        names.push_back(std::move(*name));  // a name listed twice is still delivered once
      }
    }
    if (!ok) return std::nullopt;
    return names;
  }

  void read_default_sinks(const std::optional<yaml_entry>& written, const std::optional<yaml_entry>& sinks_entry,
                          config& out) {
    // A `sinks:` that is not a map was reported already; every name would look missing.
    if (sinks_entry && !sinks_entry->value.IsMap() && !sinks_entry->value.IsNull()) return;
    const auto defined = defined_sink_names(sinks_entry, out);
    if (!written) {
      for (const auto& name : out.default_sinks) {
        if (std::find(defined.begin(), defined.end(), name) != defined.end()) continue;
        add("default_sinks", sinks_entry ? sinks_entry->line : 0,
            "is [" + name + "] by default, but there is no sink named " + quoted(name) + " (" +
                known_sinks_text(defined) + "); define it or set default_sinks");
      }
      return;
    }
    if (auto names = read_sink_names(*written, defined)) out.default_sinks = std::move(*names);
  }

  // subscriptions: {NAME: {kinds: [...], sinks: [...]}} (docs/subscriptions.md). Read after extend
  // (the api_version says which kinds have a list endpoint), the sinks and default_sinks.
  void read_subscriptions(const yaml_entry& section, const std::optional<yaml_entry>& sinks_entry, config& out) {
    const bool sinks_readable = !sinks_entry || sinks_entry->value.IsMap() || sinks_entry->value.IsNull();
    const auto defined = defined_sink_names(sinks_entry, out);
    for_each_entry(section, [&](const yaml_entry& e, std::string_view name) {
      const bool good_name = is_plain_name(name);
      if (!good_name) add(e.path, e.line, "a subscription name is " + std::string{plain_name_rule});
      // Still read the body, so that its own mistakes are reported in the same run.
      auto subscription = read_subscription(e, name, sinks_readable, defined, out);
      if (good_name && subscription) out.subscriptions.emplace(std::string{name}, std::move(*subscription));
    });
  }

  std::optional<subscription_config> read_subscription(const yaml_entry& section, std::string_view name,
                                                       bool sinks_readable, const std::vector<std::string>& defined,
                                                       const config& out) {
    if (!section.value.IsMap()) {
      add(section.path, section.line,
          "expected a subscription: a map with `kinds` (and optionally `sinks`), e.g. {kinds: [extract_run]}; got " +
              describe(section.value));
      return std::nullopt;
    }
    const std::size_t problems_before = problems.size();
    subscription_config subscription;
    subscription.name = std::string{name};
    bool has_kinds = false;
    bool has_sinks = false;
    for_each_entry(section, [&](const yaml_entry& e, std::string_view key) {
      if (key == "kinds") {
        has_kinds = true;
        if (auto kinds = read_subscription_kinds(e, out.extend.api_version)) subscription.kinds = std::move(*kinds);
      } else if (key == "sinks") {
        has_sinks = true;
        // A `sinks:` that is not a map was reported already; every name would look missing.
        if (!sinks_readable) return;
        const auto names = read_sink_names(e, defined);
        if (names && names->empty()) {
          add(e.path, e.line, "must name at least one sink (leave it out for default_sinks)");
        } else if (names) {
          subscription.sinks = *names;
        }
      } else {
        report_unknown(e, "allowed keys in a subscription", subscription_keys);
      }
    });
    if (!has_kinds) {
      add(child_path(section.path, "kinds"), section.line,
          "missing; a subscription needs the kinds whose runs it delivers: " +
              listable_kinds_text(out.extend.api_version));
    }
    if (!has_sinks) {
      subscription.sinks = out.default_sinks;
      if (subscription.sinks.empty()) {
        add(child_path(section.path, "sinks"), section.line,
            "missing, and default_sinks is empty: name the sinks this subscription delivers to");
      }
    }
    if (problems.size() != problems_before) return std::nullopt;
    return subscription;
  }

  // "kinds with a list endpoint under api_version 2026-02-09: extract_run, ...".
  static std::string listable_kinds_text(const std::string& api_version) {
    std::vector<std::string_view> names;
    for (const auto& info : kinds_of(generation_of(api_version))) {
      if (info.listable) names.push_back(info.kind);
    }
    return "the kinds with a list endpoint under extend.api_version " + api_version + " are " + join(names);
  }

  // A subscription's kinds: at least one, none twice, each with a list endpoint under the api_version.
  std::optional<std::vector<std::string>> read_subscription_kinds(const yaml_entry& e, const std::string& api_version) {
    const auto items = read_list(e);
    if (!items) return std::nullopt;
    if (items->empty()) {
      add(e.path, e.line, "must name at least one kind; " + listable_kinds_text(api_version));
      return std::nullopt;
    }
    const auto generation = generation_of(api_version);
    std::vector<std::string_view> listable;
    for (const auto& info : kinds_of(generation)) {
      if (info.listable) listable.push_back(info.kind);
    }
    std::vector<std::string> kinds;
    std::map<std::string, std::string, std::less<>> first_at;  // kind -> the path it was first listed at
    bool ok = true;
    for (const auto& item : *items) {
      auto kind = read_string(item);
      if (!kind) {
        ok = false;
        continue;
      }
      const auto info = describe_kind(*kind, generation);
      if (!info) {
        add(item.path, item.line,
            "unknown kind " + quoted(*kind) + "; " + did_you_mean(*kind, listable) + listable_kinds_text(api_version));
        ok = false;
      } else if (!info->listable) {
        add(item.path, item.line,
            quoted(*kind) + " has no list endpoint, so a subscription cannot find its runs (register them instead); " +
                listable_kinds_text(api_version));
        ok = false;
      } else if (const auto [first, inserted] = first_at.emplace(*kind, item.path); !inserted) {
        add(item.path, item.line, quoted(*kind) + " is listed twice (first at " + first->second + ")");
        ok = false;
      } else {
        kinds.push_back(std::move(*kind));
      }
    }
    if (!ok) return std::nullopt;
    return kinds;
  }

  const std::vector<std::string> event_types_ = known_event_types();

  // The state and cluster keys check_state_backend needs, when written.
  std::optional<yaml_entry> state_path_;
  std::optional<yaml_entry> state_url_;
  std::optional<yaml_entry> password_file_;
  bool node_written_ = false;
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
    walker.problems.push_back(
        {"", e.mark.line < 0 ? 0 : e.mark.line + 1, "could not read " + std::string{source_name} + ": " + e.msg});
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

std::optional<std::string> check_node_name(std::string_view name) {
  constexpr std::size_t most = 64;
  const auto letter_or_digit = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  const auto allowed = [&](char c) { return letter_or_digit(c) || c == '.' || c == '_' || c == '-'; };
  if (name.empty() || name.size() > most || !letter_or_digit(name.front()) ||
      !std::all_of(name.begin(), name.end(), allowed)) {
    return "a node name is 1 to " + std::to_string(most) +
           " of the characters A-Z a-z 0-9 . _ -, starting with a letter or digit, and unique among the daemons "
           "sharing the database; got " +
           quoted(name);
  }
  return std::nullopt;
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
