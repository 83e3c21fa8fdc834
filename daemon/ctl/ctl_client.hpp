// hooklessctl's side of the control socket: one HTTP/1.1 request per connection, with a deadline.
#pragma once

#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

namespace hookless {

// Nothing answers on the socket (no file, connection refused, permission denied).
struct daemon_unreachable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ctl_response {
  unsigned status = 0;
  std::string body;
};

// Sends one request and reads the whole answer within `timeout`. Throws daemon_unreachable when
// it cannot connect, std::runtime_error when the exchange fails or times out.
ctl_response send_control_request(const std::string& socket_path, boost::beast::http::verb method,
                                  const std::string& target, const std::string& body,
                                  std::chrono::milliseconds timeout);

}  // namespace hookless
