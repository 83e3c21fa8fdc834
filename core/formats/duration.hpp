// Durations as users write them: "250ms", "30s", "1m30s", "1.5h", "7d". The one parser of durations:
// the config file, the control API (`deadline`, `?wait=`) and hooklessctl (`--timeout`, `--deadline`).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace hookless {

// The longest duration accepted: 100 years. steady_clock counts nanoseconds in 64 bits (about 292
// years), so a longer one could overflow when added to now(), and no real setting comes near it.
inline constexpr std::chrono::milliseconds longest_duration{36'500LL * 24 * 3600 * 1000};

// What a duration may be, as messages say it after "expected ".
inline constexpr std::string_view duration_forms =
    "a duration like 250ms, 30s, 1m30s, 1.5h or 7d (units d, h, m, s, ms)";

// One or more parts, each a number (with an optional fraction) and a unit of d, h, m, s or ms, the
// units from the largest to the smallest, each at most once: "1h30m", "1.5h", "2m0.5s". The total is
// a whole number of milliseconds above 0 and at most longest_duration. Anything else is the
// message of what is wrong, for the caller to put after the key it read ("--timeout: ...").
std::variant<std::chrono::milliseconds, std::string> parse_duration_text(std::string_view text);

// parse_duration_text without the message.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest exact spelling of a duration in one unit ("90s", "7d", "250ms").
std::string format_duration(std::chrono::milliseconds value);

}  // namespace hookless
