// /proc/PID/status (VmHWM, VmRSS) and /proc/PID/stat (utime, stime) readers.
#include "bench/process_usage.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace hookless::bench {

namespace {

std::uint64_t kib_field(const std::string& line, std::string_view name) {
  return std::stoull(line.substr(name.size())) * 1024;
}

}  // namespace

std::optional<process_usage> read_process_usage(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  std::ifstream status{dir + "/status"};
  std::ifstream stat{dir + "/stat"};
  if (!status || !stat) return std::nullopt;
  process_usage usage;
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmHWM:")) usage.peak_rss = kib_field(line, "VmHWM:");
    if (line.starts_with("VmRSS:")) usage.rss = kib_field(line, "VmRSS:");
  }
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  std::string text{std::istreambuf_iterator<char>{stat}, {}};
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields{text.substr(close + 2)};
  std::string field;
  double ticks = 0;
  for (int n = 3; fields >> field; ++n) {
    if (n == 14 || n == 15) ticks += std::stod(field);  // utime, stime
    if (n == 15) break;
  }
  usage.cpu_seconds = ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return usage;
}

}  // namespace hookless::bench
