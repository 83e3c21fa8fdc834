// What a process has cost so far, read from /proc the same way for hooklessd, node and the bench.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace hookless::bench {

struct process_usage {
  std::uint64_t peak_rss = 0;  // bytes, VmHWM
  std::uint64_t rss = 0;       // bytes, VmRSS now
  double cpu_seconds = 0;      // user + system since it started (/proc/PID/stat utime + stime)
};

// nullopt once the process is gone.
std::optional<process_usage> read_process_usage(pid_t pid);

}  // namespace hookless::bench
