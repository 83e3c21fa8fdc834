// The PostgreSQL backend's SQL: what each state_store and cluster_store call does to the database,
// and how rows map to records (the column conversions are store_rows', shared with SQLite).
// Synchronous: the store's threads call these inside the transaction (and savepoint) they opened.
// They throw what pg_connection throws, lease_lost for a fenced write without the poller term,
// node_replaced when another process took this node's row.
#pragma once

#include "core/store/cluster_store.hpp"
#include "core/store/state_store.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hookless {

class pg_connection;

// Who is calling: this daemon's node name and this process's instance ID.
struct pg_identity {
  std::string node;
  std::string instance_id;
};

namespace pg_queries {

// Writes (the calls of the same name in state_store.hpp; pg_store.hpp adds the details). Runs
// inserted whole (events and deliveries too, as import_runs needs) with `home` as their home; the
// pending ones queued for the poller's pick_new_runs unless the poller inserts them itself.
std::vector<bool> insert_runs(pg_connection& db, const std::vector<run_record>& runs, const std::string& home,
                              bool queue_for_poller = true);
void save_progress(pg_connection& db, const std::vector<run_progress>& progress);
void record_outcome(pg_connection& db, const run_outcome& outcome);
// A compare-and-set: only a delivery free or taken by this process changes; a dead one put back to
// pending (a redelivery, from any daemon) is freed for its home to take.
void update_delivery(pg_connection& db, const delivery& record, const pg_identity& me);
bool delete_run(pg_connection& db, const std::string& id);
std::size_t prune_finished(pg_connection& db, time_point cutoff);
// The poller's: new runs get `home`, not queued for pick_new_runs (the poller tracks them already).
// Fence it with check_poller_term first.
std::vector<found_run> save_finds(pg_connection& db, const subscription_finds& finds, const std::string& home);
void drop_subscription_position(pg_connection& db, const std::string& subscription, const std::string& kind);
// Positions of a state file being imported, each unless the database has one for its subscription
// and kind already; returns how many were new.
std::size_t import_subscription_positions(pg_connection& db, const std::vector<subscription_position>& positions);

// Every pending run of the database, oldest first; none is left queued for pick_new_runs.
std::vector<run_record> load_pending(pg_connection& db);
// Pending deliveries of the runs whose home this node holds, now taken by this process, in event
// order per run: those free and, with `including_mine`, those it took already; at most `limit`.
std::vector<delivery_job> take_deliveries(pg_connection& db, const pg_identity& me, bool including_mine,
                                          std::optional<std::size_t> limit);

// Reads.
std::optional<run_record> find_run(pg_connection& db, const std::string& id);
std::vector<std::optional<std::uint32_t>> owners_of(pg_connection& db, const std::vector<std::string>& ids);
std::vector<run_record> list_runs(pg_connection& db, const run_query& query);
std::vector<delivery> list_deliveries(pg_connection& db, const delivery_query& query);
std::map<std::string, std::size_t> count_dead_deliveries(pg_connection& db);
std::optional<delivery_job> find_delivery(pg_connection& db, const std::string& id);
std::vector<subscription_position> load_subscription_positions(pg_connection& db);
// The event log (state_store::events_after, newest_event_position): by events.position.
std::vector<recorded_event> events_after(pg_connection& db, event_position after, std::size_t limit);
event_position newest_event_position(pg_connection& db);

// The poller's fence: the first statement of each fenced write. Throws lease_lost unless this
// process holds the poller lease under `term`; keeps the lease row locked FOR KEY SHARE until the
// transaction ends, so no new term (a key update: term is UNIQUE) begins before it commits, while
// renewals of the same term go on.
void check_poller_term(pg_connection& db, const pg_identity& me, std::optional<std::uint64_t> term);
std::vector<run_record> pick_new_runs(pg_connection& db, std::size_t limit);

// The node's row at open: a fresh instance ID, its home taken back and its pending deliveries freed.
void register_node(pg_connection& db, const pg_identity& me);
heartbeat_result heartbeat(pg_connection& db, const pg_identity& me, std::chrono::milliseconds dead_after);
std::optional<std::uint64_t> claim_poller(pg_connection& db, const pg_identity& me, std::chrono::milliseconds ttl);
void resign_poller(pg_connection& db, const pg_identity& me);

}  // namespace pg_queries

}  // namespace hookless
