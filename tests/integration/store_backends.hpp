// The state_store backends the store contract suite runs on, behind one small interface: each
// test gets storage of its own (a state file in a temp dir, a fresh database on the test
// PostgreSQL), opens, closes and reopens its store there, and looks at the stored rows directly.
#pragma once

#include "core/model/awaitable.hpp"
#include "core/store/open_report.hpp"
#include "core/store/state_store.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

namespace hookless::test {

enum class store_kind { sqlite, postgresql };

// "sqlite", "postgresql": the suffix of the parametrised tests' names.
std::string name_of(store_kind kind);
// How gtest prints the parameter.
void PrintTo(store_kind kind, std::ostream* out);

// Holds the store's next commit (or the write before it) until released, so the calls made
// meanwhile queue up behind it and must share the transaction after it.
class write_gate {
 public:
  virtual ~write_gate() = default;
  // A write of the store is held at the gate now.
  virtual bool holding() = 0;
  virtual void release() = 0;
};

class store_backend {
 public:
  virtual ~store_backend() = default;

  // Opens the store on this test's storage, created empty by the first open. The PostgreSQL
  // store also takes the poller lease, as the only daemon of a database does: its fenced writes
  // (save_progress, record_outcome) need it.
  virtual std::unique_ptr<state_store> open(boost::asio::io_context& io, open_report& report) = 0;

  // How many rows `table` holds, counted over a connection of the test's own.
  virtual std::string count_rows(const std::string& table) = 0;
  // The backend's own check of the stored data through the open store: "ok" when sound (or when
  // the backend has no such check).
  virtual awaitable<std::string> check_integrity(state_store& store) = 0;
  // The same with the store closed, at the end of every test.
  virtual std::string check_at_rest() = 0;

  // Transactions the store committed so far; nullopt: it does not count them.
  virtual std::optional<std::uint64_t> commit_count(const state_store& store) = 0;
  virtual std::unique_ptr<write_gate> hold_next_commit(state_store& store) = 0;
};

// Fresh storage of the given kind, named after the running test where it needs a name.
std::unique_ptr<store_backend> make_store_backend(store_kind kind);
std::unique_ptr<store_backend> make_sqlite_backend();
std::unique_ptr<store_backend> make_postgresql_backend();

// Opens the SQLite file with a plain connection of its own (not the store's) and runs one query:
// its rows, one a line, the first column of each ("cannot open", "error: …" when it fails).
std::string query_raw(const std::string& path, const std::string& sql);

}  // namespace hookless::test
