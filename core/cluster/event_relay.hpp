// Several daemons on one database: only the poller makes events, and its tracker publishes each to
// the followers of its own GET /v1/events?follow=1. The relay gives the followers of every other
// daemon the same stream: while this daemon is a standby it reads the events recorded after the
// last it read (state_store::events_after), every interval, and publishes each to this daemon's
// followers as the tracker would (the same envelope and event ID, the run's owner, so a follower
// sees only its own runs unless an admin). When this daemon becomes the poller the relay stops (its
// tracker publishes); when it becomes a standby again (or at start) it begins at the newest event,
// so no event is published twice here and none recorded while it stays a standby is missed. A
// database that cannot be reached keeps its position: one warning, and it reads on once it answers.
#pragma once

#include "core/store/state_store.hpp"
#include "core/tracking/live_events.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace hookless {

struct event_relay_timing {
  // How often a standby reads new events: the delay its followers see beyond the poller's, for one
  // indexed read per interval (the pace of the cluster's other hand-overs, pick and intake).
  std::chrono::milliseconds interval{250};
  std::size_t batch = 1'000;  // events read at once; a full batch is followed by the next at once
};

class event_relay {
 public:
  // The store and followers must outlive this. Nothing is read before standby().
  event_relay(boost::asio::any_io_executor executor, state_store& store, live_events& followers,
              event_relay_timing timing = {});
  event_relay(const event_relay&) = delete;
  event_relay& operator=(const event_relay&) = delete;
  ~event_relay();

  // This daemon is a standby: relay the events recorded from now on (nothing when already relaying).
  void standby();
  // This daemon is the poller: its tracker publishes, the relay nothing more (a read under way is
  // dropped).
  void poller();
  // At shutdown; final.
  void stop();

  bool relaying() const { return mode_ != mode::paused; }
  // Events published so far (for tests).
  std::uint64_t relayed() const { return relayed_; }

 private:
  enum class mode { paused, starting, relaying };

  awaitable<void> loop();
  void answered();
  void failed(const char* what);
  void wake();

  boost::asio::any_io_executor executor_;
  state_store& store_;
  live_events& followers_;
  event_relay_timing timing_;
  boost::asio::steady_timer timer_;
  mode mode_ = mode::paused;
  std::uint64_t round_ = 0;  // moved on by every switch: a read begun before one is dropped
  event_position cursor_ = 0;
  std::uint64_t relayed_ = 0;
  bool looping_ = false;
  bool failing_ = false;  // warned once; quiet until the store answers again
  bool stopping_ = false;
};

}  // namespace hookless
