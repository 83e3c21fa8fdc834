// One thing wrong with a config file, as the loader collects them.
#pragma once

#include <string>

namespace hookless {

struct config_problem {
  std::string
      key;  // full key path like "extend.timeout", "sinks.app.url", "control.admin_uids[1]"; empty for the whole file
  int line = 0;         // 1-based line in the file; 0 when there is none (e.g. an unreadable file)
  std::string message;  // what is wrong and what is expected; never contains secrets
};

}  // namespace hookless
