// "Did you mean": the known name closest to a misspelt one.
#include "core/formats/closest_name.hpp"

#include <gtest/gtest.h>

#include <array>

namespace hookless {
namespace {

using namespace std::string_view_literals;

constexpr std::array extend_keys = {"base_url"sv, "api_version"sv, "api_key_file"sv,        "workspace_id"sv,
                                    "ca_file"sv,  "proxy"sv,       "requests_per_second"sv, "max_connections"sv,
                                    "timeout"sv};

TEST(closest_name, counts_edits) {
  EXPECT_EQ(name_distance("", ""), 0u);
  EXPECT_EQ(name_distance("abc", ""), 3u);
  EXPECT_EQ(name_distance("", "abc"), 3u);
  EXPECT_EQ(name_distance("timeout", "timout"), 1u);    // a letter missing
  EXPECT_EQ(name_distance("timeout", "timeoutt"), 1u);  // one too many
  EXPECT_EQ(name_distance("timeout", "timeuot"), 1u);   // two neighbours swapped
  EXPECT_EQ(name_distance("timeout", "tineout"), 1u);   // one replaced
  EXPECT_EQ(name_distance("Timeout", "timeout"), 0u);   // case does not count
  EXPECT_EQ(name_distance("kitten", "sitting"), 3u);
}

TEST(closest_name, suggests_the_key_meant) {
  EXPECT_EQ(closest_name("request_per_second", extend_keys), "requests_per_second");
  EXPECT_EQ(closest_name("timout", extend_keys), "timeout");
  EXPECT_EQ(closest_name("Timeout", extend_keys), "timeout");
  EXPECT_EQ(closest_name("base-url", extend_keys), "base_url");
  EXPECT_EQ(closest_name("prxoy", extend_keys), "proxy");
  EXPECT_EQ(closest_name("max_conections", extend_keys), "max_connections");
}

TEST(closest_name, suggests_nothing_when_nothing_is_close) {
  EXPECT_EQ(closest_name("colour", extend_keys), std::nullopt);
  EXPECT_EQ(closest_name("url", extend_keys), std::nullopt);
  EXPECT_EQ(closest_name("", extend_keys), std::nullopt);
  EXPECT_EQ(closest_name("timeout", extend_keys), std::nullopt);  // a known name is not a typo
  EXPECT_EQ(closest_name("abc", std::span<const std::string_view>{}), std::nullopt);
}

TEST(closest_name, short_names_allow_one_edit) {
  constexpr std::array levels = {"trace"sv, "debug"sv, "info"sv, "warn"sv, "error"sv};
  EXPECT_EQ(closest_name("inf", levels), "info");
  EXPECT_EQ(closest_name("eror", levels), "error");
  EXPECT_EQ(closest_name("warning", levels), std::nullopt);  // 3 edits from "warn"; a 7-letter word allows 2
}

}  // namespace
}  // namespace hookless
