// What several daemons sharing one database need of it beyond state_store (state.url): liveness of
// each daemon (a row per node name, renewed by heartbeats on the database's clock), homes (a run
// belongs to the node it was registered on; a node gone too long is adopted by a live one, which
// then delivers its runs' events), the one poller lease (only its holder asks Extend, so the
// daemons together stay within the organisation's rate limit), and the hand-over of work between
// them (new registrations to the poller, recorded deliveries to their home).
//
// Every takeover is a compare-and-set on the database; every poller write (save_progress,
// record_outcome, pick_new_runs) is fenced by the poller term set with set_poller_term, so nothing
// written under term t commits after term t + 1 began: a fenced write throws lease_lost instead.
// Calls throw store_unavailable while the database cannot be reached. The SQLite store has none of
// this: one daemon per file is always the poller and the home of every run.
#pragma once

#include "core/model/awaitable.hpp"
#include "core/model/run.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hookless {

// Another process started under this daemon's node name (cluster.node must be unique): this one
// must stop, not carry on beside it.
struct node_replaced : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct heartbeat_result {
  std::vector<std::string> homes;        // nodes whose runs this daemon delivers: its own, then those it adopted
  std::vector<std::string> adopted_now;  // adopted by this heartbeat (takeovers, for logs and metrics)
  std::vector<std::string> live_nodes;   // nodes with a fresh heartbeat, this one included, by name
};

class cluster_store {
 public:
  virtual ~cluster_store() = default;

  // cluster.node, and the fresh ID this process took at open (a restart takes a new one).
  virtual const std::string& node_name() const = 0;
  virtual const std::string& instance_id() const = 0;

  // One round trip on the store's lease connection (never behind a long data write): renews this
  // node's heartbeat, adopts every node whose heartbeat is older than `dead_after` on the database's
  // clock and that no live node holds (its undone deliveries become free to take), and reports the
  // homes this node now holds. A node that comes back took its own home back when it opened (its
  // adopter's next heartbeat no longer lists it). Throws node_replaced, store_unavailable.
  virtual awaitable<heartbeat_result> heartbeat(std::chrono::milliseconds dead_after) = 0;

  // Takes the poller lease when it is free or expired (a new term), or renews it when this process
  // holds it (the same term), until the database's clock_timestamp() + ttl. nullopt: another live
  // process holds it. The caller trusts a lease on its own monotonic clock only until the moment it
  // sent this call + ttl - a margin, and stops sending to Extend before then.
  virtual awaitable<std::optional<std::uint64_t>> claim_poller(std::chrono::milliseconds ttl) = 0;
  // Gives the lease up at once (SIGTERM), so another daemon need not wait for it to expire.
  virtual awaitable<void> resign_poller() = 0;
  // The term this process's poller writes are made under; nullopt: it is not the poller, and those
  // writes throw lease_lost. Thread-safe; takes effect for writes queued afterwards.
  virtual void set_poller_term(std::optional<std::uint64_t> term) = 0;

  // Poller: runs registered (on any daemon) since they were last picked, oldest first, at most
  // `limit`, now marked picked. (load_pending, which a new poller calls first, marks every pending
  // run picked as well.) Fenced.
  virtual awaitable<std::vector<run_record>> pick_new_runs(std::size_t limit) = 0;

  // Home: pending deliveries of the runs whose home this node holds that no process has taken,
  // in event order per run, now taken by this process, at most `limit`. (load_undone_deliveries
  // takes every undone delivery of its homes the same way.) Deliveries recorded by the poller,
  // put back by a redelivery, or freed by an adoption or a node's return are taken here.
  virtual awaitable<std::vector<delivery_job>> take_new_deliveries(std::size_t limit) = 0;
};

}  // namespace hookless
