// hooklessctl: the command-line client of hooklessd's control socket (docs/control-api.md). Each
// command is one or a few HTTP requests; exit codes are part of the contract scripts rely on.
#include "core/formats/duration.hpp"
#include "daemon/ctl/ctl_client.hpp"
#include "daemon/ctl/ctl_completion.hpp"
#include "daemon/ctl/ctl_output.hpp"
#include "daemon/version.hpp"

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace {

namespace json = boost::json;
using boost::beast::http::verb;
using namespace std::chrono_literals;
using hookless::ctl_response;

constexpr auto request_timeout = std::chrono::milliseconds{60s};
constexpr std::size_t ids_per_request = 10'000;
constexpr std::size_t list_page_size = 1000;
constexpr std::chrono::milliseconds longest_wait_chunk{3'600'000};
// How often `wait` on a terminal updates its progress line.
constexpr std::chrono::milliseconds progress_wait_chunk{1'000};

// Exit codes (the README's "Using it"; scripts rely on them).
constexpr int exit_ok = 0;
constexpr int exit_error = 1;
constexpr int exit_degraded = 1;
constexpr int exit_unreachable = 2;
constexpr int exit_unsuccessful = 3;
constexpr int exit_timeout = 4;

struct global_options {
  std::string socket;
  bool json = false;
  std::string output = "text";
};

// Thrown for a failure already worth a message; main reports it and exits 1. `code` is the
// daemon's error code when it refused, else hooklessctl's own (usage, unreachable, failed).
struct command_failed : std::runtime_error {
  command_failed(std::string code_text, const std::string& message)
      : std::runtime_error(message), code(std::move(code_text)) {}
  explicit command_failed(const std::string& message) : command_failed("failed", message) {}
  std::string code;
};

// A failure, where the user asked to see it: JSON on stdout with --json, else a line on stderr.
void report_error(const global_options& options, std::string_view code, std::string_view message) {
  if (options.json) {
    std::cout << hookless::error_json(code, message) << '\n' << std::flush;
  } else {
    std::cerr << "hooklessctl: " << message << '\n';
  }
}

ctl_response call(const global_options& options, verb method, const std::string& target, const std::string& body = {},
                  std::chrono::milliseconds timeout = request_timeout) {
  return hookless::send_control_request(options.socket, method, target, body, timeout);
}

json::value parse_body(const ctl_response& response) {
  boost::system::error_code ec;
  auto value = json::parse(response.body, ec);
  if (ec)
    throw command_failed("hooklessd sent an answer that is not JSON (status " + std::to_string(response.status) + ")");
  return value;
}

// The daemon's refusal: its error code and message.
struct daemon_error {
  std::string code;
  std::string message;
};

daemon_error error_of(const ctl_response& response) {
  boost::system::error_code ec;
  const auto value = json::parse(response.body, ec);
  if (!ec && value.is_object()) {
    if (const auto* error = value.get_object().if_contains("error"); error != nullptr && error->is_object()) {
      const auto& fields = error->get_object();
      const auto* code = fields.if_contains("code");
      const auto* message = fields.if_contains("message");
      if (message != nullptr && message->is_string()) {
        return {code != nullptr && code->is_string() ? std::string{code->get_string()} : std::string{"failed"},
                std::string{message->get_string()}};
      }
    }
  }
  return {"failed", "hooklessd answered " + std::to_string(response.status)};
}

// The daemon's refusal as an exception; `explain` may reword its message in hooklessctl's terms.
[[noreturn]] void refuse(const ctl_response& response, std::string (*explain)(std::string_view) = nullptr) {
  auto error = error_of(response);
  throw command_failed(error.code, explain ? explain(error.message) : error.message);
}

void print_json_line(const json::value& value) { std::cout << json::serialize(value) << '\n'; }

const json::object& as_object(const json::value& value) {
  if (!value.is_object()) throw command_failed("hooklessd sent an unexpected answer");
  return value.get_object();
}

const json::array& array_field(const json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (value == nullptr || !value->is_array()) throw command_failed("hooklessd sent an unexpected answer");
  return value->get_array();
}

// A duration flag's value, read as the config and the daemon read durations; a refusal names the flag.
std::chrono::milliseconds duration_flag(std::string_view flag, const std::string& text) {
  auto parsed = hookless::parse_duration_text(text);
  if (const auto* wrong = std::get_if<std::string>(&parsed)) {
    throw command_failed("usage", std::string{flag} + ": " + *wrong);
  }
  return std::get<std::chrono::milliseconds>(parsed);
}

// --- watch ---------------------------------------------------------------------------------

struct watch_options {
  std::vector<std::string> ids;
  std::optional<std::string> kind;
  std::vector<std::string> sinks;
  std::optional<std::string> context;
  std::optional<std::string> deadline;
};

json::object registration_for(const std::string& id, const watch_options& watch,
                              const std::optional<json::object>& context) {
  json::object out{{"id", id}};
  if (watch.kind) out["kind"] = *watch.kind;
  if (!watch.sinks.empty()) {
    json::array sinks;
    for (const auto& sink : watch.sinks) sinks.emplace_back(sink);
    out["sinks"] = std::move(sinks);
  }
  if (context) out["context"] = *context;
  if (watch.deadline) out["deadline"] = *watch.deadline;
  return out;
}

int run_watch(const global_options& options, const watch_options& watch) {
  if (watch.deadline) duration_flag("--deadline", *watch.deadline);  // refused here rather than once per run
  std::optional<json::object> context;
  if (watch.context) {
    boost::system::error_code ec;
    auto parsed = json::parse(*watch.context, ec);
    if (ec || !parsed.is_object()) throw command_failed("usage", "--context: must be a JSON object");
    context = std::move(parsed.get_object());
  }

  // IDs from the command line, with "-" standing for every line of stdin.
  std::vector<std::string> ids;
  for (const auto& id : watch.ids) {
    if (id != "-") {
      ids.push_back(id);
      continue;
    }
    for (std::string line; std::getline(std::cin, line);) {
      const auto first = line.find_first_not_of(" \t\r");
      if (first == std::string::npos) continue;
      const auto last = line.find_last_not_of(" \t\r");
      ids.push_back(line.substr(first, last - first + 1));
    }
  }
  if (ids.empty()) throw command_failed("usage", "no run IDs given");

  int code = exit_ok;
  for (std::size_t start = 0; start < ids.size(); start += ids_per_request) {
    const auto end = std::min(ids.size(), start + ids_per_request);
    const std::vector<std::string> batch(ids.begin() + static_cast<std::ptrdiff_t>(start),
                                         ids.begin() + static_cast<std::ptrdiff_t>(end));
    json::array runs;
    for (const auto& id : batch) runs.push_back(registration_for(id, watch, context));
    const auto response =
        call(options, verb::post, "/v1/runs", json::serialize(json::object{{"runs", std::move(runs)}}));
    if (response.status != 200 && response.status != 201) {
      const auto error = error_of(response);
      report_error(options, error.code, hookless::explain_registration_error(error.message, batch));
      code = exit_error;
      continue;
    }
    const auto answer = parse_body(response);  // named: the loop below walks references into it
    for (const auto& record : array_field(as_object(answer), "runs")) {
      if (options.json) {
        print_json_line(record);
        continue;
      }
      const auto& run = as_object(record);
      std::cout << "watching " << hookless::field_text(run, "id") << " (" << hookless::field_text(run, "kind") << ")";
      if (hookless::field_text(run, "state") == "finished") {
        std::cout << ": already finished, " << hookless::field_text(run, "outcome");
      }
      std::cout << '\n';
    }
  }
  return code;
}

// --- wait ----------------------------------------------------------------------------------

// Waits for one run until `give_up` and prints its final event: 0, 3 or 4 (timed out).
int wait_for_run(const global_options& options, const std::string& id,
                 std::optional<std::chrono::steady_clock::time_point> give_up) {
  const auto target = "/v1/runs/" + hookless::encode_path_segment(id);
  // On a terminal, one line on stderr shows the run's status and polls, updated every second.
  const bool show_progress = ::isatty(STDERR_FILENO) == 1;
  const auto started = std::chrono::steady_clock::now();
  const auto clear_progress = [show_progress] {
    if (show_progress) std::cerr << "\r\x1b[K" << std::flush;
  };
  json::object record;
  for (bool first = true;; first = false) {
    std::optional<std::chrono::milliseconds> chunk = show_progress ? progress_wait_chunk : longest_wait_chunk;
    if (give_up) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*give_up - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds::zero()) {
        if (!first) {
          report_error(options, "timeout", id + " is not finished yet (timed out)");
          return exit_timeout;
        }
        chunk.reset();  // the time is up already (waiting on an earlier run): look once
      } else {
        chunk = std::min(*chunk, left);
      }
    }
    // The daemon answers at the end of the chunk at the latest; allow it some slack beyond that.
    const auto response =
        chunk ? call(options, verb::get, target + "?wait=" + hookless::format_duration(*chunk), {}, *chunk + 30s)
              : call(options, verb::get, target);
    if (response.status != 200) {
      clear_progress();
      refuse(response);
    }
    record = as_object(parse_body(response));
    if (hookless::field_text(record, "state") == "finished") break;
    if (show_progress) {
      const auto waited = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started);
      std::cerr << '\r' << hookless::wait_progress_line(record, waited) << "\x1b[K" << std::flush;
    }
    if (!chunk) {
      clear_progress();
      report_error(options, "timeout", id + " is not finished yet (timed out)");
      return exit_timeout;
    }
  }

  clear_progress();
  const auto response = call(options, verb::get, target + "/events");
  if (response.status != 200) refuse(response);
  const auto answer = parse_body(response);
  const auto& events = array_field(as_object(answer), "events");
  if (events.empty()) {
    // Finished without an event (should not happen): judge by the outcome.
    print_json_line(record);
    return hookless::field_text(record, "outcome") == "processed" ? exit_ok : exit_unsuccessful;
  }
  const auto& final_event = events.back();
  print_json_line(final_event);
  const auto type =
      final_event.is_object() ? hookless::field_text(final_event.get_object(), "eventType") : std::string{};
  return hookless::wait_exit_code(type);
}

// Waits for every run (one deadline for all) and exits with the worst outcome.
int run_wait(const global_options& options, const std::vector<std::string>& ids,
             const std::optional<std::string>& timeout_text) {
  std::optional<std::chrono::steady_clock::time_point> give_up;
  if (timeout_text) give_up = std::chrono::steady_clock::now() + duration_flag("--timeout", *timeout_text);
  int code = exit_ok;
  for (const auto& id : ids) {
    int one = exit_error;
    try {
      one = wait_for_run(options, id, give_up);
    } catch (const command_failed& error) {
      report_error(options, error.code, error.what());
    } catch (const hookless::daemon_unreachable& error) {
      report_error(options, "unreachable", error.what());
    } catch (const std::runtime_error& error) {
      report_error(options, "failed", error.what());
    }
    std::cout << std::flush;
    code = hookless::worst_exit_code(code, one);
  }
  return code;
}

// --- events --------------------------------------------------------------------------------

// Prints the caller's recent events and, with `follow`, each new one as it is made, one JSON line
// each. 0 at the end of the recent ones; a followed stream only ends with an error (1): the
// daemon dropped this reader as too slow, or closed the stream (it stopped).
int run_events(const global_options& options, bool follow, const std::optional<std::string>& run_id) {
  std::string target = "/v1/events";
  std::string separator = "?";
  if (follow) {
    target += separator + "follow=1";
    separator = "&";
  }
  if (run_id) target += separator + "run=" + hookless::encode_path_segment(*run_id);
  std::optional<std::string> dropped;
  const auto response =
      hookless::stream_control_lines(options.socket, target, request_timeout, [&](std::string_view line) {
        if (line.empty()) return;
        // The daemon's last line for a reader too far behind: {"error":{"code":"too_slow",...}}.
        if (line.starts_with(R"({"error":)")) {
          const ctl_response last{200, std::string{line}};
          const auto error = error_of(last);
          if (error.code == "too_slow") {
            dropped = error.message;
            return;
          }
        }
        std::cout << line << '\n' << std::flush;
      });
  if (response.status != 200) {
    refuse(response, [](std::string_view message) { return hookless::explain_query_error(message); });
  }
  if (dropped) throw command_failed("too_slow", "hooklessd dropped this stream: " + *dropped);
  if (follow) throw command_failed("closed", "hooklessd ended the stream (it is stopping or restarting)");
  return exit_ok;
}

// --- get, forget, ls -----------------------------------------------------------------------

int run_get(const global_options& options, const std::string& id) {
  const auto response = call(options, verb::get, "/v1/runs/" + hookless::encode_path_segment(id));
  if (response.status != 200) refuse(response);
  const auto record = parse_body(response);
  if (options.json) {
    print_json_line(record);
  } else {
    std::cout << hookless::describe_run(as_object(record));
  }
  return exit_ok;
}

int run_forget(const global_options& options, const std::string& id) {
  const auto response = call(options, verb::delete_, "/v1/runs/" + hookless::encode_path_segment(id));
  if (response.status != 204) refuse(response);
  if (!options.json) std::cout << "no longer tracking " << id << '\n';
  return exit_ok;
}

// Calls the listing `target` page after page, following "next", up to `limit` records in all, and
// hands each page's records (of the array `field`) to `take` as it arrives.
template <typename Take>
void for_each_page(const global_options& options, const std::string& target, const char* field,
                   std::optional<std::size_t> limit, Take take) {
  std::optional<std::string> after;
  std::size_t listed = 0;
  for (;;) {
    const auto page_size = limit ? std::min(list_page_size, *limit - listed) : list_page_size;
    auto page_target =
        target + (target.find('?') == std::string::npos ? "?" : "&") + "limit=" + std::to_string(page_size);
    if (after) page_target += "&after=" + hookless::encode_path_segment(*after);
    const auto response = call(options, verb::get, page_target);
    if (response.status != 200)
      refuse(response, [](std::string_view message) { return hookless::explain_query_error(message); });
    const auto page = parse_body(response);
    const auto& records = array_field(as_object(page), field);
    take(records);
    std::cout << std::flush;
    listed += records.size();
    const auto* next = as_object(page).if_contains("next");
    if (next == nullptr || !next->is_string() || (limit && listed >= *limit)) return;
    after = std::string{next->get_string()};
  }
}

// A listing printed as each page arrives: JSON lines, or a table of the given columns (header,
// record field), its header shown even when nothing is listed.
int print_listing(const global_options& options, const std::string& target, const char* field,
                  std::optional<std::size_t> limit, const std::vector<std::pair<std::string, std::string>>& columns) {
  std::vector<std::string> header;
  for (const auto& column : columns) header.push_back(column.first);
  hookless::table_stream table{std::move(header)};
  bool any = false;
  for_each_page(options, target, field, limit, [&](const json::array& records) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& record : records) {
      if (options.json) {
        print_json_line(record);
        continue;
      }
      std::vector<std::string> row;
      for (const auto& column : columns) row.push_back(hookless::field_text(as_object(record), column.second));
      rows.push_back(std::move(row));
    }
    if (!options.json && (!rows.empty() || !any)) std::cout << table.page(rows);
    any = true;
  });
  return exit_ok;
}

struct ls_options {
  std::string state = "all";
  std::optional<std::string> kind;
  std::optional<std::string> outcome;
  std::optional<std::size_t> limit;
};

int run_ls(const global_options& options, const ls_options& ls) {
  auto target = "/v1/runs?state=" + hookless::encode_path_segment(ls.state);
  if (ls.kind) target += "&kind=" + hookless::encode_path_segment(*ls.kind);
  if (ls.outcome) target += "&outcome=" + hookless::encode_path_segment(*ls.outcome);
  return print_listing(options, target, "runs", ls.limit,
                       {{"ID", "id"},
                        {"KIND", "kind"},
                        {"STATE", "state"},
                        {"STATUS", "status"},
                        {"OUTCOME", "outcome"},
                        {"POLLS", "polls"},
                        {"REGISTERED", "registered_at"},
                        {"SUBSCRIPTION", "subscription"}});
}

// --- deliveries, redeliver, health ---------------------------------------------------------

int run_deliveries(const global_options& options, const std::optional<std::string>& state) {
  const auto target =
      state ? "/v1/deliveries?state=" + hookless::encode_path_segment(*state) : std::string{"/v1/deliveries"};
  return print_listing(options, target, "deliveries", std::nullopt,
                       {{"ID", "id"},
                        {"RUN", "run_id"},
                        {"SINK", "sink"},
                        {"STATE", "state"},
                        {"ATTEMPTS", "attempts"},
                        {"NEXT ATTEMPT", "next_attempt_at"},
                        {"LAST ERROR", "last_error"}});
}

int run_redeliver(const global_options& options, const std::optional<std::string>& id, bool all_dead) {
  if (id.has_value() == all_dead) throw command_failed("usage", "redeliver takes either a DELIVERY_ID or --all-dead");
  const auto target = all_dead ? std::string{"/v1/deliveries/retry"}
                               : "/v1/deliveries/" + hookless::encode_path_segment(*id) + "/retry";
  const auto response = call(options, verb::post, target);
  if (response.status != 202) refuse(response);
  const auto body = parse_body(response);
  if (options.json) {
    print_json_line(body);
  } else if (all_dead) {
    std::cout << "queued again: " << hookless::field_text(as_object(body), "retried") << " dead deliveries\n";
  } else {
    std::cout << "queued again: " << *id << '\n';
  }
  return exit_ok;
}

int run_health(const global_options& options) {
  ctl_response response;
  try {
    response = call(options, verb::get, "/v1/health", {}, 10s);
  } catch (const hookless::daemon_unreachable& error) {
    report_error(options, "unreachable", error.what());
    return exit_unreachable;
  } catch (const std::runtime_error& error) {
    report_error(options, "unreachable", error.what());
    return exit_unreachable;
  }
  if (response.status != 200) {
    const auto error = error_of(response);
    report_error(options, error.code, error.message);
    return exit_degraded;
  }
  const auto body = parse_body(response);
  if (options.json) {
    print_json_line(body);
  } else {
    std::cout << hookless::describe_health(as_object(body));
  }
  return hookless::field_text(as_object(body), "status") == "ok" ? exit_ok : exit_degraded;
}

std::string default_socket() {
  if (const char* path = std::getenv("HOOKLESS_SOCKET"); path != nullptr && *path != '\0') return path;
  return "/run/hookless/hookless.sock";
}

// Whether the command line asks for JSON (--json, -o json, --output=json, ...), read before
// parsing so that a command line CLI11 refuses is answered in JSON too.
bool asks_for_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--json" || arg == "-ojson" || arg == "-o=json" || arg == "--output=json") return true;
    if ((arg == "-o" || arg == "--output") && i + 1 < argc && std::string_view{argv[i + 1]} == "json") return true;
  }
  return false;
}

// The help of a flag from the completion table, so that the two cannot drift apart.
std::string flag_help(std::string_view command, std::string_view flag) {
  for (const auto& one : hookless::ctl_commands()) {
    if (one.name != command) continue;
    for (const auto& f : one.flags) {
      if (f.name == flag) return f.help;
    }
  }
  for (const auto& f : hookless::ctl_global_flags()) {
    if (f.name == flag) return f.help;
  }
  return {};
}

std::string command_help(std::string_view command) {
  for (const auto& one : hookless::ctl_commands()) {
    if (one.name == command) return one.help;
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hooklessctl: control hooklessd, the daemon that replaces Extend's webhooks"};
  app.set_version_flag("--version", "hooklessctl " HOOKLESS_VERSION);
  app.require_subcommand(1);
  // Global flags may also follow the command (`hooklessctl ls --json`): subcommands, which inherit
  // this, pass the options they do not know up to here.
  app.fallthrough();
  app.footer(
      "Global options may come before or after the command (hooklessctl ls --json). Durations: 30s, 1m30s, 1.5h.\n"
      "Exit codes: 0 done, 1 error or degraded, 2 daemon unreachable (health), 3 run unsuccessful, 4 timed out.");
  global_options options;
  options.socket = default_socket();
  app.add_option("--socket", options.socket, flag_help("", "--socket"));
  app.add_flag("--json", options.json, flag_help("", "--json"));
  app.add_option("-o,--output", options.output, flag_help("", "--output"))->check(CLI::IsMember({"json", "text"}));

  watch_options watch;
  auto* watch_cmd = app.add_subcommand("watch", command_help("watch"));
  watch_cmd->add_option("ID", watch.ids, "run IDs")->required();
  watch_cmd->add_option("--kind", watch.kind, flag_help("watch", "--kind"));
  watch_cmd->add_option("--sink", watch.sinks, flag_help("watch", "--sink"));
  watch_cmd->add_option("--context", watch.context, flag_help("watch", "--context"));
  watch_cmd->add_option("--deadline", watch.deadline, flag_help("watch", "--deadline"));

  std::string id;
  std::vector<std::string> wait_ids;
  std::optional<std::string> timeout;
  auto* wait_cmd = app.add_subcommand("wait", command_help("wait"));
  wait_cmd->add_option("ID", wait_ids, "run IDs; exits with the worst outcome (1 error, 4 timed out, 3 unsuccessful)")
      ->required();
  wait_cmd->add_option("--timeout", timeout, flag_help("wait", "--timeout"));

  bool follow_events = false;
  std::optional<std::string> events_run;
  auto* events_cmd = app.add_subcommand("events", command_help("events"));
  events_cmd->add_flag("--follow", follow_events, flag_help("events", "--follow"));
  events_cmd->add_option("--run", events_run, flag_help("events", "--run"));

  auto* get_cmd = app.add_subcommand("get", command_help("get"));
  get_cmd->add_option("ID", id, "run ID")->required();

  ls_options ls;
  auto* ls_cmd = app.add_subcommand("ls", command_help("ls"));
  ls_cmd->add_option("--state", ls.state, flag_help("ls", "--state"))
      ->check(CLI::IsMember({"pending", "finished", "all"}));
  ls_cmd->add_option("--kind", ls.kind, flag_help("ls", "--kind"));
  ls_cmd->add_option("--outcome", ls.outcome, flag_help("ls", "--outcome"));
  ls_cmd->add_option("--limit", ls.limit, flag_help("ls", "--limit"))->check(CLI::PositiveNumber);

  auto* forget_cmd = app.add_subcommand("forget", command_help("forget"));
  forget_cmd->add_option("ID", id, "run ID")->required();

  std::optional<std::string> delivery_state;
  auto* deliveries_cmd = app.add_subcommand("deliveries", command_help("deliveries"));
  deliveries_cmd->add_option("--state", delivery_state, flag_help("deliveries", "--state"))
      ->check(CLI::IsMember({"pending", "dead"}));

  std::optional<std::string> delivery_id;
  bool all_dead = false;
  auto* redeliver_cmd = app.add_subcommand("redeliver", command_help("redeliver"));
  redeliver_cmd->add_option("DELIVERY_ID", delivery_id, "the delivery to deliver again (pending, done or dead)");
  redeliver_cmd->add_flag("--all-dead", all_dead, flag_help("redeliver", "--all-dead"));

  auto* health_cmd = app.add_subcommand("health", command_help("health"));

  std::string shell;
  auto* completion_cmd = app.add_subcommand("completion", command_help("completion"));
  completion_cmd->add_option("SHELL", shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& done) {
    return app.exit(done);
  } catch (const CLI::ParseError& error) {
    if (asks_for_json(argc, argv)) {
      options.json = true;
      report_error(options, "usage", error.what());
    } else {
      app.exit(error);
    }
    return exit_error;
  }
  if (options.output == "json") options.json = true;

  try {
    if (health_cmd->parsed()) return run_health(options);
    if (watch_cmd->parsed()) return run_watch(options, watch);
    if (wait_cmd->parsed()) return run_wait(options, wait_ids, timeout);
    if (events_cmd->parsed()) return run_events(options, follow_events, events_run);
    if (get_cmd->parsed()) return run_get(options, id);
    if (ls_cmd->parsed()) return run_ls(options, ls);
    if (forget_cmd->parsed()) return run_forget(options, id);
    if (deliveries_cmd->parsed()) return run_deliveries(options, delivery_state);
    if (redeliver_cmd->parsed()) return run_redeliver(options, delivery_id, all_dead);
    if (completion_cmd->parsed()) {
      std::cout << hookless::completion_script(shell).value_or("");
      return exit_ok;
    }
  } catch (const command_failed& error) {
    std::cout << std::flush;
    report_error(options, error.code, error.what());
    return exit_error;
  } catch (const hookless::daemon_unreachable& error) {
    std::cout << std::flush;
    report_error(options, "unreachable", error.what());
    return exit_error;
  } catch (const std::exception& error) {
    std::cout << std::flush;
    report_error(options, "failed", error.what());
    return exit_error;
  }
  return exit_error;
}
