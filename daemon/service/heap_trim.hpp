// Hands the allocator's free memory back to the system. glibc returns freed memory on free() only
// from the top of a heap, so after a burst (batches of 10,000 runs registered, the state loaded at
// start) the pages freed inside the heap stay in the daemon's RSS: about 26 MiB with 100,000 runs
// pending. Every `period`, while the allocator holds more than `slack` bytes free, malloc_trim gives
// the free pages back; it costs milliseconds on the io thread, and only after such a burst.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>

namespace hookless {

// Bytes the allocator holds free in its heaps (glibc's mallinfo2 fordblks).
std::size_t heap_free_bytes();

// Trims the heaps when more than `slack` bytes are free in them; whether it did.
bool trim_heap(std::size_t slack);

class heap_trimmer {
 public:
  struct options {
    std::chrono::milliseconds period{10'000};
    std::size_t slack = std::size_t{8} << 20;
  };

  heap_trimmer(boost::asio::any_io_executor executor, options settings);
  void start();
  void stop();

 private:
  void tick();

  boost::asio::steady_timer timer_;
  options settings_;
  bool stopped_ = false;
};

}  // namespace hookless
