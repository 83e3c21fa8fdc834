// The SQLite state store: a worker thread with a job queue, group commit, and the SQL for each
// state_store call (see sqlite_store.hpp for the contract).
#include "core/store/sqlite_store.hpp"

#include "core/store/sqlite_file_lock.hpp"
#include "core/store/sqlite_handle.hpp"
#include "core/store/sqlite_schema.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <future>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

namespace hookless {

namespace {

namespace fs = std::filesystem;

// ---- conversions between the records and their columns ----

std::int64_t to_ms(time_point t) {
  return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::optional<std::int64_t> to_ms(const std::optional<time_point>& t) {
  if (!t) return std::nullopt;
  return to_ms(*t);
}

time_point from_ms(std::int64_t ms) { return time_point{std::chrono::milliseconds{ms}}; }

std::optional<time_point> from_ms(const std::optional<std::int64_t>& ms) {
  if (!ms) return std::nullopt;
  return from_ms(*ms);
}

// A state column holds one of the names run.hpp gives; anything else is a bug or a foreign file.
run_state stored_run_state(const std::string& text) {
  if (const auto state = parse_run_state(text)) return *state;
  throw std::runtime_error("state store: unknown run state '" + text + "'");
}

delivery_state stored_delivery_state(const std::string& text) {
  if (const auto state = parse_delivery_state(text)) return *state;
  throw std::runtime_error("state store: unknown delivery state '" + text + "'");
}

std::string sinks_to_json(const std::vector<std::string>& sinks) {
  boost::json::array array;
  array.reserve(sinks.size());
  for (const auto& sink : sinks) array.emplace_back(sink);
  return boost::json::serialize(array);
}

std::vector<std::string> sinks_from_json(const std::string& text) {
  // Named, not a temporary in the range-for: the parsed value must outlive the loop.
  const auto parsed = boost::json::parse(text);
  std::vector<std::string> sinks;
  for (const auto& value : parsed.as_array()) sinks.emplace_back(value.as_string());
  return sinks;
}

boost::json::object context_from_json(const std::string& text) {
  if (text == "{}") return {};  // the common case, without a parse
  auto parsed = boost::json::parse(text);
  return std::move(parsed.as_object());  // moved, not copied, out of the parsed value
}

std::int64_t to_int64(std::size_t value) {
  constexpr auto max = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(value > max ? max : value);
}

// ---- the SQL ----

constexpr const char* run_columns =
    "r.seq, r.id, r.kind, r.owner_uid, r.state, r.status, r.outcome, r.polls, r.registered_at, r.updated_at, "
    "r.next_poll_at, r.finished_at, r.deadline_at, r.sinks, r.context, r.looked_at";

// A run row (run_columns, from `first`); also returns its seq through `seq`.
run_record read_run(const sqlite_stmt& row, std::int64_t& seq) {
  run_record run;
  seq = row.column_int64(0);
  run.id = row.column_text(1);
  run.kind = row.column_text(2);
  run.owner_uid = static_cast<std::uint32_t>(row.column_int64(3));
  run.state = stored_run_state(row.column_text(4));
  run.status = row.column_optional_text(5);
  run.outcome = row.column_optional_text(6);
  run.polls = static_cast<std::uint32_t>(row.column_int64(7));
  run.registered_at = from_ms(row.column_int64(8));
  run.updated_at = from_ms(row.column_int64(9));
  run.next_poll_at = from_ms(row.column_optional_int64(10));
  run.finished_at = from_ms(row.column_optional_int64(11));
  run.deadline_at = from_ms(row.column_int64(12));
  run.sinks = sinks_from_json(row.column_text(13));
  run.context = context_from_json(row.column_text(14));
  run.looked_at = from_ms(row.column_int64(15));
  return run;
}

constexpr const char* delivery_columns =
    "d.id, d.event_id, d.run_id, d.sink, d.state, d.attempts, d.last_error, d.next_attempt_at, d.redelivered_at";
constexpr int delivery_column_count = 9;

delivery read_delivery(const sqlite_stmt& row, int first) {
  delivery record;
  record.id = row.column_text(first);
  record.event_id = row.column_text(first + 1);
  record.run_id = row.column_text(first + 2);
  record.sink = row.column_text(first + 3);
  record.state = stored_delivery_state(row.column_text(first + 4));
  record.attempts = static_cast<std::uint32_t>(row.column_int64(first + 5));
  record.last_error = row.column_optional_text(first + 6);
  record.next_attempt_at = from_ms(row.column_optional_int64(first + 7));
  record.redelivered_at = from_ms(row.column_optional_int64(first + 8));
  return record;
}

run_event read_event(const sqlite_stmt& row, int first) {
  return run_event{row.column_text(first), row.column_text(first + 1), row.column_text(first + 2)};
}

// OR IGNORE on event_id: replaying an outcome after a crash adds nothing twice.
void insert_event(sqlite_db& db, const std::string& run_id, const run_event& event) {
  auto stmt = db.cached(
      "INSERT OR IGNORE INTO events (run_id, seq, event_id, event_type, body) "
      "VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE run_id = ?1), ?2, ?3, ?4)");
  stmt->bind_text(1, run_id);
  stmt->bind_text(2, event.event_id);
  stmt->bind_text(3, event.event_type);
  stmt->bind_text(4, event.body);
  stmt->execute();
}

void insert_delivery(sqlite_db& db, const delivery& record) {
  auto stmt = db.cached(
      "INSERT OR IGNORE INTO deliveries (id, event_id, run_id, sink, state, attempts, last_error, "
      "next_attempt_at, redelivered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  stmt->bind_text(1, record.id.empty() ? record.event_id + ":" + record.sink : record.id);
  stmt->bind_text(2, record.event_id);
  stmt->bind_text(3, record.run_id);
  stmt->bind_text(4, record.sink);
  stmt->bind_text(5, to_string(record.state));
  stmt->bind_int64(6, record.attempts);
  stmt->bind_optional_text(7, record.last_error);
  stmt->bind_optional_int64(8, to_ms(record.next_attempt_at));
  stmt->bind_optional_int64(9, to_ms(record.redelivered_at));
  stmt->execute();
}

std::vector<bool> insert_runs_now(sqlite_db& db, const std::vector<run_record>& runs) {
  std::vector<bool> inserted;
  inserted.reserve(runs.size());
  for (const auto& run : runs) {
    {
      auto stmt = db.cached(
          "INSERT OR IGNORE INTO runs (id, kind, owner_uid, state, status, outcome, polls, registered_at, "
          "updated_at, next_poll_at, finished_at, deadline_at, sinks, context, looked_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)");
      stmt->bind_text(1, run.id);
      stmt->bind_text(2, run.kind);
      stmt->bind_int64(3, run.owner_uid);
      stmt->bind_text(4, to_string(run.state));
      stmt->bind_optional_text(5, run.status);
      stmt->bind_optional_text(6, run.outcome);
      stmt->bind_int64(7, run.polls);
      stmt->bind_int64(8, to_ms(run.registered_at));
      stmt->bind_int64(9, to_ms(run.updated_at));
      stmt->bind_optional_int64(10, to_ms(run.next_poll_at));
      stmt->bind_optional_int64(11, to_ms(run.finished_at));
      stmt->bind_int64(12, to_ms(run.deadline_at));
      stmt->bind_text(13, sinks_to_json(run.sinks));
      stmt->bind_text(14, boost::json::serialize(run.context));
      stmt->bind_int64(15, to_ms(run.looked_at));
      stmt->execute();
    }
    // A run already stored keeps what it has, events included.
    inserted.push_back(db.changes() != 0);
    if (!inserted.back()) continue;
    for (const auto& event : run.events) insert_event(db, run.id, event);
    for (const auto& record : run.deliveries) insert_delivery(db, record);
  }
  return inserted;
}

void save_progress_now(sqlite_db& db, const std::vector<run_progress>& progress) {
  // Only pending runs: progress that arrives after the outcome must not overwrite it. polls never
  // goes back, whatever order saves land in.
  auto stmt = db.cached(
      "UPDATE runs SET status = ?2, polls = MAX(polls, ?3), updated_at = ?4, next_poll_at = ?5, looked_at = ?6 "
      "WHERE id = ?1 AND state = 'pending'");
  for (const auto& item : progress) {
    stmt->bind_text(1, item.run_id);
    stmt->bind_optional_text(2, item.status);
    stmt->bind_int64(3, item.polls);
    stmt->bind_int64(4, to_ms(item.updated_at));
    stmt->bind_optional_int64(5, to_ms(item.next_poll_at));
    stmt->bind_int64(6, to_ms(item.looked_at));
    stmt->execute();
  }
}

void record_outcome_now(sqlite_db& db, const run_outcome& outcome) {
  const auto& run = outcome.run;
  {
    auto stmt = db.cached(
        "UPDATE runs SET state = ?2, status = ?3, outcome = ?4, polls = ?5, updated_at = ?6, next_poll_at = ?7, "
        "finished_at = ?8, deadline_at = ?9, looked_at = ?10 WHERE id = ?1");
    stmt->bind_text(1, run.id);
    stmt->bind_text(2, to_string(run.state));
    stmt->bind_optional_text(3, run.status);
    stmt->bind_optional_text(4, run.outcome);
    stmt->bind_int64(5, run.polls);
    stmt->bind_int64(6, to_ms(run.updated_at));
    stmt->bind_optional_int64(7, to_ms(run.next_poll_at));
    stmt->bind_optional_int64(8, to_ms(run.finished_at));
    stmt->bind_int64(9, to_ms(run.deadline_at));
    stmt->bind_int64(10, to_ms(run.looked_at));
    stmt->execute();
  }
  // The run was forgotten (DELETE /v1/runs/{id}) while it was being polled: nothing is delivered.
  if (db.changes() == 0) return;
  for (const auto& event : outcome.new_events) insert_event(db, run.id, event);
  for (const auto& record : outcome.new_deliveries) insert_delivery(db, record);
}

void update_delivery_now(sqlite_db& db, const delivery& record) {
  auto stmt = db.cached(
      "UPDATE deliveries SET state = ?2, attempts = ?3, last_error = ?4, next_attempt_at = ?5, redelivered_at = ?6 "
      "WHERE id = ?1");
  stmt->bind_text(1, record.id);
  stmt->bind_text(2, to_string(record.state));
  stmt->bind_int64(3, record.attempts);
  stmt->bind_optional_text(4, record.last_error);
  stmt->bind_optional_int64(5, to_ms(record.next_attempt_at));
  stmt->bind_optional_int64(6, to_ms(record.redelivered_at));
  stmt->execute();
}

bool delete_run_now(sqlite_db& db, const std::string& id) {
  auto stmt = db.cached("DELETE FROM runs WHERE id = ?1");  // events and deliveries cascade
  stmt->bind_text(1, id);
  stmt->execute();
  return db.changes() > 0;
}

std::size_t prune_finished_now(sqlite_db& db, time_point cutoff) {
  auto stmt = db.cached(
      "DELETE FROM runs WHERE state = 'finished' AND finished_at < ?1 AND NOT EXISTS "
      "(SELECT 1 FROM deliveries d WHERE d.run_id = runs.id AND d.state = 'pending')");
  stmt->bind_int64(1, to_ms(cutoff));
  stmt->execute();
  return static_cast<std::size_t>(db.changes());
}

enum class event_bodies { read, skip };

// Fills in one run's events (in order) and deliveries (in event order, then by sink). Skipped
// bodies stay empty and are never read: body is the row's last column, so SQLite stops before it
// and its overflow pages.
void attach_children(sqlite_db& db, run_record& run, event_bodies bodies) {
  {
    auto stmt = db.cached(bodies == event_bodies::read
                              ? "SELECT event_id, event_type, body FROM events WHERE run_id = ?1 ORDER BY seq"
                              : "SELECT event_id, event_type, '' FROM events WHERE run_id = ?1 ORDER BY seq");
    stmt->bind_text(1, run.id);
    while (stmt->step()) run.events.push_back(read_event(*stmt, 0));
  }
  auto stmt = db.cached(std::string("SELECT ") + delivery_columns +
                        " FROM deliveries d JOIN events e ON e.event_id = d.event_id WHERE d.run_id = ?1 "
                        "ORDER BY e.seq, d.sink");
  stmt->bind_text(1, run.id);
  while (stmt->step()) run.deliveries.push_back(read_delivery(*stmt, 0));
}

std::vector<run_record> load_pending_now(sqlite_db& db) {
  std::vector<run_record> runs;
  std::vector<std::int64_t> seqs;
  {
    auto count = db.cached("SELECT COUNT(*) FROM runs WHERE state = 'pending'");
    if (count->step()) {
      runs.reserve(static_cast<std::size_t>(count->column_int64(0)));
      seqs.reserve(runs.capacity());
    }
  }
  {
    auto stmt = db.cached(std::string("SELECT ") + run_columns +
                          " FROM runs r WHERE r.state = 'pending' ORDER BY r.seq");
    while (stmt->step()) {
      std::int64_t seq = 0;
      runs.push_back(read_run(*stmt, seq));
      seqs.push_back(seq);
    }
  }
  // Children come in one query each, sorted like the runs, and are merged in one pass: three
  // queries in all instead of two per run.
  {
    auto stmt = db.cached(
        "SELECT r.seq, e.event_id, e.event_type, e.body FROM runs r JOIN events e ON e.run_id = r.id "
        "WHERE r.state = 'pending' ORDER BY r.seq, e.seq");
    std::size_t at = 0;
    while (stmt->step()) {
      const auto seq = stmt->column_int64(0);
      while (at < seqs.size() && seqs[at] < seq) ++at;
      if (at < seqs.size() && seqs[at] == seq) runs[at].events.push_back(read_event(*stmt, 1));
    }
  }
  {
    auto stmt = db.cached(std::string("SELECT r.seq, ") + delivery_columns +
                          " FROM runs r JOIN deliveries d ON d.run_id = r.id JOIN events e ON e.event_id = "
                          "d.event_id WHERE r.state = 'pending' ORDER BY r.seq, e.seq, d.sink");
    std::size_t at = 0;
    while (stmt->step()) {
      const auto seq = stmt->column_int64(0);
      while (at < seqs.size() && seqs[at] < seq) ++at;
      if (at < seqs.size() && seqs[at] == seq) runs[at].deliveries.push_back(read_delivery(*stmt, 1));
    }
  }
  return runs;
}

std::vector<delivery_job> load_undone_deliveries_now(sqlite_db& db) {
  std::vector<delivery_job> jobs;
  auto stmt = db.cached(std::string("SELECT ") + delivery_columns +
                        ", e.event_type, e.body FROM deliveries d JOIN events e ON e.event_id = d.event_id "
                        "JOIN runs r ON r.id = d.run_id WHERE d.state = 'pending' ORDER BY r.seq, e.seq, d.sink");
  while (stmt->step()) {
    jobs.push_back(delivery_job{read_delivery(*stmt, 0), stmt->column_text(delivery_column_count),
                                stmt->column_text(delivery_column_count + 1)});
  }
  return jobs;
}

std::optional<run_record> find_run_now(sqlite_db& db, const std::string& id) {
  std::optional<run_record> run;
  {
    auto stmt = db.cached(std::string("SELECT ") + run_columns + " FROM runs r WHERE r.id = ?1");
    stmt->bind_text(1, id);
    if (!stmt->step()) return std::nullopt;
    std::int64_t seq = 0;
    run = read_run(*stmt, seq);
  }
  attach_children(db, *run, event_bodies::read);
  return run;
}

std::vector<std::optional<std::uint32_t>> owners_of_now(sqlite_db& db, const std::vector<std::string>& ids) {
  std::vector<std::optional<std::uint32_t>> owners;
  owners.reserve(ids.size());
  for (const auto& id : ids) {
    auto stmt = db.cached("SELECT owner_uid FROM runs WHERE id = ?1");
    stmt->bind_text(1, id);
    owners.push_back(stmt->step() ? std::optional{static_cast<std::uint32_t>(stmt->column_int64(0))} : std::nullopt);
  }
  return owners;
}

std::vector<run_record> list_runs_now(sqlite_db& db, const run_query& query) {
  // At most eight shapes of this statement exist, each prepared once and cached.
  std::string sql = std::string("SELECT ") + run_columns + " FROM runs r WHERE 1 = 1";
  if (query.state) sql += " AND r.state = ?1";
  if (query.owner) sql += " AND r.owner_uid = ?2";
  // An unknown `after` ID compares with NULL and so ends the listing.
  if (query.after) sql += " AND r.seq < (SELECT seq FROM runs WHERE id = ?3)";
  sql += " ORDER BY r.seq DESC LIMIT ?4";
  std::vector<run_record> runs;
  {
    auto stmt = db.cached(sql);
    if (query.state) stmt->bind_text(1, to_string(*query.state));
    if (query.owner) stmt->bind_int64(2, *query.owner);
    if (query.after) stmt->bind_text(3, *query.after);
    stmt->bind_int64(4, to_int64(query.limit));
    while (stmt->step()) {
      std::int64_t seq = 0;
      runs.push_back(read_run(*stmt, seq));
    }
  }
  for (auto& run : runs) attach_children(db, run, event_bodies::skip);
  return runs;
}

// Oldest first: in the order the deliveries were made (rowid), which pages by an index range scan
// of deliveries_by_state (state, rowid) instead of sorting every match for each page.
std::vector<delivery> list_deliveries_now(sqlite_db& db, const delivery_query& query) {
  std::string sql = std::string("SELECT ") + delivery_columns + " FROM deliveries d";
  if (query.owner) sql += " JOIN runs r ON r.id = d.run_id";
  sql += query.state ? " WHERE d.state = ?1" : " WHERE d.state IN ('pending', 'dead')";
  if (query.owner) sql += " AND r.owner_uid = ?2";
  // An unknown `after` ID compares with NULL and so ends the listing, as list_runs does.
  if (query.after) sql += " AND d.rowid > (SELECT rowid FROM deliveries WHERE id = ?3)";
  sql += " ORDER BY d.rowid LIMIT ?4";
  std::vector<delivery> records;
  auto stmt = db.cached(sql);
  if (query.state) stmt->bind_text(1, to_string(*query.state));
  if (query.owner) stmt->bind_int64(2, *query.owner);
  if (query.after) stmt->bind_text(3, *query.after);
  stmt->bind_int64(4, query.limit ? to_int64(*query.limit) : -1);  // a negative LIMIT is none
  while (stmt->step()) records.push_back(read_delivery(*stmt, 0));
  return records;
}

std::map<std::string, std::size_t> count_dead_deliveries_now(sqlite_db& db) {
  std::map<std::string, std::size_t> counts;
  auto stmt = db.cached("SELECT sink, COUNT(*) FROM deliveries WHERE state = 'dead' GROUP BY sink");
  while (stmt->step()) counts.emplace(stmt->column_text(0), static_cast<std::size_t>(stmt->column_int64(1)));
  return counts;
}

std::optional<delivery_job> find_delivery_now(sqlite_db& db, const std::string& id) {
  auto stmt = db.cached(std::string("SELECT ") + delivery_columns +
                        ", e.event_type, e.body FROM deliveries d JOIN events e ON e.event_id = d.event_id "
                        "WHERE d.id = ?1");
  stmt->bind_text(1, id);
  if (!stmt->step()) return std::nullopt;
  return delivery_job{read_delivery(*stmt, 0), stmt->column_text(delivery_column_count),
                      stmt->column_text(delivery_column_count + 1)};
}

std::string check_integrity_now(sqlite_db& db) {
  sqlite_stmt stmt(db, "PRAGMA integrity_check");
  std::string findings;
  while (stmt.step()) {
    if (!findings.empty()) findings += '\n';
    findings += stmt.column_text(0);
  }
  return findings;
}

// ---- errors ----

enum class failure_kind {
  full,    // nothing was written; refuse new work, keep serving
  failed,  // the data may not be on disk: stop
  other,   // this call's own problem (a bug, a constraint)
};

failure_kind classify(int code) {
  switch (code & 0xff) {
    case SQLITE_FULL:
    case SQLITE_BUSY:    // another process holds the file: refuse for now, nothing is lost
    case SQLITE_LOCKED:
      return failure_kind::full;
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
      return failure_kind::failed;
    default:
      return failure_kind::other;
  }
}

bool is_damage(int code) {
  const int primary = code & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

// What an operator reads when the state file is damaged: which file, that it was left alone, and
// how to get back what it still holds.
std::string damaged_file_message(const std::string& path, const std::string& finding) {
  return "state file " + path + " is damaged (" + finding +
         "); hooklessd will not run on it and has left it as it is. To recover what it holds, stop hooklessd and run `sqlite3 " +
         path + " .recover | sqlite3 " + path + ".recovered`, then move " + path +
         " (with its -wal and -shm files) aside and the recovered file in its place; or move them aside to start "
         "empty, forgetting the runs it tracked (see \"A damaged state file\" in docs/running-as-a-service.md)";
}

std::exception_ptr translate(const sqlite_error& error, const std::string& path) {
  if (is_damage(error.code())) return std::make_exception_ptr(store_failed(damaged_file_message(path, error.what())));
  switch (classify(error.code())) {
    case failure_kind::full:
      if (error.primary_code() == SQLITE_FULL) {
        return std::make_exception_ptr(
            store_full("state store is full (disk or quota): " + std::string(error.what())));
      }
      return std::make_exception_ptr(
          store_full("state store is locked by another process: " + std::string(error.what())));
    case failure_kind::failed:
      return std::make_exception_ptr(store_failed("state store failed, data may not be on disk: " +
                                                  std::string(error.what())));
    case failure_kind::other:
      break;
  }
  return std::make_exception_ptr(std::runtime_error("state store: " + std::string(error.what())));
}

// ---- opening ----

// quick_check found damage: the file is SQLite but cannot be trusted.
struct damaged_file : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// How long the check after an unclean stop may read: a few GB of state must not hold the start
// past systemd's start timeout (and a start killed for that would be unclean again, every time).
constexpr auto quick_check_budget = std::chrono::seconds{10};

// PRAGMA quick_check within quick_check_budget. Findings ("ok" when none), or nullopt when the
// budget ran out first (the rest of the file is checked as it is read: SQLite reports a damaged
// page when it meets one).
std::optional<std::string> quick_check(sqlite_db& db) {
  auto deadline = std::chrono::steady_clock::now() + quick_check_budget;
  const auto past_deadline = [](void* until) {
    return std::chrono::steady_clock::now() > *static_cast<std::chrono::steady_clock::time_point*>(until) ? 1 : 0;
  };
  sqlite3_progress_handler(db.handle(), 10'000, past_deadline, &deadline);
  struct handler_removal {
    sqlite_db& db;
    ~handler_removal() { sqlite3_progress_handler(db.handle(), 0, nullptr, nullptr); }
  } removal{db};
  std::string findings;
  try {
    sqlite_stmt check(db, "PRAGMA quick_check");
    while (check.step()) {
      if (!findings.empty()) findings += "; ";
      findings += check.column_text(0);
    }
  } catch (const sqlite_error& e) {
    if (e.primary_code() == SQLITE_INTERRUPT) return std::nullopt;
    throw;
  }
  return findings;
}

// Opens the file and checks it at a cost that does not grow with its size, except after an
// unclean stop (`unclean`), where quick_check reads it (within quick_check_budget): a clean stop
// checkpoints a file that SQLite kept consistent, while a crash or power loss on storage that
// does not honour fsync is what damages one.
std::unique_ptr<sqlite_db> open_and_check(const std::string& path, bool unclean, open_report& report) {
  auto db = std::make_unique<sqlite_db>(path);
  try {
    sqlite3_busy_timeout(db->handle(), 5000);
    // WAL + FULL: a commit is on disk when COMMIT returns, and readers never block the writer.
    const auto mode = db->query_text("PRAGMA journal_mode = WAL");
    if (!mode || *mode != "wal") {
      throw store_failed("state file " + path + " cannot use WAL journaling (got '" + mode.value_or("") + "')");
    }
    // journal_size_limit: after a checkpoint, a WAL grown by one huge batch shrinks back to 64 MiB.
    // temp_store: sorts stay in memory, so a full /tmp never fails a query.
    // cell_size_check: every page read is checked for cells out of bounds, so damage met later
    // fails that read (and stops the daemon) rather than spreading.
    db->exec(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; "
        "PRAGMA cache_size = -32768; PRAGMA journal_size_limit = 67108864; PRAGMA cell_size_check = ON;");
    // Reads the header and the whole schema: a file that is not SQLite, or whose schema is damaged,
    // fails here at once.
    db->query_int64("SELECT COUNT(*) FROM sqlite_schema");
    if (unclean) {
      const auto findings = quick_check(*db);
      if (findings && *findings != "ok") throw damaged_file("quick_check: " + *findings);
      if (!findings) {
        report.messages.push_back("the last stop was unclean; quick_check of state file " + path +
                                  " did not finish within " + std::to_string(quick_check_budget.count()) +
                                  " s and was cut short (damage elsewhere stops the daemon when it is read)");
      }
    }
    migrate_schema(*db);
  } catch (...) {
    // A connection to a damaged file must not checkpoint its WAL into it on close: the file and its
    // WAL are left exactly as they are, for the operator to recover.
    sqlite3_db_config(db->handle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    throw;
  }
  return db;
}

std::unique_ptr<sqlite_db> open_state_file(const std::string& path, bool created, open_report& report) {
  report.created = created;
  // A clean close checkpoints the WAL and removes it: one that is there was left by a crash.
  std::error_code error;
  const bool unclean = fs::exists(path + "-wal", error);
  try {
    return open_and_check(path, unclean, report);
  } catch (const damaged_file& e) {
    throw store_failed(damaged_file_message(path, e.what()));
  } catch (const sqlite_error& e) {
    if (is_damage(e.code())) throw store_failed(damaged_file_message(path, e.what()));
    throw store_failed("cannot open state file " + path + ": " + e.what());
  }
}

// ---- jobs ----

// One queued call. execute() runs on the store's thread; complete() hands the result back to the
// caller's executor.
class store_job {
 public:
  explicit store_job(bool write) : write_(write) {}
  store_job(const store_job&) = delete;
  store_job& operator=(const store_job&) = delete;
  virtual ~store_job() = default;

  bool is_write() const noexcept { return write_; }
  bool has_error() const noexcept { return static_cast<bool>(error_); }
  void set_error(std::exception_ptr error) noexcept { error_ = std::move(error); }

  virtual void execute(sqlite_db& db) = 0;
  virtual void complete() noexcept = 0;

 protected:
  std::exception_ptr error_;

 private:
  bool write_;
};

struct no_result {};

template <typename Result, typename Work, typename Handler>
class job_impl final : public store_job {
 public:
  using executor_type = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;

  job_impl(bool write, Work work, Handler handler, const boost::asio::any_io_executor& fallback)
      : store_job(write),
        work_(std::move(work)),
        guard_(boost::asio::get_associated_executor(handler, fallback)),
        handler_(std::move(handler)) {}

  void execute(sqlite_db& db) override {
    if constexpr (std::is_void_v<Result>) {
      work_(db);
    } else {
      result_ = work_(db);
    }
  }

  void complete() noexcept override {
    auto executor = guard_.get_executor();
    if constexpr (std::is_void_v<Result>) {
      auto resume = [handler = std::move(handler_), error = error_]() mutable { std::move(handler)(error); };
      boost::asio::post(executor, std::move(resume));
    } else {
      auto resume = [handler = std::move(handler_), error = error_, result = std::move(result_)]() mutable {
        std::move(handler)(error, std::move(result));
      };
      boost::asio::post(executor, std::move(resume));
    }
    guard_.reset();  // after the post, which holds the executor's work from here on
  }

 private:
  using stored_result = std::conditional_t<std::is_void_v<Result>, no_result, Result>;

  Work work_;
  boost::asio::executor_work_guard<executor_type> guard_;
  Handler handler_;
  stored_result result_{};
};

template <typename Result>
struct completion_signature {
  using type = void(std::exception_ptr, Result);
};
template <>
struct completion_signature<void> {
  using type = void(std::exception_ptr);
};

}  // namespace

// ---- the worker ----

struct sqlite_store::impl {
  impl(boost::asio::any_io_executor executor, std::string file)
      : caller_executor(std::move(executor)), path(std::move(file)) {}

  boost::asio::any_io_executor caller_executor;
  std::string path;

  std::mutex mutex;  // guards queue, stopping, commit_hook
  std::condition_variable wake;
  std::vector<std::unique_ptr<store_job>> queue;
  bool stopping = false;
  std::function<int()> commit_hook;

  std::atomic<std::uint64_t> commits{0};
  std::promise<void> opened;  // kept here, not on open()'s stack, so the worker never outlives it
  std::thread worker;

  // Touched only by the worker thread. The lock is declared first so it outlives the connection.
  std::optional<sqlite_file_lock> file_lock;
  std::unique_ptr<sqlite_db> db;
  std::optional<std::string> failure;  // set once the store may have lost data

  // Packs `work` (a callable taking sqlite_db&) as a job; the returned awaitable queues it when
  // awaited and resumes with its result or exception.
  template <typename Result, typename Work>
  awaitable<Result> submit(bool write, Work work) {
    auto initiation = [this, write](auto handler, Work job_work) {
      using handler_type = decltype(handler);
      enqueue(std::make_unique<job_impl<Result, Work, handler_type>>(write, std::move(job_work), std::move(handler),
                                                                       caller_executor));
    };
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                       typename completion_signature<Result>::type>(
        std::move(initiation), boost::asio::use_awaitable, std::move(work));
  }

  void enqueue(std::unique_ptr<store_job> job) {
    {
      std::lock_guard lock(mutex);
      queue.push_back(std::move(job));
    }
    wake.notify_one();
  }

  void run(open_report& report) {
    try {
      std::error_code error;
      const bool created = !fs::exists(path, error) || fs::file_size(path, error) == 0;
      file_lock.emplace(path);
      if (auto warning = file_lock->readable_by_others()) report.messages.push_back(std::move(*warning));
      db = open_state_file(path, created, report);
    } catch (...) {
      file_lock.reset();
      opened.set_exception(std::current_exception());
      return;
    }
    opened.set_value();
    std::vector<std::unique_ptr<store_job>> batch;
    for (;;) {
      {
        std::unique_lock lock(mutex);
        wake.wait(lock, [this] { return stopping || !queue.empty(); });
        if (queue.empty()) break;  // stopping, and every job is done
        batch.swap(queue);
      }
      process(batch);
      batch.clear();
    }
    db.reset();  // a clean close checkpoints the WAL into the main file
    file_lock.reset();
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
          job->execute(*db);
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
      db->exec("BEGIN IMMEDIATE");
    } catch (const sqlite_error& e) {
      abort_batch(writes, e);
      return;
    }
    for (auto* job : writes) {
      try {
        db->cached("SAVEPOINT job")->execute();
        job->execute(*db);
        db->cached("RELEASE job")->execute();
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
      db->exec("COMMIT");
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
      db->cached("ROLLBACK TO job")->execute();
      db->cached("RELEASE job")->execute();
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
    if (db->in_transaction()) {
      try {
        db->exec("ROLLBACK");
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
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_one();
  impl_->worker.join();
}

awaitable<std::vector<run_record>> sqlite_store::load_pending() {
  auto work = [](sqlite_db& db) { return load_pending_now(db); };
  return impl_->submit<std::vector<run_record>>(false, std::move(work));
}

awaitable<std::vector<delivery_job>> sqlite_store::load_undone_deliveries() {
  auto work = [](sqlite_db& db) { return load_undone_deliveries_now(db); };
  return impl_->submit<std::vector<delivery_job>>(false, std::move(work));
}

awaitable<std::vector<bool>> sqlite_store::insert_runs(std::vector<run_record> runs) {
  auto work = [runs = std::move(runs)](sqlite_db& db) { return insert_runs_now(db, runs); };
  return impl_->submit<std::vector<bool>>(true, std::move(work));
}

awaitable<void> sqlite_store::save_progress(std::vector<run_progress> progress) {
  auto work = [progress = std::move(progress)](sqlite_db& db) { save_progress_now(db, progress); };
  return impl_->submit<void>(true, std::move(work));
}

awaitable<void> sqlite_store::record_outcome(run_outcome outcome) {
  auto work = [outcome = std::move(outcome)](sqlite_db& db) { record_outcome_now(db, outcome); };
  return impl_->submit<void>(true, std::move(work));
}

awaitable<void> sqlite_store::update_delivery(delivery record) {
  auto work = [record = std::move(record)](sqlite_db& db) { update_delivery_now(db, record); };
  return impl_->submit<void>(true, std::move(work));
}

awaitable<std::optional<run_record>> sqlite_store::find_run(std::string id) {
  auto work = [id = std::move(id)](sqlite_db& db) { return find_run_now(db, id); };
  return impl_->submit<std::optional<run_record>>(false, std::move(work));
}

awaitable<std::vector<std::optional<std::uint32_t>>> sqlite_store::owners_of(std::vector<std::string> ids) {
  auto work = [ids = std::move(ids)](sqlite_db& db) { return owners_of_now(db, ids); };
  return impl_->submit<std::vector<std::optional<std::uint32_t>>>(false, std::move(work));
}

awaitable<std::vector<run_record>> sqlite_store::list_runs(run_query query) {
  auto work = [query = std::move(query)](sqlite_db& db) { return list_runs_now(db, query); };
  return impl_->submit<std::vector<run_record>>(false, std::move(work));
}

awaitable<std::vector<delivery>> sqlite_store::list_deliveries(delivery_query query) {
  auto work = [query](sqlite_db& db) { return list_deliveries_now(db, query); };
  return impl_->submit<std::vector<delivery>>(false, std::move(work));
}

awaitable<std::map<std::string, std::size_t>> sqlite_store::count_dead_deliveries() {
  auto work = [](sqlite_db& db) { return count_dead_deliveries_now(db); };
  return impl_->submit<std::map<std::string, std::size_t>>(false, std::move(work));
}

awaitable<std::optional<delivery_job>> sqlite_store::find_delivery(std::string delivery_id) {
  auto work = [id = std::move(delivery_id)](sqlite_db& db) { return find_delivery_now(db, id); };
  return impl_->submit<std::optional<delivery_job>>(false, std::move(work));
}

awaitable<bool> sqlite_store::delete_run(std::string id) {
  auto work = [id = std::move(id)](sqlite_db& db) { return delete_run_now(db, id); };
  return impl_->submit<bool>(true, std::move(work));
}

awaitable<std::size_t> sqlite_store::prune_finished(time_point cutoff) {
  auto work = [cutoff](sqlite_db& db) { return prune_finished_now(db, cutoff); };
  return impl_->submit<std::size_t>(true, std::move(work));
}

awaitable<std::string> sqlite_store::check_integrity() {
  auto work = [](sqlite_db& db) { return check_integrity_now(db); };
  return impl_->submit<std::string>(false, std::move(work));
}

std::uint64_t sqlite_store::commit_count() const noexcept { return impl_->commits.load(std::memory_order_relaxed); }

void sqlite_store::set_commit_hook_for_testing(std::function<int()> hook) {
  std::lock_guard lock(impl_->mutex);
  impl_->commit_hook = std::move(hook);
}

}  // namespace hookless
