// Thin RAII wrappers over the SQLite C API: a connection, prepared statements and an exception that
// keeps SQLite's extended result code, so the store can tell "disk full" from "data may be lost".
// Not thread-safe by design: the store uses one connection from one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace hookless {

// A failed SQLite call. code() is the extended result code (e.g. SQLITE_IOERR_FSYNC).
class sqlite_error : public std::runtime_error {
 public:
  sqlite_error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }
  int primary_code() const noexcept { return code_ & 0xff; }

 private:
  int code_;
};

class sqlite_db;

// One prepared statement. bind_*() take 1-based indexes like SQLite; column_*() 0-based.
class sqlite_stmt {
 public:
  sqlite_stmt() = default;
  sqlite_stmt(sqlite_db& db, std::string_view sql);
  sqlite_stmt(const sqlite_stmt&) = delete;
  sqlite_stmt& operator=(const sqlite_stmt&) = delete;
  sqlite_stmt(sqlite_stmt&& other) noexcept;
  sqlite_stmt& operator=(sqlite_stmt&& other) noexcept;
  ~sqlite_stmt();

  void bind_null(int index);
  void bind_int64(int index, std::int64_t value);
  void bind_text(int index, std::string_view value);  // SQLite copies the text
  void bind_optional_text(int index, const std::optional<std::string>& value);
  void bind_optional_int64(int index, const std::optional<std::int64_t>& value);

  // True while a row is available; false when the statement is done. Throws sqlite_error.
  bool step();
  // Runs a statement that returns no rows (or ignores them), then resets it.
  void execute();
  // Ready for new bindings and another run.
  void reset() noexcept;

  bool column_is_null(int index) const;
  std::int64_t column_int64(int index) const;
  std::string column_text(int index) const;
  std::optional<std::string> column_optional_text(int index) const;
  std::optional<std::int64_t> column_optional_int64(int index) const;

 private:
  sqlite_db* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// A cached statement in use: reset (and so releases its read snapshot) when it goes out of scope,
// even when an exception cuts the loop over its rows short.
class sqlite_use {
 public:
  explicit sqlite_use(sqlite_stmt& stmt) noexcept : stmt_(&stmt) {}
  sqlite_use(const sqlite_use&) = delete;
  sqlite_use& operator=(const sqlite_use&) = delete;
  ~sqlite_use() { stmt_->reset(); }
  sqlite_stmt* operator->() const noexcept { return stmt_; }
  sqlite_stmt& operator*() const noexcept { return *stmt_; }

 private:
  sqlite_stmt* stmt_;
};

// A connection. Statements prepared with cached() live as long as the connection.
class sqlite_db {
 public:
  // Opens (and creates) the file. Throws sqlite_error.
  explicit sqlite_db(const std::string& path);
  sqlite_db(const sqlite_db&) = delete;
  sqlite_db& operator=(const sqlite_db&) = delete;
  ~sqlite_db();

  sqlite3* handle() const noexcept { return db_; }

  // Runs one or more statements without results. Throws sqlite_error.
  void exec(const char* sql);
  // The first column of the first row, as text (e.g. a PRAGMA's answer); nullopt without rows.
  std::optional<std::string> query_text(std::string_view sql);
  std::int64_t query_int64(std::string_view sql);

  // A prepared statement kept for reuse, keyed by its SQL text; reset when the use ends.
  sqlite_use cached(std::string_view sql);

  std::int64_t changes() const noexcept;
  bool in_transaction() const noexcept;

  // Throws sqlite_error for `code`, with SQLite's message for this connection and `context`.
  [[noreturn]] void fail(int code, std::string_view context) const;

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite_stmt> cache_;
};

}  // namespace hookless
