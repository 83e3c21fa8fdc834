// A strict-enough reader of the Prometheus text exposition format (0.0.4) for tests: it parses
// every line of a /metrics answer and reports what a scraper would reject: a sample before its
// family's TYPE, a bad metric or label name, an unescaped label value, a value that is not a
// number, a histogram whose buckets are not cumulative or whose +Inf bucket differs from _count.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookless::metrics_check {

struct prometheus_sample {
  std::string name;                           // with _bucket/_sum/_count suffixes as written
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

struct prometheus_text {
  std::map<std::string, std::string> types;  // family -> counter|gauge|histogram|summary|untyped
  std::map<std::string, std::string> help;
  std::vector<prometheus_sample> samples;
  std::vector<std::string> problems;  // "line N: ..." for everything a scraper would refuse

  // The value of the sample with exactly these labels, if there is one.
  std::optional<double> value(std::string_view name, const std::map<std::string, std::string>& labels = {}) const;
  // Every sample of this name.
  std::vector<prometheus_sample> all(std::string_view name) const;
};

prometheus_text parse_prometheus(std::string_view text);

}  // namespace hookless::metrics_check
