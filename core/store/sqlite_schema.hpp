// The state file's schema and its migrations. PRAGMA user_version holds the schema version; each
// migration moves it up by one inside its own transaction, so a crash mid-upgrade leaves the file at
// the previous version and the next start simply tries again.
#pragma once

namespace hookless {

class sqlite_db;

// The version this build writes.
inline constexpr int sqlite_schema_version = 4;

// Brings the file up to sqlite_schema_version. Throws store_failed for a file written by a newer
// hookless (refusing to downgrade it), sqlite_error for SQLite failures.
void migrate_schema(sqlite_db& db);

}  // namespace hookless
