// The generic half of reading a YAML config file: typed values (strings, choices, durations,
// numbers, booleans, lists) read at a full key path, each problem collected with that path and its
// 1-based line instead of stopping at the first, so every mistake is reported in one run. Knows
// nothing of hookless's keys; config_loader says what they mean.
#pragma once

#include "config/config_problem.hpp"

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hookless {

using name_list = std::span<const std::string_view>;

bool contains(name_list names, std::string_view name);
std::string join(name_list names);  // "a, b, c"

// "did you mean `X`? " when one of `known` is close to `written` (closest_name), else "".
std::string did_you_mean(std::string_view written, name_list known);

// A node as a message shows it: a quoted scalar, "a list", "a map" or "nothing".
std::string describe(const YAML::Node& node);

// The node's 1-based line; 0 when it has none.
int line_of(const YAML::Node& node);

// "parent.name", or "name" at the top.
std::string child_path(std::string_view parent, std::string_view name);

// One `key: value` pair met while walking a map.
struct yaml_entry {
  std::string path;  // full key path, e.g. "sinks.app.url"
  int line = 0;      // 1-based line of the key
  YAML::Node value;
};

class yaml_reader {
 public:
  std::vector<config_problem> problems;
  std::map<std::string, int> key_lines;  // the line of every key met, by full key path

  void add(std::string key, int line, std::string message);

  // A parser's result: the value, or its message as the problem of `e`.
  template <class T>
  std::optional<T> take(const yaml_entry& e, std::variant<T, std::string> parsed) {
    if (auto* wrong = std::get_if<std::string>(&parsed)) {
      add(e.path, e.line, std::move(*wrong));
      return std::nullopt;
    }
    return std::get<T>(std::move(parsed));
  }

  void report_unknown(const yaml_entry& e, std::string_view allowed_what, name_list allowed);

  // Calls on_entry(entry, name) for each pair of the map in `section`. A missing value (the section's
  // contents all commented out) is an empty map; duplicate and non-scalar keys are problems.
  template <class on_entry_fn>
  void for_each_entry(const yaml_entry& section, on_entry_fn&& on_entry) {
    if (section.value.IsNull()) return;
    if (!section.value.IsMap()) {
      add(section.path, section.line, "expected a map of keys; got " + describe(section.value));
      return;
    }
    std::map<std::string, int, std::less<>> seen;
    for (auto it = section.value.begin(); it != section.value.end(); ++it) {
      const YAML::Node key = it->first;
      const int line = line_of(key);
      if (!key.IsScalar()) {
        add(section.path, line, "keys must be plain names; got " + describe(key));
        continue;
      }
      const std::string& name = key.Scalar();
      const auto path = child_path(section.path, name);
      if (const auto [first, inserted] = seen.emplace(name, line); !inserted) {
        add(path, line, "duplicate key (first at line " + std::to_string(first->second) + ")");
        continue;
      }
      key_lines.emplace(path, line);
      on_entry(yaml_entry{path, line, it->second}, std::string_view{name});
    }
  }

  // Each read_* reports what is wrong with the value at `e` and returns nullopt then.
  bool expect_scalar(const yaml_entry& e, std::string_view expected);
  std::optional<std::string> read_string(const yaml_entry& e);  // not empty
  std::optional<std::string> read_choice(const yaml_entry& e, name_list allowed);
  std::optional<std::chrono::milliseconds> read_duration(const yaml_entry& e);  // > 0, at most 100 years
  std::optional<double> read_number(const yaml_entry& e);                       // finite
  std::optional<long long> read_integer(const yaml_entry& e);
  // YAML 1.2's core schema spellings only: "yes"/"on" are YAML 1.1 and surprise people.
  std::optional<bool> read_bool(const yaml_entry& e);
  // The elements of a list, each as an entry named "path[i]" on its own line.
  std::optional<std::vector<yaml_entry>> read_list(const yaml_entry& e);
  std::optional<std::vector<std::string>> read_string_list(const yaml_entry& e);
};

}  // namespace hookless
