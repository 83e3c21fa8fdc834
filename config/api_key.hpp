// Finds the Extend API key: the configured file, a systemd credential, or the environment.
// The key's value never appears in any message this produces.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/model/settings.hpp"

namespace hookless {

struct api_key_result {
  std::optional<std::string> key;  // the key, surrounding whitespace trimmed; nullopt when none was found or on error
  std::string source;              // where the key came from, for logs (a path or "$EXTEND_API_KEY"); never the key
  std::string error;               // set when a key source exists but is unusable; names the file, never the key
};

// Looks, in order, at extend.api_key_file (when set it is the only place looked at: a file that cannot
// be read is an error), then $CREDENTIALS_DIRECTORY/extend-api-key (skipped when absent), then
// $EXTEND_API_KEY (skipped when empty). No key anywhere: key nullopt and error empty.
// `getenv` stands in for std::getenv so that tests never touch the real environment.
api_key_result resolve_api_key(const extend_config& extend,
                               const std::function<std::optional<std::string>(const char*)>& getenv);

}  // namespace hookless
