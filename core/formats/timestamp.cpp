// RFC 3339 timestamps: written one way, read in the forms Extend sends.
#include "core/formats/timestamp.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace hookless {

std::string format_time(std::chrono::system_clock::time_point at) {
  using namespace std::chrono;
  const auto millis = floor<milliseconds>(at);
  const auto day = floor<days>(millis);
  const year_month_day date{day};
  const hh_mm_ss time{millis - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()), time.hours().count(),
                     time.minutes().count(), time.seconds().count(), time.subseconds().count());
}

std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view text) {
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  const auto number = [&](std::size_t at, std::size_t length, int& out) {
    out = 0;
    for (std::size_t i = at; i < at + length; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!number(0, 4, year) || !number(5, 2, month) || !number(8, 2, day) || !number(11, 2, hour) ||
      !number(14, 2, minute) || !number(17, 2, second) || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  // A nanosecond time_point holds 1677-09-21 to 2262-04-11; a year outside overflowed it (found by
  // fuzz_extend_answer: an updatedAt in 4052). Such a date is no real run's, so it is no time.
  if (year < 1678 || year > 2261) return std::nullopt;
  using namespace std::chrono;
  std::size_t at = 19;
  milliseconds fraction{0};
  if (text[at] == '.') {
    const std::size_t digits_from = ++at;
    for (int scale = 100; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, scale /= 10) {
      fraction += milliseconds{(text[at] - '0') * scale};
    }
    if (at == digits_from) return std::nullopt;
  }
  minutes offset{0};
  const auto zone = text.substr(std::min(at, text.size()));
  if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int offset_hours = 0, offset_minutes = 0;
    if (!number(at + 1, 2, offset_hours) || !number(at + 4, 2, offset_minutes) || offset_hours > 23 ||
        offset_minutes > 59) {
      return std::nullopt;
    }
    offset = hours{offset_hours} + minutes{offset_minutes};
    if (zone[0] == '-') offset = -offset;
  } else if (zone != "Z") {
    return std::nullopt;
  }
  const year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                            std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return std::nullopt;
  return system_clock::time_point{sys_days{date}} + hours{hour} + minutes{minute} + seconds{second} + fraction - offset;
}

}  // namespace hookless
