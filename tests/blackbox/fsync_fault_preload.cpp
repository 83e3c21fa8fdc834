// An LD_PRELOAD shim for the black-box durability tests: once the file named by
// $HOOKLESS_FAULT_TRIGGER exists, fsync and fdatasync fail with EIO, as on a dying disk. It lets a
// test make the built hooklessd meet a real fsync error (SQLite's own call into libc fails) without
// any test hook in the daemon. Never loaded outside the tests.
#include <dlfcn.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace {

bool fault_triggered() {
  const char* trigger = std::getenv("HOOKLESS_FAULT_TRIGGER");
  struct stat info {};
  return trigger != nullptr && ::stat(trigger, &info) == 0;
}

using sync_function = int (*)(int);

// dlsym's object pointer to a function pointer without a cast ISO C++ frowns upon.
sync_function next_symbol(const char* name) {
  void* symbol = ::dlsym(RTLD_NEXT, name);
  sync_function function = nullptr;
  static_assert(sizeof symbol == sizeof function);
  std::memcpy(&function, &symbol, sizeof function);
  return function;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int fsync(int fd) {
  if (fault_triggered()) {
    errno = EIO;
    return -1;
  }
  static const sync_function real = next_symbol("fsync");
  return real(fd);
}

extern "C" __attribute__((visibility("default"))) int fdatasync(int fd) {
  if (fault_triggered()) {
    errno = EIO;
    return -1;
  }
  static const sync_function real = next_symbol("fdatasync");
  return real(fd);
}
