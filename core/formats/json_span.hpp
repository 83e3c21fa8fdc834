// Finds the exact text of a top-level member's value in a JSON object, so a payload can be passed
// on byte for byte (re-serializing would change how numbers are written).
#pragma once

#include <optional>
#include <string_view>

namespace hookless {

// `json` must be valid JSON (check it first); returns nullopt when it is not an object or has no
// member `key` at the top level.
std::optional<std::string_view> find_member_text(std::string_view json, std::string_view key);

// `json` without leading and trailing white space.
std::string_view trim_json(std::string_view json);

}  // namespace hookless
