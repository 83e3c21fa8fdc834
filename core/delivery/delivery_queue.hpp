// The deliveries waiting for one sink (its outbox worker): each marked done in the store only after
// the sink confirmed it, retried with growing, jittered delays (at least what Retry-After asked)
// until the sink's max_age, then marked dead. Up to the sink's max_in_flight deliveries are with
// the sink at once, but never two of one run, and a run's events go in the order they were made.
#pragma once

#include "core/delivery/sink.hpp"
#include "core/store/state_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

namespace hookless {

// How a sink wants its queue to treat it. Line sinks keep the defaults (one write at a time,
// retried forever: a file that cannot be written is an operator's problem, not a reason to drop).
struct delivery_limits {
  std::size_t max_in_flight = 1;                     // deliveries with the sink at once, >= 1
  std::optional<std::chrono::milliseconds> max_age;  // retry this long after the event, then dead
};

// A sink that has limits of its own implements this too (the http sink does). The queue asks once,
// at construction. (A separate interface, so sink.hpp stays as it is.)
class limited_sink {
 public:
  virtual ~limited_sink() = default;
  virtual delivery_limits limits() const = 0;
};

// Made with make_shared: each delivery in flight owns its queue (as should whoever runs the
// worker), so a queue that is stopped and let go is freed once the last of them ends.
class delivery_queue : public std::enable_shared_from_this<delivery_queue> {
 public:
  struct retry_policy {
    std::chrono::milliseconds first_delay{1'000};
    std::chrono::milliseconds longest_delay{300'000};
    std::chrono::milliseconds longest_retry_after{3'600'000};  // a larger Retry-After is cut to this
  };

  delivery_queue(boost::asio::any_io_executor executor, std::string sink_name, sink& target, state_store& store,
                 retry_policy policy);
  delivery_queue(const delivery_queue&) = delete;
  delivery_queue& operator=(const delivery_queue&) = delete;

  // Queues a pending delivery behind the run's earlier ones. A delivery with next_attempt_at in the
  // future (from before a restart) waits until then. Its max_age counts from its redelivered_at (a
  // dead delivery put back), else from the event's detectedAt, else from now.
  void push(delivery_job job);
  // An operator asked for this delivery again (a redelivery): when it is queued here, it goes as soon
  // as the sink allows, with `job`'s record (its redelivered_at) and a fresh max_age from now, and
  // true is returned; one with the sink right now is left to finish (true too). False when it is not
  // queued here (push it then).
  bool hurry(const delivery_job& job);
  // Drops the run's deliveries that are not being delivered right now (the run was forgotten).
  void drop_run(const std::string& run_id);
  // Drops the deliveries of the runs whose home is `home` (delivery_job::home) the same way: this
  // daemon no longer holds that home (its node came back and takes them itself).
  void drop_home(const std::string& home);
  // The worker: dispatches until stop(). Spawn it once; it throws store_failed (from itself or from
  // a delivery's store update).
  awaitable<void> run();
  // Stops dispatching and lets go of the backlog (it is all in the store). Deliveries in flight
  // finish with the sink; one it took is still marked done, one it did not stays pending in the
  // store (delivered again by a new queue or after a restart). Its sink and the store must outlive
  // the deliveries in flight.
  void stop();

  const std::string& sink_name() const { return sink_name_; }
  std::size_t backlog() const { return backlog_; }  // queued, in flight included
  std::size_t in_flight() const { return in_flight_; }
  bool retrying() const { return failures_ > 0 && backlog_ > 0; }
  const std::string& last_error() const { return last_error_; }
  std::uint64_t delivered() const { return delivered_; }
  std::uint64_t dead() const { return dead_; }
  const delivery_limits& limits() const { return limits_; }

 private:
  using steady_time = std::chrono::steady_clock::time_point;
  struct entry {
    delivery_job job;
    steady_time not_before;
    std::optional<time_point> dead_at;
    bool in_flight = false;
    bool dropped = false;  // its run was forgotten while it was with the sink
  };

  void dispatch();
  void start(const std::string& run_id, entry& head);
  awaitable<void> attempt(std::string run_id, delivery_job job);
  void next_of_run(const std::string& run_id);

  std::string sink_name_;
  sink& target_;
  state_store& store_;
  retry_policy policy_;
  delivery_limits limits_;
  boost::asio::any_io_executor executor_;
  boost::asio::steady_timer wake_;
  std::unordered_map<std::string, std::deque<entry>> runs_;  // by run ID, in event order
  std::deque<std::string> ready_;                            // runs whose first entry may go now, FIFO
  std::multimap<steady_time, std::string> waiting_;          // runs whose first entry waits for a retry
  steady_time paused_until_{};                               // Retry-After holds the whole sink
  std::size_t backlog_ = 0;
  std::size_t in_flight_ = 0;
  unsigned failures_ = 0;  // consecutive failed attempts across the sink: while > 0, one at a time
  std::string last_error_;
  std::uint64_t delivered_ = 0;
  std::uint64_t dead_ = 0;
  std::exception_ptr failure_;  // a delivery's store update failed: the worker rethrows it
  bool stopped_ = false;
};

// When the event in `body` was detected (its hookless.detectedAt), or nullopt when the body does not
// say. Exposed for tests.
std::optional<time_point> detected_at_of(std::string_view body);

}  // namespace hookless
