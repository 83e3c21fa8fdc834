// The control API's view of the run tracker: validates registrations against the config, and
// applies ownership (a run belongs to the uid that registered it; admins see every run).
#pragma once

#include "core/cluster/cluster_status.hpp"
#include "core/model/settings.hpp"
#include "core/tracking/run_tracker.hpp"
#include "daemon/control/control_backend.hpp"
#include "daemon/service/service_metrics.hpp"

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace hookless {

class tracker_backend final : public control_backend {
 public:
  // `settings` is read on every call, so the daemon may assign a reloaded config to it. `metrics`
  // and `budget`, when given, add their measurements to metrics(). `cluster`, given with a database
  // (state.url), tells health and metrics what this daemon knows of the cluster and of the store's
  // reachability; without it the store is the SQLite file, always reachable while the daemon runs.
  // `config_file`, when given, is the config file's history (the daemon updates it on reload), for
  // health and metrics.
  tracker_backend(run_tracker& tracker, state_store& store, const config& settings,
                  std::function<void(std::exception_ptr)> on_fatal, const service_metrics* metrics = nullptr,
                  const request_budget* budget = nullptr, std::function<cluster_status()> cluster = {},
                  const config_health* config_file = nullptr);

  awaitable<registration_result> register_runs(caller who, std::vector<registration> runs) override;
  awaitable<std::optional<run_record>> get_run(caller who, std::string id) override;
  awaitable<std::optional<run_record>> wait_run(caller who, std::string id, std::chrono::milliseconds limit) override;
  awaitable<std::vector<run_record>> list_runs(caller who, run_query query) override;
  awaitable<bool> forget_run(caller who, std::string id) override;
  awaitable<std::vector<delivery>> list_deliveries(caller who, delivery_query query) override;
  awaitable<bool> retry_delivery(caller who, std::string delivery_id) override;
  awaitable<std::size_t> retry_dead_deliveries(caller who) override;
  awaitable<event_stream> open_events(caller who, std::optional<std::string> run_id, bool follow) override;
  health_report health() const override;
  std::vector<subscription_status> subscriptions() const override;
  // The followers of GET /v1/events (the ones the tracker publishes to); must outlive the backend.
  void serve_events(live_events* followers) { live_ = followers; }
  std::string metrics() const override;
  std::optional<std::string> kind_for(std::string_view run_id) const override;
  std::vector<std::string> known_kinds() const override;

 private:
  void check_registration(const registration& reg, std::size_t index, bool batch) const;
  // Throws caller_over_limit when `runs` would take the uid over control.max_pending_per_user;
  // otherwise reserves their IDs in pending_by_owner_ and returns the ones it added.
  awaitable<std::vector<std::string>> reserve_pending(std::uint32_t uid, const std::vector<registration>& runs);
  // Throws registration_forbidden when one of `runs` is another user's run (stored, or being
  // registered by another uid right now). Reads only: nothing of the batch is written before.
  awaitable<void> refuse_foreign_ids(const caller& who, const std::vector<registration>& runs);

  // The run IDs of registrations in progress, each with the uid registering it and how many of
  // its batches name it: claimed before ownership is checked and released when the registration
  // ends, so another uid's batch naming one is refused instead of racing it into the store.
  struct id_claim {
    std::uint32_t uid = 0;
    std::size_t batches = 0;
  };
  using id_claims = std::unordered_map<std::string, id_claim>;
  class claim_guard;

  run_tracker& tracker_;
  state_store& store_;
  const config& config_;
  api_generation generation_;
  std::function<void(std::exception_ptr)> on_fatal_;
  // Pending run IDs per non-admin owner, for the per-user limit: filled from the store at the
  // uid's first registration, added to on registration, and pruned of runs the tracker no
  // longer holds only when the limit is near (so the common case costs no scan).
  std::unordered_map<std::uint32_t, std::unordered_set<std::string>> pending_by_owner_;
  // Shared with the claims: a registration's frame may be destroyed after the backend, at shutdown.
  std::shared_ptr<id_claims> registering_ = std::make_shared<id_claims>();
  const service_metrics* metrics_;
  const request_budget* budget_;
  std::function<cluster_status()> cluster_;
  const config_health* config_file_;
  live_events* live_ = nullptr;
};

}  // namespace hookless
