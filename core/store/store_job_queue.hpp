// The plumbing both stores' worker threads share: each awaitable call is packed as a job and queued;
// the store's thread takes the queued jobs in batches, runs each against its connection, and posts
// the result (or the exception) back to the awaiting coroutine's executor, keeping that executor's
// work count up meanwhile so the caller's io_context does not run out of work. What a batch does
// (group commit, one transaction per job) is the store's own.
#pragma once

#include "core/model/awaitable.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

namespace hookless::store_detail {

// One queued call. execute() runs on the store's thread; complete() hands the result back to the
// caller's executor.
template <typename Connection>
class store_job {
 public:
  explicit store_job(bool write) : write_(write) {}
  store_job(const store_job&) = delete;
  store_job& operator=(const store_job&) = delete;
  virtual ~store_job() = default;

  bool is_write() const noexcept { return write_; }
  bool has_error() const noexcept { return static_cast<bool>(error_); }
  void set_error(std::exception_ptr error) noexcept { error_ = std::move(error); }
  // Forgets an error and the result of a try that was rolled back, before the job runs again.
  void clear_error() noexcept { error_ = nullptr; }

  virtual void execute(Connection& connection) = 0;
  virtual void complete() noexcept = 0;

 protected:
  std::exception_ptr error_;

 private:
  bool write_;
};

struct no_result {};

template <typename Connection, typename Result, typename Work, typename Handler>
class job_impl final : public store_job<Connection> {
 public:
  using executor_type = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;

  job_impl(bool write, Work work, Handler handler, const boost::asio::any_io_executor& fallback)
      : store_job<Connection>(write),
        work_(std::move(work)),
        guard_(boost::asio::get_associated_executor(handler, fallback)),
        handler_(std::move(handler)) {}

  void execute(Connection& connection) override {
    if constexpr (std::is_void_v<Result>) {
      work_(connection);
    } else {
      result_ = work_(connection);
    }
  }

  void complete() noexcept override {
    auto executor = guard_.get_executor();
    if constexpr (std::is_void_v<Result>) {
      auto resume = [handler = std::move(handler_), error = this->error_]() mutable { std::move(handler)(error); };
      boost::asio::post(executor, std::move(resume));
    } else {
      auto resume = [handler = std::move(handler_), error = this->error_, result = std::move(result_)]() mutable {
        std::move(handler)(error, std::move(result));
      };
      boost::asio::post(executor, std::move(resume));
    }
    guard_.reset();  // after the post, which holds the executor's work from here on
  }

 private:
  using stored_result = std::conditional_t<std::is_void_v<Result>, no_result, Result>;

  Work work_;
  boost::asio::executor_work_guard<executor_type> guard_;
  Handler handler_;
  stored_result result_{};
};

template <typename Result>
struct completion_signature {
  using type = void(std::exception_ptr, Result);
};
template <>
struct completion_signature<void> {
  using type = void(std::exception_ptr);
};

// The queue between the callers and one worker thread.
template <typename Connection>
class job_queue {
 public:
  using job = store_job<Connection>;

  explicit job_queue(boost::asio::any_io_executor caller_executor) : caller_executor_(std::move(caller_executor)) {}

  // Packs `work` (a callable taking Connection&) as a job; the returned awaitable queues it when
  // awaited and resumes with its result or exception.
  template <typename Result, typename Work>
  awaitable<Result> submit(bool write, Work work) {
    auto initiation = [this, write](auto handler, Work job_work) {
      using handler_type = decltype(handler);
      enqueue(std::make_unique<job_impl<Connection, Result, Work, handler_type>>(write, std::move(job_work),
                                                                                 std::move(handler), caller_executor_));
    };
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                       typename completion_signature<Result>::type>(
        std::move(initiation), boost::asio::use_awaitable, std::move(work));
  }

  // Blocks until jobs are queued and moves them all into `batch`. False once stopped with nothing
  // left to do.
  bool wait_for_batch(std::vector<std::unique_ptr<job>>& batch) {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return false;
    batch.swap(queue_);
    return true;
  }

  // The worker finishes what is queued, then wait_for_batch returns false.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
  }

 private:
  void enqueue(std::unique_ptr<job> item) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(item));
    }
    wake_.notify_one();
  }

  boost::asio::any_io_executor caller_executor_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::unique_ptr<job>> queue_;
  bool stopping_ = false;
};

}  // namespace hookless::store_detail
