// The client threads of a black-box test that registers runs while it kills daemons: they run until
// told to stop, and are stopped and joined when the test returns early too (a failed ASSERT), so a
// failure never leaves a thread writing to a ledger that is gone.
#pragma once

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

namespace hookless::blackbox {

class client_threads {
 public:
  client_threads() = default;
  client_threads(const client_threads&) = delete;
  client_threads& operator=(const client_threads&) = delete;
  ~client_threads() { stop_and_join(); }

  // Runs body(args...) on a thread of its own; hand it `stopping()` to know when to end.
  template <typename Body, typename... Args>
  void start(Body&& body, Args&&... args) {
    threads_.emplace_back(std::forward<Body>(body), std::forward<Args>(args)...);
  }

  const std::atomic<bool>& stopping() const noexcept { return stop_; }

  // Waits for every thread to end by itself.
  void join() {
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }

  void stop_and_join() {
    stop_ = true;
    join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace hookless::blackbox
