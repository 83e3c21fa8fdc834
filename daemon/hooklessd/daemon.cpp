// Wiring hooklessd together, and its orderly start and stop.
#include "daemon/hooklessd/daemon.hpp"

#include "config/config_files.hpp"
#include "config/config_loader.hpp"
#include "core/cluster/cluster_node.hpp"
#include "core/delivery/exec_sink.hpp"
#include "core/delivery/http_sink.hpp"
#include "core/delivery/line_sinks.hpp"
#include "core/delivery/redis_sink.hpp"
#include "core/extend/api_key_check.hpp"
#include "core/extend/extend_client.hpp"
#include "core/net/https_pool.hpp"
#include "core/net/proxy_choice.hpp"
#include "core/net/request_budget.hpp"
#include "core/net/tls_context.hpp"
#include "core/tracking/run_tracker.hpp"
#include "daemon/control/control_server.hpp"
#include "daemon/hooklessd/environment.hpp"
#include "daemon/hooklessd/open_state.hpp"
#include "daemon/hooklessd/tracker_backend.hpp"
#include "daemon/service/heap_trim.hpp"
#include "daemon/service/logging.hpp"
#include "daemon/service/metrics_listener.hpp"
#include "daemon/service/reload_plan.hpp"
#include "daemon/service/service_metrics.hpp"
#include "daemon/service/service_notify.hpp"
#include "daemon/version.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdlib>

namespace hookless {

namespace asio = boost::asio;

namespace {

// The trust an https sink verifies its receiver with: what Extend's connections trust (the system
// store plus extend.ca_file) and the sink's own ca_file, for a receiver with a private CA. Its own
// context, so a sink's CA is never trusted for Extend. Throws when a CA file is unusable.
std::shared_ptr<asio::ssl::context> sink_tls_context(const config& settings, const sink_config& sink_settings) {
  auto context = std::make_shared<asio::ssl::context>(make_client_tls_context(settings.extend.ca_file));
  if (sink_settings.ca_file)
    add_trust_anchors(*context, *sink_settings.ca_file, "sinks." + sink_settings.name + ".ca_file");
  return context;
}

// The sink's signing secret; the error names the sink's key.
std::string signing_secret_of(const sink_config& sink_settings) {
  try {
    return read_signing_secret(sink_settings.signing_secret_file);
  } catch (const std::exception& e) {
    throw std::runtime_error("sinks." + sink_settings.name + ".signing_secret_file: " + e.what());
  }
}

// An http sink from its (validated) config, its url parsed by the loader. Throws when the signing secret or a CA file
// cannot be read.
std::unique_ptr<sink> make_http_sink_from(const config& settings, const sink_config& sink_settings,
                                          asio::any_io_executor executor) {
  http_sink_options options{.target = sink_settings.target,
                            .signing = callback_signing{.secret = signing_secret_of(sink_settings),
                                                        .standard_webhooks = sink_settings.standard_webhooks,
                                                        .api_version = settings.extend.api_version,
                                                        .user_agent = std::string{"hookless/"} + HOOKLESS_VERSION},
                            .timeout = sink_settings.timeout,
                            .limits = delivery_limits{.max_in_flight = 4, .max_age = sink_settings.max_age}};
  const bool https = options.target.scheme == target_scheme::https;
  auto tls = https ? sink_tls_context(settings, sink_settings) : nullptr;
  spdlog::info("sink '{}': http callbacks to {}", sink_settings.name, describe(options.target));
  return make_http_sink(std::move(executor), std::move(tls), std::move(options));
}

// An exec sink from its (validated) config: its command runs on the event loop's executor.
std::unique_ptr<sink> make_exec_sink_from(const sink_config& sink_settings, asio::any_io_executor executor) {
  exec_sink_options options;  // the kill grace and the output limit as they are
  options.sink_name = sink_settings.name;
  options.command = sink_settings.command;
  options.timeout = sink_settings.timeout;
  options.limits = delivery_limits{.max_in_flight = sink_settings.max_running, .max_age = sink_settings.max_age};
  spdlog::info("sink '{}': runs {} per event (at most {} at once)", sink_settings.name, sink_settings.command.front(),
               sink_settings.max_running);
  return make_exec_sink(std::move(executor), std::move(options));
}

// A redis sink from its (validated) config. Throws when its password file or a CA file cannot be read.
std::unique_ptr<sink> make_redis_sink_from(const config& settings, const sink_config& sink_settings,
                                           asio::any_io_executor executor) {
  redis_sink_options options{.target = sink_settings.redis,
                             .password = {},
                             .stream = sink_settings.stream,
                             .maxlen = sink_settings.maxlen,
                             .timeout = sink_settings.timeout,
                             .limits = delivery_limits{.max_in_flight = 4, .max_age = sink_settings.max_age}};
  if (sink_settings.password_file) {
    try {
      options.password = read_database_password(*sink_settings.password_file);
    } catch (const std::exception& e) {
      throw std::runtime_error("sinks." + sink_settings.name + ".password_file: " + e.what());
    }
  }
  const bool tls = options.target.scheme == redis_scheme::tls;
  auto context = tls ? sink_tls_context(settings, sink_settings) : nullptr;
  spdlog::info("sink '{}': redis stream {} at {}", sink_settings.name, options.stream, describe(options.target));
  return make_redis_sink(std::move(executor), std::move(context), std::move(options));
}

// Every sink is timed (hookless_delivery_duration_seconds).
std::map<std::string, std::unique_ptr<sink>> make_sinks(const config& settings, asio::any_io_executor blocking,
                                                        asio::any_io_executor executor, service_metrics& metrics) {
  std::map<std::string, std::unique_ptr<sink>> sinks;
  for (const auto& [name, sink_settings] : settings.sinks) {
    std::unique_ptr<sink> made;
    switch (sink_settings.type) {
      case sink_type::stdout_lines: made = make_stdout_sink(blocking); break;
      case sink_type::file: made = make_file_sink(blocking, sink_settings.path); break;
      case sink_type::http: made = make_http_sink_from(settings, sink_settings, executor); break;
      case sink_type::exec: made = make_exec_sink_from(sink_settings, executor); break;
      case sink_type::redis: made = make_redis_sink_from(settings, sink_settings, executor); break;
    }
    sinks.emplace(name, std::make_unique<timed_sink>(std::move(made), name, metrics));
  }
  return sinks;
}

}  // namespace

int run_daemon(const config& settings, const std::string& api_key, const daemon_options& options) {
  asio::io_context io{1};
  asio::thread_pool blocking{1};  // file writes and fsyncs, off the event loop
  int exit_status = 0;

  auto state = open_state(io.get_executor(), settings);
  if (!state) return 0;  // SIGTERM while waiting for the database
  auto& store = state->store;
  service_metrics metrics;
  metrics.requests_per_second = settings.extend.requests_per_second;
  timed_store timed_state{*store, metrics};  // what the tracker and the control API use: measured

  const auto& target = settings.extend.base_url;
  auto tls = make_client_tls_context(settings.extend.ca_file);
  https_pool_options pool_options{.host = target.host,
                                  .port = target.port,
                                  .proxy = choose_proxy(settings.extend.proxy, target.host, environment),
                                  .max_connections = static_cast<std::size_t>(settings.extend.max_connections),
                                  .timeout = settings.extend.timeout};
  if (pool_options.proxy)
    spdlog::info("reaching {} through proxy {}:{}", target.host, pool_options.proxy->host, pool_options.proxy->port);
  https_pool pool{io.get_executor(), tls, pool_options};
  extend_client client{pool, extend_client_options{.base_path = target.base_path,
                                                   .api_key = api_key,
                                                   .api_version = settings.extend.api_version,
                                                   .workspace_id = settings.extend.workspace_id,
                                                   .user_agent = std::string{"hookless/"} + HOOKLESS_VERSION}};
  timed_source timed_client{client, metrics};
  request_budget budget{io.get_executor(),
                        request_budget::options{.requests_per_second = settings.extend.requests_per_second,
                                                .probe_timeout = settings.extend.timeout + std::chrono::seconds{5}}};

  auto sinks = make_sinks(settings, blocking.get_executor(), io.get_executor(), metrics);
  std::vector<std::unique_ptr<sink>> retired_sinks;  // replaced by a reload; a delivery may still be with one
  config current = settings;                         // the config in effect; a reload replaces it
  std::map<std::string, sink*> sink_views;
  tracker_settings tracking;
  tracking.polling = settings.polling;
  tracking.generation = generation_of(settings.extend.api_version);
  tracking.retention = settings.state.retention;
  tracking.cluster = state->cluster != nullptr;
  // Enough polls in flight to keep the budget busy even when Extend answers slowly (4 s of
  // budget), but no more than a few thousand: each costs a coroutine and a timer, and beyond that
  // they only queue for a connection (an unlimited budget would otherwise put every run in flight).
  constexpr std::size_t most_active_polls = 4096;
  tracking.max_active_polls =
      std::clamp<std::size_t>(static_cast<std::size_t>(settings.extend.requests_per_second * 4) +
                                  static_cast<std::size_t>(settings.extend.max_connections),
                              256, most_active_polls);
  for (const auto& [name, target_sink] : sinks) sink_views.emplace(name, target_sink.get());
  for (const auto& [name, sink_settings] : settings.sinks) tracking.sink_events.emplace(name, sink_settings.events);
  tracking.subscriptions = settings.subscriptions;

  std::unique_ptr<control_server> server;
  std::unique_ptr<metrics_listener> metrics_http;  // metrics.listen, when set
  live_events event_followers;                     // GET /v1/events?follow=1; outlives the tracker that publishes to it
  std::unique_ptr<run_tracker> tracker;
  std::unique_ptr<event_relay> relay;     // with state.url: the poller's events to this daemon's followers
  std::unique_ptr<cluster_node> cluster;  // with state.url: this daemon's part among several
  asio::signal_set stop_signals{io, SIGTERM, SIGINT};
  asio::signal_set reopen_signal{io, SIGHUP};
  bool stopping = false;
  const auto status_now = [&] {
    std::size_t waiting = 0;
    for (const auto& queue : tracker->queues()) waiting += queue->backlog();
    return status_line(tracker->pending_count(), tracker->api().state, waiting);
  };
  service_heartbeat heartbeat{io.get_executor(), status_now};
  asio::steady_timer dead_count_timer{io};
  heap_trimmer trimmer{io.get_executor(), {}};
  // Stop accepting, stop polling and delivering, then leave: every acknowledged run and every
  // undone delivery is in the store, so nothing in flight needs to be waited for.
  const auto shut_down = [&](int status) {
    if (stopping) return;
    stopping = true;
    exit_status = status;
    spdlog::info("stopping");
    notify_systemd("STOPPING=1\nSTATUS=stopping");
    heartbeat.stop();
    trimmer.stop();
    dead_count_timer.cancel();
    stop_signals.cancel();
    reopen_signal.cancel();
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          // First give the poller lease up, so another daemon polls on without waiting for it to expire.
          if (cluster) {
            co_await cluster->resign();
            cluster->stop();
          }
          if (metrics_http) metrics_http->stop();
          if (tracker) tracker->stop();
          budget.stop();
          pool.close();
          if (server) co_await server->stop(std::chrono::seconds{5});
        },
        [&](std::exception_ptr) { io.stop(); });
  };
  const auto on_fatal = [&](std::exception_ptr failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      spdlog::critical("cannot continue safely: {}", e.what());
    }
    shut_down(EXIT_FAILURE);
  };

  // Another process under this daemon's node name took its place in the database: stop, and not be
  // restarted into taking the name back (the unit's RestartPreventExitStatus).
  const auto on_cluster_fatal = [&](std::exception_ptr failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const node_replaced& e) {
      // The store's message names the node and says the names must be unique.
      spdlog::critical("{}; exiting with status {}, which systemd does not restart", e.what(), exit_node_replaced);
      shut_down(exit_node_replaced);
    } catch (...) {
      on_fatal(failure);
    }
  };

  tracker = std::make_unique<run_tracker>(io.get_executor(), timed_state, timed_client, budget, sink_views, tracking,
                                          on_fatal);
  if (state->cluster) {
    cluster = std::make_unique<cluster_node>(io.get_executor(), *state->cluster, *tracker, budget, cluster_timing{},
                                             on_cluster_fatal);
    relay = std::make_unique<event_relay>(io.get_executor(), timed_state, event_followers);
    cluster->relay_events_with(relay.get());
  }
  std::function<cluster_status()> cluster_view;
  if (cluster) cluster_view = [&cluster] { return cluster->status(); };
  // The config file behind `current`, for health and metrics: when it was read, how the last reload went.
  config_health config_file{.path = options.config_path, .loaded_at = clock_type::now(), .last_reload = std::nullopt};
  tracker_backend backend{*tracker, timed_state, current, on_fatal, &metrics, &budget, cluster_view, &config_file};
  tracker->publish_to(&event_followers);
  backend.serve_events(&event_followers);

  // One request at start tells whether Extend takes the key, so a rejected one shows in health at
  // once. Nothing waits for it: without an answer (network) start-up goes on, and only a verdict on
  // the key changes health (a network failure would otherwise stick until the first poll).
  const auto check_key = [&]() -> awaitable<void> {
    const auto answer = co_await check_api_key(timed_client, budget, tracking.generation);
    if (answer && (answer->kind == answer_kind::run || answer->kind == answer_kind::unauthorized)) {
      tracker->note_api(answer->kind, answer->error);
    }
  };
  asio::co_spawn(io, check_key, [](std::exception_ptr failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      spdlog::warn("API key check: {}", e.what());
    }
  });

  stop_signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) shut_down(0);
  });
  // SIGHUP: reopen the files (log rotation), then re-read the config. A valid one takes effect
  // without a restart (sinks, polling, budget, logging; see reload_plan.hpp); an invalid one is
  // logged with every problem and the running config stays. Pending runs and connections carry on.
  // Health and metrics show how the last reload went.
  const auto note_rejected_reload = [&](std::string error) {
    config_file.last_reload =
        reload_result{.ok = false, .at = clock_type::now(), .error = std::move(error), .needs_restart = {}};
  };
  const auto reload = [&]() -> awaitable<void> {
    auto loaded = load_config_file(options.config_path);
    if (loaded.value) loaded.problems = check_config_files(*loaded.value, loaded.key_lines);
    if (!loaded.problems.empty()) {
      std::string error;
      for (const auto& problem : loaded.problems) {
        const auto described = format_problem(options.config_path, problem);
        spdlog::error("reload rejected: {}", described);
        error += (error.empty() ? "" : "; ") + described;
      }
      spdlog::error("reload rejected: {} has {} problem(s); the running configuration stays", options.config_path,
                    loaded.problems.size());
      note_rejected_reload(std::move(error));
      co_return;
    }
    const auto plan = plan_reload(current, *loaded.value);
    for (const auto& key : plan.needs_restart) {
      spdlog::warn("reload: {} changed; it takes effect after a restart, the running value stays", key);
    }
    // New sinks, and fresh ones for changed settings, are made first: one that cannot be made (an
    // unreadable signing secret) rejects the whole reload.
    config changed_sinks = plan.effective;
    std::erase_if(changed_sinks.sinks, [&](const auto& entry) {
      return std::ranges::find(plan.sinks_added, entry.first) == plan.sinks_added.end() &&
             std::ranges::find(plan.sinks_changed, entry.first) == plan.sinks_changed.end();
    });
    std::map<std::string, std::unique_ptr<sink>> made;
    try {
      made = make_sinks(changed_sinks, blocking.get_executor(), io.get_executor(), metrics);
    } catch (const std::exception& e) {
      spdlog::error("reload rejected: {}; the running configuration stays", e.what());
      note_rejected_reload(options.config_path + ": " + e.what());
      co_return;
    }
    for (const auto& name : plan.sinks_removed) {
      retired_sinks.push_back(std::move(sinks.at(name)));
      sinks.erase(name);
    }
    for (auto& [name, fresh] : made) {
      if (auto old = sinks.find(name); old != sinks.end()) retired_sinks.push_back(std::move(old->second));
      sinks[name] = std::move(fresh);
    }
    std::map<std::string, sink*> views;
    for (const auto& [name, target_sink] : sinks) views.emplace(name, target_sink.get());
    std::map<std::string, std::vector<std::string>> sink_events;
    for (const auto& [name, sink_settings] : plan.effective.sinks) sink_events.emplace(name, sink_settings.events);

    budget.set_rate(plan.effective.extend.requests_per_second);
    metrics.requests_per_second = plan.effective.extend.requests_per_second;
    configure_logging(plan.effective.logging, options.log_level_override);
    current = plan.effective;
    const auto reloaded_at = clock_type::now();
    config_file.loaded_at = reloaded_at;
    config_file.last_reload =
        reload_result{.ok = true, .at = reloaded_at, .error = std::nullopt, .needs_restart = plan.needs_restart};
    co_await tracker->reconfigure(std::move(views), plan.effective.polling, std::move(sink_events),
                                  plan.effective.subscriptions);
    spdlog::info(
        "reloaded {}: {} sinks ({} added, {} removed, {} changed), {} requests/s, list_endpoints={}, log level {}",
        options.config_path, sinks.size(), plan.sinks_added.size(), plan.sinks_removed.size(),
        plan.sinks_changed.size(), plan.effective.extend.requests_per_second, plan.effective.polling.list_endpoints,
        options.log_level_override.value_or(plan.effective.logging.level));
    // Added subscriptions start afresh; removed ones (and removed kinds) forget their positions.
    if (!plan.subscriptions_added.empty() || !plan.subscriptions_changed.empty() ||
        !plan.subscriptions_removed.empty()) {
      spdlog::info("reload: {}", describe_subscription_changes(plan));
    }
  };
  bool reloading = false;
  bool reload_again = false;  // a SIGHUP came during a reload: read the file once more after it
  std::function<void()> start_reload = [&] {
    if (reloading) {
      reload_again = true;
      return;
    }
    reloading = true;
    notify_systemd("RELOADING=1");
    for (auto& [name, target_sink] : sinks) target_sink->reopen();
    asio::co_spawn(io, reload, [&](std::exception_ptr failure) {
      reloading = false;
      if (failure) {
        on_fatal(failure);  // the store failed while the new sinks' deliveries were read
        return;
      }
      notify_systemd("READY=1\nSTATUS=" + status_now());
      if (reload_again && !stopping) {
        reload_again = false;
        start_reload();
      }
    });
  };
  std::function<void(const boost::system::error_code&, int)> on_hup = [&](const boost::system::error_code& ec, int) {
    if (ec || stopping) return;
    spdlog::info("SIGHUP: reopening files and reloading {}", options.config_path);
    start_reload();
    reopen_signal.async_wait(on_hup);
  };
  reopen_signal.async_wait(on_hup);

  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        // Before the control socket: a port that cannot be had stops the start, named, before
        // anyone is told the daemon is ready.
        if (settings.metrics.listen) {
          metrics_http = std::make_unique<metrics_listener>(io.get_executor(), *settings.metrics.listen,
                                                            [&backend] { return backend.metrics(); });
          metrics_http->start();
        }
        co_await tracker->start();
        if (cluster) cluster->start();
        // Socket activation (hookless.socket) hands the socket over; else the daemon binds it.
        const auto activated = activated_control_socket();
        if (activated) {
          server = std::make_unique<control_server>(io.get_executor(), backend, settings.control, *activated);
        } else {
          server = std::make_unique<control_server>(io.get_executor(), backend, settings.control);
        }
        server->start();
        spdlog::info("hooklessd {} ready: {} pending runs, control socket {}{}", HOOKLESS_VERSION,
                     tracker->pending_count(), settings.control.socket,
                     activated ? " (from systemd, socket activation)" : "");
        notify_systemd("READY=1\nSTATUS=" + status_now());
        heartbeat.start();
        trimmer.start();  // the first tick gives back what loading the state left free
        asio::co_spawn(io, refresh_dead_deliveries(timed_state, metrics, dead_count_timer, std::chrono::seconds{15}),
                       [](std::exception_ptr failure) {
                         if (!failure) return;
                         try {
                           std::rethrow_exception(failure);
                         } catch (const std::exception& e) {
                           spdlog::warn("counting dead deliveries stopped: {}", e.what());
                         }
                       });
      },
      [&](std::exception_ptr failure) {
        if (failure) on_fatal(failure);
      });

  io.run();
  blocking.join();
  return exit_status;
}

}  // namespace hookless
