// What opening a state store found, for the daemon to log (both backends fill it).
#pragma once

#include <string>
#include <vector>

namespace hookless {

struct open_report {
  bool created = false;               // no state was there (a new file, an empty database): started empty
  std::vector<std::string> messages;  // human-readable lines worth logging at warn level
};

}  // namespace hookless
