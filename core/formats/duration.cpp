// Durations as users write them: "250ms", "30s", "1m30s", "1.5h", "7d".
#include "core/formats/duration.hpp"

#include "core/formats/quoted.hpp"

#include <array>
#include <cstdint>

namespace hookless {
namespace {

struct duration_unit {
  std::string_view suffix;
  std::int64_t millis;
};

// From the largest to the smallest: the order the parts of a duration must come in.
constexpr std::array<duration_unit, 5> duration_units{
    {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};

// The fraction's digits beyond which a part cannot be a whole number of milliseconds (10^9 * 1 day
// still fits in 64 bits).
constexpr std::size_t most_fraction_digits = 9;

bool is_duration_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::variant<std::chrono::milliseconds, std::string> parse_duration_text(std::string_view text) {
  const auto malformed = [&] { return "expected " + std::string{duration_forms} + "; got " + quoted(text); };
  const auto too_long = [&] {
    return "must be at most " + format_duration(longest_duration) + "; got " + quoted(text);
  };
  if (text.empty()) return malformed();

  std::int64_t total = 0;
  bool too_large = false;
  std::size_t next_unit = 0;  // units before this one were used already, or are larger than one used
  std::size_t at = 0;
  while (at < text.size()) {
    // The number: digits, then optionally '.' and more digits.
    const std::size_t whole_begin = at;
    while (at < text.size() && is_duration_digit(text[at])) ++at;
    const auto whole = text.substr(whole_begin, at - whole_begin);
    std::string_view fraction;
    if (at < text.size() && text[at] == '.') {
      const std::size_t fraction_begin = ++at;
      while (at < text.size() && is_duration_digit(text[at])) ++at;
      fraction = text.substr(fraction_begin, at - fraction_begin);
      if (fraction.empty()) return malformed();
    }
    if (whole.empty()) return malformed();

    // The unit: the letters after the number.
    const std::size_t unit_begin = at;
    while (at < text.size() && text[at] >= 'a' && text[at] <= 'z') ++at;
    const auto suffix = text.substr(unit_begin, at - unit_begin);
    std::size_t unit_index = 0;
    while (unit_index < duration_units.size() && duration_units[unit_index].suffix != suffix) ++unit_index;
    if (unit_index == duration_units.size()) return malformed();
    if (unit_index < next_unit) {
      return "expected the units from the largest to the smallest, each once (d, h, m, s, ms), as in 1h30m; got " +
             quoted(text);
    }
    next_unit = unit_index + 1;
    const std::int64_t unit = duration_units[unit_index].millis;

    // The whole part, with no overflow: anything past the longest duration is only "too large".
    std::int64_t count = 0;
    for (const char c : whole) {
      count = count * 10 + (c - '0');
      if (count > longest_duration.count()) {
        too_large = true;
        break;
      }
    }
    if (too_large || count > (longest_duration.count() - total) / unit) {
      too_large = true;
      continue;
    }
    total += count * unit;

    // The fraction, which must come to whole milliseconds: "1.5s" is 1500ms, "0.5ms" is refused.
    while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
    if (fraction.empty()) continue;
    if (fraction.size() > most_fraction_digits) {
      return "must be a whole number of milliseconds; got " + quoted(text);
    }
    std::int64_t numerator = 0;
    std::int64_t denominator = 1;
    for (const char c : fraction) {
      numerator = numerator * 10 + (c - '0');
      denominator *= 10;
    }
    if ((numerator * unit) % denominator != 0) {
      return "must be a whole number of milliseconds; got " + quoted(text);
    }
    total += numerator * unit / denominator;
    if (total > longest_duration.count()) too_large = true;
  }
  if (too_large || total > longest_duration.count()) return too_long();
  if (total == 0) return "must be greater than 0; got " + quoted(text);
  return std::chrono::milliseconds{total};
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto parsed = parse_duration_text(text);
  if (const auto* value = std::get_if<std::chrono::milliseconds>(&parsed)) return *value;
  return std::nullopt;
}

std::string format_duration(std::chrono::milliseconds value) {
  const auto millis = value.count();
  for (std::size_t i = 0; i + 1 < duration_units.size(); ++i) {
    const auto& unit = duration_units[i];
    if (millis != 0 && millis % unit.millis == 0)
      return std::to_string(millis / unit.millis) + std::string{unit.suffix};
  }
  return std::to_string(millis) + "ms";
}

}  // namespace hookless
