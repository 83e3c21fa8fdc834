// The daemon's settings as plain structs, the core's vocabulary: config/ fills them from
// hookless.yaml and validates them. Every field carries its meaning, unit and default;
// docs/configuration.md documents every key.
#pragma once

#include "core/formats/base_url.hpp"
#include "core/formats/listen_address.hpp"
#include "core/formats/proxy_url.hpp"
#include "core/formats/redis_url.hpp"
#include "core/formats/sink_target.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hookless {

using std::chrono::milliseconds;

struct extend_config {
  // https://host[:port][/path], parsed by the loader (parse_base_url)
  https_origin base_url{.url = "https://api.extend.ai", .host = "api.extend.ai", .port = "443", .base_path = ""};
  std::string api_version = "2026-02-09";   // sent as x-extend-api-version
  std::optional<std::string> api_key_file;  // else $CREDENTIALS_DIRECTORY/extend-api-key, else $EXTEND_API_KEY
  std::optional<std::string> workspace_id;  // sent as x-extend-workspace-id when set
  std::optional<std::string> ca_file;       // extra trust anchors (PEM), added to the system store
  std::optional<proxy_endpoint> proxy;      // http://host:port; unset: HTTPS_PROXY / https_proxy with NO_PROXY
  double requests_per_second = 10;          // budget shared by every request to Extend, > 0
  int max_connections = 4;                  // kept-alive TLS connections, 1..256
  milliseconds timeout{30'000};             // per request, > 0
};

struct polling_config {
  milliseconds fast_interval{1'000};              // poll period during the fast period
  milliseconds fast_period{30'000};               // how long after registration the fast interval holds
  double backoff = 1.15;                          // factor each interval grows by afterwards, >= 1
  milliseconds max_interval{30'000};              // cap on the interval, >= fast_interval
  double jitter = 0.25;                           // each interval times 1 ± U(0, jitter), 0..1
  milliseconds deadline{7LL * 24 * 3600 * 1000};  // default tracking time before run.expired
  bool follow_review = true;                      // keep watching a workflow run after NEEDS_REVIEW
  // Find which pending runs changed from Extend's list endpoints (kinds that have one) and GET only
  // those; their runs get a long safety-net poll instead of this cadence. false: poll every run.
  bool list_endpoints = true;
};

struct control_config {
  std::string socket = "/run/hookless/hookless.sock";  // Unix socket path of the control API
  std::uint32_t socket_mode = 0660;                    // file mode of the socket (octal in YAML)
  std::optional<std::string> socket_group;             // group owning the socket, when set
  std::vector<std::uint32_t> admin_uids{0};            // uids that see and change every run
  // Per-user limits (admins are exempt): beyond them a request is answered 429 busy, never
  // accepted and dropped.
  std::size_t max_pending_per_user = 1'000'000;  // pending runs one uid may have, >= 1
  double requests_per_second_per_user = 1'000;   // control requests per second per uid (1 s burst), > 0
};

struct state_config {
  std::string path = "/var/lib/hookless/state.db";  // SQLite state file
  // PostgreSQL instead of `path` (a libpq URI, postgresql://...): several daemons share it.
  std::optional<std::string> url;
  std::optional<std::string> password_file;        // the database password, for url
  milliseconds retention{7LL * 24 * 3600 * 1000};  // finished runs are pruned after this long
};

enum class sink_type { stdout_lines, file, http, exec, redis };

struct sink_config {
  std::string name;                          // the key under `sinks:`
  sink_type type = sink_type::stdout_lines;  // `type:` stdout | file | http | exec | redis
  std::string path;                          // file: the JSON Lines file (required)
  sink_target target;                  // http: `url:` http://loopback..., https://... or unix:/path.sock:/url-path
  std::string signing_secret_file;     // http: file holding the wss_... secret (required)
  bool standard_webhooks = false;      // http: also send the Standard Webhooks headers
  bool allow_remote = false;           // http: allow a non-loopback target
  std::optional<std::string> ca_file;  // http https:// / redis rediss:// url only: extra trust anchors (PEM) for it
  milliseconds timeout{30'000};        // http, redis, exec: per attempt
  milliseconds max_age{3LL * 24 * 3600 * 1000};  // http, redis, exec: retry this long, then the delivery is dead
  // exec: argv (no shell), command[0] an absolute path (required); `timeout` bounds each run of it
  // and `max_age` its retries, as for http.
  std::vector<std::string> command;
  std::size_t max_running = 4;               // exec: commands of this sink running at once, 1..64
  std::vector<std::string> events{"*"};      // glob patterns on eventType
  redis_target redis;                        // redis: `url:` redis://, rediss:// or unix:/path.sock
  std::optional<std::string> password_file;  // redis: the AUTH password
  std::string stream = "hookless:events";    // redis: the stream key events are appended to
  std::optional<std::uint64_t> maxlen;       // redis: XADD MAXLEN ~ this; none: never trimmed
};

enum class log_format { text, json };

struct logging_config {
  std::string level = "info";  // trace, debug, info, warn, error
  log_format format = log_format::text;
};

// Several daemons on one database (state.url): this daemon's unique name among them.
struct cluster_config {
  std::string node;  // default: the host name
};

// The metrics' own TCP listener (docs/metrics.md): Prometheus cannot scrape a Unix socket.
struct metrics_config {
  // metrics.listen: also serve GET /metrics over plain HTTP on this address. Unset (the default):
  // /metrics is served on the control socket only. Changing it takes a restart.
  std::optional<listen_address> listen;
};

// One entry under `subscriptions:` (docs/subscriptions.md): every run of `kinds` that finishes after
// the subscription first started is delivered to `sinks`, with nothing registered.
struct subscription_config {
  std::string name;                // the key under `subscriptions:`
  std::vector<std::string> kinds;  // kinds with a list endpoint, at least one
  std::vector<std::string> sinks;  // the config's default_sinks when not given
};

struct config {
  extend_config extend;
  polling_config polling;
  control_config control;
  state_config state;
  cluster_config cluster;
  metrics_config metrics;
  std::map<std::string, sink_config> sinks;                  // by name
  std::vector<std::string> default_sinks{"out"};             // sinks of a run registered without any
  std::map<std::string, subscription_config> subscriptions;  // by name
  logging_config logging;
};

}  // namespace hookless
