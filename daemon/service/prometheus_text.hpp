// Writing the Prometheus text exposition format (version 0.0.4) for GET /metrics: metric families
// with HELP and TYPE, label values escaped, histograms with cumulative buckets, _sum and _count.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hookless {

using metric_labels = std::vector<std::pair<std::string, std::string>>;

// Latencies in seconds over fixed buckets (upper bounds, ascending; +Inf is implied).
class latency_histogram {
 public:
  explicit latency_histogram(std::vector<double> upper_bounds);
  void observe(double seconds);

  const std::vector<double>& upper_bounds() const { return bounds_; }
  const std::vector<std::uint64_t>& bucket_counts() const {
    return counts_;
  }  // per bucket, not cumulative; last is +Inf
  double sum() const { return sum_; }
  std::uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class prometheus_writer {
 public:
  // Starts a family: `type` is counter, gauge or histogram. Each family once, before its samples.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const metric_labels& labels, double value);
  void sample(std::string_view name, double value) { sample(name, {}, value); }
  // A whole histogram family without labels: HELP, TYPE and the _bucket/_sum/_count samples.
  void histogram(std::string_view name, std::string_view help, const latency_histogram& h);
  // One labelled series of a histogram family begun with family(name, "histogram", help).
  void histogram_series(std::string_view name, const metric_labels& labels, const latency_histogram& h);

  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

}  // namespace hookless
