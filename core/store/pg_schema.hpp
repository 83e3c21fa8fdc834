// The PostgreSQL database's schema and its migrations. A table hookless_schema holds the version;
// migrations run in one transaction under a transaction-scoped advisory lock, so daemons starting
// together migrate once and a crash mid-upgrade leaves the previous version. Only additive changes,
// so daemons of the previous version keep working during a rolling upgrade.
#pragma once

namespace hookless {

class pg_connection;

// The version this build writes.
inline constexpr int pg_schema_version = 3;

// Brings the database up to pg_schema_version and returns the version it found (0: a new
// database). Throws store_failed for a database written by a newer hookless (naming both
// versions), and what pg_connection throws.
int migrate_pg_schema(pg_connection& connection);

}  // namespace hookless
