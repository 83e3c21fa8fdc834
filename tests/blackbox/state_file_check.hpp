// Reading hooklessd's state file from a test with SQLite's own API, after the daemon has stopped or
// been killed: PRAGMA integrity_check and single-value queries.
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <string>

namespace hookless::blackbox {

// The first column of every row of `sql`, joined by newlines; "cannot open" / "cannot prepare"
// when SQLite refuses. `read_only` leaves the files exactly as a killed daemon left them (a hot
// WAL is read, not checkpointed), so the next start still has to recover it itself; read-write
// closes with a checkpoint, as a clean stop does.
inline std::string query_state_file(const std::filesystem::path& path, const std::string& sql, bool read_only = true) {
  sqlite3* db = nullptr;
  std::string result = "cannot open";
  const int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* statement = nullptr;
    result = "cannot prepare: ";
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK) {
      result.clear();
      while (sqlite3_step(statement) == SQLITE_ROW) {
        if (!result.empty()) result += "\n";
        const auto* text = sqlite3_column_text(statement, 0);
        result += text == nullptr ? "NULL" : reinterpret_cast<const char*>(text);
      }
    } else {
      result += sqlite3_errmsg(db);
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
  return result;
}

// "ok" when the state file is sound (read-only: safe right after a kill -9).
inline std::string integrity_of(const std::filesystem::path& path) {
  return query_state_file(path, "PRAGMA integrity_check");
}

}  // namespace hookless::blackbox
