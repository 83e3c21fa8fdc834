// Several in-process "daemons" sharing one database, for the cluster runtime's tests without
// PostgreSQL: the runs, events and deliveries live in one real SQLite store, and what PostgreSQL's
// cluster tables hold (the poller lease with its terms, heartbeats and homes, picked runs, taken
// deliveries) lives in memory here, on this process's steady clock (standing in for the database's).
// Each node is both the state_store its tracker uses and its cluster_store, as pg_store is; the
// poller's writes are fenced by its term. Every term held is kept, so a test can check that no
// request was sent outside its sender's term.
#pragma once

#include "core/store/cluster_store.hpp"
#include "core/store/state_store.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace hookless::test {

class fake_cluster_db {
 public:
  using steady_time = std::chrono::steady_clock::time_point;

  explicit fake_cluster_db(state_store& store) : data(store) {}

  struct held_term {
    std::string instance;
    std::uint64_t term = 0;
    steady_time from;
    steady_time until;  // its last expiry (moved on by renewals), or earlier when resigned
  };

  state_store& data;
  bool unreachable = false;                       // every call throws store_unavailable
  std::vector<held_term> terms;                   // every term, in order; the last may be the current one
  std::optional<std::string> lease;               // instance id holding the lease now (if terms.back() has not expired)
  std::map<std::string, steady_time> heartbeats;  // node -> last heartbeat
  std::map<std::string, std::string> adopted_by;  // node -> the live node delivering its runs
  std::map<std::string, std::string> home_of;     // run id -> node it was registered on
  std::set<std::string> picked;                   // run ids
  std::map<std::string, std::string> taken_by;    // delivery id -> instance id
  std::map<std::string, std::string> delivery_home;  // delivery id -> its run's home, once taken
  mutable std::uint64_t refused_writes = 0;          // fenced writes refused (lease_lost)

  // The instance whose term covered `at` (nullopt: none did).
  std::optional<std::string> holder_at(steady_time at) const;
};

class fake_cluster_node final : public state_store, public cluster_store {
 public:
  fake_cluster_node(fake_cluster_db& db, std::string node, std::string instance);

  // --- cluster_store
  const std::string& node_name() const override { return node_; }
  const std::string& instance_id() const override { return instance_; }
  awaitable<heartbeat_result> heartbeat(std::chrono::milliseconds dead_after) override;
  awaitable<std::optional<std::uint64_t>> claim_poller(std::chrono::milliseconds ttl) override;
  awaitable<void> resign_poller() override;
  void set_poller_term(std::optional<std::uint64_t> term) override { term_ = term; }
  awaitable<std::vector<run_record>> pick_new_runs(std::size_t limit) override;
  awaitable<std::vector<delivery_job>> take_new_deliveries(std::size_t limit) override;

  // --- state_store
  awaitable<std::vector<run_record>> load_pending() override;
  awaitable<std::vector<delivery_job>> load_undone_deliveries() override;
  awaitable<std::vector<bool>> insert_runs(std::vector<run_record> runs) override;
  awaitable<void> save_progress(std::vector<run_progress> progress) override;
  awaitable<void> record_outcome(run_outcome outcome) override;
  awaitable<void> update_delivery(delivery record) override;
  awaitable<std::optional<run_record>> find_run(std::string id) override;
  awaitable<std::vector<std::optional<std::uint32_t>>> owners_of(std::vector<std::string> ids) override;
  awaitable<std::vector<run_record>> list_runs(run_query query) override;
  awaitable<std::vector<delivery>> list_deliveries(delivery_query query) override;
  awaitable<std::map<std::string, std::size_t>> count_dead_deliveries() override;
  awaitable<std::optional<delivery_job>> find_delivery(std::string delivery_id) override;
  awaitable<bool> delete_run(std::string id) override;
  awaitable<std::size_t> prune_finished(time_point cutoff) override;
  awaitable<std::vector<subscription_position>> load_subscription_positions() override;
  awaitable<std::vector<found_run>> save_finds(subscription_finds finds) override;
  awaitable<void> drop_subscription_position(std::string subscription, std::string kind) override;
  awaitable<std::vector<recorded_event>> events_after(event_position after, std::size_t limit) override;
  awaitable<event_position> newest_event_position() override;

  // Claims answer this much later (a slow lease connection).
  std::chrono::milliseconds claim_delay{0};

 private:
  void reachable() const;
  void fenced() const;  // throws lease_lost unless this instance holds its term now
  std::vector<std::string> homes() const;
  awaitable<std::vector<delivery_job>> take(std::size_t limit);

  fake_cluster_db& db_;
  std::string node_;
  std::string instance_;
  std::optional<std::uint64_t> term_;
};

}  // namespace hookless::test
