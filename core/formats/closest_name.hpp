// "Did you mean": the known name closest to a misspelt one, for the messages that refuse a name.
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace hookless {

// The edits (insert, delete, replace a character, or swap two neighbours) that turn `a` into `b`,
// ignoring the case of ASCII letters.
std::size_t name_distance(std::string_view a, std::string_view b);

// The name of `known` closest to `written`, when it is close enough to be what was meant: 1 edit
// for names up to 4 characters, 2 up to 9, 3 beyond. The first of equally close names wins;
// nullopt when none is close, or when `written` is itself one of them.
std::optional<std::string_view> closest_name(std::string_view written, std::span<const std::string_view> known);

}  // namespace hookless
