// The state file's lock (see sqlite_file_lock.hpp).
#include "core/store/sqlite_file_lock.hpp"

#include "core/store/state_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace hookless {

sqlite_file_lock::sqlite_file_lock(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd_ < 0) {
    throw store_failed("cannot open state file " + path + ": " + std::generic_category().message(errno));
  }
  // flock, not fcntl: fcntl locks are SQLite's own (on byte ranges of the same file) and would
  // mix with them; flock locks are a separate kind, held by this open file description.
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    if (error == EWOULDBLOCK) {
      throw store_failed("state file " + path +
                         " is in use by another hooklessd (it holds the file's lock); two daemons must not share "
                         "one state file: give each its own state.path, or stop the other one");
    }
    throw store_failed("cannot lock state file " + path + ": " + std::generic_category().message(error));
  }
}

sqlite_file_lock::~sqlite_file_lock() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<std::string> sqlite_file_lock::readable_by_others() const {
  struct stat info {};
  if (::fstat(fd_, &info) != 0 || (info.st_mode & (S_IRWXG | S_IRWXO)) == 0) return std::nullopt;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
  return "state file " + path_ + " has mode " + mode + ": other users may read the payloads it holds; " +
         "`chmod 600 " + path_ + "` makes it private (its -wal and -shm files follow it at the next start)";
}

}  // namespace hookless
