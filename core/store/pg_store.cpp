// The PostgreSQL store's two workers (the data connection with group commit, the lease connection
// with one short transaction per call) and the public face that turns each call into a job (see
// pg_store.hpp for the contract). The SQL is in pg_queries.cpp, the schema in pg_schema.cpp.
#include "core/store/pg_store.hpp"

#include "core/store/pg_connection.hpp"
#include "core/store/pg_queries.hpp"
#include "core/store/pg_schema.hpp"
#include "core/store/store_job_queue.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <exception>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

namespace hookless {

namespace {

using store_job = store_detail::store_job<pg_connection>;

// A serialization failure or deadlock: the batch runs again this many times before giving up.
constexpr int batch_tries = 3;

// 128 random bits in hex: a process's identity in the nodes and poller rows.
std::string fresh_instance_id() {
  std::random_device random;
  std::string id;
  for (int part = 0; part < 4; ++part) {
    std::array<char, 9> hex{};
    std::snprintf(hex.data(), hex.size(), "%08x", static_cast<unsigned>(random()));
    id += hex.data();
  }
  return id;
}

// Runs one job in a transaction of its own and commits it.
void run_alone(pg_connection& db, store_job& job, std::string_view isolation) {
  try {
    db.begin(isolation);
    job.execute(db);
    db.exec("COMMIT");
  } catch (const pg_retryable& e) {
    db.rollback_quietly();
    job.set_error(std::make_exception_ptr(store_unavailable(e.what())));  // the caller tries again later
  } catch (...) {
    db.rollback_quietly();
    job.set_error(std::current_exception());
  }
}

// One connection and the thread that uses it, fed by a job queue.
struct worker {
  worker(const boost::asio::any_io_executor& executor, std::unique_ptr<pg_connection> connection)
      : jobs(executor), db(std::move(connection)) {}

  store_detail::job_queue<pg_connection> jobs;
  std::unique_ptr<pg_connection> db;
  std::thread thread;

  void stop() {
    jobs.stop();
    if (thread.joinable()) thread.join();
  }
};

}  // namespace

struct pg_store::impl {
  impl(const boost::asio::any_io_executor& executor, pg_identity identity, std::chrono::milliseconds long_timeout,
       std::unique_ptr<pg_connection> data_db, std::unique_ptr<pg_connection> lease_db)
      : me(std::move(identity)),
        long_statements(long_timeout),
        data(executor, std::move(data_db)),
        lease(executor, std::move(lease_db)) {}

  const pg_identity me;
  const std::chrono::milliseconds long_statements;
  worker data;
  worker lease;
  std::atomic<std::uint64_t> commits{0};

  std::mutex term_mutex;
  std::optional<std::uint64_t> poller_term;

  std::optional<std::uint64_t> current_term() {
    std::lock_guard lock(term_mutex);
    return poller_term;
  }

  void start() {
    data.thread = std::thread([this] { run_data(); });
    lease.thread = std::thread([this] {
      std::vector<std::unique_ptr<store_job>> batch;
      while (lease.jobs.wait_for_batch(batch)) {
        for (auto& job : batch) {
          run_alone(*lease.db, *job, {});
          job->complete();
        }
        batch.clear();
      }
    });
  }

  void run_data() {
    std::vector<std::unique_ptr<store_job>> batch;
    while (data.jobs.wait_for_batch(batch)) {
      std::vector<store_job*> writes;
      for (auto& job : batch) {
        if (job->is_write()) writes.push_back(job.get());
      }
      if (!writes.empty()) {
        commit_writes(writes);
        for (auto* job : writes) job->complete();
      }
      // After the commit, so reads never see what could still be rolled back.
      for (auto& job : batch) {
        if (job->is_write()) continue;
        run_alone(*data.db, *job, "REPEATABLE READ READ ONLY");
        job->complete();
      }
      batch.clear();
    }
  }

  // Every write job of the batch in one transaction, each in a savepoint so one bad call fails alone.
  void commit_writes(const std::vector<store_job*>& writes) {
    auto& db = *data.db;
    for (int attempt = 1;; ++attempt) {
      for (auto* job : writes) job->clear_error();
      try {
        db.begin();
        for (auto* job : writes) run_in_savepoint(db, *job);
        db.exec("COMMIT");
        commits.fetch_add(1, std::memory_order_relaxed);
        return;
      } catch (const pg_retryable& e) {
        db.rollback_quietly();
        if (attempt < batch_tries) continue;
        fail_batch(writes, std::make_exception_ptr(store_unavailable(e.what())));
        return;
      } catch (...) {
        db.rollback_quietly();
        fail_batch(writes, std::current_exception());
        return;
      }
    }
  }

  // Runs one job; its own failure (a lost lease, a bug, a broken constraint) undoes only its
  // savepoint. What concerns the whole transaction (the connection, a full disk, a retry) is thrown.
  static void run_in_savepoint(pg_connection& db, store_job& job) {
    db.exec("SAVEPOINT job");
    try {
      job.execute(db);
      db.exec("RELEASE SAVEPOINT job");
      return;
    } catch (const lease_lost&) {
      job.set_error(std::current_exception());
    } catch (const store_full&) {  // store_unavailable too
      throw;
    } catch (const pg_retryable&) {
      throw;
    } catch (...) {
      job.set_error(std::current_exception());
    }
    db.exec("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job");
  }

  static void fail_batch(const std::vector<store_job*>& writes, const std::exception_ptr& error) {
    for (auto* job : writes) {
      if (!job->has_error()) job->set_error(error);
    }
  }

  template <typename Result, typename Work>
  awaitable<Result> write(Work work) {
    return data.jobs.submit<Result>(true, std::move(work));
  }
  template <typename Result, typename Work>
  awaitable<Result> read(Work work) {
    return data.jobs.submit<Result>(false, std::move(work));
  }
  template <typename Result, typename Work>
  awaitable<Result> on_lease(Work work) {
    return lease.jobs.submit<Result>(true, std::move(work));
  }
};

// ---- opening ----

std::unique_ptr<pg_store> pg_store::open(boost::asio::any_io_executor caller_executor, pg_store_options options,
                                         open_report& report) {
  if (options.node.empty()) throw store_failed("cluster.node is empty: each daemon sharing a database needs a name");
  pg_connection_options data_options{.url = options.url,
                                     .password = options.password,
                                     .connect_timeout = options.connect_timeout,
                                     .statement_timeout = options.statement_timeout};
  auto lease_options = data_options;
  lease_options.application_name = "hooklessd lease";

  auto data_db = std::make_unique<pg_connection>(std::move(data_options));
  pg_identity me{options.node, fresh_instance_id()};
  const int found_version = migrate_pg_schema(*data_db);
  report.created = found_version == 0;
  data_db->begin();
  try {
    pg_queries::register_node(*data_db, me);
    data_db->exec("COMMIT");
  } catch (...) {
    data_db->rollback_quietly();
    throw;
  }
  auto lease_db = std::make_unique<pg_connection>(std::move(lease_options));

  auto state = std::make_unique<impl>(caller_executor, std::move(me), options.long_statement_timeout,
                                      std::move(data_db), std::move(lease_db));
  state->start();
  return std::unique_ptr<pg_store>(new pg_store(std::move(state)));
}

pg_store::pg_store(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

pg_store::~pg_store() {
  impl_->data.stop();
  impl_->lease.stop();
}

// ---- state_store ----

awaitable<std::vector<run_record>> pg_store::load_pending() {
  auto work = [timeout = impl_->long_statements](pg_connection& db) {
    db.allow_long_statements(timeout);
    return pg_queries::load_pending(db);
  };
  return impl_->write<std::vector<run_record>>(std::move(work));
}

awaitable<std::vector<delivery_job>> pg_store::load_undone_deliveries() {
  auto work = [me = impl_->me, timeout = impl_->long_statements](pg_connection& db) {
    db.allow_long_statements(timeout);
    return pg_queries::take_deliveries(db, me, true, std::nullopt);
  };
  return impl_->write<std::vector<delivery_job>>(std::move(work));
}

awaitable<std::vector<bool>> pg_store::insert_runs(std::vector<run_record> runs) {
  auto work = [runs = std::move(runs), home = impl_->me.node](pg_connection& db) {
    return pg_queries::insert_runs(db, runs, home);
  };
  return impl_->write<std::vector<bool>>(std::move(work));
}

awaitable<void> pg_store::save_progress(std::vector<run_progress> progress) {
  auto work = [progress = std::move(progress), me = impl_->me, term = impl_->current_term()](pg_connection& db) {
    pg_queries::check_poller_term(db, me, term);
    pg_queries::save_progress(db, progress);
  };
  return impl_->write<void>(std::move(work));
}

awaitable<void> pg_store::record_outcome(run_outcome outcome) {
  auto work = [outcome = std::move(outcome), me = impl_->me, term = impl_->current_term()](pg_connection& db) {
    pg_queries::check_poller_term(db, me, term);
    pg_queries::record_outcome(db, outcome);
  };
  return impl_->write<void>(std::move(work));
}

awaitable<void> pg_store::update_delivery(delivery record) {
  auto work = [record = std::move(record), me = impl_->me](pg_connection& db) {
    pg_queries::update_delivery(db, record, me);
  };
  return impl_->write<void>(std::move(work));
}

awaitable<std::optional<run_record>> pg_store::find_run(std::string id) {
  auto work = [id = std::move(id)](pg_connection& db) { return pg_queries::find_run(db, id); };
  return impl_->read<std::optional<run_record>>(std::move(work));
}

awaitable<std::vector<std::optional<std::uint32_t>>> pg_store::owners_of(std::vector<std::string> ids) {
  auto work = [ids = std::move(ids)](pg_connection& db) { return pg_queries::owners_of(db, ids); };
  return impl_->read<std::vector<std::optional<std::uint32_t>>>(std::move(work));
}

awaitable<std::vector<run_record>> pg_store::list_runs(run_query query) {
  auto work = [query = std::move(query)](pg_connection& db) { return pg_queries::list_runs(db, query); };
  return impl_->read<std::vector<run_record>>(std::move(work));
}

awaitable<std::vector<delivery>> pg_store::list_deliveries(delivery_query query) {
  auto work = [query = std::move(query), timeout = impl_->long_statements](pg_connection& db) {
    if (!query.limit) db.allow_long_statements(timeout);  // all of them, for the daemon's own use
    return pg_queries::list_deliveries(db, query);
  };
  return impl_->read<std::vector<delivery>>(std::move(work));
}

awaitable<std::map<std::string, std::size_t>> pg_store::count_dead_deliveries() {
  auto work = [](pg_connection& db) { return pg_queries::count_dead_deliveries(db); };
  return impl_->read<std::map<std::string, std::size_t>>(std::move(work));
}

awaitable<std::optional<delivery_job>> pg_store::find_delivery(std::string delivery_id) {
  auto work = [id = std::move(delivery_id)](pg_connection& db) { return pg_queries::find_delivery(db, id); };
  return impl_->read<std::optional<delivery_job>>(std::move(work));
}

awaitable<bool> pg_store::delete_run(std::string id) {
  auto work = [id = std::move(id)](pg_connection& db) { return pg_queries::delete_run(db, id); };
  return impl_->write<bool>(std::move(work));
}

awaitable<std::size_t> pg_store::prune_finished(time_point cutoff) {
  auto work = [cutoff, timeout = impl_->long_statements](pg_connection& db) {
    db.allow_long_statements(timeout);  // a first prune after a long time may remove many runs
    return pg_queries::prune_finished(db, cutoff);
  };
  return impl_->write<std::size_t>(std::move(work));
}

awaitable<std::vector<subscription_position>> pg_store::load_subscription_positions() {
  auto work = [](pg_connection& db) { return pg_queries::load_subscription_positions(db); };
  return impl_->read<std::vector<subscription_position>>(std::move(work));
}

awaitable<std::vector<found_run>> pg_store::save_finds(subscription_finds finds) {
  auto work = [finds = std::move(finds), me = impl_->me, term = impl_->current_term()](pg_connection& db) {
    pg_queries::check_poller_term(db, me, term);
    return pg_queries::save_finds(db, finds, me.node);
  };
  return impl_->write<std::vector<found_run>>(std::move(work));
}

awaitable<void> pg_store::drop_subscription_position(std::string subscription, std::string kind) {
  auto work = [subscription = std::move(subscription), kind = std::move(kind)](pg_connection& db) {
    pg_queries::drop_subscription_position(db, subscription, kind);
  };
  return impl_->write<void>(std::move(work));
}

awaitable<std::vector<recorded_event>> pg_store::events_after(event_position after, std::size_t limit) {
  auto work = [after, limit](pg_connection& db) { return pg_queries::events_after(db, after, limit); };
  return impl_->read<std::vector<recorded_event>>(std::move(work));
}

awaitable<event_position> pg_store::newest_event_position() {
  auto work = [](pg_connection& db) { return pg_queries::newest_event_position(db); };
  return impl_->read<event_position>(std::move(work));
}

// ---- cluster_store ----

const std::string& pg_store::node_name() const { return impl_->me.node; }

const std::string& pg_store::instance_id() const { return impl_->me.instance_id; }

awaitable<heartbeat_result> pg_store::heartbeat(std::chrono::milliseconds dead_after) {
  auto work = [me = impl_->me, dead_after](pg_connection& db) { return pg_queries::heartbeat(db, me, dead_after); };
  return impl_->on_lease<heartbeat_result>(std::move(work));
}

awaitable<std::optional<std::uint64_t>> pg_store::claim_poller(std::chrono::milliseconds ttl) {
  auto work = [me = impl_->me, ttl](pg_connection& db) { return pg_queries::claim_poller(db, me, ttl); };
  return impl_->on_lease<std::optional<std::uint64_t>>(std::move(work));
}

awaitable<void> pg_store::resign_poller() {
  auto work = [me = impl_->me](pg_connection& db) { pg_queries::resign_poller(db, me); };
  return impl_->on_lease<void>(std::move(work));
}

void pg_store::set_poller_term(std::optional<std::uint64_t> term) {
  std::lock_guard lock(impl_->term_mutex);
  impl_->poller_term = term;
}

awaitable<std::vector<run_record>> pg_store::pick_new_runs(std::size_t limit) {
  auto work = [limit, me = impl_->me, term = impl_->current_term()](pg_connection& db) {
    pg_queries::check_poller_term(db, me, term);
    return pg_queries::pick_new_runs(db, limit);
  };
  return impl_->write<std::vector<run_record>>(std::move(work));
}

awaitable<std::vector<delivery_job>> pg_store::take_new_deliveries(std::size_t limit) {
  auto work = [limit, me = impl_->me](pg_connection& db) { return pg_queries::take_deliveries(db, me, false, limit); };
  return impl_->write<std::vector<delivery_job>>(std::move(work));
}

awaitable<std::size_t> pg_store::import_runs(std::vector<run_record> runs) {
  auto work = [runs = std::move(runs), home = impl_->me.node, timeout = impl_->long_statements](pg_connection& db) {
    db.allow_long_statements(timeout);
    const auto fresh = pg_queries::insert_runs(db, runs, home);
    return static_cast<std::size_t>(std::count(fresh.begin(), fresh.end(), true));
  };
  return impl_->write<std::size_t>(std::move(work));
}

awaitable<std::size_t> pg_store::import_subscription_positions(std::vector<subscription_position> positions) {
  auto work = [positions = std::move(positions)](pg_connection& db) {
    return pg_queries::import_subscription_positions(db, positions);
  };
  return impl_->write<std::size_t>(std::move(work));
}

std::uint64_t pg_store::commit_count() const noexcept { return impl_->commits.load(std::memory_order_relaxed); }

}  // namespace hookless
