// What a SIGHUP reload changes: the new config as it can take effect now (sinks, polling, budget,
// log level and format, subscriptions), with the settings that only a restart can change kept as they run, and
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
  // Subscriptions by name (docs/subscriptions.md): an added one starts its positions afresh; a
  // changed one keeps the positions of the kinds it keeps (only its sinks changed, or kinds were
  // added or removed); a removed one, and a removed kind, forgets its position.
  std::vector<std::string> subscriptions_added;
  std::vector<std::string> subscriptions_removed;
  std::vector<std::string> subscriptions_changed;
};

// `running` is the config in effect, `loaded` the valid config just read from the file.
reload_plan plan_reload(const config& running, const config& loaded);

// True when two sink settings would make the same sink.
bool same_sink(const sink_config& a, const sink_config& b);

// For the reload's log line: "subscriptions: 1 added (a), 1 changed (b), 1 removed (c)", or
// "subscriptions unchanged".
std::string describe_subscription_changes(const reload_plan& plan);

}  // namespace hookless
