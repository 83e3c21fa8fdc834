// The PostgreSQL schema and its migrations (see pg_schema.hpp).
#include "core/store/pg_schema.hpp"

#include "core/store/pg_connection.hpp"
#include "core/store/state_store.hpp"

#include <array>
#include <string>

namespace hookless {

namespace {

// The columns of the SQLite file's tables, so rows convert alike: times are bigint milliseconds
// since the Unix epoch, JSON columns hold serialized JSON text. Liveness and leases use timestamptz
// from the database's clock_timestamp(), never a daemon's clock.
//
// Rows every poll rewrites (runs: status, polls, next_poll_at, updated_at, looked_at; deliveries:
// attempts, last_error, next_attempt_at) have no index on those columns and room on their pages
// (fillfactor), so updates stay HOT and vacuum keeps up.
constexpr const char* pg_schema_v1 = R"sql(
CREATE TABLE runs (
  id            text PRIMARY KEY,
  seq           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- registration order
  kind          text NOT NULL,
  owner_uid     bigint NOT NULL,
  state         text NOT NULL CHECK (state IN ('pending', 'finished')),
  status        text,
  outcome       text,
  polls         bigint NOT NULL DEFAULT 0,
  registered_at bigint NOT NULL,
  updated_at    bigint NOT NULL,
  next_poll_at  bigint,
  finished_at   bigint,
  deadline_at   bigint NOT NULL,
  sinks         text NOT NULL,               -- JSON array of sink names
  context       text NOT NULL,               -- JSON object
  looked_at     bigint NOT NULL,
  home          text NOT NULL                -- the node it was registered on; it delivers the run's events
) WITH (fillfactor = 70);
-- load_pending and list_runs by state, newest or oldest first.
CREATE INDEX runs_by_state ON runs (state, seq);
-- list_runs for one owner.
CREATE INDEX runs_by_owner ON runs (owner_uid, state, seq);
-- prune_finished.
CREATE INDEX runs_by_finished ON runs (state, finished_at);
-- A home's runs (its deliveries freed or taken).
CREATE INDEX runs_by_home ON runs (home, state);

-- Pending runs registered since the poller last picked (pick_new_runs, load_pending empty it). A
-- queue of its own rather than a flag on runs: picking deletes small rows here instead of
-- rewriting run rows and all their indexes (a flag in a partial index makes every pick a non-HOT
-- update: marking 100,000 runs picked took 11 s, durable, and bloated the table).
CREATE TABLE new_runs (
  seq bigint PRIMARY KEY,                    -- the run's seq: registration order
  id  text NOT NULL                          -- no foreign key: a run deleted meanwhile is skipped
);

CREATE TABLE events (
  run_id     text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  seq        integer NOT NULL,               -- order within the run, from 1
  event_id   text NOT NULL UNIQUE,
  event_type text NOT NULL,
  body       text NOT NULL,                  -- the envelope, byte for byte what sinks receive
  PRIMARY KEY (run_id, seq)
);

CREATE TABLE deliveries (
  id              text PRIMARY KEY,          -- event_id || ':' || sink
  seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- the order they were made in
  event_id        text NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
  run_id          text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  sink            text NOT NULL,
  state           text NOT NULL CHECK (state IN ('pending', 'done', 'dead')),
  attempts        bigint NOT NULL DEFAULT 0,
  last_error      text,
  next_attempt_at bigint,
  redelivered_at  bigint,
  taken_by        text                       -- instance_id of the process delivering it; NULL: free
) WITH (fillfactor = 70);
-- A run's deliveries (records, cascades, the prune guard) and the event cascade.
CREATE INDEX deliveries_by_run ON deliveries (run_id, state);
CREATE INDEX deliveries_by_event ON deliveries (event_id);
-- list_deliveries by state, oldest first.
CREATE INDEX deliveries_by_state ON deliveries (state, seq);
-- take_new_deliveries: pending ones no process has taken.
CREATE INDEX deliveries_free ON deliveries (run_id) WHERE state = 'pending' AND taken_by IS NULL;

-- One row per daemon name (cluster.node).
CREATE TABLE nodes (
  name         text PRIMARY KEY,
  instance_id  text NOT NULL,               -- fresh at every start: a second process under the name replaces it
  started_at   timestamptz NOT NULL,
  heartbeat_at timestamptz NOT NULL,
  adopted_by   text,                        -- the live node delivering its runs while it is gone
  adopted_at   timestamptz
) WITH (fillfactor = 50);

-- The one poller lease: only its holder asks Extend. term grows with every change of holder and
-- fences the poller's writes, which hold the row FOR KEY SHARE until they commit. term is UNIQUE so
-- that a new term is a key update: it waits for those writes, while a renewal (same term, a new
-- expires_at) is not and never waits behind a long poller transaction.
CREATE TABLE poller (
  one         boolean PRIMARY KEY DEFAULT true CHECK (one),
  node        text,
  instance_id text,
  term        bigint NOT NULL DEFAULT 0 UNIQUE,
  expires_at  timestamptz
) WITH (fillfactor = 50);
INSERT INTO poller (one) VALUES (true);
)sql";

// Version 2: subscriptions (docs/subscriptions.md). The subscription that found a run (NULL: a
// registered run, as every run stored before the upgrade is; adding a nullable column rewrites
// nothing), and where each subscription's sweep of each kind stands, shared by the daemons: times in
// milliseconds, `since` and `position` on Extend's clock, NULL until set.
constexpr const char* pg_schema_v2 = R"sql(
ALTER TABLE runs ADD COLUMN subscription text;
CREATE TABLE subscription_positions (
  subscription text NOT NULL,
  kind         text NOT NULL,
  since        bigint,
  position     bigint,
  swept_at     bigint,
  PRIMARY KEY (subscription, kind)
);
)sql";

// Version 3: each event's place in the order events were recorded, so a daemon that is not the
// poller can relay the events recorded after the last it saw to its followers (events_after).
// Events stored before the upgrade are numbered in no particular order; only new ones are relayed.
// (An import numbers the events it brings below zero: they are not new.)
// Older daemons keep inserting events during a rolling upgrade: the column fills itself.
constexpr const char* pg_schema_v3 = R"sql(
ALTER TABLE events ADD COLUMN position bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE events ADD CONSTRAINT events_position_key UNIQUE (position);
)sql";

// pg_migrations[i] moves the schema from version i to i + 1. Append only; never edit a shipped one.
constexpr std::array pg_migrations{pg_schema_v1, pg_schema_v2, pg_schema_v3};
static_assert(pg_migrations.size() == pg_schema_version);

// Serialises migrations between daemons starting together (an arbitrary constant: "hookless").
constexpr const char* migration_lock = "SELECT pg_advisory_xact_lock(7236828287634855283)";

}  // namespace

int migrate_pg_schema(pg_connection& connection) {
  connection.begin();
  try {
    connection.exec(migration_lock);
    connection.exec("CREATE TABLE IF NOT EXISTS hookless_schema (version integer NOT NULL)");
    const auto rows = connection.exec("SELECT COALESCE(MAX(version), 0) FROM hookless_schema");
    const auto version = rows.int64(0, 0);
    if (version > pg_schema_version) {
      throw store_failed("the database at " + connection.server() + " has schema version " + std::to_string(version) +
                         ", newer than this hookless understands (" + std::to_string(pg_schema_version) +
                         "); refusing to use it rather than damage it");
    }
    for (auto next = static_cast<std::size_t>(version); next < pg_migrations.size(); ++next) {
      connection.exec(pg_migrations[next]);
    }
    if (version < pg_schema_version) {
      connection.exec("DELETE FROM hookless_schema");
      connection.exec_with("INSERT INTO hookless_schema (version) VALUES ($1)", pg_schema_version);
    }
    connection.exec("COMMIT");
    return static_cast<int>(version);
  } catch (...) {
    connection.rollback_quietly();
    throw;
  }
}

}  // namespace hookless
