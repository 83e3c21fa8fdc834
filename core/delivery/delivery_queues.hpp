// The delivery queues of the configured sinks, one per sink: who owns them and keeps them going.
// Each committed delivery is handed to its sink's queue; a queue whose worker ends because the disk
// was full gets a fresh one with the sink's undone deliveries from the store; a reload stops the
// queues of sinks it removed or changed and starts fresh ones with their undone deliveries from the
// store. A stopped queue leaves the list at once and is freed when its last delivery in flight ends.
#pragma once

#include "core/delivery/delivery_queue.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hookless {

class delivery_queues {
 public:
  // Called when a worker fails in a way the daemon cannot continue from (store_failed).
  using fatal_handler = std::function<void(std::exception_ptr)>;

  // One queue per sink; none delivers before start(). The sinks and the store must outlive the
  // deliveries in flight.
  delivery_queues(boost::asio::any_io_executor executor, state_store& store, std::map<std::string, sink*> sinks,
                  fatal_handler on_fatal);
  delivery_queues(const delivery_queues&) = delete;
  delivery_queues& operator=(const delivery_queues&) = delete;
  ~delivery_queues();

  // Queues every undone delivery from the store to its sink and starts the workers.
  awaitable<void> start();
  // Stops every queue; their undone deliveries stay in the store.
  void stop();

  // Hands a recorded delivery to its sink's queue. A sink that is not configured (any more) gets
  // nothing: the delivery waits in the store for a reload or a restart that configures it.
  void enqueue(delivery_job job);
  // A delivery an operator asked for again (pending, done or dead before): one still queued goes
  // now (delivery_queue::hurry), any other is queued as enqueue does.
  void redeliver(delivery_job job);
  // Drops a forgotten run's deliveries from every queue.
  void drop_run(const std::string& run_id);
  // Several daemons: drops the deliveries of a home this daemon no longer holds from every queue.
  void drop_home(const std::string& home);

  // Reload. Sinks missing from `sinks` stop; sinks that are new, or whose sink object changed, get
  // a fresh queue with their undone deliveries from the store; the others keep their queue as it
  // is. A replaced sink object must outlive this: a delivery may still be with it.
  awaitable<void> reconfigure(std::map<std::string, sink*> sinks);

  // The queues of the sinks configured now, for health and metrics.
  const std::vector<std::shared_ptr<delivery_queue>>& all() const { return queues_; }

 private:
  std::shared_ptr<delivery_queue> make_queue(const std::string& sink_name, sink& target);
  void spawn(const std::shared_ptr<delivery_queue>& queue);
  awaitable<void> replace_later(std::shared_ptr<delivery_queue> failed);
  delivery_queue* queue_for(const std::string& sink_name);

  boost::asio::any_io_executor executor_;
  state_store& store_;
  std::map<std::string, sink*> sinks_;
  fatal_handler on_fatal_;
  // A queue stopped by a reload or a full disk leaves this list; its worker and its deliveries in
  // flight own it until they end.
  std::vector<std::shared_ptr<delivery_queue>> queues_;
  bool stopping_ = false;
};

}  // namespace hookless
