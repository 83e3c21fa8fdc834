// The Prometheus text checker: a hand-written line parser, independent of the daemon's writer.
#include "tests/service/prometheus_check.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <set>

namespace hookless::metrics_check {

namespace {

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool is_name_char(char c) { return is_name_start(c) || std::isdigit(static_cast<unsigned char>(c)); }

bool valid_name(std::string_view name) {
  if (name.empty() || !is_name_start(name[0])) return false;
  for (const char c : name) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

std::optional<double> parse_value(std::string_view text) {
  if (text == "+Inf" || text == "Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  if (text == "NaN") return std::nan("");
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The family a sample belongs to: histograms write name_bucket, name_sum, name_count.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  if (types.contains(name)) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string_view s{suffix};
    if (name.size() > s.size() && name.ends_with(s)) {
      const auto base = name.substr(0, name.size() - s.size());
      const auto found = types.find(base);
      if (found != types.end() && (found->second == "histogram" || found->second == "summary")) return base;
    }
  }
  return name;
}

}  // namespace

std::optional<double> prometheus_text::value(std::string_view name,
                                             const std::map<std::string, std::string>& labels) const {
  for (const auto& s : samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return std::nullopt;
}

std::vector<prometheus_sample> prometheus_text::all(std::string_view name) const {
  std::vector<prometheus_sample> found;
  for (const auto& s : samples) {
    if (s.name == name) found.push_back(s);
  }
  return found;
}

prometheus_text parse_prometheus(std::string_view text) {
  prometheus_text out;
  std::set<std::string> families_with_samples;
  std::size_t line_number = 0;
  if (!text.empty() && text.back() != '\n') out.problems.push_back("the text does not end with a newline");
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const auto line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++line_number;
    const auto problem = [&](const std::string& what) {
      out.problems.push_back("line " + std::to_string(line_number) + ": " + what + ": " + std::string{line});
    };
    if (line.empty()) continue;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const auto rest = line.substr(7);
      const auto space = rest.find(' ');
      const std::string name{rest.substr(0, space)};
      const std::string body{space == std::string_view::npos ? "" : rest.substr(space + 1)};
      if (!valid_name(name)) problem("bad metric name");
      if (line[2] == 'T') {
        static const std::set<std::string> kinds{"counter", "gauge", "histogram", "summary", "untyped"};
        if (!kinds.contains(body)) problem("unknown type");
        if (out.types.contains(name)) problem("second TYPE for a family");
        if (families_with_samples.contains(name)) problem("TYPE after the family's samples");
        out.types[name] = body;
      } else {
        out.help[name] = body;
      }
      continue;
    }
    if (line.starts_with("#")) continue;

    prometheus_sample sample;
    std::size_t i = 0;
    while (i < line.size() && is_name_char(line[i])) ++i;
    sample.name = std::string{line.substr(0, i)};
    if (!valid_name(sample.name)) {
      problem("bad metric name");
      continue;
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      bool ok = true;
      while (ok && i < line.size() && line[i] != '}') {
        std::size_t key_end = i;
        while (key_end < line.size() && is_name_char(line[key_end])) ++key_end;
        const std::string key{line.substr(i, key_end - i)};
        if (!valid_name(key) || key_end + 1 >= line.size() || line[key_end] != '=' || line[key_end + 1] != '"') {
          ok = false;
          break;
        }
        std::string value;
        std::size_t j = key_end + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\') {
            if (j + 1 >= line.size()) break;
            const char e = line[++j];
            if (e == 'n')
              value += '\n';
            else if (e == '\\' || e == '"')
              value += e;
            else
              ok = false;
          } else {
            value += line[j];
          }
        }
        if (j >= line.size()) {
          ok = false;
          break;
        }
        if (sample.labels.contains(key)) ok = false;
        sample.labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (!ok || i >= line.size() || line[i] != '}') {
        problem("bad labels");
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      problem("no space before the value");
      continue;
    }
    auto rest = line.substr(i + 1);
    const auto timestamp = rest.find(' ');
    const auto value = parse_value(rest.substr(0, timestamp));
    if (!value) {
      problem("the value is not a number");
      continue;
    }
    sample.value = *value;
    const auto family = family_of(sample.name, out.types);
    if (!out.types.contains(family)) problem("a sample without a TYPE for its family");
    families_with_samples.insert(family);
    out.samples.push_back(std::move(sample));
  }

  // Histograms: cumulative buckets per label set, ending in +Inf == _count.
  for (const auto& [family, type] : out.types) {
    if (type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> series;
    for (const auto& s : out.samples) {
      if (s.name != family + "_bucket") continue;
      auto labels = s.labels;
      const auto le = labels.find("le");
      if (le == labels.end()) {
        out.problems.push_back(family + ": a bucket without le");
        continue;
      }
      const auto bound = parse_value(le->second);
      labels.erase(le);
      if (!bound)
        out.problems.push_back(family + ": le is not a number");
      else
        series[labels].emplace_back(*bound, s.value);
    }
    for (const auto& [labels, buckets] : series) {
      for (std::size_t k = 1; k < buckets.size(); ++k) {
        if (buckets[k].first <= buckets[k - 1].first) out.problems.push_back(family + ": le not ascending");
        if (buckets[k].second < buckets[k - 1].second) out.problems.push_back(family + ": buckets not cumulative");
      }
      if (buckets.empty() || !std::isinf(buckets.back().first)) {
        out.problems.push_back(family + ": no +Inf bucket");
        continue;
      }
      const auto count = out.value(family + "_count", labels);
      if (!out.value(family + "_sum", labels)) out.problems.push_back(family + ": no _sum");
      if (!count || *count != buckets.back().second)
        out.problems.push_back(family + ": +Inf bucket differs from _count");
    }
  }
  return out;
}

}  // namespace hookless::metrics_check
