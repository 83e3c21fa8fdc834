// stdout and file sinks: one write(2) per line, on the blocking executor.
#include "core/delivery/line_sinks.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace hookless {

namespace asio = boost::asio;

namespace {

std::string errno_text(const char* what) { return std::string{what} + ": " + std::strerror(errno); }

// Writes all of `line` with as few write(2) calls as the kernel allows.
std::string write_all(int fd, const std::string& line) {
  std::size_t done = 0;
  while (done < line.size()) {
    const auto written = ::write(fd, line.data() + done, line.size() - done);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno_text("write");
    }
    done += static_cast<std::size_t>(written);
  }
  return {};
}

// Runs `work` on the blocking executor and returns its result on the caller's.
template <typename Work>
awaitable<delivery_result> run_blocking(asio::any_io_executor blocking, Work work) {
  // A named local, not a lambda inside the co_await expression: g++ 12 frees such a lambda's
  // captures twice (GCC PR 107288), which corrupted the heap on every delivery.
  auto task = [work]() -> awaitable<delivery_result> { co_return work(); };
  co_return co_await asio::co_spawn(blocking, std::move(task), asio::use_awaitable);
}

class stdout_sink final : public sink {
 public:
  explicit stdout_sink(asio::any_io_executor blocking) : blocking_(std::move(blocking)) {}

  awaitable<delivery_result> deliver(const delivery_job& job) override {
    const auto work = [line = job.body + "\n"] {
      const auto error = write_all(STDOUT_FILENO, line);
      return delivery_result{.delivered = error.empty(), .error = error, .retry_after = std::nullopt};
    };
    co_return co_await run_blocking(blocking_, work);
  }

 private:
  asio::any_io_executor blocking_;
};

class file_sink final : public sink {
 public:
  file_sink(asio::any_io_executor blocking, std::string path)
      : blocking_(std::move(blocking)), path_(std::move(path)) {}
  ~file_sink() override {
    if (fd_ >= 0) ::close(fd_);
  }

  awaitable<delivery_result> deliver(const delivery_job& job) override {
    const auto work = [this, line = job.body + "\n"] {
      std::lock_guard lock{mutex_};
      std::string error = ensure_open();
      if (error.empty()) error = write_all(fd_, line);
      if (error.empty() && ::fdatasync(fd_) != 0) error = errno_text("fdatasync");
      if (!error.empty()) close_file();  // reopen (and cut any torn tail) before the retry
      if (!error.empty()) error = path_ + ": " + error;
      return delivery_result{.delivered = error.empty(), .error = error, .retry_after = std::nullopt};
    };
    co_return co_await run_blocking(blocking_, work);
  }

  void reopen() override {
    asio::post(blocking_, [this] {
      std::lock_guard lock{mutex_};
      close_file();
    });
  }

 private:
  std::string ensure_open() {
    if (fd_ >= 0) return {};
    // Read access too: cut_torn_tail() preads the end of the file (EBADF on a write-only fd).
    fd_ = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0) return errno_text("open");
    return cut_torn_tail();
  }

  // A crash mid-write can leave a last line without its newline: drop that fragment.
  std::string cut_torn_tail() {
    struct stat info {};
    if (::fstat(fd_, &info) != 0) return errno_text("fstat");
    off_t end = info.st_size;
    char byte = '\n';
    while (end > 0) {
      if (::pread(fd_, &byte, 1, end - 1) != 1) return errno_text("pread");
      if (byte == '\n') break;
      --end;
    }
    if (end == info.st_size) return {};
    if (::ftruncate(fd_, end) != 0 || ::fdatasync(fd_) != 0) return errno_text("truncate torn line");
    return {};
  }

  void close_file() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  asio::any_io_executor blocking_;
  std::string path_;
  std::mutex mutex_;  // reopen() and deliver() both run on the blocking executor; it may have threads
  int fd_ = -1;
};

}  // namespace

std::unique_ptr<sink> make_stdout_sink(asio::any_io_executor blocking) {
  return std::make_unique<stdout_sink>(std::move(blocking));
}

std::unique_ptr<sink> make_file_sink(asio::any_io_executor blocking, std::string path) {
  return std::make_unique<file_sink>(std::move(blocking), std::move(path));
}

}  // namespace hookless
