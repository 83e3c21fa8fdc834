// The benchmark's output: the machine it ran on, a table per scenario and the targets of issues 6
// and 12 with how far each figure is from its target, as Markdown (printed and written to a file).
#pragma once

#include "bench/memory_bench.hpp"
#include "bench/pool_bench.hpp"
#include "bench/wait_contenders.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hookless::bench {

struct machine_facts {
  std::string date;        // UTC, ISO 8601
  std::string cpu_model;   // /proc/cpuinfo
  unsigned cpus = 0;       // online
  double ram_gib = 0;      // MemTotal
  std::string load_start;  // /proc/loadavg at the start
  std::string commit;      // git describe of the source tree
};

machine_facts describe_machine();
std::string load_average();

// One waiting scenario: N runs, rate limit R.
struct wait_scenario {
  std::size_t runs = 0;
  double rate = 10;
  double time_scale = 1;
  bool faults = false;
  std::vector<wait_result> results;
  std::optional<std::string> peer_skipped;  // why the SDK peer did not run at this N
};

struct bench_results {
  machine_facts machine;
  std::string mode;  // "full" or "quick"
  std::vector<wait_scenario> waits;
  std::vector<pool_result> pools;  // one per hookless variant
  std::vector<memory_result> memory;
  std::vector<std::string> notes;
  std::string load_end;
};

std::string render_markdown(const bench_results& results);

}  // namespace hookless::bench
