// Raw Unix-socket clients for the hostile-input and isolation tests: they send exactly the bytes a
// test wants (slowly, partly, malformed), which a well-behaved HTTP client library would refuse to.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace hookless::blackbox {

// A connected AF_UNIX stream socket, closed at destruction.
class raw_client {
 public:
  // Throws std::system_error when the connection is refused (errno kept, e.g. EACCES).
  explicit raw_client(const std::filesystem::path& socket);
  ~raw_client();
  raw_client(raw_client&& other) noexcept;
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  int fd() const { return fd_; }
  // Sends what it can; false once the peer is gone (EPIPE, ECONNRESET).
  bool send(std::string_view bytes);
  // Reads until the peer closes, a whole HTTP answer (headers + Content-Length body) is in, or
  // `limit` passes. Returns everything read.
  std::string read_answer(std::chrono::milliseconds limit);
  // True when the peer closed (read gives 0 or an error) within `limit`; data read is discarded.
  bool closed_within(std::chrono::milliseconds limit);

 private:
  int fd_ = -1;
};

// The status code of an HTTP answer ("HTTP/1.1 413 ..."), or 0 when there is none.
unsigned status_of(const std::string& answer);
// The body after the blank line ("" when none).
std::string body_of(const std::string& answer);

}  // namespace hookless::blackbox
