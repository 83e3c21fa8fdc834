// RAII wrappers over the SQLite C API (see sqlite_handle.hpp).
#include "core/store/sqlite_handle.hpp"

#include <sqlite3.h>

#include <utility>

namespace hookless {

namespace {

int to_int(std::size_t size, sqlite_db& db) {
  if (size > 0x7fffffff) db.fail(SQLITE_TOOBIG, "binding text");
  return static_cast<int>(size);
}

}  // namespace

sqlite_stmt::sqlite_stmt(sqlite_db& db, std::string_view sql) : db_(&db) {
  const int rc =
      sqlite3_prepare_v3(db.handle(), sql.data(), to_int(sql.size(), db), SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) db.fail(rc, "preparing: " + std::string(sql));
}

sqlite_stmt::sqlite_stmt(sqlite_stmt&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

sqlite_stmt& sqlite_stmt::operator=(sqlite_stmt&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

sqlite_stmt::~sqlite_stmt() { sqlite3_finalize(stmt_); }

void sqlite_stmt::bind_null(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) db_->fail(rc, "binding");
}

void sqlite_stmt::bind_int64(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) db_->fail(rc, "binding");
}

void sqlite_stmt::bind_text(int index, std::string_view value) {
  const int rc = sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) db_->fail(rc, "binding");
}

void sqlite_stmt::bind_optional_text(int index, const std::optional<std::string>& value) {
  if (value) {
    bind_text(index, *value);
  } else {
    bind_null(index);
  }
}

void sqlite_stmt::bind_optional_int64(int index, const std::optional<std::int64_t>& value) {
  if (value) {
    bind_int64(index, *value);
  } else {
    bind_null(index);
  }
}

bool sqlite_stmt::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // sqlite3_step's code is the extended one with the v2/v3 prepare interfaces.
  db_->fail(rc, sqlite3_sql(stmt_));
}

void sqlite_stmt::execute() {
  struct resetter {
    sqlite_stmt* self;
    ~resetter() { self->reset(); }
  } guard{this};
  while (step()) {
  }
}

void sqlite_stmt::reset() noexcept {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool sqlite_stmt::column_is_null(int index) const { return sqlite3_column_type(stmt_, index) == SQLITE_NULL; }

std::int64_t sqlite_stmt::column_int64(int index) const { return sqlite3_column_int64(stmt_, index); }

std::string sqlite_stmt::column_text(int index) const {
  const auto* text = sqlite3_column_text(stmt_, index);
  const int size = sqlite3_column_bytes(stmt_, index);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

std::optional<std::string> sqlite_stmt::column_optional_text(int index) const {
  if (column_is_null(index)) return std::nullopt;
  return column_text(index);
}

std::optional<std::int64_t> sqlite_stmt::column_optional_int64(int index) const {
  if (column_is_null(index)) return std::nullopt;
  return column_int64(index);
}

sqlite_db::sqlite_db(const std::string& path) {
  // NOMUTEX: the connection is used from one thread only, so SQLite's own locking is wasted work.
  const int rc =
      sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw sqlite_error(rc, "opening " + path + ": " + message);
  }
  sqlite3_extended_result_codes(db_, 1);
}

sqlite_db::~sqlite_db() {
  cache_.clear();  // statements must be finalized before the connection closes
  sqlite3_close(db_);
}

void sqlite_db::exec(const char* sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    throw sqlite_error(rc, text + " (in: " + sql + ")");
  }
}

std::optional<std::string> sqlite_db::query_text(std::string_view sql) {
  sqlite_stmt stmt(*this, sql);
  if (!stmt.step()) return std::nullopt;
  return stmt.column_optional_text(0);
}

std::int64_t sqlite_db::query_int64(std::string_view sql) {
  sqlite_stmt stmt(*this, sql);
  if (!stmt.step()) fail(SQLITE_ERROR, "no row from: " + std::string(sql));
  return stmt.column_int64(0);
}

sqlite_use sqlite_db::cached(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it == cache_.end()) it = cache_.emplace(std::string(sql), sqlite_stmt(*this, sql)).first;
  return sqlite_use(it->second);
}

std::int64_t sqlite_db::changes() const noexcept { return sqlite3_changes64(db_); }

bool sqlite_db::in_transaction() const noexcept { return sqlite3_get_autocommit(db_) == 0; }

void sqlite_db::fail(int code, std::string_view context) const {
  std::string message = sqlite3_errstr(code);
  if (db_ != nullptr && sqlite3_extended_errcode(db_) == code) message = sqlite3_errmsg(db_);
  throw sqlite_error(code, std::string(context) + ": " + message);
}

}  // namespace hookless
