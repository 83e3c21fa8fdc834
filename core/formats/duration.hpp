// Durations as users write them: "250ms", "30s", "5m", "24h", "7d", and compounds such as "1m30s",
// "1h30m" or "1.5h".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace hookless {

// Parses one or more terms, each a number (whole, or with a decimal fraction: "1.5h") followed by
// one unit of d, h, m, s, ms, the units in that order and each at most once ("1h30m", "2m0.5s").
// The whole must be a positive number of whole milliseconds ("1.5ms" is refused). Nothing else
// is accepted: no sign, no space, no exponent.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest exact single-unit spelling of a duration ("90s", "7d", "250ms").
std::string format_duration(std::chrono::milliseconds value);

}  // namespace hookless
