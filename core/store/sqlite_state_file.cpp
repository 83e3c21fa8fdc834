// Opening the state file: its lock, the connection's settings, the checks and the migration, and
// what an operator is told about a damaged file (see sqlite_state_file.hpp).
#include "core/store/sqlite_state_file.hpp"

#include "core/store/sqlite_handle.hpp"
#include "core/store/sqlite_schema.hpp"
#include "core/store/sqlite_store.hpp"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace hookless {

namespace {

namespace fs = std::filesystem;

// quick_check found damage: the file is SQLite but cannot be trusted.
struct damaged_file : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// How long the check after an unclean stop may read: a few GB of state must not hold the start
// past systemd's start timeout (and a start killed for that would be unclean again, every time).
constexpr auto quick_check_budget = std::chrono::seconds{10};

// PRAGMA quick_check within quick_check_budget. Findings ("ok" when none), or nullopt when the
// budget ran out first (the rest of the file is checked as it is read: SQLite reports a damaged
// page when it meets one).
std::optional<std::string> quick_check(sqlite_db& db) {
  auto deadline = std::chrono::steady_clock::now() + quick_check_budget;
  const auto past_deadline = [](void* until) {
    return std::chrono::steady_clock::now() > *static_cast<std::chrono::steady_clock::time_point*>(until) ? 1 : 0;
  };
  sqlite3_progress_handler(db.handle(), 10'000, past_deadline, &deadline);
  struct handler_removal {
    sqlite_db& db;
    ~handler_removal() { sqlite3_progress_handler(db.handle(), 0, nullptr, nullptr); }
  } removal{db};
  std::string findings;
  try {
    sqlite_stmt check(db, "PRAGMA quick_check");
    while (check.step()) {
      if (!findings.empty()) findings += "; ";
      findings += check.column_text(0);
    }
  } catch (const sqlite_error& e) {
    if (e.primary_code() == SQLITE_INTERRUPT) return std::nullopt;
    throw;
  }
  return findings;
}

// Opens the file and checks it at a cost that does not grow with its size, except after an
// unclean stop (`unclean`), where quick_check reads it (within quick_check_budget): a clean stop
// checkpoints a file that SQLite kept consistent, while a crash or power loss on storage that
// does not honour fsync is what damages one.
std::unique_ptr<sqlite_db> open_and_check(const std::string& path, bool unclean, open_report& report) {
  auto db = std::make_unique<sqlite_db>(path);
  try {
    sqlite3_busy_timeout(db->handle(), 5000);
    // WAL + FULL: a commit is on disk when COMMIT returns, and readers never block the writer.
    const auto mode = db->query_text("PRAGMA journal_mode = WAL");
    if (!mode || *mode != "wal") {
      throw store_failed("state file " + path + " cannot use WAL journaling (got '" + mode.value_or("") + "')");
    }
    // journal_size_limit: after a checkpoint, a WAL grown by one huge batch shrinks back to 64 MiB.
    // temp_store: sorts stay in memory, so a full /tmp never fails a query.
    // cell_size_check: every page read is checked for cells out of bounds, so damage met later
    // fails that read (and stops the daemon) rather than spreading.
    db->exec(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; "
        "PRAGMA cache_size = -32768; PRAGMA journal_size_limit = 67108864; PRAGMA cell_size_check = ON;");
    // Reads the header and the whole schema: a file that is not SQLite, or whose schema is damaged,
    // fails here at once.
    db->query_int64("SELECT COUNT(*) FROM sqlite_schema");
    if (unclean) {
      const auto findings = quick_check(*db);
      if (findings && *findings != "ok") throw damaged_file("quick_check: " + *findings);
      if (!findings) {
        report.messages.push_back("the last stop was unclean; quick_check of state file " + path +
                                  " did not finish within " + std::to_string(quick_check_budget.count()) +
                                  " s and was cut short (damage elsewhere stops the daemon when it is read)");
      }
    }
    migrate_schema(*db);
  } catch (...) {
    // A connection to a damaged file must not checkpoint its WAL into it on close: the file and its
    // WAL are left exactly as they are, for the operator to recover.
    sqlite3_db_config(db->handle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    throw;
  }
  return db;
}

std::unique_ptr<sqlite_db> open_state_file(const std::string& path, bool created, open_report& report) {
  report.created = created;
  // A clean close checkpoints the WAL and removes it: one that is there was left by a crash.
  std::error_code error;
  const bool unclean = fs::exists(path + "-wal", error);
  try {
    return open_and_check(path, unclean, report);
  } catch (const damaged_file& e) {
    throw store_failed(damaged_file_message(path, e.what()));
  } catch (const sqlite_error& e) {
    if (is_damage(e.code())) throw store_failed(damaged_file_message(path, e.what()));
    throw store_failed("cannot open state file " + path + ": " + e.what());
  }
}

// No state file, or an empty one: the store starts empty.
bool missing_or_empty(const std::string& path) {
  std::error_code error;
  return !fs::exists(path, error) || fs::file_size(path, error) == 0;
}

}  // namespace

bool is_damage(int code) {
  const int primary = code & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

std::string damaged_file_message(const std::string& path, const std::string& finding) {
  return "state file " + path + " is damaged (" + finding +
         "); hooklessd will not run on it and has left it as it is. To recover what it holds, stop hooklessd and run "
         "`sqlite3 " +
         path + " .recover | sqlite3 " + path + ".recovered`, then move " + path +
         " (with its -wal and -shm files) aside and the recovered file in its place; or move them aside to start "
         "empty, forgetting the runs it tracked (see \"A damaged state file\" in docs/running-as-a-service.md)";
}

sqlite_state_file::sqlite_state_file(const std::string& path, open_report& report)
    : sqlite_state_file(path, missing_or_empty(path), report) {}

sqlite_state_file::sqlite_state_file(const std::string& path, bool created, open_report& report) : lock_(path) {
  if (auto warning = lock_.readable_by_others()) report.messages.push_back(std::move(*warning));
  db_ = open_state_file(path, created, report);
}

sqlite_state_file::~sqlite_state_file() = default;

}  // namespace hookless
