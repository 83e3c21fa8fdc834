// Loads hookless.yaml into the typed settings of core/model/settings.hpp and validates it (docs/configuration.md).
// Every problem is collected, each with the full key path and its 1-based line, so that
// `hooklessd --check-config` can print them all at once instead of one per edit-and-retry.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_problem.hpp"
#include "core/model/settings.hpp"

namespace hookless {

// The config when it is valid, else every problem found. `value` is set only when `problems` is empty.
struct config_result {
  std::optional<config> value;
  std::vector<config_problem> problems;
  std::map<std::string, int> key_lines;  // the line of every key met, by full key path (for later checks)
};

// Reads and validates the file at `path`. An unreadable or oversized file gives one problem naming the path.
config_result load_config_file(const std::string& path);

// Validates YAML text; `source_name` is used only in messages about the text as a whole.
// Empty text, or text with only comments, is a valid all-defaults config.
config_result load_config_text(std::string_view yaml, std::string_view source_name);

// What is wrong with `name` as a cluster.node (the rule spelled out), or nullopt.
std::optional<std::string> check_node_name(std::string_view name);

// One line for a human: "hookless.yaml:12: extend.timeout: expected a duration like 30s, 5m, 250ms; got \"abc\"".
// The line is left out when it is 0, the key when it is empty.
std::string format_problem(std::string_view source_name, const config_problem& p);

}  // namespace hookless
