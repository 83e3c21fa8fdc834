// One daemon among several sharing a database (state.url): the loops that keep it a member. The
// heartbeat keeps its node alive and tells which homes it delivers for (adopting nodes gone too
// long); the lease loop claims or renews the one poller lease and switches the tracker's polling and
// the request budget's gate with it (only a trusted poller sends anything to Extend); the pick loop
// hands the poller the runs registered on any daemon; the intake loop takes the deliveries of this
// daemon's homes from the store to its sinks' queues; the event relay, when given, runs while this
// daemon is not the poller (its followers get the events the poller records). A database that cannot
// be reached is shown in status() and retried; another process under this node's name is fatal.
#pragma once

#include "core/cluster/cluster_status.hpp"
#include "core/cluster/event_relay.hpp"
#include "core/cluster/poller_lease.hpp"
#include "core/net/request_budget.hpp"
#include "core/store/cluster_store.hpp"
#include "core/tracking/run_tracker.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <string>

namespace hookless {

// The cluster's clocks; the defaults are the product's, tests shorten them. The trust margin must
// exceed a second (see poller_lease) and leave trust after a renewal: lease_ttl - trust_margin >
// renew_interval.
struct cluster_timing {
  std::chrono::milliseconds heartbeat_interval{2'000};
  std::chrono::milliseconds dead_after{10'000};  // a node silent this long is adopted by a live one
  std::chrono::milliseconds lease_ttl{6'000};
  std::chrono::milliseconds renew_interval{2'000};
  std::chrono::milliseconds trust_margin{1'500};
  std::chrono::milliseconds pick_interval{250};
  std::chrono::milliseconds intake_interval{250};
  std::size_t pick_batch = 5'000;
  std::size_t intake_batch = 1'000;
};

class cluster_node {
 public:
  // Called when the daemon must stop: another process took this node's name (node_replaced), or a
  // loop failed in a way it cannot continue from (store_failed, a bug).
  using fatal_handler = std::function<void(std::exception_ptr)>;

  // The store, tracker (made with tracker_settings::cluster) and budget (every request to Extend)
  // must outlive this. The budget's gate is closed here at once: nothing is sent before the lease.
  cluster_node(boost::asio::any_io_executor executor, cluster_store& store, run_tracker& tracker,
               request_budget& budget, cluster_timing timing, fatal_handler on_fatal);
  cluster_node(const cluster_node&) = delete;
  cluster_node& operator=(const cluster_node&) = delete;
  ~cluster_node();

  // Relays the events the poller records to this daemon's followers while it is not the poller
  // (GET /v1/events?follow=1); the relay must outlive this. Before start().
  void relay_events_with(event_relay* relay) { relay_ = relay; }
  // Starts the loops (after tracker.start()).
  void start();
  // SIGTERM: stops polling at once and gives the lease up, so another daemon need not wait for it
  // to expire; it first lets the second of this daemon's last request to Extend pass.
  awaitable<void> resign();
  // Stops the loops (after resign(), at shutdown).
  void stop();

  cluster_status status() const;

 private:
  using steady_clock = std::chrono::steady_clock;

  awaitable<void> heartbeat_loop();
  awaitable<void> lease_loop();
  awaitable<void> trust_loop();
  awaitable<void> pick_loop();
  awaitable<void> intake_loop();
  awaitable<void> take_over(std::uint64_t round);
  void act_on(poller_lease::change change, const char* why);
  void lose(const char* why);
  void take_homes(heartbeat_result beat);
  void store_answered();
  void store_failed_to_answer(const store_full& error, const char* call);
  awaitable<void> sleep(boost::asio::steady_timer& timer, steady_clock::time_point until);

  boost::asio::any_io_executor executor_;
  cluster_store& store_;
  run_tracker& tracker_;
  request_budget& budget_;
  cluster_timing timing_;
  fatal_handler on_fatal_;
  event_relay* relay_ = nullptr;
  poller_lease lease_;
  cluster_status status_;
  boost::asio::steady_timer heartbeat_timer_;
  boost::asio::steady_timer lease_timer_;
  boost::asio::steady_timer trust_timer_;  // at the trust deadline while the poller
  boost::asio::steady_timer pick_timer_;
  boost::asio::steady_timer intake_timer_;
  bool resigning_ = false;
  bool stopping_ = false;
};

}  // namespace hookless
