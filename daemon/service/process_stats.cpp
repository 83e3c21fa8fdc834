// Reading this process's figures from /proc, as Prometheus' own client libraries do.
#include "daemon/service/process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

namespace hookless {

namespace {

std::optional<double> proc_number(std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string read_proc_file(const char* path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

}  // namespace

std::optional<process_stats> parse_proc_self_stat(std::string_view stat, double ticks_per_second, double page_size,
                                                  double boot_time) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so the fields start after
  // the last ')'. proc(5) numbers them from 1: state is field 3.
  const auto close = stat.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
  std::vector<std::string_view> fields;
  auto rest = stat.substr(close + 1);
  while (!rest.empty()) {
    const auto start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const auto end = rest.find_first_of(" \n");
    fields.push_back(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  }
  const auto field = [&](std::size_t number) -> std::optional<double> {
    if (number < 3 || number - 3 >= fields.size()) return std::nullopt;
    return proc_number(fields[number - 3]);
  };
  const auto utime = field(14);
  const auto stime = field(15);
  const auto start_ticks = field(22);
  const auto vsize = field(23);
  const auto rss = field(24);
  if (!utime || !stime || !start_ticks || !vsize || !rss) return std::nullopt;
  process_stats stats;
  stats.cpu_seconds = (*utime + *stime) / ticks_per_second;
  stats.start_time_seconds = boot_time + *start_ticks / ticks_per_second;
  stats.virtual_bytes = *vsize;
  stats.resident_bytes = *rss * page_size;
  return stats;
}

std::optional<double> parse_boot_time(std::string_view proc_stat) {
  while (!proc_stat.empty()) {
    const auto newline = proc_stat.find('\n');
    const auto line = proc_stat.substr(0, newline);
    if (line.starts_with("btime ")) return proc_number(line.substr(6));
    proc_stat.remove_prefix(newline == std::string_view::npos ? proc_stat.size() : newline + 1);
  }
  return std::nullopt;
}

process_stats read_process_stats() {
  process_stats stats;
  const auto boot_time = parse_boot_time(read_proc_file("/proc/stat"));
  const auto parsed =
      parse_proc_self_stat(read_proc_file("/proc/self/stat"), static_cast<double>(::sysconf(_SC_CLK_TCK)),
                           static_cast<double>(::sysconf(_SC_PAGESIZE)), boot_time.value_or(0));
  if (parsed) stats = *parsed;
  if (!boot_time) stats.start_time_seconds = 0;  // without btime the ticks since boot say nothing
  std::error_code ec;
  std::size_t fds = 0;
  for (std::filesystem::directory_iterator it{"/proc/self/fd", ec}, end; !ec && it != end; it.increment(ec)) ++fds;
  stats.open_fds = static_cast<double>(fds);
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    stats.max_fds = static_cast<double>(limit.rlim_cur);  // RLIM_INFINITY: a huge number, as meant
  }
  return stats;
}

void write_process_metrics(prometheus_writer& out, const process_stats& stats) {
  // The names, types and help texts of Prometheus' own client libraries.
  struct process_family {
    const char* name;
    const char* type;
    const char* help;
    double value;
  };
  const process_family families[] = {
      {"process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", stats.cpu_seconds},
      {"process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", stats.resident_bytes},
      {"process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", stats.virtual_bytes},
      {"process_open_fds", "gauge", "Number of open file descriptors.", stats.open_fds},
      {"process_max_fds", "gauge", "Maximum number of open file descriptors.", stats.max_fds},
      {"process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
       stats.start_time_seconds},
  };
  for (const auto& family : families) {
    out.family(family.name, family.type, family.help);
    out.sample(family.name, family.value);
  }
}

}  // namespace hookless
