// Mean and percentiles of a set of latencies, for the benchmark's tables.
#pragma once

#include <cstddef>
#include <vector>

namespace hookless::bench {

struct latency_summary {
  std::size_t count = 0;
  double mean = 0;  // seconds
  double p50 = 0;
  double p99 = 0;
  double max = 0;
};

// Nearest-rank percentiles; all zero for no samples.
latency_summary summarize(std::vector<double> seconds);

}  // namespace hookless::bench
