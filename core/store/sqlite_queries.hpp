// The SQLite backend's SQL: what each state_store call does to the state file, and how rows map to
// records. Synchronous and single-connection: the store's worker thread calls these, the writes
// inside the transaction (and savepoint) it opened for them, which it then commits. They throw
// sqlite_error when SQLite fails and std::runtime_error for a row they cannot read.
#pragma once

#include "core/store/state_store.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hookless {

class sqlite_db;

namespace sqlite_queries {

// Writes (the calls of the same name in state_store.hpp; sqlite_store.hpp adds the details).
std::vector<bool> insert_runs(sqlite_db& db, const std::vector<run_record>& runs);
void save_progress(sqlite_db& db, const std::vector<run_progress>& progress);
void record_outcome(sqlite_db& db, const run_outcome& outcome);
void update_delivery(sqlite_db& db, const delivery& record);
bool delete_run(sqlite_db& db, const std::string& id);
std::size_t prune_finished(sqlite_db& db, time_point cutoff);
std::vector<found_run> save_finds(sqlite_db& db, const subscription_finds& finds);
void drop_subscription_position(sqlite_db& db, const std::string& subscription, const std::string& kind);
// One delivery, unless its ID is stored already (then false: nothing changed).
bool insert_delivery(sqlite_db& db, const delivery& record);

// Reads.
std::vector<run_record> load_pending(sqlite_db& db);
std::vector<delivery_job> load_undone_deliveries(sqlite_db& db);
std::optional<run_record> find_run(sqlite_db& db, const std::string& id);
std::vector<std::optional<std::uint32_t>> owners_of(sqlite_db& db, const std::vector<std::string>& ids);
std::vector<run_record> list_runs(sqlite_db& db, const run_query& query);
std::vector<delivery> list_deliveries(sqlite_db& db, const delivery_query& query);
std::map<std::string, std::size_t> count_dead_deliveries(sqlite_db& db);
std::optional<delivery_job> find_delivery(sqlite_db& db, const std::string& id);
std::vector<subscription_position> load_subscription_positions(sqlite_db& db);
// PRAGMA integrity_check: "ok" when the file is sound, else SQLite's findings, one per line.
std::string check_integrity(sqlite_db& db);

// The event log (state_store::events_after, newest_event_position): by rowid.
std::vector<recorded_event> events_after(sqlite_db& db, event_position after, std::size_t limit);
event_position newest_event_position(sqlite_db& db);

}  // namespace sqlite_queries

}  // namespace hookless
