// hooklessd --import-state (import_state.hpp): the SQLite state file read page by page, each run
// read whole (events with their bodies, deliveries), written to the database in batches, oldest
// registration first so the poller picks them up in the order they were registered.
#include "daemon/hooklessd/import_state.hpp"

#include "core/formats/database_url.hpp"
#include "core/store/pg_store.hpp"
#include "core/store/sqlite_store.hpp"
#include "daemon/hooklessd/open_state.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <optional>
#include <vector>

namespace hookless {

namespace asio = boost::asio;

namespace {

// Every run ID of the state file, oldest registration first (list_runs pages newest first).
awaitable<std::vector<std::string>> all_run_ids(state_store& source, std::size_t page_size) {
  std::vector<std::string> ids;
  std::optional<std::string> after;
  while (true) {
    // A named local, not a temporary in the co_await: g++ 12 frees those twice.
    run_query query{.state = std::nullopt,
                    .owner = std::nullopt,
                    .limit = page_size,
                    .after = after,
                    .kind = std::nullopt,
                    .outcome = std::nullopt};
    const auto page = co_await source.list_runs(std::move(query));
    for (const auto& run : page) ids.push_back(run.id);
    if (page.size() < page_size) break;
    after = page.back().id;
  }
  std::reverse(ids.begin(), ids.end());
  co_return ids;
}

awaitable<import_counts> copy_runs(state_store& source, pg_store& target, std::size_t batch_size) {
  import_counts counts;
  const auto ids = co_await all_run_ids(source, batch_size);
  for (std::size_t first = 0; first < ids.size(); first += batch_size) {
    std::vector<run_record> batch;
    for (std::size_t i = first; i < std::min(ids.size(), first + batch_size); ++i) {
      // find_run, unlike a listing, carries the events' bodies.
      auto run = co_await source.find_run(ids[i]);
      if (run) batch.push_back(std::move(*run));
    }
    const auto size = batch.size();
    const auto imported = co_await target.import_runs(std::move(batch));
    counts.imported += imported;
    counts.skipped += size - imported;
  }
  auto positions = co_await source.load_subscription_positions();
  const auto size = positions.size();
  counts.positions_imported = co_await target.import_subscription_positions(std::move(positions));
  counts.positions_skipped = size - counts.positions_imported;
  co_return counts;
}

}  // namespace

int import_state(const config& settings, const std::string& state_file, std::ostream& out, std::ostream& err,
                 std::size_t batch_size) {
  if (!settings.state.url) {
    err << "--import-state: the config has no state.url; it must name the PostgreSQL database to import into "
           "(state.url: postgresql://...)\n";
    return 1;
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(state_file, ec)) {
    err << "--import-state: no SQLite state file at " << state_file << "\n";
    return 1;
  }
  const auto database = redact_database_url(*settings.state.url);
  try {
    asio::io_context io{1};
    open_report source_report;
    auto source = sqlite_store::open(io.get_executor(), state_file, source_report);
    open_report target_report;
    auto target = pg_store::open(io.get_executor(), database_options(settings), target_report);
    std::optional<import_counts> counts;
    std::exception_ptr failure;
    asio::co_spawn(
        io, [&]() -> awaitable<void> { counts = co_await copy_runs(*source, *target, batch_size); },
        [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) std::rethrow_exception(failure);
    out << "imported " << counts->imported << " runs from " << state_file << " into " << database << " (node '"
        << settings.cluster.node << "'); skipped " << counts->skipped << " the database already had\n";
    if (counts->positions_imported + counts->positions_skipped > 0) {
      out << "imported " << counts->positions_imported << " subscription positions; skipped "
          << counts->positions_skipped << " the database already had\n";
    }
    return 0;
  } catch (const std::exception& e) {
    err << "--import-state: cannot import " << state_file << " into " << database << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace hookless
