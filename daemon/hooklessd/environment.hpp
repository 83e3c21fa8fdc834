// A process environment variable, in the shape the proxy choice and the key lookup take.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

namespace hookless {

inline std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string{value};
}

}  // namespace hookless
