// What the control API asks of the daemon: the control server turns HTTP into these calls and
// their answers into JSON, and knows nothing else about runs.
#pragma once

#include "core/cluster/cluster_status.hpp"
#include "core/model/subscription.hpp"
#include "core/store/state_store.hpp"
#include "core/tracking/live_events.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hookless {

// Who is calling, from SO_PEERCRED.
struct caller {
  std::uint32_t uid = 0;
  bool admin = false;  // uid is in control.admin_uids
};

// A registration the daemon refuses as invalid (400 invalid_request), e.g. an unknown sink name.
struct invalid_registration : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A registration of a run ID that another user already tracks (403 forbidden). Its message names
// only the ID and the caller: never the owner, the run's state or its context.
struct registration_forbidden : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct registration_result {
  std::vector<run_record> runs;  // one per registration, in request order
  bool any_new = false;          // 201 when true, else 200
};

struct sink_health {
  std::string state;  // "ok", "retrying", "failing"
  std::size_t backlog = 0;
  std::size_t dead = 0;  // dead deliveries kept for it, waiting to be redelivered (they make health degraded)
  std::optional<std::string> last_error;  // why its last attempt failed, while it is retrying
  std::string type;                       // its `type:` in the config: stdout, file or http
};

struct store_health {
  std::string state = "ok";        // ok | unreachable (the database did not answer the last call)
  std::string backend = "sqlite";  // sqlite (state.path) | postgresql (state.url)
};

// How the last reload (SIGHUP, `systemctl reload`) went.
struct reload_result {
  bool ok = true;
  time_point at;
  std::optional<std::string> error;        // rejected: every problem, each naming file:line
  std::vector<std::string> needs_restart;  // accepted: keys that changed but wait for a restart
};

// The configuration file behind the running config.
struct config_health {
  std::string path;
  time_point loaded_at;                      // when the config in effect was read (start or reload)
  std::optional<reload_result> last_reload;  // none before the first reload
};

struct health_report {
  bool ok = true;  // false: "degraded"
  std::size_t pending = 0;
  std::string api_state = "ok";  // ok | rate_limited | unauthorized | unreachable
  std::optional<std::string> api_last_error;
  std::map<std::string, sink_health> sinks;
  store_health store;
  std::optional<cluster_status> cluster;  // several daemons on one database (state.url) only
  std::optional<config_health> config;    // the daemon's config file (absent in tests without one)
  // Each subscription's sweep of each kind (docs/subscriptions.md); one failing makes health degraded.
  std::vector<subscription_status> subscriptions;
  time_point at = clock_type::now();  // when the report was made: the positions' ages count to it
};

// GET /v1/events sends first the caller's most recent events: those of its newest
// recent_event_runs runs (by registration), the last recent_event_limit of them by detectedAt.
inline constexpr std::size_t recent_event_runs = 100;
inline constexpr std::size_t recent_event_limit = 100;

// What GET /v1/events sends: the recent events, then (follow=1) the live ones.
struct event_stream {
  std::vector<std::string> recent;            // envelopes, oldest first
  std::shared_ptr<live_event_follower> live;  // subscribed before the recent ones were read; null without follow
};

class control_backend {
 public:
  virtual ~control_backend() = default;

  // Durable on return. Throws invalid_registration (400), registration_forbidden (403) and
  // store_full (503 busy).
  virtual awaitable<registration_result> register_runs(caller who, std::vector<registration> runs) = 0;
  // nullopt when unknown or not the caller's (404).
  virtual awaitable<std::optional<run_record>> get_run(caller who, std::string id) = 0;
  // Answers once the run is finished or `limit` has passed; nullopt as get_run.
  virtual awaitable<std::optional<run_record>> wait_run(caller who, std::string id,
                                                        std::chrono::milliseconds limit) = 0;
  virtual awaitable<std::vector<run_record>> list_runs(caller who, run_query query) = 0;
  // False when unknown or not the caller's (404).
  virtual awaitable<bool> forget_run(caller who, std::string id) = 0;
  virtual awaitable<std::vector<delivery>> list_deliveries(caller who, delivery_query query) = 0;
  // Delivers it again whatever its state (pending: now; done or dead: queued again). False when
  // there is no such delivery of the caller's (404).
  virtual awaitable<bool> retry_delivery(caller who, std::string delivery_id) = 0;
  virtual awaitable<std::size_t> retry_dead_deliveries(caller who) = 0;
  // The caller's events (one run's with `run_id`, which the route has checked is the caller's).
  // The live part, subscribed before the recent events are read, skips the ones already among them.
  virtual awaitable<event_stream> open_events(caller who, std::optional<std::string> run_id, bool follow) {
    (void)who;
    (void)run_id;
    (void)follow;
    throw std::runtime_error("this daemon serves no event stream");
    co_return event_stream{};
  }
  virtual health_report health() const = 0;
  // How each subscription's sweep of each kind is doing (health and metrics show it).
  virtual std::vector<subscription_status> subscriptions() const = 0;
  virtual std::string metrics() const = 0;  // Prometheus text exposition

  // For request validation: the kind an ID's prefix names under the configured API version.
  virtual std::optional<std::string> kind_for(std::string_view run_id) const = 0;
  // Every run kind the configured API version serves, for validating and naming them in errors.
  virtual std::vector<std::string> known_kinds() const = 0;
};

}  // namespace hookless
