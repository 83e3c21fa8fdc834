// One sink's outbox worker.
#include "core/delivery_queue.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace hookless {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// Capped exponential backoff with full jitter (AWS's advice): uniform in [delay/2, delay].
milliseconds backoff(const delivery_queue::retry_policy& policy, unsigned failures) {
  const auto doubled = policy.first_delay * (1LL << std::min(failures - 1, 20U));
  const auto capped = std::min<milliseconds>(doubled, policy.longest_delay);
  thread_local std::minstd_rand random{std::random_device{}()};
  std::uniform_int_distribution<milliseconds::rep> spread(capped.count() / 2, capped.count());
  return milliseconds{spread(random)};
}

}  // namespace

delivery_queue::delivery_queue(asio::any_io_executor executor, std::string sink_name, sink& target,
                               state_store& store, retry_policy policy)
    : sink_name_(std::move(sink_name)), target_(target), store_(store), policy_(policy), wake_(std::move(executor)) {}

void delivery_queue::push(delivery_job job) {
  jobs_.push_back(std::move(job));
  if (jobs_.size() == 1 && failures_ == 0) wake_.cancel();
}

void delivery_queue::drop_run(const std::string& run_id) {
  const auto first = jobs_.begin() + (delivering_ && !jobs_.empty() ? 1 : 0);
  jobs_.erase(std::remove_if(first, jobs_.end(), [&](const delivery_job& job) { return job.record.run_id == run_id; }),
              jobs_.end());
}

void delivery_queue::stop() {
  stopped_ = true;
  wake_.cancel();
}

awaitable<void> delivery_queue::run() {
  while (!stopped_) {
    if (jobs_.empty()) {
      wake_.expires_at(std::chrono::steady_clock::time_point::max());
      co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    auto& job = jobs_.front();
    delivering_ = true;  // until its outcome is recorded, the front job stays where it is
    const auto result = co_await target_.deliver(job);
    if (stopped_) co_return;
    auto record = job.record;
    ++record.attempts;
    if (result.delivered) {
      record.state = delivery_state::done;
      record.last_error.reset();
      record.next_attempt_at.reset();
      co_await store_.update_delivery(record);
      spdlog::debug("delivered event_id={} run_id={} sink={}", record.event_id, record.run_id, sink_name_);
      jobs_.pop_front();
      delivering_ = false;
      failures_ = 0;
      ++delivered_;
      continue;
    }
    ++failures_;
    last_error_ = result.error;
    const auto delay = std::max(backoff(policy_, failures_), result.retry_after.value_or(milliseconds{0}));
    record.last_error = result.error;
    record.next_attempt_at = std::chrono::system_clock::now() + delay;
    job.record = record;
    co_await store_.update_delivery(record);
    delivering_ = false;
    spdlog::warn("delivery failed event_id={} run_id={} sink={} attempt={} retry_in={}ms: {}", record.event_id,
                 record.run_id, sink_name_, record.attempts, delay.count(), result.error);
    wake_.expires_after(delay);
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace hookless
