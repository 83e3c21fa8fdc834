// The durable state behind hookless's promise: a run it acknowledged is never lost. One interface,
// so another backend can be added; sqlite_store is the one we ship. Every call completes on the
// caller's executor; the blocking work runs on the store's own thread.
#pragma once

#include "core/model/awaitable.hpp"
#include "core/model/run.hpp"
#include "core/model/subscription.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hookless {

// The store cannot take more (disk full, quota): refuse new work with 503 busy, keep the old.
struct store_full : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The store cannot be reached now (a PostgreSQL restart, a failover, a network cut): like store_full,
// refuse new work with 503 busy and keep running; the work resumes once the store answers again.
struct store_unavailable : store_full {
  using store_full::store_full;
};

// Several daemons: a write only the poller may make (save_progress, record_outcome, picking new
// runs) was refused because this daemon no longer holds the poller term it was made under.
// Nothing of it was written; the poller role is lost, so the caller stops polling.
struct lease_lost : store_full {
  using store_full::store_full;
};

// The store may have lost data (fsync or write error): the daemon must stop, not continue.
struct store_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What the scheduler learned from one poll that did not finish the run. Saved lazily: losing it
// in a crash only costs a few extra polls.
struct run_progress {
  std::string run_id;
  std::optional<std::string> status;
  std::uint32_t polls = 0;
  time_point updated_at;
  std::optional<time_point> next_poll_at;
  time_point looked_at;
};

// A run reached an outcome: the record as it now stands, its new events and their deliveries.
// Saved in one durable transaction.
struct run_outcome {
  run_record run;  // with state, status, outcome, finished_at updated
  std::vector<run_event> new_events;
  std::vector<delivery> new_deliveries;
};

struct run_query {
  std::optional<run_state> state;      // nullopt: all
  std::optional<std::uint32_t> owner;  // nullopt: every owner (admins)
  std::size_t limit = 100;
  std::optional<std::string> after;    // continue after this run ID (newest first)
  std::optional<std::string> kind;     // only runs of this kind
  std::optional<std::string> outcome;  // only runs with this outcome (e.g. "processed")
};

struct delivery_query {
  std::optional<delivery_state> state;  // nullopt: pending and dead
  std::optional<std::uint32_t> owner;   // nullopt: every owner
  std::optional<std::size_t> limit;     // nullopt: all of them (the daemon's own use)
  std::optional<std::string> after;     // continue after this delivery ID (oldest first)
};

// Where an event stands in the order events were recorded (GET /v1/events?follow=1 on a daemon
// that is not the poller reads the events after one): larger for every event recorded later, and
// the events up to one are all committed before any after it (only the poller records events, one
// transaction after another). PostgreSQL: an identity column, never reused. SQLite: the rowid,
// which a deleted newest event may give to the next (harmless: one daemon per file is always the
// poller, so no relay reads it). 0 is before every event.
using event_position = std::int64_t;

// One event as the store recorded it, with what the live stream needs to publish it.
struct recorded_event {
  event_position position = 0;
  std::string run_id;
  std::uint32_t owner_uid = 0;  // the run's owner
  std::string event_id;
  std::string event_type;
  std::string body;  // the envelope, byte for byte what sinks get
};

class state_store {
 public:
  virtual ~state_store() = default;

  // Pending runs with their events so far (IDs and types, without bodies: a pending run keeps none,
  // and undone deliveries bring theirs) and deliveries, oldest registration first.
  virtual awaitable<std::vector<run_record>> load_pending() = 0;
  // Every delivery that is neither done nor dead, in event order per run.
  virtual awaitable<std::vector<delivery_job>> load_undone_deliveries() = 0;

  // Durable on return (synchronous=FULL); calls arriving together share one transaction.
  // Runs whose ID is already stored are left unchanged. Returns, per run, whether it was new.
  // Throws store_full, store_failed.
  virtual awaitable<std::vector<bool>> insert_runs(std::vector<run_record> runs) = 0;
  virtual awaitable<void> save_progress(std::vector<run_progress> progress) = 0;
  // Durable on return: the run's new state, its events and their deliveries, in one transaction.
  virtual awaitable<void> record_outcome(run_outcome outcome) = 0;
  virtual awaitable<void> update_delivery(delivery record) = 0;

  virtual awaitable<std::optional<run_record>> find_run(std::string id) = 0;
  // The owner of each of `ids` that is stored (nullopt for one that is not), in the same order.
  virtual awaitable<std::vector<std::optional<std::uint32_t>>> owners_of(std::vector<std::string> ids) = 0;
  // Listed records carry their events' IDs and types but not their bodies (a listing shows IDs
  // only; find_run has the bodies).
  virtual awaitable<std::vector<run_record>> list_runs(run_query query) = 0;
  virtual awaitable<std::vector<delivery>> list_deliveries(delivery_query query) = 0;
  // How many dead deliveries each sink has (sinks without any are left out).
  virtual awaitable<std::map<std::string, std::size_t>> count_dead_deliveries() = 0;
  virtual awaitable<std::optional<delivery_job>> find_delivery(std::string delivery_id) = 0;
  // Removes the run, its events and deliveries. False if it was not stored.
  virtual awaitable<bool> delete_run(std::string id) = 0;
  // Removes finished runs whose finished_at is before the cutoff; returns how many.
  virtual awaitable<std::size_t> prune_finished(time_point cutoff) = 0;

  // Subscriptions (docs/subscriptions.md). Every saved position.
  virtual awaitable<std::vector<subscription_position>> load_subscription_positions() = 0;
  // Saves what one sweep found and its position in one durable transaction (several daemons: only
  // the poller, fenced by its term like record_outcome; throws lease_lost otherwise). Per run, in the
  // order given, what saving it did (found_run): a new ID is inserted as a pending run as given; a
  // known run (registered, or found before) gains the given sinks it lacks, in order, and for those
  // added sinks a pending delivery of each event it already has (a finished run's events included),
  // so a run is delivered once per sink, one eventId. The position row is upserted.
  virtual awaitable<std::vector<found_run>> save_finds(subscription_finds finds) = 0;
  // Forgets one kind's position of a subscription (the kind or the subscription was removed by a
  // reload); the runs it found stay.
  virtual awaitable<void> drop_subscription_position(std::string subscription, std::string kind) = 0;
  // ---- the event log: what a daemon that is not the poller relays to its followers ----
  // The events recorded after `after`, oldest first, at most `limit` (events of runs deleted since
  // are gone with them; events an import brought along were not recorded here and are not listed).
  virtual awaitable<std::vector<recorded_event>> events_after(event_position after, std::size_t limit) = 0;
  // The newest event's position (0 when there is none): a relay starting here sees only new events.
  virtual awaitable<event_position> newest_event_position() = 0;
};

}  // namespace hookless
