// The standard process_* series every Prometheus client library exports (CPU time, memory, file
// descriptors, start time), read from /proc on each scrape. The parsing is pure and tested on
// sample text; read_process_stats() does the reading.
#pragma once

#include "daemon/service/prometheus_text.hpp"

#include <optional>
#include <string_view>

namespace hookless {

struct process_stats {
  double cpu_seconds = 0;         // user + system CPU time
  double resident_bytes = 0;      // resident set size
  double virtual_bytes = 0;       // virtual memory size
  double open_fds = 0;            // entries of /proc/self/fd
  double max_fds = 0;             // the soft RLIMIT_NOFILE
  double start_time_seconds = 0;  // Unix time the process started
};

// The fields of /proc/[pid]/stat that process_stats takes, in its units: `ticks_per_second` is
// sysconf(_SC_CLK_TCK), `page_size` sysconf(_SC_PAGESIZE), `boot_time` the btime of /proc/stat.
// Nullopt when the text does not have the shape proc(5) gives it. open_fds and max_fds stay 0.
std::optional<process_stats> parse_proc_self_stat(std::string_view stat, double ticks_per_second, double page_size,
                                                  double boot_time);

// The boot time (Unix seconds) from the `btime` line of /proc/stat.
std::optional<double> parse_boot_time(std::string_view proc_stat);

// This process's figures now; whatever cannot be read stays 0.
process_stats read_process_stats();

// The process_* families: process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds, process_start_time_seconds.
void write_process_metrics(prometheus_writer& out, const process_stats& stats);

}  // namespace hookless
