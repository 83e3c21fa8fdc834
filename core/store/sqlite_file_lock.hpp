// The state file's lock: one daemon per state file. Two daemons on one file would both resume the
// same runs and deliver every event twice, so the store holds an exclusive flock on the file for
// as long as it is open. The kernel drops the lock when the process dies, so a daemon killed with
// SIGKILL never blocks its own restart.
//
// It also creates the file, mode 0600 whatever the umask: the file holds whole payloads. SQLite
// gives the -wal and -shm files the mode of the database file, so they are 0600 too.
#pragma once

#include <optional>
#include <string>

namespace hookless {

class sqlite_file_lock {
 public:
  // Opens `path` (creating it, mode 0600, when missing) and locks it. Throws store_failed naming
  // the file when another process holds the lock or the file cannot be opened.
  explicit sqlite_file_lock(const std::string& path);
  // Releases the lock. Destroy it only after every SQLite connection to the file is closed:
  // closing a descriptor of the file drops the process's POSIX locks on it, SQLite's included.
  ~sqlite_file_lock();
  sqlite_file_lock(const sqlite_file_lock&) = delete;
  sqlite_file_lock& operator=(const sqlite_file_lock&) = delete;

  // A warning when users other than the owner may read the file (one made by an older hookless
  // under a 022 umask, or chmod-ed since), with the command that fixes it; nullopt when private.
  std::optional<std::string> readable_by_others() const;

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace hookless
