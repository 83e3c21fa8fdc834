// Text without the spaces, tabs and line ends around it, as read from files and the environment.
#pragma once

#include <string_view>

namespace hookless {

inline std::string_view trim(std::string_view text) {
  constexpr std::string_view space = " \t\r\n\v\f";
  const auto first = text.find_first_not_of(space);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(space) - first + 1);
}

}  // namespace hookless
