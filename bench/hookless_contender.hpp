// hooklessd as a contender: the built daemon with the production polling defaults and an http sink
// to a receiver in this process, waiting for the mix; also the daemon set-up the other hookless
// figures (pool_bench) share.
#pragma once

#include "bench/wait_contenders.hpp"
#include "tests/blackbox/blackbox_support.hpp"

#include <optional>

namespace hookless::bench {

struct hookless_options {
  double requests_per_second = 10;     // extend.requests_per_second
  int max_connections = 4;             // extend.max_connections
  std::optional<bool> list_endpoints;  // polling.list_endpoints; unset: not written (the daemon's default)
};

// A config for hooklessd in `dir` against `base_url`, with the default polling settings, logging
// at info, and every run going to the file sink only (callers add sinks).
blackbox::daemon_config bench_daemon_config(const fs::path& dir, const std::string& base_url, const fs::path& ca_file,
                                            const hookless_options& options);

// Whether this hooklessd accepts polling.list_endpoints (item 4 adds it).
bool daemon_knows_list_endpoints();

// The contender's name in tables: "hookless", "hookless (lists on)", "hookless (lists off)".
std::string hookless_name(const hookless_options& options);

wait_result hookless_waits(const std::vector<bench_run>& mix, const wait_settings& settings,
                           const hookless_options& options);

}  // namespace hookless::bench
