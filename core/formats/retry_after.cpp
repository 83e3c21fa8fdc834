// Retry-After, the HTTP header both Extend and callback receivers use to ask for a pause.
#include "core/formats/retry_after.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>

namespace hookless {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds longest_retry_after{3'600'000};

}  // namespace

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  long long seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc{} && end == value.data() + value.size()) {
    if (seconds < 0) return std::nullopt;
    return std::min<milliseconds>(std::chrono::seconds{std::min(seconds, 86'400LL)}, longest_retry_after);
  }
  std::tm parts{};
  const std::string text{value};
  const char* parsed_end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &parts);
  if (parsed_end == nullptr || *parsed_end != '\0') return std::nullopt;
  // Compared in seconds first: a far date (year 9999) as a system_clock time (nanoseconds)
  // overflows 64 bits, undefined behaviour (tests/fuzz/corpus/extend_answer/rate_limited_far_date).
  const auto at_seconds = static_cast<long long>(timegm(&parts));
  const auto now_seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (at_seconds - now_seconds > std::chrono::duration_cast<std::chrono::seconds>(longest_retry_after).count()) {
    return longest_retry_after;
  }
  if (at_seconds < now_seconds - 1) return milliseconds{0};
  const auto at = std::chrono::system_clock::from_time_t(static_cast<std::time_t>(at_seconds));
  const auto delay = std::chrono::duration_cast<milliseconds>(at - now);
  return std::clamp(delay, milliseconds{0}, longest_retry_after);
}

}  // namespace hookless
