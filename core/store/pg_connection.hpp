// A thin RAII wrapper over libpq for the PostgreSQL store: one connection, used blocking from one
// thread, with a hard deadline on every round trip so a dead or frozen server never hangs the caller,
// and errors mapped to what the store's callers act on:
// - the server cannot be reached, the connection broke, a round trip timed out, the server is
//   shutting down or read-only (a failover in progress) -> store_unavailable; the connection is
//   then closed and the next call reconnects;
// - a serialization failure or a deadlock -> pg_retryable (run the transaction again);
// - the disk is full -> store_full;
// - anything else -> std::runtime_error with the SQLSTATE and the server's message.
// Messages name the server (user@host:port/database), never the password.
//
// No session state is kept (unnamed statements only, settings with SET LOCAL inside transactions),
// so a pooler in transaction mode works.
#pragma once

#include "core/store/state_store.hpp"

#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;
struct pg_result;

namespace hookless {

// A transaction failed for a reason that goes away when it is run again (SQLSTATE 40001, 40P01).
struct pg_retryable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One query parameter in text form; nullopt is SQL NULL.
class pg_param {
 public:
  pg_param(std::nullopt_t) {}
  pg_param(std::string text) : text_(std::move(text)) {}
  pg_param(std::string_view text) : text_(std::string(text)) {}
  pg_param(const char* text) : text_(std::string(text)) {}
  template <std::integral Integer>
  requires(!std::same_as<Integer, bool>) pg_param(Integer value) : text_(std::to_string(value)) {}
  pg_param(bool value) : text_(value ? "t" : "f") {}
  template <typename Value>
  pg_param(const std::optional<Value>& value) {
    if (value) text_ = pg_param(*value).text_;
  }

  const std::optional<std::string>& text() const noexcept { return text_; }

 private:
  std::optional<std::string> text_;
};

// A PostgreSQL array literal of text elements ('{"a",NULL}'), for `$n::text[]` and unnest().
std::string pg_text_array(const std::vector<std::optional<std::string>>& elements);

// The rows of one statement. Column access by 0-based row and column; text-format results only.
class pg_rows {
 public:
  explicit pg_rows(pg_result* result) noexcept;

  int size() const noexcept;
  // Rows a command touched (UPDATE, DELETE, INSERT ... ON CONFLICT DO NOTHING).
  std::size_t affected() const;

  bool is_null(int row, int column) const;
  std::string text(int row, int column) const;
  std::string_view view(int row, int column) const;  // valid while this result lives
  std::optional<std::string> optional_text(int row, int column) const;
  std::int64_t int64(int row, int column) const;
  std::optional<std::int64_t> optional_int64(int row, int column) const;
  bool boolean(int row, int column) const;

 private:
  friend class pg_connection;  // reads an error result's fields
  struct release {
    void operator()(pg_result* result) const noexcept;
  };
  std::unique_ptr<pg_result, release> result_;
};

// One row of a result, with the accessors store_rows' readers take.
class pg_row {
 public:
  pg_row(const pg_rows& rows, int row) : rows_(rows), row_(row) {}
  std::string column_text(int column) const { return rows_.text(row_, column); }
  std::int64_t column_int64(int column) const { return rows_.int64(row_, column); }
  std::optional<std::string> column_optional_text(int column) const { return rows_.optional_text(row_, column); }
  std::optional<std::int64_t> column_optional_int64(int column) const { return rows_.optional_int64(row_, column); }

 private:
  const pg_rows& rows_;
  int row_;
};

struct pg_connection_options {
  std::string url;                      // a libpq URI or key=value string
  std::optional<std::string> password;  // overrides one in the URL
  std::chrono::milliseconds connect_timeout{3000};
  // The longest a statement may run on the server (SET LOCAL statement_timeout in each transaction
  // begun with begin()); a round trip may stay silent this plus half a second before the connection
  // is dropped.
  std::chrono::milliseconds statement_timeout{2000};
  // The longest a transaction may sit idle between statements before the server ends the session
  // and rolls it back (SET LOCAL idle_in_transaction_session_timeout). hookless never waits inside a
  // transaction, so only a frozen or vanished process does; without this its locks (the poller
  // row's fence above all) would hold every other daemon's election up until TCP noticed.
  std::chrono::milliseconds idle_in_transaction_timeout{2000};
  std::string application_name = "hooklessd";
};

class pg_connection {
 public:
  // Connects at once. Throws store_unavailable naming the server when it cannot.
  explicit pg_connection(pg_connection_options options);
  pg_connection(const pg_connection&) = delete;
  pg_connection& operator=(const pg_connection&) = delete;
  ~pg_connection();

  // user@host:port/database, for messages.
  const std::string& server() const noexcept { return server_; }

  // Reconnects if the last call lost the connection. Throws store_unavailable.
  void ensure_connected();

  // One or more statements without parameters (simple protocol); the last statement's rows.
  pg_rows exec(std::string_view sql);
  // One statement with text parameters ($1, $2, ...).
  pg_rows exec_params(std::string_view sql, const std::vector<pg_param>& params);
  template <typename... Params>
  pg_rows exec_with(std::string_view sql, const Params&... params) {
    return exec_params(sql, std::vector<pg_param>{pg_param(params)...});
  }

  // BEGIN (at the isolation level given, e.g. "REPEATABLE READ", or the default) with this
  // connection's statement_timeout, in one round trip; reconnects first when the connection was
  // lost, and once more when the server dropped it while idle.
  void begin(std::string_view isolation = {});
  // For the rest of this transaction, statements known to be long (loading every pending run) may
  // take `timeout`, on the server and here.
  void allow_long_statements(std::chrono::milliseconds timeout);
  // ROLLBACK if a transaction is open and the connection is alive; never throws.
  void rollback_quietly() noexcept;
  bool in_transaction() const noexcept;

 private:
  void connect();
  void close() noexcept;
  pg_rows finish_round_trip(std::string_view what);
  [[noreturn]] void fail_unavailable(const std::string& why);

  struct release {
    void operator()(pg_conn* conn) const noexcept;
  };

  pg_connection_options options_;
  std::string server_;
  std::unique_ptr<pg_conn, release> conn_;
  std::chrono::milliseconds timeout_;  // this transaction's statement timeout
  bool timed_out_ = false;             // the last failure was a round trip left unanswered
};

}  // namespace hookless
