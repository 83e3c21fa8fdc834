// hooklessd: flags, config, logging, API key; then the daemon (daemon.cpp) runs.
#include "config/api_key.hpp"
#include "config/config_files.hpp"
#include "config/config_loader.hpp"
#include "daemon/hooklessd/daemon.hpp"
#include "daemon/hooklessd/environment.hpp"
#include "daemon/hooklessd/import_state.hpp"
#include "daemon/service/logging.hpp"
#include "daemon/version.hpp"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace {

// Each control client holds a descriptor, and systemd's default soft limit is 1024: raise the
// soft limit to the hard one so a thousand idle clients cannot starve accept() (the control
// server's max_connections still bounds them).
void raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t wanted = std::min<rlim_t>(limit.rlim_max, 1 << 20);  // RLIM_INFINITY is more than the kernel takes
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = wanted;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    spdlog::warn("cannot raise the open file limit to {}: {}", wanted, std::strerror(errno));
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A stdout whose reader went away (`hooklessd | jq` after jq exits, a restarted log collector)
  // must fail the write with EPIPE, a delivery retried later, not kill the daemon with SIGPIPE:
  // it would die again on the same pending delivery after every restart.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{
      "hooklessd: polls Extend for the runs it is given and delivers each finished run to local sinks,\n"
      "so no public webhook endpoint is needed. Control it with hooklessctl over its Unix socket."};
  std::string config_path = hookless::environment("HOOKLESS_CONFIG").value_or("/etc/hookless/hookless.yaml");
  bool check_only = false;
  std::optional<std::string> log_level;
  std::optional<std::string> import_from;
  app.add_option("--config", config_path,
                 "configuration file (default $HOOKLESS_CONFIG, else /etc/hookless/hookless.yaml)");
  app.add_flag("--check-config", check_only,
               "load and validate the configuration, print every problem, and exit (0 valid, 1 invalid)");
  app.add_option("--import-state", import_from,
                 "copy every run of this SQLite state file (events and deliveries too) into the PostgreSQL "
                 "database the config's state.url names, print how many were imported and skipped, and exit")
      ->excludes("--check-config");
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error (overrides logging.level)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.set_version_flag("--version", std::string{"hooklessd "} + HOOKLESS_VERSION);
  CLI11_PARSE(app, argc, argv);

  auto loaded = hookless::load_config_file(config_path);
  // A well-formed config can still name files that cannot be used (a missing secret, a file sink
  // in a folder that does not exist): those are problems too, at the start as with --check-config.
  if (loaded.value) loaded.problems = hookless::check_config_files(*loaded.value, loaded.key_lines);
  if (!loaded.problems.empty()) {
    // Under systemd (the start, or ExecReload's check) journald files these as errors.
    const auto prefix = hookless::journal_error_prefix();
    for (const auto& problem : loaded.problems) {
      std::cerr << prefix << hookless::format_problem(config_path, problem) << "\n";
    }
    std::cerr << prefix << config_path << ": " << loaded.problems.size() << " problem(s); "
              << (check_only ? "the configuration was rejected" : "hooklessd did not start") << "\n";
    return EXIT_FAILURE;
  }
  if (check_only) {
    std::cout << config_path << ": valid\n";
    return EXIT_SUCCESS;
  }
  const auto& settings = *loaded.value;
  hookless::configure_logging(settings.logging, log_level);
  if (import_from) return hookless::import_state(settings, *import_from, std::cout, std::cerr);

  const auto key = hookless::resolve_api_key(settings.extend, hookless::environment);
  if (!key.error.empty()) {
    spdlog::critical("Extend API key: {}", key.error);
    return EXIT_FAILURE;
  }
  if (!key.key) {
    spdlog::critical(
        "no Extend API key: set extend.api_key_file, provide the systemd credential extend-api-key, "
        "or set EXTEND_API_KEY");
    return EXIT_FAILURE;
  }
  spdlog::info("Extend API key from {}", key.source);
  raise_descriptor_limit();
  try {
    return hookless::run_daemon(settings, *key.key, {.config_path = config_path, .log_level_override = log_level});
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return EXIT_FAILURE;
  }
}
