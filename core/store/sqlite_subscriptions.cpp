// The SQLite backend's SQL for subscriptions: what one sweep found and its position, saved in the
// store's transaction; the positions loaded and dropped (see sqlite_queries.hpp, state_store.hpp).
#include "core/store/sqlite_handle.hpp"
#include "core/store/sqlite_queries.hpp"
#include "core/store/store_finds.hpp"
#include "core/store/store_rows.hpp"

#include <utility>

namespace hookless::sqlite_queries {

namespace {

// One found run: inserted when new, else given the sinks it lacks and their deliveries.
found_run sqlite_save_found_run(sqlite_db& db, const run_record& run, const sink_event_filters& filters) {
  auto stored = find_run(db, run.id);
  if (!stored) {
    insert_runs(db, std::vector<run_record>{run});
    return store_finds::inserted_run(run);
  }
  auto added = store_finds::sinks_lacking(*stored, run.sinks);
  if (added.empty()) return store_finds::unchanged_run(std::move(*stored));
  {
    auto stmt = db.cached("UPDATE runs SET sinks = ?2 WHERE id = ?1");
    stmt->bind_text(1, run.id);
    stmt->bind_text(2, store_rows::sinks_to_json(store_finds::sinks_with(*stored, added)));
    stmt->execute();
  }
  std::vector<delivery_job> made;
  for (auto& job : store_finds::jobs_for_added_sinks(*stored, added, filters)) {
    if (insert_delivery(db, job.record)) made.push_back(std::move(job));
  }
  return store_finds::merged_run(std::move(*stored), std::move(added), std::move(made));
}

}  // namespace

std::vector<found_run> save_finds(sqlite_db& db, const subscription_finds& finds) {
  std::vector<found_run> results;
  results.reserve(finds.runs.size());
  for (const auto& run : finds.runs) results.push_back(sqlite_save_found_run(db, run, finds.sink_events));
  const auto& position = finds.position;
  auto stmt = db.cached(
      "INSERT INTO subscription_positions (subscription, kind, since, position, swept_at) VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT (subscription, kind) DO UPDATE SET since = excluded.since, position = excluded.position, "
      "swept_at = excluded.swept_at");
  stmt->bind_text(1, position.subscription);
  stmt->bind_text(2, position.kind);
  stmt->bind_optional_int64(3, store_rows::to_ms(position.since));
  stmt->bind_optional_int64(4, store_rows::to_ms(position.position));
  stmt->bind_optional_int64(5, store_rows::to_ms(position.swept_at));
  stmt->execute();
  return results;
}

void drop_subscription_position(sqlite_db& db, const std::string& subscription, const std::string& kind) {
  auto stmt = db.cached("DELETE FROM subscription_positions WHERE subscription = ?1 AND kind = ?2");
  stmt->bind_text(1, subscription);
  stmt->bind_text(2, kind);
  stmt->execute();
}

std::vector<subscription_position> load_subscription_positions(sqlite_db& db) {
  std::vector<subscription_position> positions;
  auto stmt = db.cached(std::string("SELECT ") + store_rows::subscription_position_columns +
                        " FROM subscription_positions ORDER BY subscription, kind");
  while (stmt->step()) positions.push_back(store_rows::read_subscription_position(*stmt, 0));
  return positions;
}

}  // namespace hookless::sqlite_queries
