// The PostgreSQL backend's SQL for each call and the mapping between rows and records (see
// pg_queries.hpp). Batches travel as array parameters unnested on the server: one round trip for
// thousands of rows.
#include "core/store/pg_queries.hpp"

#include "core/store/pg_connection.hpp"
#include "core/store/store_rows.hpp"

#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace hookless::pg_queries {

namespace {

using namespace store_rows;

// Columns of one array parameter, in text form.
using column = std::vector<std::optional<std::string>>;

std::optional<std::string> text_of(const std::optional<std::int64_t>& value) {
  if (!value) return std::nullopt;
  return std::to_string(*value);
}

// At most this many runs go in one INSERT (its parameters stay a few MB).
constexpr std::size_t insert_chunk = 5000;

// Inserts the events and deliveries of runs just inserted (so a run's events are numbered from 1).
// Only an import brings events along: they were made elsewhere, long ago, so they get positions
// below every recorded one (negative) and no relay streams them as new.
void insert_children(pg_connection& db, const std::vector<const run_record*>& runs) {
  column run_ids, seqs, event_ids, types, bodies;
  column d_ids, d_event_ids, d_run_ids, sinks, states, attempts, errors, next_attempts, redelivered;
  for (const auto* run : runs) {
    int seq = 0;
    for (const auto& event : run->events) {
      run_ids.emplace_back(run->id);
      seqs.emplace_back(std::to_string(++seq));
      event_ids.emplace_back(event.event_id);
      types.emplace_back(event.event_type);
      bodies.emplace_back(event.body);
    }
    for (const auto& record : run->deliveries) {
      d_ids.emplace_back(delivery_id_of(record));
      d_event_ids.emplace_back(record.event_id);
      d_run_ids.emplace_back(record.run_id);
      sinks.emplace_back(record.sink);
      states.emplace_back(std::string(to_string(record.state)));
      attempts.emplace_back(std::to_string(record.attempts));
      errors.emplace_back(record.last_error);
      next_attempts.emplace_back(text_of(to_ms(record.next_attempt_at)));
      redelivered.emplace_back(text_of(to_ms(record.redelivered_at)));
    }
  }
  if (!event_ids.empty()) {
    db.exec_with(
        "INSERT INTO events (position, run_id, seq, event_id, event_type, body) OVERRIDING SYSTEM VALUE "
        "SELECT -nextval(pg_get_serial_sequence('events', 'position')), u.* "
        "FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[]) AS u ON CONFLICT DO NOTHING",
        pg_text_array(run_ids), pg_text_array(seqs), pg_text_array(event_ids), pg_text_array(types),
        pg_text_array(bodies));
  }
  if (!d_ids.empty()) {
    db.exec_with(
        "INSERT INTO deliveries (id, event_id, run_id, sink, state, attempts, last_error, next_attempt_at, "
        "redelivered_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
        "$6::bigint[], $7::text[], $8::bigint[], $9::bigint[]) ON CONFLICT DO NOTHING",
        pg_text_array(d_ids), pg_text_array(d_event_ids), pg_text_array(d_run_ids), pg_text_array(sinks),
        pg_text_array(states), pg_text_array(attempts), pg_text_array(errors), pg_text_array(next_attempts),
        pg_text_array(redelivered));
  }
}

std::vector<bool> insert_chunk_of_runs(pg_connection& db, const run_record* first, std::size_t count,
                                       const std::string& home, bool queue_for_poller) {
  column ids, kinds, owners, states, statuses, outcomes, polls, registered, updated, next_polls, finished, deadlines,
      sinks, contexts, looked, subscriptions;
  for (const auto* run = first; run != first + count; ++run) {
    ids.emplace_back(run->id);
    kinds.emplace_back(run->kind);
    owners.emplace_back(std::to_string(run->owner_uid));
    states.emplace_back(std::string(to_string(run->state)));
    statuses.emplace_back(run->status);
    outcomes.emplace_back(run->outcome);
    polls.emplace_back(std::to_string(run->polls));
    registered.emplace_back(std::to_string(to_ms(run->registered_at)));
    updated.emplace_back(std::to_string(to_ms(run->updated_at)));
    next_polls.emplace_back(text_of(to_ms(run->next_poll_at)));
    finished.emplace_back(text_of(to_ms(run->finished_at)));
    deadlines.emplace_back(std::to_string(to_ms(run->deadline_at)));
    sinks.emplace_back(sinks_to_json(run->sinks));
    contexts.emplace_back(context_to_json(run->context));
    looked.emplace_back(std::to_string(to_ms(run->looked_at)));
    subscriptions.emplace_back(run->subscription);
  }
  // In the order given (WITH ORDINALITY), so seq follows registration order; a pending one queued
  // for the poller in the same statement, unless the poller inserts it itself ($18 false).
  const auto rows = db.exec_with(
      "WITH inserted AS (INSERT INTO runs (id, kind, owner_uid, state, status, outcome, polls, registered_at, "
      "updated_at, next_poll_at, finished_at, deadline_at, sinks, context, looked_at, subscription, home) "
      "SELECT u.id, u.kind, u.owner_uid, u.state, u.status, u.outcome, u.polls, u.registered_at, u.updated_at, "
      "u.next_poll_at, u.finished_at, u.deadline_at, u.sinks, u.context, u.looked_at, u.subscription, $17 "
      "FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[], "
      "$8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::text[], $14::text[], "
      "$15::bigint[], $16::text[]) WITH ORDINALITY AS u(id, kind, owner_uid, state, status, outcome, polls, "
      "registered_at, updated_at, next_poll_at, finished_at, deadline_at, sinks, context, looked_at, subscription, "
      "position) ORDER BY u.position ON CONFLICT DO NOTHING RETURNING id, seq, state), "
      "queued AS (INSERT INTO new_runs (seq, id) SELECT seq, id FROM inserted WHERE state = 'pending' AND $18) "
      "SELECT id FROM inserted",
      pg_text_array(ids), pg_text_array(kinds), pg_text_array(owners), pg_text_array(states), pg_text_array(statuses),
      pg_text_array(outcomes), pg_text_array(polls), pg_text_array(registered), pg_text_array(updated),
      pg_text_array(next_polls), pg_text_array(finished), pg_text_array(deadlines), pg_text_array(sinks),
      pg_text_array(contexts), pg_text_array(looked), pg_text_array(subscriptions), home, queue_for_poller);
  std::unordered_set<std::string_view> inserted;
  for (int row = 0; row < rows.size(); ++row) inserted.insert(rows.view(row, 0));
  std::vector<bool> fresh;
  std::vector<const run_record*> with_children;
  fresh.reserve(count);
  for (const auto* run = first; run != first + count; ++run) {
    // Erased once seen: a second copy of an ID in the same batch was not new.
    fresh.push_back(inserted.erase(run->id) > 0);
    if (fresh.back() && (!run->events.empty() || !run->deliveries.empty())) with_children.push_back(run);
  }
  insert_children(db, with_children);
  return fresh;
}

enum class event_bodies { read, skip };

// Fills in the events (in order) and deliveries (in event order, then by sink) of `runs`, the runs
// matching `runs_where` (a condition on the alias r, with `params`).
void attach_children(pg_connection& db, std::vector<run_record>& runs, event_bodies bodies,
                     const std::string& runs_where, const std::vector<pg_param>& params) {
  if (runs.empty()) return;
  // Built only when some run has children (most pending runs have none).
  std::unordered_map<std::string_view, run_record*> by_id;
  const auto index_runs = [&] {
    if (!by_id.empty()) return;
    by_id.reserve(runs.size());
    for (auto& run : runs) by_id.emplace(run.id, &run);
  };
  {
    const auto rows = db.exec_params(
        std::string("SELECT e.run_id, e.event_id, e.event_type, ") + (bodies == event_bodies::read ? "e.body" : "''") +
            " FROM runs r JOIN events e ON e.run_id = r.id WHERE " + runs_where + " ORDER BY e.run_id, e.seq",
        params);
    if (rows.size() > 0) index_runs();
    for (int row = 0; row < rows.size(); ++row) {
      const auto found = by_id.find(rows.view(row, 0));
      if (found != by_id.end()) found->second->events.push_back(read_event(pg_row(rows, row), 1));
    }
  }
  const auto rows =
      db.exec_params(std::string("SELECT d.run_id, ") + delivery_columns +
                         " FROM runs r JOIN deliveries d ON d.run_id = r.id JOIN events e ON e.event_id = "
                         "d.event_id WHERE " +
                         runs_where + " ORDER BY d.run_id, e.seq, d.sink",
                     params);
  if (rows.size() > 0) index_runs();
  for (int row = 0; row < rows.size(); ++row) {
    const auto found = by_id.find(rows.view(row, 0));
    if (found != by_id.end()) found->second->deliveries.push_back(read_delivery(pg_row(rows, row), 1));
  }
}

std::vector<run_record> read_runs(const pg_rows& rows, int first) {
  std::vector<run_record> runs;
  runs.reserve(static_cast<std::size_t>(rows.size()));
  for (int row = 0; row < rows.size(); ++row) runs.push_back(read_run(pg_row(rows, row), first));
  return runs;
}

std::string id_array(const std::vector<run_record>& runs) {
  column ids;
  ids.reserve(runs.size());
  for (const auto& run : runs) ids.emplace_back(run.id);
  return pg_text_array(ids);
}

delivery_job read_delivery_job(const pg_rows& rows, int row, int first) {
  const pg_row columns(rows, row);
  return delivery_job{read_delivery(columns, first), rows.text(row, first + delivery_column_count),
                      rows.text(row, first + delivery_column_count + 1),
                      rows.text(row, first + delivery_column_count + 2)};
}

// A state filter as its stored name; nullopt (no filter) as NULL.
template <typename State>
std::optional<std::string> name_of(const std::optional<State>& state) {
  if (!state) return std::nullopt;
  return std::string(to_string(*state));
}

// The names of the homes `me` holds: its own and those it adopted.
constexpr const char* homes_of_me = "(SELECT name FROM nodes WHERE name = $1 OR adopted_by = $1)";

}  // namespace

// ---- writes ----

std::vector<bool> insert_runs(pg_connection& db, const std::vector<run_record>& runs, const std::string& home,
                              bool queue_for_poller) {
  std::vector<bool> fresh;
  fresh.reserve(runs.size());
  for (std::size_t at = 0; at < runs.size(); at += insert_chunk) {
    const auto chunk =
        insert_chunk_of_runs(db, runs.data() + at, std::min(insert_chunk, runs.size() - at), home, queue_for_poller);
    fresh.insert(fresh.end(), chunk.begin(), chunk.end());
  }
  return fresh;
}

void save_progress(pg_connection& db, const std::vector<run_progress>& progress) {
  if (progress.empty()) return;
  column ids, statuses, polls, updated, next_polls, looked;
  for (const auto& item : progress) {
    ids.emplace_back(item.run_id);
    statuses.emplace_back(item.status);
    polls.emplace_back(std::to_string(item.polls));
    updated.emplace_back(std::to_string(to_ms(item.updated_at)));
    next_polls.emplace_back(text_of(to_ms(item.next_poll_at)));
    looked.emplace_back(std::to_string(to_ms(item.looked_at)));
  }
  // Only pending runs: progress that arrives after the outcome must not overwrite it. polls never
  // goes back, whatever order saves land in.
  db.exec_with(
      "UPDATE runs r SET status = u.status, polls = GREATEST(r.polls, u.polls), updated_at = u.updated_at, "
      "next_poll_at = u.next_poll_at, looked_at = u.looked_at FROM unnest($1::text[], $2::text[], $3::bigint[], "
      "$4::bigint[], $5::bigint[], $6::bigint[]) AS u(id, status, polls, updated_at, next_poll_at, looked_at) "
      "WHERE r.id = u.id AND r.state = 'pending'",
      pg_text_array(ids), pg_text_array(statuses), pg_text_array(polls), pg_text_array(updated),
      pg_text_array(next_polls), pg_text_array(looked));
}

void record_outcome(pg_connection& db, const run_outcome& outcome) {
  const auto& run = outcome.run;
  const auto updated = db.exec_with(
      "UPDATE runs SET state = $2, status = $3, outcome = $4, polls = $5, updated_at = $6, next_poll_at = $7, "
      "finished_at = $8, deadline_at = $9, looked_at = $10 WHERE id = $1",
      run.id, to_string(run.state), run.status, run.outcome, run.polls, to_ms(run.updated_at), to_ms(run.next_poll_at),
      to_ms(run.finished_at), to_ms(run.deadline_at), to_ms(run.looked_at));
  // The run was forgotten (DELETE /v1/runs/{id}) while it was being polled: nothing is delivered.
  if (updated.affected() == 0) return;
  // OR IGNORE on event_id: replaying an outcome after a crash adds nothing twice.
  for (const auto& event : outcome.new_events) {
    db.exec_with(
        "INSERT INTO events (run_id, seq, event_id, event_type, body) VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 "
        "FROM events WHERE run_id = $1), $2, $3, $4) ON CONFLICT DO NOTHING",
        run.id, event.event_id, event.event_type, event.body);
  }
  // Free (taken_by NULL): the intake of the run's home takes them.
  for (const auto& record : outcome.new_deliveries) {
    db.exec_with(
        "INSERT INTO deliveries (id, event_id, run_id, sink, state, attempts, last_error, next_attempt_at, "
        "redelivered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        delivery_id_of(record), record.event_id, record.run_id, record.sink, to_string(record.state), record.attempts,
        record.last_error, to_ms(record.next_attempt_at), to_ms(record.redelivered_at));
  }
}

void update_delivery(pg_connection& db, const delivery& record, const pg_identity& me) {
  db.exec_with(
      "UPDATE deliveries SET state = $2, attempts = $3, last_error = $4, next_attempt_at = $5, redelivered_at = $6, "
      "taken_by = CASE WHEN state = 'dead' AND $2 = 'pending' THEN NULL ELSE taken_by END "
      "WHERE id = $1 AND (taken_by = $7 OR taken_by IS NULL OR (state = 'dead' AND $2 = 'pending'))",
      record.id, to_string(record.state), record.attempts, record.last_error, to_ms(record.next_attempt_at),
      to_ms(record.redelivered_at), me.instance_id);
}

bool delete_run(pg_connection& db, const std::string& id) {
  return db.exec_with("DELETE FROM runs WHERE id = $1", id).affected() > 0;  // events and deliveries cascade
}

std::size_t prune_finished(pg_connection& db, time_point cutoff) {
  return db
      .exec_with(
          "DELETE FROM runs WHERE state = 'finished' AND finished_at < $1 AND NOT EXISTS "
          "(SELECT 1 FROM deliveries d WHERE d.run_id = runs.id AND d.state = 'pending')",
          to_ms(cutoff))
      .affected();
}

std::vector<run_record> load_pending(pg_connection& db) {
  // TRUNCATE, not DELETE: constant time however long the queue. Its lock waits for the registrations
  // being written to commit, which the SELECT after it then sees; those that come later wait for
  // this transaction and stay queued, for pick_new_runs.
  db.exec("TRUNCATE new_runs");
  auto runs = read_runs(
      db.exec(std::string("SELECT ") + run_columns + " FROM runs r WHERE r.state = 'pending' ORDER BY r.seq"), 0);
  attach_children(db, runs, event_bodies::skip, "r.state = 'pending'", {});
  return runs;
}

std::vector<delivery_job> take_deliveries(pg_connection& db, const pg_identity& me, bool including_mine,
                                          std::optional<std::size_t> limit) {
  const auto rows = db.exec_with(
      std::string("WITH chosen AS MATERIALIZED (SELECT d.id FROM deliveries d JOIN runs r ON r.id = d.run_id "
                  "JOIN events e ON e.event_id = d.event_id WHERE d.state = 'pending' AND "
                  "(d.taken_by IS NULL OR d.taken_by = $3) AND r.home IN ") +
          homes_of_me +
          " ORDER BY r.seq, e.seq, d.sink LIMIT $4 FOR UPDATE OF d SKIP LOCKED), "
          "taken AS (UPDATE deliveries d SET taken_by = $2 FROM chosen c WHERE d.id = c.id RETURNING d.*) "
          "SELECT r.seq, e.seq, " +
          delivery_columns +
          ", e.event_type, e.body, r.home FROM taken d JOIN runs r ON r.id = d.run_id JOIN events e ON "
          "e.event_id = d.event_id ORDER BY r.seq, e.seq, d.sink",
      me.node, me.instance_id, including_mine ? std::optional<std::string>(me.instance_id) : std::nullopt, limit);
  std::vector<delivery_job> jobs;
  jobs.reserve(static_cast<std::size_t>(rows.size()));
  for (int row = 0; row < rows.size(); ++row) jobs.push_back(read_delivery_job(rows, row, 2));
  return jobs;
}

// ---- reads ----

std::optional<run_record> find_run(pg_connection& db, const std::string& id) {
  auto runs = read_runs(db.exec_with(std::string("SELECT ") + run_columns + " FROM runs r WHERE r.id = $1", id), 0);
  if (runs.empty()) return std::nullopt;
  attach_children(db, runs, event_bodies::read, "r.id = $1", {id});
  return std::move(runs.front());
}

std::vector<std::optional<std::uint32_t>> owners_of(pg_connection& db, const std::vector<std::string>& ids) {
  const auto rows = db.exec_with("SELECT id, owner_uid FROM runs WHERE id = ANY($1::text[])",
                                 pg_text_array(column(ids.begin(), ids.end())));
  std::unordered_map<std::string_view, std::uint32_t> found;
  for (int row = 0; row < rows.size(); ++row) {
    found.emplace(rows.view(row, 0), static_cast<std::uint32_t>(rows.int64(row, 1)));
  }
  std::vector<std::optional<std::uint32_t>> owners;
  owners.reserve(ids.size());
  for (const auto& id : ids) {
    const auto owner = found.find(id);
    owners.push_back(owner == found.end() ? std::nullopt : std::optional{owner->second});
  }
  return owners;
}

std::vector<run_record> list_runs(pg_connection& db, const run_query& query) {
  // Every filter is a parameter, NULL when unused: the server plans with the values at hand. An
  // unknown `after` ID compares with NULL and so ends the listing.
  const auto sql =
      std::string("SELECT ") + run_columns +
      " FROM runs r WHERE ($1::text IS NULL OR r.state = $1) AND ($2::bigint IS NULL OR r.owner_uid = $2) "
      "AND ($3::text IS NULL OR r.seq < (SELECT seq FROM runs WHERE id = $3)) "
      "AND ($5::text IS NULL OR r.kind = $5) AND ($6::text IS NULL OR r.outcome = $6) ORDER BY r.seq DESC LIMIT $4";
  auto runs = read_runs(db.exec_with(sql, name_of(query.state), query.owner, query.after, to_int64(query.limit),
                                     query.kind, query.outcome),
                        0);
  attach_children(db, runs, event_bodies::skip, "r.id = ANY($1::text[])", {id_array(runs)});
  return runs;
}

std::vector<delivery> list_deliveries(pg_connection& db, const delivery_query& query) {
  // Oldest first, in the order the deliveries were made; filters as in list_runs.
  const auto sql =
      std::string("SELECT ") + delivery_columns +
      " FROM deliveries d WHERE ($1::text IS NULL AND d.state IN ('pending', 'dead') OR d.state = $1) "
      "AND ($2::bigint IS NULL OR d.run_id IN (SELECT id FROM runs WHERE owner_uid = $2)) "
      "AND ($3::text IS NULL OR d.seq > (SELECT seq FROM deliveries WHERE id = $3)) ORDER BY d.seq LIMIT $4";
  // No limit: NULL, which is LIMIT ALL.
  const auto rows = db.exec_with(sql, name_of(query.state), query.owner, query.after, query.limit);
  std::vector<delivery> records;
  records.reserve(static_cast<std::size_t>(rows.size()));
  for (int row = 0; row < rows.size(); ++row) records.push_back(read_delivery(pg_row(rows, row), 0));
  return records;
}

std::map<std::string, std::size_t> count_dead_deliveries(pg_connection& db) {
  const auto rows = db.exec("SELECT sink, COUNT(*) FROM deliveries WHERE state = 'dead' GROUP BY sink");
  std::map<std::string, std::size_t> counts;
  for (int row = 0; row < rows.size(); ++row) {
    counts.emplace(rows.text(row, 0), static_cast<std::size_t>(rows.int64(row, 1)));
  }
  return counts;
}

std::optional<delivery_job> find_delivery(pg_connection& db, const std::string& id) {
  const auto rows = db.exec_with(std::string("SELECT ") + delivery_columns +
                                     ", e.event_type, e.body, r.home FROM deliveries d JOIN events e ON e.event_id = "
                                     "d.event_id JOIN runs r ON r.id = d.run_id WHERE d.id = $1",
                                 id);
  if (rows.size() == 0) return std::nullopt;
  return read_delivery_job(rows, 0, 0);
}

// ---- the event log ----

std::vector<recorded_event> events_after(pg_connection& db, event_position after, std::size_t limit) {
  const auto rows = db.exec_with(
      "SELECT e.position, e.run_id, r.owner_uid, e.event_id, e.event_type, e.body FROM events e "
      "JOIN runs r ON r.id = e.run_id WHERE e.position > $1 ORDER BY e.position LIMIT $2",
      after, limit);
  std::vector<recorded_event> events;
  events.reserve(static_cast<std::size_t>(rows.size()));
  for (int row = 0; row < rows.size(); ++row) {
    events.push_back(recorded_event{.position = rows.int64(row, 0),
                                    .run_id = rows.text(row, 1),
                                    .owner_uid = static_cast<std::uint32_t>(rows.int64(row, 2)),
                                    .event_id = rows.text(row, 3),
                                    .event_type = rows.text(row, 4),
                                    .body = rows.text(row, 5)});
  }
  return events;
}

event_position newest_event_position(pg_connection& db) {
  return db.exec("SELECT COALESCE(MAX(position), 0) FROM events WHERE position > 0").int64(0, 0);  // not imported
}

// ---- the poller ----

void check_poller_term(pg_connection& db, const pg_identity& me, std::optional<std::uint64_t> term) {
  if (term &&
      db.exec_with("SELECT 1 FROM poller WHERE instance_id = $1 AND term = $2 FOR KEY SHARE", me.instance_id, *term)
              .size() > 0) {
    return;
  }
  throw lease_lost("the poller lease" + (term ? " (term " + std::to_string(*term) + ")" : std::string()) +
                   " is no longer held by this daemon (node " + me.node + ")");
}

std::vector<run_record> pick_new_runs(pg_connection& db, std::size_t limit) {
  // The runs are read in the statement's snapshot, in which every queued run is committed.
  auto runs = read_runs(
      db.exec_with(std::string("WITH picked AS (DELETE FROM new_runs WHERE seq IN (SELECT seq FROM new_runs ORDER BY "
                               "seq LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id) SELECT ") +
                       run_columns +
                       " FROM picked p JOIN runs r ON r.id = p.id WHERE r.state = 'pending' ORDER BY r.seq",
                   to_int64(limit)),
      0);
  attach_children(db, runs, event_bodies::skip, "r.id = ANY($1::text[])", {id_array(runs)});
  return runs;
}

// ---- nodes and the lease ----

void register_node(pg_connection& db, const pg_identity& me) {
  db.exec_with(
      "INSERT INTO nodes (name, instance_id, started_at, heartbeat_at) VALUES ($1, $2, clock_timestamp(), "
      "clock_timestamp()) ON CONFLICT (name) DO UPDATE SET instance_id = EXCLUDED.instance_id, started_at = "
      "EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at, adopted_by = NULL, adopted_at = NULL",
      me.node, me.instance_id);
  // Its home's deliveries that a former process of this node or an adopter took: this one takes them.
  db.exec_with(
      "UPDATE deliveries SET taken_by = NULL WHERE state = 'pending' AND taken_by IS NOT NULL AND run_id IN "
      "(SELECT id FROM runs WHERE home = $1)",
      me.node);
}

heartbeat_result heartbeat(pg_connection& db, const pg_identity& me, std::chrono::milliseconds dead_after) {
  // Renews this node's row; one adopted while it was paused takes its home back.
  const auto renewed = db.exec_with(
      "WITH me AS (SELECT name, adopted_by FROM nodes WHERE name = $1 AND instance_id = $2 FOR UPDATE) "
      "UPDATE nodes n SET heartbeat_at = clock_timestamp(), adopted_by = NULL, adopted_at = NULL FROM me "
      "WHERE n.name = me.name RETURNING me.adopted_by IS NOT NULL",
      me.node, me.instance_id);
  if (renewed.size() == 0) {
    throw node_replaced("another process started as node '" + me.node +
                        "' (cluster.node must be unique among the daemons sharing a database); this one stops");
  }
  const bool home_taken_back = renewed.boolean(0, 0);
  // Adopts every node gone longer than dead_after that no live node holds (the locked ones are
  // being adopted by another node right now), and frees their homes' pending deliveries.
  const auto adopted = db.exec_with(
      "WITH adopted AS (UPDATE nodes SET adopted_by = $1, adopted_at = clock_timestamp() WHERE name IN ("
      "SELECT d.name FROM nodes d WHERE d.name <> $1 AND d.heartbeat_at < clock_timestamp() - $2::double precision * "
      "interval '1 ms' "
      "AND (d.adopted_by IS NULL OR d.adopted_by NOT IN (SELECT name FROM nodes WHERE heartbeat_at >= "
      "clock_timestamp() - $2::double precision * interval '1 ms')) FOR UPDATE OF d SKIP LOCKED) RETURNING name), "
      "freed AS (UPDATE deliveries SET taken_by = NULL WHERE state = 'pending' AND taken_by IS NOT NULL AND run_id IN "
      "(SELECT id FROM runs WHERE home IN (SELECT name FROM adopted) OR ($3 AND home = $1))) "
      "SELECT name FROM adopted ORDER BY name",
      me.node, dead_after.count(), home_taken_back);
  heartbeat_result result;
  for (int row = 0; row < adopted.size(); ++row) result.adopted_now.push_back(adopted.text(row, 0));
  const auto nodes = db.exec_with(
      "SELECT name, adopted_by = $1, heartbeat_at >= clock_timestamp() - $2::double precision * interval '1 ms' FROM "
      "nodes ORDER BY name",
      me.node, dead_after.count());
  result.homes.push_back(me.node);
  for (int row = 0; row < nodes.size(); ++row) {
    if (!nodes.is_null(row, 1) && nodes.boolean(row, 1)) result.homes.push_back(nodes.text(row, 0));
    if (nodes.boolean(row, 2)) result.live_nodes.push_back(nodes.text(row, 0));
  }
  return result;
}

std::optional<std::uint64_t> claim_poller(pg_connection& db, const pg_identity& me, std::chrono::milliseconds ttl) {
  const auto rows = db.exec_with(
      "UPDATE poller SET node = $1, instance_id = $2, term = CASE WHEN instance_id = $2 THEN term ELSE term + 1 END, "
      "expires_at = clock_timestamp() + $3::double precision * interval '1 ms' "
      "WHERE instance_id = $2 OR instance_id IS NULL OR expires_at < clock_timestamp() RETURNING term",
      me.node, me.instance_id, ttl.count());
  if (rows.size() == 0) return std::nullopt;
  return static_cast<std::uint64_t>(rows.int64(0, 0));
}

void resign_poller(pg_connection& db, const pg_identity& me) {
  db.exec_with("UPDATE poller SET node = NULL, instance_id = NULL, expires_at = NULL WHERE instance_id = $1",
               me.instance_id);
}

}  // namespace hookless::pg_queries
