// Giving free heap memory back to the system (see heap_trim.hpp).
#include "daemon/service/heap_trim.hpp"

#include <malloc.h>

#include <spdlog/spdlog.h>

namespace hookless {

std::size_t heap_free_bytes() { return ::mallinfo2().fordblks; }

bool trim_heap(std::size_t slack) {
  const auto free_before = heap_free_bytes();
  if (free_before <= slack) return false;
  ::malloc_trim(0);
  spdlog::debug("heap trimmed: {} MiB were free in it", free_before >> 20);
  return true;
}

heap_trimmer::heap_trimmer(boost::asio::any_io_executor executor, options settings)
    : timer_(std::move(executor)), settings_(settings) {}

void heap_trimmer::start() { tick(); }

void heap_trimmer::stop() {
  stopped_ = true;
  timer_.cancel();
}

void heap_trimmer::tick() {
  if (stopped_) return;
  trim_heap(settings_.slack);
  timer_.expires_after(settings_.period);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

}  // namespace hookless
