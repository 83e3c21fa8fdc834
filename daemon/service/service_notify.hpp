// hooklessd under systemd: the control socket handed over by socket activation (LISTEN_FDS), and
// the notifications of sd_notify(3): READY=1, RELOADING=1, STOPPING=1, STATUS= and a WATCHDOG=1
// heartbeat sent from the event loop, so a stuck loop is noticed and restarted. Outside systemd
// (no NOTIFY_SOCKET, no LISTEN_FDS) every call here does nothing.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace hookless {

// The listening Unix stream socket systemd passed (LISTEN_FDS/LISTEN_PID, first fd), or nullopt
// when none was passed. Unsets the variables, so children do not see them. Throws
// std::runtime_error when the passed fd is not a listening Unix stream socket.
std::optional<int> activated_control_socket();

// Half of WATCHDOG_USEC when the watchdog is on for this process (systemd's advice for how often
// to send WATCHDOG=1), else nullopt.
std::optional<std::chrono::microseconds> watchdog_period();

// How often the heartbeat ticks: the watchdog period, else every 5 s (status updates only).
std::chrono::microseconds heartbeat_period(std::optional<std::chrono::microseconds> watchdog);

// One sd_notify message ("READY=1\nSTATUS=..."); false when not under systemd or it failed.
bool notify_systemd(const std::string& message);

// The STATUS= line: "N pending runs, API ok, M deliveries waiting".
std::string status_line(std::size_t pending, std::string_view api_state, std::size_t deliveries_waiting);

// Sends STATUS= (and WATCHDOG=1 when the watchdog is on) every heartbeat_period from the event
// loop until stop().
class service_heartbeat {
 public:
  service_heartbeat(boost::asio::any_io_executor executor, std::function<std::string()> status);
  void start();
  void stop();

 private:
  void tick();

  boost::asio::steady_timer timer_;
  std::function<std::string()> status_;
  std::optional<std::chrono::microseconds> watchdog_;
  bool stopped_ = false;
};

}  // namespace hookless
