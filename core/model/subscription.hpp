// Subscriptions (docs/subscriptions.md): every run of some kinds that reaches a final status (or a
// workflow's NEEDS_REVIEW) after the subscription first started, found from Extend's list endpoints
// with nothing registered. The plain data the config, the store, the tracker and health share.
#pragma once

#include "core/model/event_filter.hpp"
#include "core/model/run.hpp"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace hookless {

// The owner of a run a subscription found: no user (uid -1 is never a user's), so only admins see it.
inline constexpr std::uint32_t no_owner_uid = std::numeric_limits<std::uint32_t>::max();

// Where one subscription's sweep of one kind stands, durably. Both times are Extend's clock (the
// summaries' updatedAt), never ours, so a skewed clock here moves neither.
struct subscription_position {
  std::string subscription;
  std::string kind;
  // Runs updated at or before this were history when the subscription first swept the kind: never
  // delivered. Unset until that first sweep answers; the epoch when the list was empty then.
  std::optional<time_point> since;
  // The newest updatedAt a complete sweep read: the next sweep reads back to it (less an overlap).
  std::optional<time_point> position;
  // Our clock: when a sweep last completed (health shows the position's age from it).
  std::optional<time_point> swept_at;
};

// What one sweep found, saved in one transaction: the runs it found (new ones become pending runs of
// the subscription; a run already known gains the subscription's sinks it lacks) and the position.
struct subscription_finds {
  subscription_position position;
  sink_event_filters sink_events;  // a known run's events so far go to an added sink only if it takes them
  std::vector<run_record> runs;    // pending, owner no_owner_uid, `subscription` set, its sinks
};

// What saving a found run did.
struct found_run {
  enum class result {
    inserted,  // a new pending run: track it
    merged,    // a known run gained sinks (added_sinks): deliver its events made so far to them too
    unchanged  // known, with every sink already: nothing to do
  };
  result what = result::unchanged;
  std::vector<std::string> added_sinks;
  run_record run;  // as stored now (merged: with its events so far, bodies included)
  // merged: the pending deliveries made for the added sinks, with their events' bodies, in event
  // order then sink order (home filled on PostgreSQL). One daemon: hand them to the delivery queues;
  // several daemons: the run's home takes them from the store like any other (take_new_deliveries).
  std::vector<delivery_job> new_jobs;
};

// How one subscription's sweep of one kind is doing, for health and metrics.
struct subscription_status {
  std::string subscription;
  std::string kind;
  // starting: no sweep has answered yet; ok; failing: the list refuses or fails, or a page was not
  // sorted (the position is kept and the sweep retried: nothing is skipped); standby: several daemons
  // on one database, and another one sweeps.
  std::string state = "starting";
  std::optional<time_point> position;  // Extend's clock: the newest updatedAt a complete sweep read
  std::optional<time_point> swept_at;  // our clock: when a sweep last completed
  std::uint64_t sweeps = 0;            // complete sweeps, since this daemon started
  std::uint64_t pages = 0;             // list pages read
  std::uint64_t runs_found = 0;        // runs it found finished (new, or a registered run it joined)
  std::uint64_t events = 0;            // events made for runs it found
  std::optional<std::string> last_error;
};

}  // namespace hookless
