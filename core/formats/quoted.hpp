// A value as an error message shows it.
#pragma once

#include <string>
#include <string_view>

namespace hookless {

// Quoted, with '"' and '\' escaped, control characters as \xNN and anything past 80 bytes cut to
// "...", so a stray binary blob cannot flood a terminal or a log.
std::string quoted(std::string_view text);

}  // namespace hookless
