// sd_notify / sd_listen_fds / sd_watchdog_enabled wrapped for the daemon. The heartbeat is a
// plain timer callback rather than a coroutine: it cannot throw, and it must keep working while
// coroutines elsewhere are busy.
#include "daemon/service/service_notify.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace hookless {

std::optional<int> activated_control_socket() {
  const int count = sd_listen_fds(1);
  if (count < 0) throw std::runtime_error(fmt::format("LISTEN_FDS: {}", std::strerror(-count)));
  if (count == 0) return std::nullopt;
  if (count > 1) spdlog::warn("systemd passed {} sockets; the control API uses the first", count);
  const int fd = SD_LISTEN_FDS_START;
  if (sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) <= 0) {
    throw std::runtime_error("the socket systemd passed (LISTEN_FDS) is not a listening Unix stream socket");
  }
  return fd;
}

std::optional<std::chrono::microseconds> watchdog_period() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds{static_cast<std::int64_t>(usec / 2)};
}

std::chrono::microseconds heartbeat_period(std::optional<std::chrono::microseconds> watchdog) {
  if (watchdog) return std::max(*watchdog, std::chrono::microseconds{1'000});
  return std::chrono::seconds{5};
}

bool notify_systemd(const std::string& message) { return sd_notify(0, message.c_str()) > 0; }

std::string status_line(std::size_t pending, std::string_view api_state, std::size_t deliveries_waiting) {
  return fmt::format("{} pending run{}, API {}, {} deliver{} waiting", pending, pending == 1 ? "" : "s", api_state,
                     deliveries_waiting, deliveries_waiting == 1 ? "y" : "ies");
}

service_heartbeat::service_heartbeat(boost::asio::any_io_executor executor, std::function<std::string()> status)
    : timer_(std::move(executor)), status_(std::move(status)), watchdog_(watchdog_period()) {}

void service_heartbeat::start() {
  if (watchdog_) spdlog::info("systemd watchdog on: WATCHDOG=1 every {}ms", watchdog_->count() / 1000);
  tick();
}

void service_heartbeat::stop() {
  stopped_ = true;
  timer_.cancel();
}

void service_heartbeat::tick() {
  if (stopped_) return;
  std::string message = "STATUS=" + status_();
  if (watchdog_) message += "\nWATCHDOG=1";
  notify_systemd(message);
  timer_.expires_after(heartbeat_period(watchdog_));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

}  // namespace hookless
