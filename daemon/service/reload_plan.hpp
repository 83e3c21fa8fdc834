// What a SIGHUP reload changes: the new config as it can take effect now (sinks, polling, budget,
// log level and format), with the settings that only a restart can change kept as they run, and
// named so the operator is told.
#pragma once

#include "core/model/settings.hpp"

#include <string>
#include <vector>

namespace hookless {

struct reload_plan {
  config effective;                        // what runs after the reload
  std::vector<std::string> needs_restart;  // keys that changed but take effect only after a restart
  std::vector<std::string> sinks_added;
  std::vector<std::string> sinks_removed;
  std::vector<std::string> sinks_changed;  // same name, different settings: a fresh sink replaces it
};

// `running` is the config in effect, `loaded` the valid config just read from the file.
reload_plan plan_reload(const config& running, const config& loaded);

// True when two sink settings would make the same sink.
bool same_sink(const sink_config& a, const sink_config& b);

}  // namespace hookless
