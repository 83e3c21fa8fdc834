// A webhook receiver for the http sink's tests: HTTP/1.1 on 127.0.0.1 (port 0), HTTPS on 127.0.0.1
// with a given certificate, or on a Unix socket, on its own thread. It records every request and answers as the test's
// policy says: a status (with Retry-After), hang until released, or close without answering. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hookless::testing {

struct received_request {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::uint64_t connection = 0;    // which accepted connection carried it (1, 2, ...)
  std::int64_t received_unix = 0;  // when it arrived, Unix seconds
  std::chrono::steady_clock::time_point at;
  std::string header(const std::string& name) const;  // "" when absent
};

struct receiver_answer {
  enum class action { reply, hang, close } what = action::reply;
  unsigned status = 200;
  std::optional<std::string> retry_after;
  std::string body = "ok";

  static receiver_answer reply(unsigned status, std::optional<std::string> retry_after = std::nullopt) {
    return {.what = action::reply, .status = status, .retry_after = std::move(retry_after), .body = "ok"};
  }
  static receiver_answer hang() {
    return {.what = action::hang, .status = 200, .retry_after = std::nullopt, .body = {}};
  }
  static receiver_answer close() {
    return {.what = action::close, .status = 0, .retry_after = std::nullopt, .body = {}};
  }
};

// The certificate (chain) and private key an HTTPS receiver presents, PEM.
struct tls_identity {
  std::string cert_pem;
  std::string key_pem;
};

class callback_receiver {
 public:
  // Decides the answer for the n-th request (0-based, counted over the receiver's life).
  using policy = std::function<receiver_answer(const received_request&, std::size_t n)>;

  // TCP on 127.0.0.1, `port` 0 = any free one.
  explicit callback_receiver(std::uint16_t port = 0);
  // A Unix socket at `path`.
  explicit callback_receiver(const std::filesystem::path& socket_path);
  // HTTPS on 127.0.0.1, any free port, presenting `identity` (TLS 1.2 or later).
  explicit callback_receiver(const tls_identity& identity);
  ~callback_receiver();  // stops
  callback_receiver(const callback_receiver&) = delete;
  callback_receiver& operator=(const callback_receiver&) = delete;

  void set_policy(policy p);
  void answer_always(unsigned status, std::optional<std::string> retry_after = std::nullopt);
  void release_hung();            // every hung request is answered 200 now (and later hangs still hang)
  void close_idle_connections();  // closes connections waiting for their next request
  void stop();

  std::uint16_t port() const;
  std::string url(const std::string& path = "/hook") const;  // http(s)://127.0.0.1:PORT/path
  std::vector<received_request> requests() const;
  std::size_t count() const;
  std::size_t connections_accepted() const;
  std::size_t max_concurrent() const;  // most requests being answered (or hung) at once
  std::size_t in_progress() const;
  std::size_t handshakes_failed() const;  // TLS connections that ended in the handshake (a client refused us)
  bool wait_for_count(std::size_t n, std::chrono::milliseconds limit) const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace hookless::testing
