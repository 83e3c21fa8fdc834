// The standby's event relay (see event_relay.hpp).
#include "core/cluster/event_relay.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <utility>

namespace hookless {

namespace asio = boost::asio;

event_relay::event_relay(asio::any_io_executor executor, state_store& store, live_events& followers,
                         event_relay_timing timing)
    : executor_(std::move(executor)), store_(store), followers_(followers), timing_(timing), timer_(executor_) {}

event_relay::~event_relay() { stop(); }

void event_relay::standby() {
  if (stopping_ || mode_ != mode::paused) return;
  mode_ = mode::starting;
  ++round_;
  if (!looping_) {
    looping_ = true;
    asio::co_spawn(executor_, loop(), [](std::exception_ptr failure) {
      if (!failure) return;
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        spdlog::error("live events: the relay stopped: {}", e.what());
      }
    });
  } else {
    wake();
  }
}

void event_relay::poller() {
  if (mode_ == mode::paused) return;
  mode_ = mode::paused;
  ++round_;
}

void event_relay::stop() {
  if (stopping_) return;
  stopping_ = true;
  mode_ = mode::paused;
  ++round_;
  wake();
}

void event_relay::wake() { timer_.cancel(); }

void event_relay::answered() {
  if (!failing_) return;
  failing_ = false;
  spdlog::info("live events: the database answers again; relaying the events recorded meanwhile");
}

void event_relay::failed(const char* what) {
  if (failing_) return;
  failing_ = true;
  spdlog::warn(
      "live events: cannot read new events from the database ({}); followers of this daemon get them "
      "once it answers",
      what);
}

awaitable<void> event_relay::loop() {
  while (!stopping_) {
    bool more = false;
    const auto round = round_;
    try {
      if (mode_ == mode::starting) {
        const auto newest = co_await store_.newest_event_position();
        answered();
        if (round == round_) {
          cursor_ = newest;
          mode_ = mode::relaying;
        }
      } else if (mode_ == mode::relaying) {
        const auto events = co_await store_.events_after(cursor_, timing_.batch);
        answered();
        if (round == round_) {
          for (const auto& event : events) {
            cursor_ = event.position;
            ++relayed_;
            followers_.publish(live_event{
                .run_id = event.run_id, .owner_uid = event.owner_uid, .event_id = event.event_id, .body = event.body});
          }
          more = events.size() >= timing_.batch;
        }
      }
    } catch (const std::exception& e) {
      failed(e.what());  // the cursor stays: the next tick reads from the same place
    }
    if (stopping_) break;
    if (more) continue;
    // Paused: until standby() wakes it. Otherwise the next tick (a switch wakes it early).
    if (mode_ == mode::paused) {
      timer_.expires_at(asio::steady_timer::time_point::max());
    } else {
      timer_.expires_after(timing_.interval);
    }
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace hookless
