// The SQLite backend's SQL for each state_store call and the mapping between rows and records (see
// sqlite_queries.hpp).
#include "core/store/sqlite_queries.hpp"

#include "core/store/sqlite_handle.hpp"
#include "core/store/store_rows.hpp"

#include <utility>

namespace hookless::sqlite_queries {

namespace {

using namespace store_rows;

// SQLite's runs carry their registration order (seq) in front of the shared columns.
const std::string seq_and_run_columns = std::string("r.seq, ") + run_columns;

// A run row (seq_and_run_columns); also returns its seq through `seq`.
run_record read_run(const sqlite_stmt& row, std::int64_t& seq) {
  seq = row.column_int64(0);
  return store_rows::read_run(row, 1);
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

}  // namespace

bool insert_delivery(sqlite_db& db, const delivery& record) {
  auto stmt = db.cached(
      "INSERT OR IGNORE INTO deliveries (id, event_id, run_id, sink, state, attempts, last_error, "
      "next_attempt_at, redelivered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  stmt->bind_text(1, delivery_id_of(record));
  stmt->bind_text(2, record.event_id);
  stmt->bind_text(3, record.run_id);
  stmt->bind_text(4, record.sink);
  stmt->bind_text(5, to_string(record.state));
  stmt->bind_int64(6, record.attempts);
  stmt->bind_optional_text(7, record.last_error);
  stmt->bind_optional_int64(8, to_ms(record.next_attempt_at));
  stmt->bind_optional_int64(9, to_ms(record.redelivered_at));
  stmt->execute();
  return db.changes() != 0;
}

namespace {

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

}  // namespace

// ---- the calls ----

std::vector<bool> insert_runs(sqlite_db& db, const std::vector<run_record>& runs) {
  std::vector<bool> inserted;
  inserted.reserve(runs.size());
  for (const auto& run : runs) {
    {
      auto stmt = db.cached(
          "INSERT OR IGNORE INTO runs (id, kind, owner_uid, state, status, outcome, polls, registered_at, "
          "updated_at, next_poll_at, finished_at, deadline_at, sinks, context, looked_at, subscription) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
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
      stmt->bind_text(14, context_to_json(run.context));
      stmt->bind_int64(15, to_ms(run.looked_at));
      stmt->bind_optional_text(16, run.subscription);
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

void save_progress(sqlite_db& db, const std::vector<run_progress>& progress) {
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

void record_outcome(sqlite_db& db, const run_outcome& outcome) {
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

void update_delivery(sqlite_db& db, const delivery& record) {
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

bool delete_run(sqlite_db& db, const std::string& id) {
  auto stmt = db.cached("DELETE FROM runs WHERE id = ?1");  // events and deliveries cascade
  stmt->bind_text(1, id);
  stmt->execute();
  return db.changes() > 0;
}

std::size_t prune_finished(sqlite_db& db, time_point cutoff) {
  auto stmt = db.cached(
      "DELETE FROM runs WHERE state = 'finished' AND finished_at < ?1 AND NOT EXISTS "
      "(SELECT 1 FROM deliveries d WHERE d.run_id = runs.id AND d.state = 'pending')");
  stmt->bind_int64(1, to_ms(cutoff));
  stmt->execute();
  return static_cast<std::size_t>(db.changes());
}

std::vector<run_record> load_pending(sqlite_db& db) {
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
    auto stmt = db.cached("SELECT " + seq_and_run_columns + " FROM runs r WHERE r.state = 'pending' ORDER BY r.seq");
    while (stmt->step()) {
      std::int64_t seq = 0;
      runs.push_back(read_run(*stmt, seq));
      seqs.push_back(seq);
    }
  }
  // Children come in one query each, sorted like the runs, and are merged in one pass: three
  // queries in all instead of two per run. Events come without their bodies, which are never read
  // (as in attach_children's skip).
  {
    auto stmt = db.cached(
        "SELECT r.seq, e.event_id, e.event_type, '' FROM runs r JOIN events e ON e.run_id = r.id "
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

std::vector<delivery_job> load_undone_deliveries(sqlite_db& db) {
  std::vector<delivery_job> jobs;
  auto stmt = db.cached(std::string("SELECT ") + delivery_columns +
                        ", e.event_type, e.body FROM deliveries d JOIN events e ON e.event_id = d.event_id "
                        "JOIN runs r ON r.id = d.run_id WHERE d.state = 'pending' ORDER BY r.seq, e.seq, d.sink");
  while (stmt->step()) {
    jobs.push_back(delivery_job{read_delivery(*stmt, 0),
                                stmt->column_text(delivery_column_count),
                                stmt->column_text(delivery_column_count + 1),
                                {}});
  }
  return jobs;
}

std::optional<run_record> find_run(sqlite_db& db, const std::string& id) {
  std::optional<run_record> run;
  {
    auto stmt = db.cached("SELECT " + seq_and_run_columns + " FROM runs r WHERE r.id = ?1");
    stmt->bind_text(1, id);
    if (!stmt->step()) return std::nullopt;
    std::int64_t seq = 0;
    run = read_run(*stmt, seq);
  }
  attach_children(db, *run, event_bodies::read);
  return run;
}

std::vector<std::optional<std::uint32_t>> owners_of(sqlite_db& db, const std::vector<std::string>& ids) {
  std::vector<std::optional<std::uint32_t>> owners;
  owners.reserve(ids.size());
  for (const auto& id : ids) {
    auto stmt = db.cached("SELECT owner_uid FROM runs WHERE id = ?1");
    stmt->bind_text(1, id);
    owners.push_back(stmt->step() ? std::optional{static_cast<std::uint32_t>(stmt->column_int64(0))} : std::nullopt);
  }
  return owners;
}

std::vector<run_record> list_runs(sqlite_db& db, const run_query& query) {
  // At most 32 shapes of this statement exist, each prepared once and cached.
  std::string sql = "SELECT " + seq_and_run_columns + " FROM runs r WHERE 1 = 1";
  if (query.state) sql += " AND r.state = ?1";
  if (query.owner) sql += " AND r.owner_uid = ?2";
  if (query.kind) sql += " AND r.kind = ?5";
  if (query.outcome) sql += " AND r.outcome = ?6";
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
    if (query.kind) stmt->bind_text(5, *query.kind);
    if (query.outcome) stmt->bind_text(6, *query.outcome);
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
std::vector<delivery> list_deliveries(sqlite_db& db, const delivery_query& query) {
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

std::map<std::string, std::size_t> count_dead_deliveries(sqlite_db& db) {
  std::map<std::string, std::size_t> counts;
  auto stmt = db.cached("SELECT sink, COUNT(*) FROM deliveries WHERE state = 'dead' GROUP BY sink");
  while (stmt->step()) counts.emplace(stmt->column_text(0), static_cast<std::size_t>(stmt->column_int64(1)));
  return counts;
}

std::optional<delivery_job> find_delivery(sqlite_db& db, const std::string& id) {
  auto stmt = db.cached(std::string("SELECT ") + delivery_columns +
                        ", e.event_type, e.body FROM deliveries d JOIN events e ON e.event_id = d.event_id "
                        "WHERE d.id = ?1");
  stmt->bind_text(1, id);
  if (!stmt->step()) return std::nullopt;
  return delivery_job{read_delivery(*stmt, 0),
                      stmt->column_text(delivery_column_count),
                      stmt->column_text(delivery_column_count + 1),
                      {}};
}

std::string check_integrity(sqlite_db& db) {
  sqlite_stmt stmt(db, "PRAGMA integrity_check");
  std::string findings;
  while (stmt.step()) {
    if (!findings.empty()) findings += '\n';
    findings += stmt.column_text(0);
  }
  return findings;
}

// ---- the event log ----

std::vector<recorded_event> events_after(sqlite_db& db, event_position after, std::size_t limit) {
  auto stmt = db.cached(
      "SELECT e.rowid, e.run_id, r.owner_uid, e.event_id, e.event_type, e.body FROM events e "
      "JOIN runs r ON r.id = e.run_id WHERE e.rowid > ?1 ORDER BY e.rowid LIMIT ?2");
  stmt->bind_int64(1, after);
  stmt->bind_int64(2, static_cast<std::int64_t>(limit));
  std::vector<recorded_event> events;
  while (stmt->step()) {
    events.push_back(recorded_event{.position = stmt->column_int64(0),
                                    .run_id = stmt->column_text(1),
                                    .owner_uid = static_cast<std::uint32_t>(stmt->column_int64(2)),
                                    .event_id = stmt->column_text(3),
                                    .event_type = stmt->column_text(4),
                                    .body = stmt->column_text(5)});
  }
  return events;
}

event_position newest_event_position(sqlite_db& db) {
  auto stmt = db.cached("SELECT COALESCE(MAX(rowid), 0) FROM events");
  return stmt->step() ? stmt->column_int64(0) : 0;
}

}  // namespace hookless::sqlite_queries
