// The deliveries waiting for one sink, delivered in order (a run's events arrive in order), each
// marked done in the store only after the sink confirmed it, retried with growing delays until then.
#pragma once

#include "core/sink.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <string>

namespace hookless {

class delivery_queue {
 public:
  struct retry_policy {
    std::chrono::milliseconds first_delay{1'000};
    std::chrono::milliseconds longest_delay{300'000};
  };

  delivery_queue(boost::asio::any_io_executor executor, std::string sink_name, sink& target, state_store& store,
                 retry_policy policy);

  void push(delivery_job job);
  // Drops the run's deliveries that are not being delivered right now (the run was forgotten).
  void drop_run(const std::string& run_id);
  // The worker: delivers until stop(). Spawn it once; it throws store_failed.
  awaitable<void> run();
  void stop();

  const std::string& sink_name() const { return sink_name_; }
  std::size_t backlog() const { return jobs_.size(); }
  bool retrying() const { return failures_ > 0; }
  const std::string& last_error() const { return last_error_; }
  std::uint64_t delivered() const { return delivered_; }

 private:
  std::string sink_name_;
  sink& target_;
  state_store& store_;
  retry_policy policy_;
  boost::asio::steady_timer wake_;
  std::deque<delivery_job> jobs_;
  unsigned failures_ = 0;
  std::string last_error_;
  std::uint64_t delivered_ = 0;
  bool delivering_ = false;  // the front job is with the sink
  bool stopped_ = false;
};

}  // namespace hookless
