// Durations as users write them: "250ms", "30s", "5m", "24h", "7d".
#include "core/formats/duration.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <limits>
#include <utility>

namespace hookless {
namespace {

struct unit {
  std::string_view suffix;
  std::int64_t millis;
};

// Longest suffix first so that "ms" is not read as "m".
constexpr std::array<unit, 5> units{{{"ms", 1}, {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}}};

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  for (const auto& u : units) {
    if (text.size() <= u.suffix.size() || !text.ends_with(u.suffix)) continue;
    const auto digits = text.substr(0, text.size() - u.suffix.size());
    std::int64_t count = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
    if (ec != std::errc{} || end != digits.data() + digits.size() || count <= 0) return std::nullopt;
    if (count > std::numeric_limits<std::int64_t>::max() / u.millis) return std::nullopt;
    return std::chrono::milliseconds{count * u.millis};
  }
  return std::nullopt;
}

std::string format_duration(std::chrono::milliseconds value) {
  const auto millis = value.count();
  for (const auto& u : {units[1], units[2], units[3], units[4]}) {
    if (millis != 0 && millis % u.millis == 0) return std::to_string(millis / u.millis) + std::string{u.suffix};
  }
  return std::to_string(millis) + "ms";
}

}  // namespace hookless
