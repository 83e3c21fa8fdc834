// The Prometheus text format, written by hand: it is small, and a client library would bring a
// registry and threads the daemon does not need.
#include "daemon/service/prometheus_text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace hookless {

namespace {

// Label values escape backslash, double quote and newline; HELP text escapes backslash and newline.
std::string escape(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (quote && c == '"')
      out += "\\\"";
    else
      out += c;
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) return fmt::format("{}", static_cast<long long>(value));
  return fmt::format("{}", value);
}

}  // namespace

latency_histogram::latency_histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {
  std::ranges::sort(bounds_);
}

void latency_histogram::observe(double seconds) {
  const auto bucket = std::ranges::lower_bound(bounds_, seconds) - bounds_.begin();
  ++counts_[static_cast<std::size_t>(bucket)];
  sum_ += seconds;
  ++count_;
}

void prometheus_writer::family(std::string_view name, std::string_view type, std::string_view help) {
  text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape(help, false), name, type);
}

void prometheus_writer::sample(std::string_view name, const metric_labels& labels, double value) {
  text_ += name;
  if (!labels.empty()) {
    text_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) text_ += ',';
      text_ += fmt::format("{}=\"{}\"", labels[i].first, escape(labels[i].second, true));
    }
    text_ += '}';
  }
  text_ += ' ';
  text_ += format_value(value);
  text_ += '\n';
}

void prometheus_writer::histogram(std::string_view name, std::string_view help, const latency_histogram& h) {
  family(name, "histogram", help);
  histogram_series(name, {}, h);
}

void prometheus_writer::histogram_series(std::string_view name, const metric_labels& labels,
                                         const latency_histogram& h) {
  const auto bucket_name = fmt::format("{}_bucket", name);
  // The series' labels, then le last (as Prometheus' own clients write it).
  auto bucket_labels = labels;
  bucket_labels.emplace_back("le", "");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= h.upper_bounds().size(); ++i) {
    cumulative += h.bucket_counts()[i];
    bucket_labels.back().second = i < h.upper_bounds().size() ? format_value(h.upper_bounds()[i]) : "+Inf";
    sample(bucket_name, bucket_labels, static_cast<double>(cumulative));
  }
  sample(fmt::format("{}_sum", name), labels, h.sum());
  sample(fmt::format("{}_count", name), labels, static_cast<double>(h.count()));
}

}  // namespace hookless
