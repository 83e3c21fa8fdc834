// Timestamps as hookless writes them and Extend sends them (RFC 3339).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace hookless {

// RFC 3339 UTC with milliseconds: "2026-11-28T15:04:05.123Z".
std::string format_time(std::chrono::system_clock::time_point at);

// RFC 3339 as format_time writes it and as Extend's createdAt / updatedAt are: fractions of any
// length (kept to the millisecond) or none, "Z" or an offset "+hh:mm" / "-hh:mm", in the years
// 1678 to 2261 (what a system_clock time_point holds). Nullopt otherwise.
std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view text);

}  // namespace hookless
