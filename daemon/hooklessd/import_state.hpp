// hooklessd --import-state PATH: moves a single-machine install onto the database. Every run of a
// SQLite state file, with its events (their bodies) and deliveries, is written into the PostgreSQL
// database the config names (state.url), in batches; a run the database already has is skipped, so
// an import run twice imports nothing the second time. The imported runs' home is cluster.node.
// Subscription positions come along (one the database already has for its subscription and kind is
// kept), so a subscription goes on from where the file left it.
#pragma once

#include "core/model/settings.hpp"

#include <cstddef>
#include <ostream>
#include <string>

namespace hookless {

struct import_counts {
  std::size_t imported = 0;
  std::size_t skipped = 0;  // the database had a run of the same ID
  // Subscription positions (docs/subscriptions.md), so the subscriptions go on from where they were.
  std::size_t positions_imported = 0;
  std::size_t positions_skipped = 0;  // the database had a position for that subscription and kind
};

// Runs the import: prints the counts (or why it failed) and returns the exit status, 0 or 1. Refuses
// a config without state.url and a state file that does not exist (never creates one). The file
// keeps its runs (an older one is migrated first, as a start would); its lock keeps a daemon from
// running on it meanwhile.
int import_state(const config& settings, const std::string& state_file, std::ostream& out, std::ostream& err,
                 std::size_t batch_size = 500);

}  // namespace hookless
