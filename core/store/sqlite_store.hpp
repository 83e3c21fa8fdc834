// The state store hookless ships: one SQLite file in WAL mode with synchronous=FULL.
//
// Threading: the store owns one worker thread that does all SQLite work on one connection. Each
// awaitable method packs its work into a job, queues it and suspends; the worker runs the job and
// posts the result (or the exception) back to the awaiting coroutine's executor, keeping that
// executor's work count up meanwhile so the caller's io_context does not run out of work.
//
// Group commit: when the worker wakes it takes every queued job. All writes among them
// (insert_runs, save_progress, record_outcome, update_delivery, delete_run, prune_finished,
// save_finds, drop_subscription_position) run in ONE transaction, each in its own savepoint, and one
// COMMIT (one fsync) makes them all durable; only then are their callers resumed. Reads run after
// that commit, so they never see data that could still be rolled back.
//
// Errors: SQLITE_FULL (and a database locked by another process) -> store_full, the batch is rolled
// back and the store stays usable. I/O errors, corruption, a read-only file -> store_failed, and
// the store refuses every later call with store_failed: the data may not be on disk, so the daemon
// must stop and recover from the file. Any other error (a bug, a broken constraint) fails only the
// call that caused it, as std::runtime_error.
//
// Details state_store.hpp leaves open:
// - Times are stored as whole milliseconds since the epoch: records read back are truncated to ms.
// - record_outcome for a run no longer stored (forgotten meanwhile) does nothing: no events, no
//   deliveries. save_progress never touches a finished run and never lowers polls.
// - list_runs: `after` names a run whose position (registration order) the listing continues
//   below; an unknown ID gives an empty page. Records carry their events (without bodies) and
//   deliveries. list_deliveries pages the same way, oldest delivery first.
// - save_finds: found_run::new_jobs carry no home (one daemon is the home of every run): the caller
//   hands them to its delivery queues.
// - Calls cannot be cancelled (a write is either committed or refused as a whole). Destroy the store
//   before the io_context its callers run on.
#pragma once

#include "core/store/open_report.hpp"
#include "core/store/state_store.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hookless {

class sqlite_store final : public state_store {
 public:
  // Opens or creates (mode 0600) the state file at `path`, locks it for the store's life and
  // applies migrations. The checks at open cost the same whatever the file's size (header and
  // schema), except after an unclean stop (a -wal file left behind), when PRAGMA quick_check reads
  // the file for at most 10 s. A damaged file is never changed, moved or replaced: open throws
  // store_failed naming it and saying how to recover it, and so does any later call that meets
  // damage. Throws store_failed too when another process holds the lock (another daemon on the
  // same file) or the file cannot be opened or used.
  // Blocks the calling thread until the file is ready (call it before the io_context runs).
  // `caller_executor` completes calls whose handler has no executor of its own.
  static std::unique_ptr<sqlite_store> open(boost::asio::any_io_executor caller_executor, std::string path,
                                            open_report& report);

  // Finishes the queued jobs, then closes the file.
  ~sqlite_store() override;
  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

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

  // Runs PRAGMA integrity_check; "ok" when the file is sound, else SQLite's findings.
  awaitable<std::string> check_integrity();

  // How many write transactions have committed (group commit makes this far lower than the
  // number of write calls). For tests and metrics.
  std::uint64_t commit_count() const noexcept;

  // Test hook: called on the store's thread just before each COMMIT. A non-zero SQLite result code
  // (e.g. SQLITE_IOERR_FSYNC, SQLITE_FULL) makes that commit fail as if SQLite had returned it.
  // An empty function removes the hook.
  void set_commit_hook_for_testing(std::function<int()> hook);

 private:
  struct impl;  // the worker thread, its queue and the connection (sqlite_store.cpp)
  explicit sqlite_store(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

}  // namespace hookless
