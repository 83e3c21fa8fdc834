// The PostgreSQL backend's SQL for subscriptions: what one sweep found and its position, saved in the
// data connection's transaction (fenced by the caller); the positions loaded and dropped (see
// pg_queries.hpp, state_store.hpp).
#include "core/store/pg_connection.hpp"
#include "core/store/pg_queries.hpp"
#include "core/store/store_finds.hpp"
#include "core/store/store_rows.hpp"

#include <optional>
#include <stdexcept>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace hookless::pg_queries {

namespace {

// The home of a stored run, its row now locked until the transaction ends (so no daemon deletes
// it or changes it meanwhile); nullopt when it is not stored.
std::optional<std::string> pg_lock_found_run(pg_connection& db, const std::string& id) {
  const auto rows = db.exec_with("SELECT home FROM runs WHERE id = $1 FOR UPDATE", id);
  if (rows.size() == 0) return std::nullopt;
  return rows.text(0, 0);
}

// The deliveries of `jobs` the database did not have, inserted free (their home's intake takes
// them), with `home` filled.
std::vector<delivery_job> pg_insert_found_deliveries(pg_connection& db, std::vector<delivery_job> jobs,
                                                     const std::string& home) {
  if (jobs.empty()) return jobs;
  std::vector<std::optional<std::string>> ids, event_ids, run_ids, sinks;
  for (const auto& job : jobs) {
    ids.emplace_back(job.record.id);
    event_ids.emplace_back(job.record.event_id);
    run_ids.emplace_back(job.record.run_id);
    sinks.emplace_back(job.record.sink);
  }
  const auto rows = db.exec_with(
      "INSERT INTO deliveries (id, event_id, run_id, sink, state) SELECT u.id, u.event_id, u.run_id, u.sink, "
      "'pending' FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(id, event_id, "
      "run_id, sink, position) ORDER BY u.position ON CONFLICT DO NOTHING RETURNING id",
      pg_text_array(ids), pg_text_array(event_ids), pg_text_array(run_ids), pg_text_array(sinks));
  std::unordered_set<std::string_view> inserted;
  for (int row = 0; row < rows.size(); ++row) inserted.insert(rows.view(row, 0));
  std::vector<delivery_job> made;
  for (auto& job : jobs) {
    if (!inserted.contains(job.record.id)) continue;
    job.home = home;
    made.push_back(std::move(job));
  }
  return made;
}

// One found run: inserted when new, else given the sinks it lacks and their deliveries.
found_run pg_save_found_run(pg_connection& db, const run_record& run, const std::string& my_home,
                            const sink_event_filters& filters) {
  // A registration on another daemon may insert the ID between the look and the insert: look again.
  for (int look = 0; look < 3; ++look) {
    const auto home = pg_lock_found_run(db, run.id);
    if (!home) {
      if (!insert_runs(db, std::vector<run_record>{run}, my_home, false).front()) continue;
      return store_finds::inserted_run(run);
    }
    auto stored = find_run(db, run.id);
    if (!stored) continue;  // cannot happen while the row is locked; look again
    auto added = store_finds::sinks_lacking(*stored, run.sinks);
    if (added.empty()) return store_finds::unchanged_run(std::move(*stored));
    db.exec_with("UPDATE runs SET sinks = $2 WHERE id = $1", run.id,
                 store_rows::sinks_to_json(store_finds::sinks_with(*stored, added)));
    auto made = pg_insert_found_deliveries(db, store_finds::jobs_for_added_sinks(*stored, added, filters), *home);
    return store_finds::merged_run(std::move(*stored), std::move(added), std::move(made));
  }
  throw std::runtime_error("state store: run " + run.id + " came and went while a subscription saved it");
}

}  // namespace

std::vector<found_run> save_finds(pg_connection& db, const subscription_finds& finds, const std::string& home) {
  std::vector<found_run> results;
  results.reserve(finds.runs.size());
  for (const auto& run : finds.runs) results.push_back(pg_save_found_run(db, run, home, finds.sink_events));
  const auto& position = finds.position;
  db.exec_with(
      "INSERT INTO subscription_positions (subscription, kind, since, position, swept_at) VALUES ($1, $2, $3, $4, $5) "
      "ON CONFLICT (subscription, kind) DO UPDATE SET since = EXCLUDED.since, position = EXCLUDED.position, "
      "swept_at = EXCLUDED.swept_at",
      position.subscription, position.kind, store_rows::to_ms(position.since), store_rows::to_ms(position.position),
      store_rows::to_ms(position.swept_at));
  return results;
}

std::size_t import_subscription_positions(pg_connection& db, const std::vector<subscription_position>& positions) {
  std::size_t imported = 0;
  for (const auto& position : positions) {
    imported += db.exec_with(
                      "INSERT INTO subscription_positions (subscription, kind, since, position, swept_at) VALUES ($1, "
                      "$2, $3, $4, $5) ON CONFLICT (subscription, kind) DO NOTHING",
                      position.subscription, position.kind, store_rows::to_ms(position.since),
                      store_rows::to_ms(position.position), store_rows::to_ms(position.swept_at))
                    .affected();
  }
  return imported;
}

void drop_subscription_position(pg_connection& db, const std::string& subscription, const std::string& kind) {
  db.exec_with("DELETE FROM subscription_positions WHERE subscription = $1 AND kind = $2", subscription, kind);
}

std::vector<subscription_position> load_subscription_positions(pg_connection& db) {
  const auto rows = db.exec(std::string("SELECT ") + store_rows::subscription_position_columns +
                            " FROM subscription_positions ORDER BY subscription, kind");
  std::vector<subscription_position> positions;
  positions.reserve(static_cast<std::size_t>(rows.size()));
  for (int row = 0; row < rows.size(); ++row) {
    positions.push_back(store_rows::read_subscription_position(pg_row(rows, row), 0));
  }
  return positions;
}

}  // namespace hookless::pg_queries
