// The Retry-After HTTP header value, as a delay.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace hookless {

// Retry-After as a delay from `now`: "120" or "Wed, 21 Oct 2026 07:28:00 GMT"; nullopt when
// unparsable; a date in the past is zero; capped at one hour.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

}  // namespace hookless
