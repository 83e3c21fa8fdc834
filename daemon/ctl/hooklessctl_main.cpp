// hooklessctl: the command-line client of hooklessd's control socket (docs/control-api.md). Each
// command is one or a few HTTP requests; exit codes are part of the contract scripts rely on.
#include "core/formats/duration.hpp"
#include "daemon/ctl/ctl_client.hpp"
#include "daemon/ctl/ctl_output.hpp"
#include "daemon/version.hpp"

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace {

namespace json = boost::json;
using boost::beast::http::verb;
using namespace std::chrono_literals;
using hookless::ctl_response;

constexpr auto request_timeout = std::chrono::milliseconds{60s};
constexpr std::size_t ids_per_request = 10'000;
constexpr std::chrono::milliseconds longest_wait_chunk{3'600'000};

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
};

// Thrown for a failure already worth a message; main prints it and exits 1.
struct command_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

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

// The daemon's own error message, for stderr.
std::string error_message(const ctl_response& response) {
  boost::system::error_code ec;
  const auto value = json::parse(response.body, ec);
  if (!ec && value.is_object()) {
    if (const auto* error = value.get_object().if_contains("error"); error != nullptr && error->is_object()) {
      if (const auto* message = error->get_object().if_contains("message");
          message != nullptr && message->is_string()) {
        return std::string{message->get_string()};
      }
    }
  }
  return "hooklessd answered " + std::to_string(response.status);
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
  if (const auto* wrong = std::get_if<std::string>(&parsed)) throw command_failed(std::string{flag} + ": " + *wrong);
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
    if (ec || !parsed.is_object()) throw command_failed("--context must be a JSON object");
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
  if (ids.empty()) throw command_failed("no run IDs given");

  int code = exit_ok;
  for (std::size_t start = 0; start < ids.size(); start += ids_per_request) {
    const auto end = std::min(ids.size(), start + ids_per_request);
    json::array runs;
    for (auto index = start; index < end; ++index) runs.push_back(registration_for(ids[index], watch, context));
    const auto response =
        call(options, verb::post, "/v1/runs", json::serialize(json::object{{"runs", std::move(runs)}}));
    if (response.status != 200 && response.status != 201) {
      std::cerr << "hooklessctl: " << error_message(response) << '\n';
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

int run_wait(const global_options& options, const std::string& id, const std::optional<std::string>& timeout_text) {
  std::optional<std::chrono::steady_clock::time_point> give_up;
  if (timeout_text) {
    give_up = std::chrono::steady_clock::now() + duration_flag("--timeout", *timeout_text);
  }
  const auto target = "/v1/runs/" + hookless::encode_path_segment(id);

  json::object record;
  for (;;) {
    auto chunk = longest_wait_chunk;
    if (give_up) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*give_up - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds::zero()) {
        std::cerr << "hooklessctl: " << id << " is not finished yet (timed out)\n";
        return exit_timeout;
      }
      chunk = std::min(chunk, left);
    }
    // The daemon answers at the end of the chunk at the latest; allow it some slack beyond that.
    const auto response =
        call(options, verb::get, target + "?wait=" + hookless::format_duration(chunk), {}, chunk + 30s);
    if (response.status != 200) throw command_failed(error_message(response));
    record = as_object(parse_body(response));
    if (hookless::field_text(record, "state") == "finished") break;
  }

  const auto response = call(options, verb::get, target + "/events");
  if (response.status != 200) throw command_failed(error_message(response));
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

// --- get, forget, ls -----------------------------------------------------------------------

int run_get(const global_options& options, const std::string& id) {
  const auto response = call(options, verb::get, "/v1/runs/" + hookless::encode_path_segment(id));
  if (response.status != 200) throw command_failed(error_message(response));
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
  if (response.status != 204) throw command_failed(error_message(response));
  if (!options.json) std::cout << "no longer tracking " << id << '\n';
  return exit_ok;
}

// Calls the listing `target` page after page, following "next", and hands
// each record of the array `field` to `take`.
template <typename Take>
void for_each_listed(const global_options& options, const std::string& target, const char* field, Take take) {
  std::optional<std::string> after;
  for (;;) {
    auto page_target = target + (target.find('?') == std::string::npos ? "?" : "&") + "limit=1000";
    if (after) page_target += "&after=" + hookless::encode_path_segment(*after);
    const auto response = call(options, verb::get, page_target);
    if (response.status != 200) throw command_failed(error_message(response));
    const auto page = parse_body(response);
    for (const auto& record : array_field(as_object(page), field)) take(record);
    const auto* next = as_object(page).if_contains("next");
    if (next == nullptr || !next->is_string()) return;
    after = std::string{next->get_string()};
  }
}

int run_ls(const global_options& options, const std::string& state) {
  std::vector<std::vector<std::string>> rows{{"ID", "KIND", "STATE", "STATUS", "OUTCOME", "POLLS", "REGISTERED"}};
  for_each_listed(options, "/v1/runs?state=" + state, "runs", [&](const boost::json::value& record) {
    if (options.json) {
      print_json_line(record);
      return;
    }
    const auto& run = as_object(record);
    rows.push_back({hookless::field_text(run, "id"), hookless::field_text(run, "kind"),
                    hookless::field_text(run, "state"), hookless::field_text(run, "status"),
                    hookless::field_text(run, "outcome"), hookless::field_text(run, "polls"),
                    hookless::field_text(run, "registered_at")});
  });
  if (!options.json) std::cout << hookless::format_table(rows);
  return exit_ok;
}

// --- deliveries, redeliver, health ---------------------------------------------------------

int run_deliveries(const global_options& options, const std::optional<std::string>& state) {
  std::vector<std::vector<std::string>> rows{{"ID", "RUN", "SINK", "STATE", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR"}};
  const auto target = state ? "/v1/deliveries?state=" + *state : std::string{"/v1/deliveries"};
  for_each_listed(options, target, "deliveries", [&](const boost::json::value& record) {
    if (options.json) {
      print_json_line(record);
      return;
    }
    const auto& item = as_object(record);
    rows.push_back({hookless::field_text(item, "id"), hookless::field_text(item, "run_id"),
                    hookless::field_text(item, "sink"), hookless::field_text(item, "state"),
                    hookless::field_text(item, "attempts"), hookless::field_text(item, "next_attempt_at"),
                    hookless::field_text(item, "last_error")});
  });
  if (!options.json) std::cout << hookless::format_table(rows);
  return exit_ok;
}

int run_redeliver(const global_options& options, const std::optional<std::string>& id, bool all_dead) {
  if (id.has_value() == all_dead) throw command_failed("redeliver takes either a DELIVERY_ID or --all-dead");
  const auto target = all_dead ? std::string{"/v1/deliveries/retry"}
                               : "/v1/deliveries/" + hookless::encode_path_segment(*id) + "/retry";
  const auto response = call(options, verb::post, target);
  if (response.status != 202) throw command_failed(error_message(response));
  const auto body = parse_body(response);
  if (options.json) {
    print_json_line(body);
  } else {
    std::cout << "queued again: " << hookless::field_text(as_object(body), "retried") << '\n';
  }
  return exit_ok;
}

int run_health(const global_options& options) {
  ctl_response response;
  try {
    response = call(options, verb::get, "/v1/health", {}, 10s);
  } catch (const hookless::daemon_unreachable& error) {
    std::cerr << "hooklessctl: " << error.what() << '\n';
    return exit_unreachable;
  } catch (const std::runtime_error& error) {
    std::cerr << "hooklessctl: " << error.what() << '\n';
    return exit_unreachable;
  }
  if (response.status != 200) {
    std::cerr << "hooklessctl: " << error_message(response) << '\n';
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hooklessctl: control hooklessd, the daemon that replaces Extend's webhooks"};
  app.set_version_flag("--version", "hooklessctl " HOOKLESS_VERSION);
  app.require_subcommand(1);
  // Global flags may also follow the command (`hooklessctl ls --json`): subcommands, which inherit
  // this, pass the options they do not know up to here.
  app.fallthrough();
  global_options options;
  options.socket = default_socket();
  app.add_option("--socket", options.socket,
                 "control socket (default $HOOKLESS_SOCKET, else /run/hookless/hookless.sock)");
  app.add_flag("--json", options.json, "machine output (JSON, one object per line)");

  watch_options watch;
  auto* watch_cmd = app.add_subcommand("watch", "register runs; '-' reads IDs from stdin, one per line");
  watch_cmd->add_option("ID", watch.ids, "run IDs")->required();
  watch_cmd->add_option("--kind", watch.kind, "run kind, when the ID's prefix does not tell it");
  watch_cmd->add_option("--sink", watch.sinks, "deliver to this named sink (repeatable)");
  watch_cmd->add_option("--context", watch.context, "JSON object handed back in every event");
  watch_cmd->add_option("--deadline", watch.deadline, "stop tracking after this long (e.g. 24h)");

  std::string id;
  std::optional<std::string> timeout;
  auto* wait_cmd = app.add_subcommand("wait", "block until a run is finished and print its final event");
  wait_cmd->add_option("ID", id, "run ID")->required();
  wait_cmd->add_option("--timeout", timeout, "give up after this long (exit 4)");

  auto* get_cmd = app.add_subcommand("get", "show one run");
  get_cmd->add_option("ID", id, "run ID")->required();

  std::string run_state = "all";
  auto* ls_cmd = app.add_subcommand("ls", "list runs, newest first");
  ls_cmd->add_option("--state", run_state, "pending, finished or all")
      ->check(CLI::IsMember({"pending", "finished", "all"}));

  auto* forget_cmd = app.add_subcommand("forget", "stop tracking a run; nothing is delivered for it");
  forget_cmd->add_option("ID", id, "run ID")->required();

  std::optional<std::string> delivery_state;
  auto* deliveries_cmd = app.add_subcommand("deliveries", "list deliveries that are not yet done");
  deliveries_cmd->add_option("--state", delivery_state, "pending or dead")->check(CLI::IsMember({"pending", "dead"}));

  std::optional<std::string> delivery_id;
  bool all_dead = false;
  auto* redeliver_cmd = app.add_subcommand("redeliver", "put dead deliveries back in the queue");
  redeliver_cmd->add_option("DELIVERY_ID", delivery_id, "the dead delivery to retry");
  redeliver_cmd->add_flag("--all-dead", all_dead, "retry every dead delivery");

  auto* health_cmd = app.add_subcommand("health", "daemon, API and sink health (exit 0 ok, 1 degraded, 2 unreachable)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& done) {
    return app.exit(done);
  } catch (const CLI::ParseError& error) {
    app.exit(error);
    return exit_error;
  }

  try {
    if (health_cmd->parsed()) return run_health(options);
    if (watch_cmd->parsed()) return run_watch(options, watch);
    if (wait_cmd->parsed()) return run_wait(options, id, timeout);
    if (get_cmd->parsed()) return run_get(options, id);
    if (ls_cmd->parsed()) return run_ls(options, run_state);
    if (forget_cmd->parsed()) return run_forget(options, id);
    if (deliveries_cmd->parsed()) return run_deliveries(options, delivery_state);
    if (redeliver_cmd->parsed()) return run_redeliver(options, delivery_id, all_dead);
  } catch (const std::exception& error) {
    std::cerr << "hooklessctl: " << error.what() << '\n';
    return exit_error;
  }
  return exit_error;
}
