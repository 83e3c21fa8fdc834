// The SQLite backend of the store contract suite: a state file in the test's own temp dir, looked
// at through a plain SQLite connection, its commits held by the store's test hook.
#include "core/store/sqlite_store.hpp"
#include "tests/integration/store_backends.hpp"
#include "tests/support/temp_dir.hpp"

#include <sqlite3.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>

namespace hookless::test {
namespace {

// Parks the store's thread inside its next commit until released.
class sqlite_commit_gate final : public write_gate {
 public:
  explicit sqlite_commit_gate(sqlite_store& store) : store_{store} {
    store_.set_commit_hook_for_testing([this] { return hold(); });
  }
  ~sqlite_commit_gate() override {
    release();
    store_.set_commit_hook_for_testing(nullptr);
  }

  bool holding() override {
    std::lock_guard lock(mutex_);
    return entered_;
  }
  void release() override {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  int hold() {
    std::unique_lock lock(mutex_);
    if (!entered_) {
      entered_ = true;
      changed_.notify_all();
      changed_.wait(lock, [this] { return released_; });
    }
    return SQLITE_OK;
  }

  sqlite_store& store_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false;
  bool released_ = false;
};

class sqlite_backend final : public store_backend {
 public:
  std::unique_ptr<state_store> open(boost::asio::io_context& io, open_report& report) override {
    return sqlite_store::open(io.get_executor(), path_, report);
  }

  std::string count_rows(const std::string& table) override {
    return query_raw(path_, "SELECT COUNT(*) FROM " + table);
  }

  awaitable<std::string> check_integrity(state_store& store) override {
    co_return co_await dynamic_cast<sqlite_store&>(store).check_integrity();
  }

  // Every test leaves a file SQLite itself vouches for.
  std::string check_at_rest() override {
    return std::filesystem::exists(path_) ? query_raw(path_, "PRAGMA integrity_check") : "ok";
  }

  std::optional<std::uint64_t> commit_count(const state_store& store) override {
    return dynamic_cast<const sqlite_store&>(store).commit_count();
  }

  std::unique_ptr<write_gate> hold_next_commit(state_store& store) override {
    return std::make_unique<sqlite_commit_gate>(dynamic_cast<sqlite_store&>(store));
  }

 private:
  temp_dir temp_{"hookless-store"};
  std::string path_ = (temp_.path() / "state.db").string();
};

}  // namespace

std::unique_ptr<store_backend> make_sqlite_backend() { return std::make_unique<sqlite_backend>(); }

std::string query_raw(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string answer;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        if (!answer.empty()) answer += '\n';
        const auto* text = sqlite3_column_text(stmt, 0);
        answer += text != nullptr ? reinterpret_cast<const char*>(text) : "NULL";
      }
    } else {
      answer = std::string("error: ") + sqlite3_errmsg(db);
    }
    sqlite3_finalize(stmt);
  } else {
    answer = "cannot open";
  }
  sqlite3_close(db);
  return answer;
}

}  // namespace hookless::test
