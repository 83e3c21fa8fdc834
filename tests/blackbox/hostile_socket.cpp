// Raw Unix-socket clients for the hostile-input and isolation tests (POSIX only, no Beast).
#include "tests/blackbox/hostile_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace hookless::blackbox {

raw_client::raw_client(const std::filesystem::path& socket) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const auto path = socket.string();
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::system_error(error, std::generic_category(), "connect " + path);
  }
}

raw_client::~raw_client() {
  if (fd_ >= 0) ::close(fd_);
}

raw_client::raw_client(raw_client&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

bool raw_client::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const auto sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd waiting{fd_, POLLOUT, 0};
        if (::poll(&waiting, 1, 5000) <= 0) return false;
        continue;
      }
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

namespace {

// Whether `text` holds a whole answer: headers, then Content-Length bytes of body.
bool whole_answer(const std::string& text) {
  const auto end = text.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  const auto headers = text.substr(0, end);
  std::string lower;
  for (const char c : headers) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  const auto at = lower.find("content-length:");
  if (at == std::string::npos) return true;
  const auto length = std::stoul(headers.substr(at + 15));
  return text.size() >= end + 4 + length;
}

}  // namespace

std::string raw_client::read_answer(std::chrono::milliseconds limit) {
  std::string out;
  const auto give_up = std::chrono::steady_clock::now() + limit;
  char buffer[65536];
  while (!whole_answer(out)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd waiting{fd_, POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(left.count())) <= 0) break;
    const auto got = ::recv(fd_, buffer, sizeof buffer, 0);
    if (got <= 0) break;
    out.append(buffer, static_cast<std::size_t>(got));
  }
  return out;
}

bool raw_client::closed_within(std::chrono::milliseconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd waiting{fd_, POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(left.count())) <= 0) return false;
    const auto got = ::recv(fd_, buffer, sizeof buffer, 0);
    if (got <= 0) return true;
  }
}

unsigned status_of(const std::string& answer) {
  if (answer.size() < 12 || answer.compare(0, 5, "HTTP/") != 0) return 0;
  const auto space = answer.find(' ');
  if (space == std::string::npos) return 0;
  return static_cast<unsigned>(std::strtoul(answer.c_str() + space + 1, nullptr, 10));
}

std::string body_of(const std::string& answer) {
  const auto end = answer.find("\r\n\r\n");
  return end == std::string::npos ? std::string{} : answer.substr(end + 4);
}

}  // namespace hookless::blackbox
