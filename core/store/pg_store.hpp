// The state store for several daemons sharing one PostgreSQL database (state.url): the same
// state_store contract as sqlite_store (one contract test suite runs on both), and cluster_store
// (nodes and their homes, the poller lease, the hand-over of runs and deliveries).
//
// Threading: two connections, each with its own thread. The data connection's worker does every
// state_store call with group commit like sqlite_store: the writes queued together (insert_runs,
// save_progress, record_outcome, update_delivery, delete_run, prune_finished, save_finds,
// drop_subscription_position, and the calls that take work: load_pending, load_undone_deliveries,
// pick_new_runs, take_new_deliveries, import_runs)
// share one transaction, each in its own savepoint so a bad call fails alone, and one COMMIT;
// only then are their callers resumed. Reads run afterwards, each in a REPEATABLE READ transaction.
// The lease connection's worker does heartbeat, claim_poller and resign_poller, each in its own
// short transaction, so a 10,000-run insert never delays a renewal. Results come back on the
// caller's executor, as with sqlite_store.
//
// Errors: the database cannot be reached, the connection broke, a statement timed out (a few
// seconds at most, never a hang) -> store_unavailable, and the next call reconnects; the disk is
// full -> store_full; a fenced write without the poller term -> lease_lost (that call only); a
// serialization failure or deadlock is retried twice, then reported as store_unavailable; anything
// else -> std::runtime_error for that call only. Messages name the server, never the password.
//
// Details beyond sqlite_store.hpp's (which hold here too):
// - insert_runs and import_runs store `home` = this node, and queue the pending runs for the
//   poller's pick_new_runs.
// - load_pending returns every pending run of the database and empties that queue; load_undone_deliveries
//   returns the pending deliveries of the runs whose home this node holds (its own and those it
//   adopted), free or already its own, now taken by this process.
// - update_delivery is a compare-and-set: it changes a delivery only when it is free or taken by
//   this process (another took it over: nothing changes), except that putting a dead delivery back
//   to pending (a redelivery, from any daemon) always works and frees it for its home to take.
// - save_finds is the poller's and fenced like record_outcome. A run it finds new is stored with
//   `home` = this node and not queued for pick_new_runs (the poller tracks it already). A known run's
//   row is locked while it gains sinks; the deliveries made for them are free, for the intake of the
//   run's home (take_new_deliveries), and come back in found_run::new_jobs with that home.
// - delivery_job::home is filled (the run's home) by every call returning jobs.
#pragma once

#include "core/store/cluster_store.hpp"
#include "core/store/open_report.hpp"
#include "core/store/state_store.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hookless {

struct pg_store_options {
  std::string url;                      // state.url: a libpq URI
  std::optional<std::string> password;  // from state.password_file
  std::string node;                     // cluster.node
  std::chrono::milliseconds connect_timeout{3000};
  // How long a statement may take (on the server, and unanswered here) before the call throws
  // store_unavailable: a frozen or unreachable server is noticed this quickly, on both connections.
  std::chrono::milliseconds statement_timeout{2000};
  // The same for the statements known to be long: loading every pending run or undone delivery,
  // listing every delivery, pruning, an import.
  std::chrono::milliseconds long_statement_timeout{60000};
};

class pg_store final : public state_store, public cluster_store {
 public:
  // Connects both connections, migrates the schema, and registers the node (a fresh instance_id,
  // its home taken back, its home's pending deliveries freed for it to take). Blocks the calling
  // thread (call it before the io_context runs). Throws store_unavailable when the database cannot
  // be reached, store_failed for a schema newer than this build or a URL that does not parse;
  // messages name the server without the password. `caller_executor` completes calls whose
  // handler has no executor of its own.
  static std::unique_ptr<pg_store> open(boost::asio::any_io_executor caller_executor, pg_store_options options,
                                        open_report& report);

  // Finishes the queued jobs, then closes both connections.
  ~pg_store() override;
  pg_store(const pg_store&) = delete;
  pg_store& operator=(const pg_store&) = delete;

  // state_store
  awaitable<std::vector<run_record>> load_pending() override;
  awaitable<std::vector<delivery_job>> load_undone_deliveries() override;
  awaitable<std::vector<bool>> insert_runs(std::vector<run_record> runs) override;
  awaitable<void> save_progress(std::vector<run_progress> progress) override;
  awaitable<void> record_outcome(run_outcome outcome) override;
  awaitable<void> update_delivery(delivery record) override;
  awaitable<std::optional<run_record>> find_run(std::string id) override;
  awaitable<std::vector<std::optional<std::uint32_t>>> owners_of(std::vector<std::string> ids) override;
  awaitable<std::vector<run_record>> list_runs(run_query query) override;
  awaitable<std::vector<delivery>> list_deliveries(delivery_query query) override;
  awaitable<std::map<std::string, std::size_t>> count_dead_deliveries() override;
  awaitable<std::optional<delivery_job>> find_delivery(std::string delivery_id) override;
  awaitable<bool> delete_run(std::string id) override;
  awaitable<std::size_t> prune_finished(time_point cutoff) override;
  awaitable<std::vector<subscription_position>> load_subscription_positions() override;
  awaitable<std::vector<found_run>> save_finds(subscription_finds finds) override;
  awaitable<void> drop_subscription_position(std::string subscription, std::string kind) override;
  awaitable<std::vector<recorded_event>> events_after(event_position after, std::size_t limit) override;
  awaitable<event_position> newest_event_position() override;

  // cluster_store
  const std::string& node_name() const override;
  const std::string& instance_id() const override;
  awaitable<heartbeat_result> heartbeat(std::chrono::milliseconds dead_after) override;
  awaitable<std::optional<std::uint64_t>> claim_poller(std::chrono::milliseconds ttl) override;
  awaitable<void> resign_poller() override;
  void set_poller_term(std::optional<std::uint64_t> term) override;
  awaitable<std::vector<run_record>> pick_new_runs(std::size_t limit) override;
  awaitable<std::vector<delivery_job>> take_new_deliveries(std::size_t limit) override;

  // hooklessd --import-state: stores whole records (events with their bodies, deliveries as they
  // stand), skipping IDs already stored, with this node as their home, in one transaction.
  // Returns how many were new.
  awaitable<std::size_t> import_runs(std::vector<run_record> runs);
  // The same for subscription positions (not fenced: the import is no poller): each unless the
  // database has one for its subscription and kind. Returns how many were new.
  awaitable<std::size_t> import_subscription_positions(std::vector<subscription_position> positions);

  // How many write transactions have committed on the data connection. For tests and metrics.
  std::uint64_t commit_count() const noexcept;

 private:
  struct impl;  // the two connections, their threads and queues (pg_store.cpp)
  explicit pg_store(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

}  // namespace hookless
