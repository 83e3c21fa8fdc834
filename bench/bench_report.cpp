// Markdown tables of the benchmark's figures and the issue-6 and issue-12 targets (see bench_report.hpp).
#include "bench/bench_report.hpp"

#include <array>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

namespace hookless::bench {

namespace {

std::string fixed(double value, int digits) {
  std::array<char, 64> text{};
  std::snprintf(text.data(), text.size(), "%.*f", digits, value);
  return text.data();
}

// 12,345 style.
std::string grouped(double value) {
  auto digits = std::to_string(static_cast<long long>(value + 0.5));
  for (auto at = static_cast<int>(digits.size()) - 3; at > 0; at -= 3) digits.insert(static_cast<std::size_t>(at), ",");
  return digits;
}

std::string mib(std::uint64_t bytes) { return fixed(static_cast<double>(bytes) / (1 << 20), 1) + " MiB"; }

std::string first_line_of(const std::string& command) {
  std::unique_ptr<FILE, decltype(&pclose)> pipe{popen(command.c_str(), "r"), &pclose};
  if (!pipe) return {};
  std::array<char, 512> line{};
  if (std::fgets(line.data(), line.size(), pipe.get()) == nullptr) return {};
  std::string text = line.data();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

std::string proc_value(const char* file, const std::string& key) {
  std::ifstream in{file};
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(key)) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? std::string{} : line.substr(start);
  }
  return {};
}

// The promise, the figure and how far apart they are: "met", or "missed by ...".
struct verdict {
  std::string target;
  std::string measured;
  std::string outcome;
};

std::string miss(double measured, double target, bool higher_is_better) {
  const bool met = higher_is_better ? measured >= target : measured <= target;
  if (met) return "met";
  const double off = higher_is_better ? (target - measured) / target : (measured - target) / target;
  return "**missed** by " + fixed(off * 100, 0) + " %";
}

bool harness_failed(const std::string& note) { return note.starts_with("the harness failed"); }

void wait_table(std::ostringstream& out, const wait_scenario& s, std::vector<verdict>& verdicts) {
  const double floor = static_cast<double>(s.runs) / (2 * s.rate);
  const double cycle = static_cast<double>(s.runs) / s.rate;
  out << "\n### " << grouped(static_cast<double>(s.runs)) << " runs finishing over minutes, Extend limit "
      << fixed(s.rate, 0) << " GET/s\n\n";
  if (s.time_scale != 1) out << "Finish times scaled by " << fixed(s.time_scale, 2) << " (quick mode).\n\n";
  if (s.faults)
    out << "Faults injected: one for every 20th run (500, 503, cut, slow, truncated, malformed in turn).\n\n";
  out << "Floor of the mean latency N/(2R) = " << fixed(floor, 1) << " s (N/R = " << fixed(cycle, 0)
      << " s; the 1.5x target applies when N/R > 30 s).\n\n"
      << "| contender | delivered | lost | requests / finished run | 429s | latency mean | p50 | p99 | mean / floor "
         "| peak RSS | CPU s | last delivery |\n"
      << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : s.results) {
    const double per_run = r.delivered ? static_cast<double>(r.requests) / static_cast<double>(r.delivered) : 0;
    out << "| " << r.contender << " | " << grouped(static_cast<double>(r.delivered)) << " | "
        << grouped(static_cast<double>(r.lost)) << " | " << fixed(per_run, 2) << " | "
        << grouped(static_cast<double>(r.responses_429)) << " | " << fixed(r.latency.mean, 1) << " s | "
        << fixed(r.latency.p50, 1) << " s | " << fixed(r.latency.p99, 1) << " s | " << fixed(r.latency.mean / floor, 2)
        << " | " << (r.usage ? mib(r.usage->peak_rss) : "?") << " | "
        << (r.usage ? fixed(r.usage->cpu_seconds, 1) : "?") << " | " << fixed(r.seconds, 0) << " s |\n";
  }
  for (const auto& r : s.results) {
    for (const auto& [why, n] : r.lost_because) out << "\n- " << r.contender << ": " << n << " lost: " << why;
    if (!r.note.empty()) out << "\n- " << r.contender << ": " << r.note;
  }
  if (s.peer_skipped) out << "\n- " << *s.peer_skipped;
  out << "\n";

  for (const auto& r : s.results) {
    if (!r.contender.starts_with("hookless") || harness_failed(r.note)) continue;
    const auto n = grouped(static_cast<double>(s.runs));
    verdicts.push_back({r.contender + ", N = " + n + ": 0 runs lost", grouped(static_cast<double>(r.lost)),
                        r.lost == 0 ? "met" : "**missed** by " + grouped(static_cast<double>(r.lost)) + " runs"});
    verdicts.push_back(
        {r.contender + ", N = " + n + ": 0 429s caused", grouped(static_cast<double>(r.responses_429)),
         r.responses_429 == 0 ? "met" : "**missed** by " + grouped(static_cast<double>(r.responses_429))});
    if (cycle > 30) {
      verdicts.push_back(
          {r.contender + ", N = " + n + ": mean latency <= 1.5 x N/(2R) = " + fixed(1.5 * floor, 0) + " s",
           fixed(r.latency.mean, 1) + " s (" + fixed(r.latency.mean / floor, 2) + " x floor)",
           miss(r.latency.mean, 1.5 * floor, false)});
    }
  }
}

void pool_row(std::ostringstream& out, const pool_result& p, std::vector<verdict>& verdicts) {
  const auto pending = grouped(static_cast<double>(p.pending));
  if (harness_failed(p.note)) {
    out << "| " << p.contender << " | " << p.note << " |\n";
    return;
  }
  out << "| " << p.contender << " | " << grouped(p.batched_per_second) << " runs/s | " << grouped(p.single_per_second)
      << " runs/s | " << mib(p.baseline_rss) << " | " << mib(p.rss_at_rest) << " | " << mib(p.peak_rss_registering)
      << " | " << fixed(p.ready_seconds, 2) << " s | " << grouped(p.polls_per_second) << " | " << p.responses_429
      << " | " << p.connections_opened << " / " << p.connections_open << " | " << fixed(p.daemon_cpu_seconds, 1)
      << " s | " << fixed(p.fake_cpu_seconds, 1) << " s | " << (p.polling_usage ? mib(p.polling_usage->peak_rss) : "?")
      << " |\n";
  const std::uint64_t peak = p.polling_usage ? p.polling_usage->peak_rss : 0;
  const auto who = p.contender + ", ";
  if (!p.lists_on) {
    verdicts.push_back({who + "no limit: >= 10,000 polls/s over kept-alive TLS",
                        grouped(p.polls_per_second) + " polls/s", miss(p.polls_per_second, 10'000, true)});
  }
  verdicts.push_back({who + pending + " pending runs in <= 150 MB RSS (at rest, 10/s)", mib(p.rss_at_rest),
                      miss(static_cast<double>(p.rss_at_rest), 150e6, false)});
  verdicts.push_back({who + pending + " pending runs in <= 150 MB RSS (peak while polling unlimited)", mib(peak),
                      miss(static_cast<double>(peak), 150e6, false)});
  verdicts.push_back({who + "registration >= 20,000 runs/s batched, durable", grouped(p.batched_per_second) + " runs/s",
                      miss(p.batched_per_second, 20'000, true)});
}

void pool_table(std::ostringstream& out, const std::vector<pool_result>& pools, std::vector<verdict>& verdicts) {
  if (pools.empty()) return;
  out << "\n### " << grouped(static_cast<double>(pools.front().pending))
      << " pending runs, no rate limit at the fake\n\n"
      << "| contender | registration, batched | registration, single | RSS before | RSS with all pending (10/s) "
         "| peak RSS registering | ready after restart | requests/s (unlimited) | 429s | TLS connections opened / open "
         "| hooklessd CPU | "
         "fake CPU | peak RSS polling |\n"
      << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& p : pools) pool_row(out, p, verdicts);
  out << "\nEach pending run is due at most once per fast_interval (1 s), so requests/s cannot exceed the "
         "pending count. With the lists on, unchanged runs need no GET: that row is no polling rate.\n";
}

void memory_table(std::ostringstream& out, const std::vector<memory_result>& results, std::vector<verdict>& verdicts) {
  if (results.empty()) return;
  out << "\n### Memory after the work is done\n\n"
      << "| scenario | contender | RSS before | right after | 11 s later (past the heap trim) | growth |\n"
      << "|---|---|---:|---:|---:|---:|\n";
  for (const auto& r : results) {
    if (harness_failed(r.note)) {
      out << "| " << r.scenario << " | " << r.contender << " | " << r.note << " |\n";
      continue;
    }
    out << "| " << r.scenario << " | " << r.contender << " | " << mib(r.rss_before) << " | " << mib(r.rss_after)
        << " | " << mib(r.rss_at_rest) << " | " << mib(r.growth()) << " |\n";
    verdicts.push_back({r.contender + ", " + r.scenario + ": RSS grows by <= " + fixed(r.limit_mib, 0) + " MiB",
                        mib(r.growth()), miss(static_cast<double>(r.growth()) / (1 << 20), r.limit_mib, false)});
  }
  out << "\nGrowth: the larger of the two readings after, less the one before.\n";
}

}  // namespace

std::string load_average() { return first_line_of("cut -d' ' -f1-3 /proc/loadavg"); }

machine_facts describe_machine() {
  machine_facts m;
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  std::array<char, 32> date{};
  std::strftime(date.data(), date.size(), "%Y-%m-%d %H:%M UTC", &parts);
  m.date = date.data();
  m.cpu_model = proc_value("/proc/cpuinfo", "model name");
  m.cpus = std::thread::hardware_concurrency();
  const auto mem_kib = proc_value("/proc/meminfo", "MemTotal");
  m.ram_gib = mem_kib.empty() ? 0 : std::stod(mem_kib) / (1 << 20);
  m.load_start = load_average();
  m.commit = first_line_of("git -C '" HOOKLESS_SOURCE_DIR "' describe --always --dirty 2>/dev/null");
  return m;
}

std::string render_markdown(const bench_results& results) {
  std::ostringstream out;
  const auto& m = results.machine;
  out << "## hookless benchmark, " << m.date << " (" << results.mode << ")\n\n"
      << "Machine: " << m.cpus << " CPUs (" << m.cpu_model << "), " << fixed(m.ram_gib, 1) << " GiB RAM; load average "
      << m.load_start << " at the start, " << results.load_end << " at the end; commit " << m.commit << ".\n";
  std::vector<verdict> verdicts;
  for (const auto& scenario : results.waits) wait_table(out, scenario, verdicts);
  pool_table(out, results.pools, verdicts);
  memory_table(out, results.memory, verdicts);
  out << "\n### Targets (issues 6 and 12)\n\n| target | measured | outcome |\n|---|---|---|\n";
  for (const auto& v : verdicts) out << "| " << v.target << " | " << v.measured << " | " << v.outcome << " |\n";
  for (const auto& note : results.notes) out << "\n- " << note;
  if (!results.notes.empty()) out << "\n";
  return out.str();
}

}  // namespace hookless::bench
