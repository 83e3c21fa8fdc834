// The generic half of reading a YAML config: typed values at key paths, with every problem
// collected (key path, line, what was expected and what was found).
#include "config/yaml_reader.hpp"

#include "core/formats/closest_name.hpp"
#include "core/formats/duration.hpp"
#include "core/formats/quoted.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace hookless {

using std::chrono::milliseconds;

bool contains(name_list names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string join(name_list names) {
  std::string out;
  for (const auto name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return quoted(node.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

int line_of(const YAML::Node& node) {
  const auto mark = node.Mark();
  return mark.line < 0 ? 0 : mark.line + 1;
}

std::string child_path(std::string_view parent, std::string_view name) {
  return parent.empty() ? std::string{name} : std::string{parent} + "." + std::string{name};
}

void yaml_reader::add(std::string key, int line, std::string message) {
  problems.push_back({std::move(key), line, std::move(message)});
}

std::string did_you_mean(std::string_view written, name_list known) {
  const auto near = closest_name(written, known);
  return near ? "did you mean `" + std::string{*near} + "`? " : std::string{};
}

void yaml_reader::report_unknown(const yaml_entry& e, std::string_view allowed_what, name_list allowed) {
  const auto dot = e.path.rfind('.');
  const auto written = dot == std::string::npos ? std::string_view{e.path} : std::string_view{e.path}.substr(dot + 1);
  add(e.path, e.line,
      "unknown key; " + did_you_mean(written, allowed) + std::string{allowed_what} + ": " + join(allowed));
}

bool yaml_reader::expect_scalar(const yaml_entry& e, std::string_view expected) {
  if (e.value.IsScalar()) return true;
  add(e.path, e.line, "expected " + std::string{expected} + "; got " + describe(e.value));
  return false;
}

std::optional<std::string> yaml_reader::read_string(const yaml_entry& e) {
  if (!expect_scalar(e, "a string")) return std::nullopt;
  if (e.value.Scalar().empty()) {
    add(e.path, e.line, "must not be empty");
    return std::nullopt;
  }
  return e.value.Scalar();
}

std::optional<std::string> yaml_reader::read_choice(const yaml_entry& e, name_list allowed) {
  const auto expected = "one of " + join(allowed);
  if (!expect_scalar(e, expected)) return std::nullopt;
  if (!contains(allowed, e.value.Scalar())) {
    add(e.path, e.line,
        did_you_mean(e.value.Scalar(), allowed) + "expected " + expected + "; got " + quoted(e.value.Scalar()));
    return std::nullopt;
  }
  return e.value.Scalar();
}

std::optional<milliseconds> yaml_reader::read_duration(const yaml_entry& e) {
  if (!expect_scalar(e, duration_forms)) return std::nullopt;
  return take(e, parse_duration_text(e.value.Scalar()));
}

std::optional<double> yaml_reader::read_number(const yaml_entry& e) {
  if (!expect_scalar(e, "a number")) return std::nullopt;
  const auto& text = e.value.Scalar();
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value)) {
    add(e.path, e.line, "expected a number; got " + quoted(text));
    return std::nullopt;
  }
  return value;
}

std::optional<long long> yaml_reader::read_integer(const yaml_entry& e) {
  if (!expect_scalar(e, "a whole number")) return std::nullopt;
  const auto& text = e.value.Scalar();
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
    add(e.path, e.line, "expected a whole number; got " + quoted(text));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> yaml_reader::read_bool(const yaml_entry& e) {
  if (!expect_scalar(e, "true or false")) return std::nullopt;
  const auto& text = e.value.Scalar();
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  add(e.path, e.line, "expected true or false; got " + quoted(text));
  return std::nullopt;
}

std::optional<std::vector<yaml_entry>> yaml_reader::read_list(const yaml_entry& e) {
  if (!e.value.IsSequence()) {
    add(e.path, e.line, "expected a list like [a, b]; got " + describe(e.value));
    return std::nullopt;
  }
  std::vector<yaml_entry> items;
  std::size_t index = 0;
  for (const auto& item : e.value) {
    const int line = line_of(item);
    items.push_back({e.path + "[" + std::to_string(index) + "]", line == 0 ? e.line : line, item});
    ++index;
  }
  return items;
}

std::optional<std::vector<std::string>> yaml_reader::read_string_list(const yaml_entry& e) {
  const auto items = read_list(e);
  if (!items) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (const auto& item : *items) {
    if (auto text = read_string(item)) {
      out.push_back(std::move(*text));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace hookless
