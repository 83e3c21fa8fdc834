// Durations as users write them: "250ms", "30s", "5m", "24h", "7d".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace hookless {

// Parses a positive whole number followed by one unit of ms, s, m, h, d. Nothing else is accepted.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest exact spelling of a duration in the same units ("90s", "7d", "250ms").
std::string format_duration(std::chrono::milliseconds value);

}  // namespace hookless
