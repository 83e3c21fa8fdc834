// The state store the config names: the SQLite file (state.path, one daemon) or the PostgreSQL
// database several daemons share (state.url, with this daemon's cluster.node). With a database a
// start while it cannot be reached waits for it, so the daemons come up when PostgreSQL does.
#pragma once

#include "core/model/settings.hpp"
#include "core/store/cluster_store.hpp"
#include "core/store/pg_store.hpp"
#include "core/store/state_store.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <memory>
#include <optional>

namespace hookless {

struct opened_state {
  std::unique_ptr<state_store> store;
  cluster_store* cluster = nullptr;  // the same store with state.url; null with SQLite
};

// The pg_store options of a config with state.url: its URI, this node's name, and the password
// from state.password_file (else none, so libpq takes the URI's, PGPASSWORD or ~/.pgpass).
// Throws std::runtime_error naming state.password_file when that file cannot be read.
pg_store_options database_options(const config& settings);

// Opens the store, blocking the calling thread (before the io_context runs); `executor` completes
// the store's calls. A database that cannot be reached (store_unavailable) is tried again every
// `retry_every`, each failure logged and told to systemd (whose start timeout is extended), until it
// answers; SIGTERM or SIGINT meanwhile gives nullopt (stop, exit 0). Any other failure throws.
std::optional<opened_state> open_state(boost::asio::any_io_executor executor, const config& settings,
                                       std::chrono::milliseconds retry_every = std::chrono::seconds{5});

}  // namespace hookless
