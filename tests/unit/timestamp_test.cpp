// RFC 3339 timestamps: hookless's own form and the forms Extend sends.
#include "core/formats/timestamp.hpp"

#include <gtest/gtest.h>

namespace hookless {
namespace {

TEST(timestamp, reads_back_as_written_and_as_extend_writes_them) {
  using namespace std::chrono;
  const system_clock::time_point at = sys_days{year{2027} / 1 / 15} + 8h + 1234ms;
  EXPECT_EQ(parse_time(format_time(at)), at);
  EXPECT_EQ(parse_time("2027-01-15T08:00:01Z"), at - 234ms);
  EXPECT_EQ(parse_time("2027-01-15T08:00:01.2345678Z"), at);
  EXPECT_EQ(parse_time("2027-01-15T09:30:01.234+01:30"), at);
  EXPECT_EQ(parse_time("2027-01-15T07:00:01.234-01:00"), at);
  for (const char* bad : {"", "2027-01-15", "2027-01-15T08:00:01", "2027-01-15T08:00:01.Z", "2027-02-30T08:00:01Z",
                          "2027-01-15T25:00:01Z", "2027-01-15T08:00:01+0100", "2027-01-15T08:00:01Zjunk",
                          "2027-01-15 08:00:01Z", "4052-01-01T00:00:05.250Z", "1677-01-01T00:00:00Z"}) {
    EXPECT_FALSE(parse_time(bad)) << bad;
  }
}

}  // namespace
}  // namespace hookless
