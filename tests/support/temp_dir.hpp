// A fresh private directory for one test, removed with everything in it when the test ends. Every
// test that needs files or Unix sockets of its own makes one of these.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace hookless::test {

class temp_dir {
 public:
  // Made under /tmp, not $TMPDIR: a Unix socket path inside it must fit in 108 bytes. The prefix
  // says which test left it behind, should a crash keep the destructor from running.
  explicit temp_dir(std::string_view prefix = "hookless-test");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace hookless::test
