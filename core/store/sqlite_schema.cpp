// The state file's schema and its migrations (see sqlite_schema.hpp).
#include "core/store/sqlite_schema.hpp"

#include "core/store/sqlite_handle.hpp"
#include "core/store/state_store.hpp"

#include <array>
#include <string>

namespace hookless {

namespace {

// Times are integer milliseconds since the Unix epoch (UTC). JSON columns hold serialized JSON text.
// Foreign keys cascade so deleting a run removes its events and deliveries in the same statement.
constexpr const char* schema_v1 = R"sql(
CREATE TABLE runs (
  seq           INTEGER PRIMARY KEY,          -- registration order
  id            TEXT NOT NULL UNIQUE,
  kind          TEXT NOT NULL,
  owner_uid     INTEGER NOT NULL,
  state         TEXT NOT NULL CHECK (state IN ('pending', 'finished')),
  status        TEXT,
  outcome       TEXT,
  polls         INTEGER NOT NULL DEFAULT 0,
  registered_at INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  next_poll_at  INTEGER,
  finished_at   INTEGER,
  deadline_at   INTEGER NOT NULL,
  sinks         TEXT NOT NULL,                -- JSON array of sink names
  context       TEXT NOT NULL                 -- JSON object
);
-- load_pending and list_runs by state, newest or oldest first.
CREATE INDEX runs_by_state ON runs (state, seq);
-- list_runs for one owner.
CREATE INDEX runs_by_owner ON runs (owner_uid, state, seq);
-- prune_finished.
CREATE INDEX runs_by_finished ON runs (state, finished_at);

CREATE TABLE events (
  run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  seq        INTEGER NOT NULL,                -- order within the run, from 1
  event_id   TEXT NOT NULL UNIQUE,
  event_type TEXT NOT NULL,
  body       TEXT NOT NULL,                   -- the envelope, byte for byte what sinks receive
  PRIMARY KEY (run_id, seq)
);

CREATE TABLE deliveries (
  id              TEXT PRIMARY KEY,           -- event_id || ':' || sink
  event_id        TEXT NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
  run_id          TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  sink            TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('pending', 'done', 'dead')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT,
  next_attempt_at INTEGER
);
-- A run's deliveries (records, cascades, the prune guard) and the event cascade.
CREATE INDEX deliveries_by_run ON deliveries (run_id, state);
CREATE INDEX deliveries_by_event ON deliveries (event_id);
-- load_undone_deliveries and list_deliveries by state.
CREATE INDEX deliveries_by_state ON deliveries (state);
)sql";

// Version 2: when a dead delivery was put back, so its fresh max_age window survives a restart.
// Deliveries put back before the upgrade (pending, attempted, no next attempt: version 1 knew them
// by that alone) get the time of the upgrade, as version 1 would have counted from its start.
constexpr const char* schema_v2 = R"sql(
ALTER TABLE deliveries ADD COLUMN redelivered_at INTEGER;
UPDATE deliveries SET redelivered_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
  WHERE state = 'pending' AND attempts > 0 AND next_attempt_at IS NULL;
)sql";

// Version 3: when Extend last showed each run's status, which failed polls (unlike updated_at) leave
// alone. Runs stored before the upgrade start from updated_at, the best that version 2 knew.
constexpr const char* schema_v3 = R"sql(
ALTER TABLE runs ADD COLUMN looked_at INTEGER;
UPDATE runs SET looked_at = updated_at;
)sql";

// Version 4: subscriptions (docs/subscriptions.md). The subscription that found a run (NULL: a
// registered run, as every run stored before the upgrade is), and where each subscription's sweep of
// each kind stands: times in milliseconds, `since` and `position` on Extend's clock, NULL until set.
constexpr const char* schema_v4 = R"sql(
ALTER TABLE runs ADD COLUMN subscription TEXT;
CREATE TABLE subscription_positions (
  subscription TEXT NOT NULL,
  kind         TEXT NOT NULL,
  since        INTEGER,
  position     INTEGER,
  swept_at     INTEGER,
  PRIMARY KEY (subscription, kind)
);
)sql";

// migrations[i] moves the schema from version i to i + 1. Append only; never edit a shipped one.
constexpr std::array migrations{schema_v1, schema_v2, schema_v3, schema_v4};
static_assert(migrations.size() == sqlite_schema_version);

}  // namespace

void migrate_schema(sqlite_db& db) {
  const auto version = db.query_int64("PRAGMA user_version");
  if (version > sqlite_schema_version) {
    throw store_failed("the state file has schema version " + std::to_string(version) +
                       ", newer than this hookless understands (" + std::to_string(sqlite_schema_version) +
                       "); refusing to open it rather than damage it");
  }
  for (auto next = static_cast<std::size_t>(version); next < migrations.size(); ++next) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(migrations[next]);
      db.exec(("PRAGMA user_version = " + std::to_string(next + 1)).c_str());
      db.exec("COMMIT");
    } catch (...) {
      if (db.in_transaction()) {
        try {
          db.exec("ROLLBACK");
        } catch (const sqlite_error&) {  // the original error is the one worth reporting
        }
      }
      throw;
    }
  }
}

}  // namespace hookless
