// The sinks' queues: made, fed, replaced after a full disk, and swapped on a reload.
#include "core/delivery/delivery_queues.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace hookless {

namespace asio = boost::asio;

delivery_queues::delivery_queues(asio::any_io_executor executor, state_store& store, std::map<std::string, sink*> sinks,
                                 fatal_handler on_fatal)
    : executor_(std::move(executor)), store_(store), sinks_(std::move(sinks)), on_fatal_(std::move(on_fatal)) {
  for (const auto& [name, target] : sinks_) queues_.push_back(make_queue(name, *target));
}

delivery_queues::~delivery_queues() { stop(); }

std::shared_ptr<delivery_queue> delivery_queues::make_queue(const std::string& sink_name, sink& target) {
  return std::make_shared<delivery_queue>(executor_, sink_name, target, store_, delivery_queue::retry_policy{});
}

delivery_queue* delivery_queues::queue_for(const std::string& sink_name) {
  const auto found = std::ranges::find_if(queues_, [&](const auto& q) { return q->sink_name() == sink_name; });
  return found == queues_.end() ? nullptr : found->get();
}

awaitable<void> delivery_queues::start() {
  auto undone = co_await store_.load_undone_deliveries();
  for (auto& job : undone) {
    if (job.record.state == delivery_state::pending) enqueue(std::move(job));
  }
  for (auto& queue : queues_) spawn(queue);
}

void delivery_queues::stop() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& queue : queues_) queue->stop();
}

void delivery_queues::enqueue(delivery_job job) {
  if (auto* queue = queue_for(job.record.sink)) {
    queue->push(std::move(job));
  } else {
    spdlog::warn("delivery waits for sink '{}', which is not configured: event_id={} run_id={}", job.record.sink,
                 job.record.event_id, job.record.run_id);
  }
}

void delivery_queues::redeliver(delivery_job job) {
  if (auto* queue = queue_for(job.record.sink); queue != nullptr && queue->hurry(job)) return;
  enqueue(std::move(job));
}

void delivery_queues::drop_run(const std::string& run_id) {
  for (auto& queue : queues_) queue->drop_run(run_id);
}

void delivery_queues::drop_home(const std::string& home) {
  for (auto& queue : queues_) queue->drop_home(home);
}

// A sink's worker ends with store_full when the disk is full as it records a delivery. That must
// not stop the daemon (a full disk refuses new work and keeps the old), and the worker cannot go
// on (it keeps its failure), so after a pause the sink gets a fresh queue holding its undone
// deliveries from the store: the one that could not be recorded is made again, with the same
// eventId. Anything else a worker throws (store_failed) is fatal.
void delivery_queues::spawn(const std::shared_ptr<delivery_queue>& queue) {
  asio::co_spawn(executor_, queue->run(), [this, queue](std::exception_ptr failure) {
    if (!failure || stopping_) return;
    try {
      std::rethrow_exception(failure);
    } catch (const store_full& e) {
      spdlog::error("sink '{}': cannot record a delivery ({}); its queue starts again", queue->sink_name(), e.what());
      asio::co_spawn(executor_, replace_later(queue), [this](std::exception_ptr later) {
        if (later && !stopping_) on_fatal_(later);
      });
      return;
    } catch (...) {
    }
    on_fatal_(failure);
  });
}

awaitable<void> delivery_queues::replace_later(std::shared_ptr<delivery_queue> failed) {
  asio::steady_timer pause{executor_};
  const auto wait_a_second = [&pause] {
    pause.expires_after(std::chrono::seconds{1});
    return pause.async_wait(asio::as_tuple(asio::use_awaitable));
  };
  co_await wait_a_second();
  const std::string sink_name = failed->sink_name();
  const auto old = std::ranges::find(queues_, failed);
  failed.reset();
  // (Not there: a reload has replaced it already.)
  if (stopping_ || old == queues_.end() || !sinks_.contains(sink_name)) co_return;
  // Retired BEFORE the store is read: an event recorded before the read is in it; one recorded
  // after it finds the fresh queue. (A delivery still in flight ends with the old queue.)
  (*old)->stop();
  queues_.erase(old);
  // A store that cannot be read yet (the database still down, the disk still full) is waited for:
  // the deliveries stay in it meanwhile, and none is queued elsewhere, as this sink has no queue.
  std::vector<delivery_job> undone;
  for (;;) {
    std::string unreadable;
    try {
      undone = co_await store_.load_undone_deliveries();
      break;
    } catch (const store_full& e) {
      unreadable = e.what();
    }
    spdlog::warn("sink '{}': cannot read its undone deliveries yet ({}); trying again in 1 s", sink_name, unreadable);
    co_await wait_a_second();
    if (stopping_) co_return;
  }
  // Looked up again: a reload meanwhile may have replaced the sinks (or made the queue itself).
  const auto target = sinks_.find(sink_name);
  if (stopping_ || target == sinks_.end() || queue_for(sink_name)) co_return;
  auto fresh = make_queue(sink_name, *target->second);
  for (auto& job : undone) {
    if (job.record.state == delivery_state::pending && job.record.sink == sink_name) fresh->push(std::move(job));
  }
  queues_.push_back(fresh);
  spawn(fresh);
}

// The undone deliveries are read from the store BEFORE the fresh queues exist: an event committed
// before that read is in it (and its own enqueue, which runs first, finds no queue yet); one
// committed after it is enqueued into the fresh queue. So each delivery is queued once.
awaitable<void> delivery_queues::reconfigure(std::map<std::string, sink*> sinks) {
  for (auto it = queues_.begin(); it != queues_.end();) {
    const auto& name = (*it)->sink_name();
    const auto now = sinks.find(name);
    const auto before = sinks_.find(name);
    if (now != sinks.end() && before != sinks_.end() && now->second == before->second) {
      ++it;
      continue;
    }
    (*it)->stop();
    it = queues_.erase(it);
  }
  std::vector<std::string> fresh;
  for (const auto& [name, target] : sinks) {
    if (!queue_for(name)) fresh.push_back(name);
  }
  sinks_ = std::move(sinks);
  if (fresh.empty() || stopping_) co_return;

  auto undone = co_await store_.load_undone_deliveries();
  if (stopping_) co_return;
  std::vector<std::shared_ptr<delivery_queue>> started;
  for (const auto& name : fresh) {
    const auto target = sinks_.find(name);
    if (target == sinks_.end() || queue_for(name)) continue;  // changed again meanwhile
    queues_.push_back(make_queue(name, *target->second));
    started.push_back(queues_.back());
  }
  for (auto& job : undone) {
    if (job.record.state != delivery_state::pending) continue;
    const auto queue = std::ranges::find_if(started, [&](const auto& q) { return q->sink_name() == job.record.sink; });
    if (queue != started.end()) (*queue)->push(std::move(job));
  }
  for (const auto& queue : started) spawn(queue);
}

}  // namespace hookless
