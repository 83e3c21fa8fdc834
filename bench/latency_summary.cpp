// Nearest-rank percentiles and the mean (see latency_summary.hpp).
#include "bench/latency_summary.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace hookless::bench {

latency_summary summarize(std::vector<double> seconds) {
  latency_summary s;
  s.count = seconds.size();
  if (seconds.empty()) return s;
  std::ranges::sort(seconds);
  const auto rank = [&](double p) {
    const auto index = static_cast<std::size_t>(std::ceil(p * static_cast<double>(seconds.size()))) - 1;
    return seconds[std::min(index, seconds.size() - 1)];
  };
  s.mean = std::accumulate(seconds.begin(), seconds.end(), 0.0) / static_cast<double>(seconds.size());
  s.p50 = rank(0.50);
  s.p99 = rank(0.99);
  s.max = seconds.back();
  return s;
}

}  // namespace hookless::bench
