// Opening the state file for the SQLite store: taking its lock, opening the one connection with the
// settings durability needs (WAL, synchronous=FULL), checking the file (header and schema always,
// PRAGMA quick_check after an unclean stop) and migrating its schema. A damaged file is never
// changed, moved or replaced: the operator is told which file it is and how to recover it.
#pragma once

#include "core/store/sqlite_file_lock.hpp"

#include <memory>
#include <string>

namespace hookless {

class sqlite_db;
struct open_report;

// The open state file: its lock and the connection, for the store's thread only. Destroying it
// closes the connection (a clean close checkpoints the WAL into the file), then releases the lock.
class sqlite_state_file {
 public:
  // Locks the file at `path` (creating it, mode 0600, when missing), opens, checks and migrates it,
  // and notes in `report` what is worth logging. Throws store_failed naming the file (and, when it
  // is damaged, saying how to recover it), also when another process holds the lock.
  sqlite_state_file(const std::string& path, open_report& report);
  ~sqlite_state_file();
  sqlite_state_file(const sqlite_state_file&) = delete;
  sqlite_state_file& operator=(const sqlite_state_file&) = delete;

  sqlite_db& db() const noexcept { return *db_; }

 private:
  sqlite_state_file(const std::string& path, bool created, open_report& report);

  sqlite_file_lock lock_;  // declared first, so it outlives the connection (see sqlite_file_lock.hpp)
  std::unique_ptr<sqlite_db> db_;
};

// Whether a SQLite result code says the file is damaged (corrupt, or not a database).
bool is_damage(int code);

// What an operator reads when the state file is damaged: which file, that it was left alone, and
// how to get back what it still holds.
std::string damaged_file_message(const std::string& path, const std::string& finding);

}  // namespace hookless
