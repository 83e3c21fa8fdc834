// Opening the state store the config names (open_state.hpp), waiting for a database that is not up yet.
#include "daemon/hooklessd/open_state.hpp"

#include "config/config_files.hpp"
#include "core/formats/database_url.hpp"
#include "core/store/sqlite_store.hpp"
#include "daemon/service/service_notify.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <csignal>
#include <stdexcept>

namespace hookless {

namespace asio = boost::asio;

namespace {

// SIGTERM and SIGINT caught for as long as it lives (so one that comes during a connection attempt
// is not lost, nor kills the process), and waits that end early when one came.
class stop_watch {
 public:
  stop_watch() {
    signals_.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      stopped_ = true;
      timer_.cancel();
    });
  }

  // True when a stop signal has come (one that came during a blocking call is taken now).
  bool stop_requested() {
    io_.restart();
    io_.poll();
    return stopped_;
  }

  // Waits `period`; false when a stop signal came (before or meanwhile).
  bool wait(std::chrono::milliseconds period) {
    if (stopped_) return false;
    timer_.expires_after(period);
    timer_.async_wait([this](const boost::system::error_code&) { io_.stop(); });
    io_.restart();
    io_.run();
    return !stopped_;
  }

 private:
  asio::io_context io_{1};
  asio::signal_set signals_{io_, SIGTERM, SIGINT};
  asio::steady_timer timer_{io_};
  bool stopped_ = false;
};

}  // namespace

pg_store_options database_options(const config& settings) {
  pg_store_options options;
  options.url = settings.state.url.value();
  options.node = settings.cluster.node;
  if (settings.state.password_file) {
    try {
      options.password = read_database_password(*settings.state.password_file);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(std::string{"state.password_file: "} + e.what());
    }
  }
  return options;
}

std::optional<opened_state> open_state(asio::any_io_executor executor, const config& settings,
                                       std::chrono::milliseconds retry_every) {
  if (!settings.state.url) {
    open_report report;
    auto store = sqlite_store::open(executor, settings.state.path, report);
    for (const auto& message : report.messages) spdlog::warn("state: {}", message);
    return opened_state{.store = std::move(store), .cluster = nullptr};
  }
  const auto options = database_options(settings);
  const auto shown = redact_database_url(options.url);
  stop_watch stop;
  for (int attempt = 1;; ++attempt) {
    try {
      open_report report;
      auto store = pg_store::open(executor, options, report);
      for (const auto& message : report.messages) spdlog::warn("state: {}", message);
      spdlog::info("state: PostgreSQL database {} as node '{}'{}", shown, options.node,
                   attempt > 1 ? fmt::format(" (reached at attempt {})", attempt) : std::string{});
      if (stop.stop_requested()) return std::nullopt;
      cluster_store* cluster = store.get();
      return opened_state{.store = std::move(store), .cluster = cluster};
    } catch (const store_unavailable& e) {
      const auto seconds = std::chrono::duration<double>(retry_every).count();
      // The store's message names the server (without the password) and says why.
      spdlog::error("state: cannot reach the database: {}; trying again in {:g} s (attempt {})", e.what(), seconds,
                    attempt);
      // Waiting is not failing to start: ask systemd for more time at each attempt.
      const auto extend_by = std::chrono::duration_cast<std::chrono::microseconds>(retry_every * 3);
      notify_systemd(fmt::format("EXTEND_TIMEOUT_USEC={}\nSTATUS=waiting for the database {} (attempt {})",
                                 extend_by.count(), shown, attempt));
    }
    if (!stop.wait(retry_every)) {
      spdlog::info("stopping before the database could be reached");
      return std::nullopt;
    }
  }
}

}  // namespace hookless
