// Many pending runs at once (100,000 by default) and no rate limit at the fake: how fast hooklessd
// registers them (batches of 10,000, and one run per request from 16 clients; each answer comes
// only once the registration is durable), what they cost in memory, and how many polls per second
// it sustains over its kept-alive TLS connections once its budget is out of the way.
#pragma once

#include "bench/hookless_contender.hpp"
#include "bench/process_usage.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace hookless::bench {

struct pool_settings {
  std::size_t runs = 100'000;                // registered in batches
  std::size_t single_registrations = 2'000;  // registered one per request, besides
  std::chrono::seconds warm_up{5};           // after the restart, before the window
  std::chrono::seconds window{20};           // polls per second are counted over this
  double unlimited_rate = 50'000;            // extend.requests_per_second when "unlimited"
  hookless_options daemon;                   // max_connections, list_endpoints
};

struct pool_result {
  std::string contender;
  bool lists_on = false;          // requests/s then counts list pages, not a polling rate
  std::size_t pending = 0;        // runs pending while polls were counted
  double batched_per_second = 0;  // registrations
  double single_per_second = 0;
  std::uint64_t baseline_rss = 0;          // bytes, before any registration
  std::uint64_t rss_at_rest = 0;           // bytes, every run pending, budget 10/s
  std::uint64_t peak_rss_registering = 0;  // bytes, VmHWM at that moment: the registrations' peak
  double ready_seconds = 0;                // restart with every run pending: until health answers
  double polls_per_second = 0;             // unlimited, over the window
  std::uint64_t responses_429 = 0;
  std::uint64_t connections_opened = 0;        // TLS connections the fake accepted during the window
  std::uint64_t connections_open = 0;          // open at its end
  double daemon_cpu_seconds = 0;               // hooklessd's CPU over the window
  double fake_cpu_seconds = 0;                 // this process's (the fake's) CPU over the window
  std::optional<process_usage> polling_usage;  // hooklessd at the end of the window (VmHWM: since restart)
  std::string note;
};

pool_result pool_bench(const pool_settings& settings);

}  // namespace hookless::bench
