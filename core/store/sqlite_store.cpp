// The SQLite state store's worker: its own thread, the queue of calls, group commit, and handing
// each result back to the caller's executor; and the public face that turns each state_store call
// into a job (see sqlite_store.hpp for the contract). The SQL is in sqlite_queries.cpp, the opening
// in sqlite_state_file.cpp.
#include "core/store/sqlite_store.hpp"

#include "core/store/sqlite_handle.hpp"
#include "core/store/sqlite_queries.hpp"
#include "core/store/sqlite_state_file.hpp"
#include "core/store/store_job_queue.hpp"

#include <sqlite3.h>

#include <atomic>
#include <exception>
#include <future>
#include <mutex>
#include <thread>
#include <utility>

namespace hookless {

namespace {

// ---- errors ----

enum class failure_kind {
  full,    // nothing was written; refuse new work, keep serving
  failed,  // the data may not be on disk: stop
  other,   // this call's own problem (a bug, a constraint)
};

failure_kind classify(int code) {
  switch (code & 0xff) {
    case SQLITE_FULL:
    case SQLITE_BUSY:  // another process holds the file: refuse for now, nothing is lost
    case SQLITE_LOCKED: return failure_kind::full;
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM: return failure_kind::failed;
    default: return failure_kind::other;
  }
}

std::exception_ptr translate(const sqlite_error& error, const std::string& path) {
  if (is_damage(error.code())) return std::make_exception_ptr(store_failed(damaged_file_message(path, error.what())));
  switch (classify(error.code())) {
    case failure_kind::full:
      if (error.primary_code() == SQLITE_FULL) {
        return std::make_exception_ptr(store_full("state store is full (disk or quota): " + std::string(error.what())));
      }
      return std::make_exception_ptr(
          store_full("state store is locked by another process: " + std::string(error.what())));
    case failure_kind::failed:
      return std::make_exception_ptr(
          store_failed("state store failed, data may not be on disk: " + std::string(error.what())));
    case failure_kind::other: break;
  }
  return std::make_exception_ptr(std::runtime_error("state store: " + std::string(error.what())));
}

using store_job = store_detail::store_job<sqlite_db>;

}  // namespace

// ---- the worker ----

struct sqlite_store::impl {
  impl(boost::asio::any_io_executor executor, std::string file) : jobs(std::move(executor)), path(std::move(file)) {}

  store_detail::job_queue<sqlite_db> jobs;
  std::string path;

  std::mutex mutex;  // guards commit_hook
  std::function<int()> commit_hook;

  std::atomic<std::uint64_t> commits{0};
  std::promise<void> opened;  // kept here, not on open()'s stack, so the worker never outlives it
  std::thread worker;

  // Touched only by the worker thread.
  std::optional<sqlite_state_file> state_file;
  std::optional<std::string> failure;  // set once the store may have lost data

  sqlite_db& db() { return state_file->db(); }

  void run(open_report& report) {
    try {
      state_file.emplace(path, report);
    } catch (...) {
      opened.set_exception(std::current_exception());
      return;
    }
    opened.set_value();
    std::vector<std::unique_ptr<store_job>> batch;
    while (jobs.wait_for_batch(batch)) {
      process(batch);
      batch.clear();
    }
    state_file.reset();  // a clean close checkpoints the WAL into the main file, then the lock goes
  }

  void process(std::vector<std::unique_ptr<store_job>>& batch) {
    std::vector<store_job*> writes;
    for (auto& job : batch) {
      if (job->is_write()) writes.push_back(job.get());
    }
    if (!writes.empty()) {
      commit_writes(writes);
      for (auto* job : writes) job->complete();
    }
    for (auto& job : batch) {
      if (job->is_write()) continue;
      if (failure) {
        job->set_error(std::make_exception_ptr(store_failed(*failure)));
      } else {
        try {
          job->execute(db());
        } catch (const sqlite_error& e) {
          if (classify(e.code()) == failure_kind::failed) failure = e.what();
          job->set_error(translate(e, path));
        } catch (...) {
          job->set_error(std::current_exception());
        }
      }
      job->complete();
    }
  }

  // Every write job of the batch in one transaction, each in a savepoint so one bad call fails alone.
  void commit_writes(const std::vector<store_job*>& writes) {
    if (failure) {
      for (auto* job : writes) job->set_error(std::make_exception_ptr(store_failed(*failure)));
      return;
    }
    try {
      db().exec("BEGIN IMMEDIATE");
    } catch (const sqlite_error& e) {
      abort_batch(writes, e);
      return;
    }
    for (auto* job : writes) {
      try {
        db().cached("SAVEPOINT job")->execute();
        job->execute(db());
        db().cached("RELEASE job")->execute();
      } catch (const sqlite_error& e) {
        if (classify(e.code()) != failure_kind::other) {
          abort_batch(writes, e);
          return;
        }
        job->set_error(translate(e, path));
        if (!undo_savepoint(writes)) return;
      } catch (...) {
        job->set_error(std::current_exception());
        if (!undo_savepoint(writes)) return;
      }
    }
    try {
      std::function<int()> hook;
      {
        std::lock_guard lock(mutex);
        hook = commit_hook;
      }
      if (hook) {
        if (const int injected = hook(); injected != SQLITE_OK) {
          throw sqlite_error(injected, std::string("COMMIT: ") + sqlite3_errstr(injected) + " (injected by a test)");
        }
      }
      db().exec("COMMIT");
    } catch (const sqlite_error& e) {
      abort_batch(writes, e);
      return;
    }
    commits.fetch_add(1, std::memory_order_relaxed);
  }

  // Drops one job's changes and keeps the rest of the transaction. False if that failed too (the
  // whole batch has then been aborted).
  bool undo_savepoint(const std::vector<store_job*>& writes) {
    try {
      db().cached("ROLLBACK TO job")->execute();
      db().cached("RELEASE job")->execute();
      return true;
    } catch (const sqlite_error& e) {
      abort_batch(writes, e);
      return false;
    }
  }

  // Rolls the whole transaction back and fails every job that has no error of its own yet.
  void abort_batch(const std::vector<store_job*>& writes, const sqlite_error& error) {
    auto reported = translate(error, path);
    if (classify(error.code()) == failure_kind::failed) failure = error.what();
    if (db().in_transaction()) {
      try {
        db().exec("ROLLBACK");
      } catch (const sqlite_error& e) {
        // The file is in a state we cannot vouch for: stop taking work.
        failure = std::string(error.what()) + "; then ROLLBACK failed: " + e.what();
        reported = std::make_exception_ptr(store_failed("state store failed: " + *failure));
      }
    }
    for (auto* job : writes) {
      if (!job->has_error()) job->set_error(reported);
    }
  }
};

// ---- the public face ----

std::unique_ptr<sqlite_store> sqlite_store::open(boost::asio::any_io_executor caller_executor, std::string path,
                                                 open_report& report) {
  auto state = std::make_unique<impl>(std::move(caller_executor), std::move(path));
  auto ready = state->opened.get_future();
  auto* raw = state.get();
  state->worker = std::thread([raw, &report] { raw->run(report); });
  try {
    ready.get();
  } catch (...) {
    raw->worker.join();  // the thread ends right after reporting a failed open
    throw;
  }
  return std::unique_ptr<sqlite_store>(new sqlite_store(std::move(state)));
}

sqlite_store::sqlite_store(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

sqlite_store::~sqlite_store() {
  impl_->jobs.stop();
  impl_->worker.join();
}

awaitable<std::vector<run_record>> sqlite_store::load_pending() {
  auto work = [](sqlite_db& db) { return sqlite_queries::load_pending(db); };
  return impl_->jobs.submit<std::vector<run_record>>(false, std::move(work));
}

awaitable<std::vector<delivery_job>> sqlite_store::load_undone_deliveries() {
  auto work = [](sqlite_db& db) { return sqlite_queries::load_undone_deliveries(db); };
  return impl_->jobs.submit<std::vector<delivery_job>>(false, std::move(work));
}

awaitable<std::vector<bool>> sqlite_store::insert_runs(std::vector<run_record> runs) {
  auto work = [runs = std::move(runs)](sqlite_db& db) { return sqlite_queries::insert_runs(db, runs); };
  return impl_->jobs.submit<std::vector<bool>>(true, std::move(work));
}

awaitable<void> sqlite_store::save_progress(std::vector<run_progress> progress) {
  auto work = [progress = std::move(progress)](sqlite_db& db) { sqlite_queries::save_progress(db, progress); };
  return impl_->jobs.submit<void>(true, std::move(work));
}

awaitable<void> sqlite_store::record_outcome(run_outcome outcome) {
  auto work = [outcome = std::move(outcome)](sqlite_db& db) { sqlite_queries::record_outcome(db, outcome); };
  return impl_->jobs.submit<void>(true, std::move(work));
}

awaitable<void> sqlite_store::update_delivery(delivery record) {
  auto work = [record = std::move(record)](sqlite_db& db) { sqlite_queries::update_delivery(db, record); };
  return impl_->jobs.submit<void>(true, std::move(work));
}

awaitable<std::optional<run_record>> sqlite_store::find_run(std::string id) {
  auto work = [id = std::move(id)](sqlite_db& db) { return sqlite_queries::find_run(db, id); };
  return impl_->jobs.submit<std::optional<run_record>>(false, std::move(work));
}

awaitable<std::vector<std::optional<std::uint32_t>>> sqlite_store::owners_of(std::vector<std::string> ids) {
  auto work = [ids = std::move(ids)](sqlite_db& db) { return sqlite_queries::owners_of(db, ids); };
  return impl_->jobs.submit<std::vector<std::optional<std::uint32_t>>>(false, std::move(work));
}

awaitable<std::vector<run_record>> sqlite_store::list_runs(run_query query) {
  auto work = [query = std::move(query)](sqlite_db& db) { return sqlite_queries::list_runs(db, query); };
  return impl_->jobs.submit<std::vector<run_record>>(false, std::move(work));
}

awaitable<std::vector<delivery>> sqlite_store::list_deliveries(delivery_query query) {
  auto work = [query](sqlite_db& db) { return sqlite_queries::list_deliveries(db, query); };
  return impl_->jobs.submit<std::vector<delivery>>(false, std::move(work));
}

awaitable<std::map<std::string, std::size_t>> sqlite_store::count_dead_deliveries() {
  auto work = [](sqlite_db& db) { return sqlite_queries::count_dead_deliveries(db); };
  return impl_->jobs.submit<std::map<std::string, std::size_t>>(false, std::move(work));
}

awaitable<std::optional<delivery_job>> sqlite_store::find_delivery(std::string delivery_id) {
  auto work = [id = std::move(delivery_id)](sqlite_db& db) { return sqlite_queries::find_delivery(db, id); };
  return impl_->jobs.submit<std::optional<delivery_job>>(false, std::move(work));
}

awaitable<bool> sqlite_store::delete_run(std::string id) {
  auto work = [id = std::move(id)](sqlite_db& db) { return sqlite_queries::delete_run(db, id); };
  return impl_->jobs.submit<bool>(true, std::move(work));
}

awaitable<std::size_t> sqlite_store::prune_finished(time_point cutoff) {
  auto work = [cutoff](sqlite_db& db) { return sqlite_queries::prune_finished(db, cutoff); };
  return impl_->jobs.submit<std::size_t>(true, std::move(work));
}

awaitable<std::vector<subscription_position>> sqlite_store::load_subscription_positions() {
  auto work = [](sqlite_db& db) { return sqlite_queries::load_subscription_positions(db); };
  return impl_->jobs.submit<std::vector<subscription_position>>(false, std::move(work));
}

awaitable<std::vector<found_run>> sqlite_store::save_finds(subscription_finds finds) {
  auto work = [finds = std::move(finds)](sqlite_db& db) { return sqlite_queries::save_finds(db, finds); };
  return impl_->jobs.submit<std::vector<found_run>>(true, std::move(work));
}

awaitable<void> sqlite_store::drop_subscription_position(std::string subscription, std::string kind) {
  auto work = [subscription = std::move(subscription), kind = std::move(kind)](sqlite_db& db) {
    sqlite_queries::drop_subscription_position(db, subscription, kind);
  };
  return impl_->jobs.submit<void>(true, std::move(work));
}

awaitable<std::vector<recorded_event>> sqlite_store::events_after(event_position after, std::size_t limit) {
  auto work = [after, limit](sqlite_db& db) { return sqlite_queries::events_after(db, after, limit); };
  return impl_->jobs.submit<std::vector<recorded_event>>(false, std::move(work));
}

awaitable<event_position> sqlite_store::newest_event_position() {
  auto work = [](sqlite_db& db) { return sqlite_queries::newest_event_position(db); };
  return impl_->jobs.submit<event_position>(false, std::move(work));
}

awaitable<std::string> sqlite_store::check_integrity() {
  auto work = [](sqlite_db& db) { return sqlite_queries::check_integrity(db); };
  return impl_->jobs.submit<std::string>(false, std::move(work));
}

std::uint64_t sqlite_store::commit_count() const noexcept { return impl_->commits.load(std::memory_order_relaxed); }

void sqlite_store::set_commit_hook_for_testing(std::function<int()> hook) {
  std::lock_guard lock(impl_->mutex);
  impl_->commit_hook = std::move(hook);
}

}  // namespace hookless
