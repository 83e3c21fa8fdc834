// An LD_PRELOAD shim for the black-box scheduling tests: the system clock (CLOCK_REALTIME) of the
// process it is loaded into reads as shifted by the signed count of nanoseconds held in the first 8
// bytes of the file named by $HOOKLESS_CLOCK_SHIFT_FILE, which a test may change at any time (the
// file is mapped, so a change shows at the next read). The monotonic clock is left alone. It lets a
// test step the built hooklessd's wall clock, as NTP or an operator would, without touching the
// machine's. Never loaded outside the tests.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

using clock_gettime_function = int (*)(clockid_t, timespec*);

// dlsym's object pointer to a function pointer without a cast ISO C++ frowns upon.
clock_gettime_function real_clock_gettime() {
  void* symbol = ::dlsym(RTLD_NEXT, "clock_gettime");
  clock_gettime_function function = nullptr;
  static_assert(sizeof symbol == sizeof function);
  std::memcpy(&function, &symbol, sizeof function);
  return function;
}

// The mapped shift, or nullptr when there is no file to read it from.
const std::int64_t* shift_cell() {
  const char* path = std::getenv("HOOKLESS_CLOCK_SHIFT_FILE");
  if (path == nullptr) return nullptr;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  void* mapped = ::mmap(nullptr, sizeof(std::int64_t), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  return mapped == MAP_FAILED ? nullptr : static_cast<const std::int64_t*>(mapped);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int clock_gettime(clockid_t clock, timespec* now) {
  static const clock_gettime_function real = real_clock_gettime();
  const int rc = real(clock, now);
  if (rc != 0 || (clock != CLOCK_REALTIME && clock != CLOCK_REALTIME_COARSE)) return rc;
  static const std::int64_t* const cell = shift_cell();
  if (cell == nullptr) return rc;
  constexpr std::int64_t billion = 1'000'000'000;
  const std::int64_t shifted = now->tv_sec * billion + now->tv_nsec + __atomic_load_n(cell, __ATOMIC_RELAXED);
  now->tv_sec = static_cast<time_t>(shifted / billion);
  now->tv_nsec = static_cast<long>(shifted % billion);
  return rc;
}
