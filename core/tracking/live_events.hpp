// The live event stream behind GET /v1/events?follow=1: the tracker publishes each event it has
// recorded, and every follower gets it in its own bounded buffer. Publishing never waits: a
// follower whose buffer is full is marked too slow (its buffer freed) and dropped by its writer,
// so a stalled reader holds neither the daemon's memory nor anything else up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace hookless {

// One event as followers see it: the envelope (byte for byte what sinks get) and whose it is.
struct live_event {
  std::string run_id;
  std::uint32_t owner_uid = 0;
  std::string event_id;
  std::string body;
};

// How much one follower may have waiting for its writer. An event always fits an empty buffer,
// however large, so a single big envelope still reaches a reader that keeps up.
struct live_event_bounds {
  std::size_t max_events = 1000;
  std::size_t max_bytes = 1024 * 1024;
};

// One follower's buffer: the policy, with no I/O (unit-tested on its own).
class live_event_buffer {
 public:
  explicit live_event_buffer(live_event_bounds bounds) : bounds_(bounds) {}

  // Queues `line` (the event `id`'s); false once the reader is too slow: adding it would go over
  // a bound, so the buffer is emptied (its memory given back) and takes nothing more.
  bool push(std::string id, std::string line);
  // Drops the queued lines of these events.
  void erase(const std::unordered_set<std::string>& ids);
  // Everything queued, oldest first; the buffer is empty afterwards.
  std::vector<std::string> take();
  bool too_slow() const { return too_slow_; }
  std::size_t size() const { return entries_.size(); }
  std::size_t bytes() const { return bytes_; }
  const live_event_bounds& bounds() const { return bounds_; }

 private:
  struct entry {
    std::string id;
    std::string line;
  };
  live_event_bounds bounds_;
  std::vector<entry> entries_;
  std::size_t bytes_ = 0;
  bool too_slow_ = false;
};

// A follower: what it may see, its buffer, and how to wake its writer.
class live_event_follower {
 public:
  live_event_follower(std::optional<std::uint32_t> owner, std::optional<std::string> run_id, live_event_bounds bounds)
      : owner_(owner), run_id_(std::move(run_id)), buffer_(bounds) {}

  // Called after each push that queued or overflowed (on the publisher's thread, the io_context's).
  void on_ready(std::function<void()> wake) { wake_ = std::move(wake); }
  // Events with these IDs are already sent (the recent ones): dropped from the buffer and ignored.
  void skip(const std::vector<std::string>& event_ids);

  bool wants(const live_event& event) const;
  void offer(const live_event& event);
  std::vector<std::string> take() { return buffer_.take(); }
  bool too_slow() const { return buffer_.too_slow(); }
  const live_event_bounds& bounds() const { return buffer_.bounds(); }

 private:
  std::optional<std::uint32_t> owner_;  // nullopt: an admin, every run
  std::optional<std::string> run_id_;   // ?run=
  live_event_buffer buffer_;
  std::unordered_set<std::string> skipped_;
  std::function<void()> wake_;
};

// Every follower of this daemon. Lives on the io_context thread, like the tracker that publishes.
class live_events {
 public:
  explicit live_events(live_event_bounds bounds = {}) : bounds_(bounds) {}

  // A new follower; it stays subscribed for as long as the returned pointer lives.
  std::shared_ptr<live_event_follower> follow(std::optional<std::uint32_t> owner, std::optional<std::string> run_id);
  void publish(const live_event& event);
  std::size_t followers();
  const live_event_bounds& bounds() const { return bounds_; }

 private:
  live_event_bounds bounds_;
  std::vector<std::weak_ptr<live_event_follower>> followers_;
};

}  // namespace hookless
