// Durations as users write them: "250ms", "30s", "5m", "24h", "7d", "1m30s", "1.5h".
#include "core/formats/duration.hpp"

#include <array>
#include <cstdint>
#include <limits>
#include <utility>

namespace hookless {
namespace {

struct duration_unit {
  std::string_view suffix;
  std::int64_t millis;
};

// Largest first: the order terms must come in. "ms" is tried before "m" where both could match.
constexpr std::array<duration_unit, 5> duration_units{
    {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};

constexpr std::int64_t duration_limit = std::numeric_limits<std::int64_t>::max();

bool is_digit_char(char c) { return c >= '0' && c <= '9'; }

// One term's number, as whole and fraction digits; advances `at`. False when there is none.
bool read_duration_number(std::string_view text, std::size_t& at, std::string_view& whole, std::string_view& fraction) {
  const auto start = at;
  while (at < text.size() && is_digit_char(text[at])) ++at;
  whole = text.substr(start, at - start);
  fraction = {};
  if (at < text.size() && text[at] == '.') {
    const auto fraction_start = ++at;
    while (at < text.size() && is_digit_char(text[at])) ++at;
    fraction = text.substr(fraction_start, at - fraction_start);
    if (fraction.empty()) return false;  // "1.h"
  }
  return !whole.empty();  // ".5h" is refused: write 0.5h
}

// whole.fraction × millis, exactly; nullopt on overflow or when not a whole number of ms.
std::optional<std::int64_t> duration_term_millis(std::string_view whole, std::string_view fraction,
                                                 std::int64_t millis) {
  std::int64_t count = 0;
  for (const char c : whole) {
    if (count > (duration_limit - (c - '0')) / 10) return std::nullopt;
    count = count * 10 + (c - '0');
  }
  if (count > duration_limit / millis) return std::nullopt;
  std::int64_t total = count * millis;
  // The fraction: its digits over 10^n, times millis, must come out whole. At most 8 digits count
  // (a unit has at most 86,400,000 ms); longer ones must end in zeros.
  std::int64_t numerator = 0;
  std::int64_t denominator = 1;
  for (std::size_t i = 0; i < fraction.size(); ++i) {
    if (i >= 8) {
      if (fraction[i] != '0') return std::nullopt;
      continue;
    }
    numerator = numerator * 10 + (fraction[i] - '0');
    denominator *= 10;
  }
  if ((numerator * millis) % denominator != 0) return std::nullopt;
  const auto part = numerator * millis / denominator;
  if (total > duration_limit - part) return std::nullopt;
  return total + part;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::size_t at = 0;
  std::size_t next_unit = 0;  // units before this one are used up
  std::int64_t total = 0;
  if (text.empty()) return std::nullopt;
  while (at < text.size()) {
    std::string_view whole;
    std::string_view fraction;
    if (!read_duration_number(text, at, whole, fraction)) return std::nullopt;
    const auto rest = text.substr(at);
    std::optional<std::size_t> found;
    for (auto index = next_unit; index < duration_units.size(); ++index) {
      const auto suffix = duration_units[index].suffix;
      if (!rest.starts_with(suffix)) continue;
      // "m" followed by "s" is the unit "ms".
      if (suffix == "m" && rest.starts_with("ms")) continue;
      found = index;
      break;
    }
    if (!found) return std::nullopt;
    const auto part = duration_term_millis(whole, fraction, duration_units[*found].millis);
    if (!part || total > duration_limit - *part) return std::nullopt;
    total += *part;
    at += duration_units[*found].suffix.size();
    next_unit = *found + 1;
  }
  if (total <= 0) return std::nullopt;
  return std::chrono::milliseconds{total};
}

std::string format_duration(std::chrono::milliseconds value) {
  const auto millis = value.count();
  for (const auto& u : duration_units) {
    if (u.millis == 1) break;
    if (millis != 0 && millis % u.millis == 0) return std::to_string(millis / u.millis) + std::string{u.suffix};
  }
  return std::to_string(millis) + "ms";
}

}  // namespace hookless
