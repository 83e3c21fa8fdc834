// hooklessctl's side of the control socket: one HTTP/1.1 request per connection, with a deadline.
#pragma once

#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

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

// GETs `target` and hands each line of a streamed answer (application/x-ndjson) to `line`, without
// its newline, as it arrives, until the daemon ends the answer. `timeout` covers connecting and the
// answer's headers only: a followed stream may last as long as the daemon runs. The answer's
// status and, unless it is 200, its body (the error). Throws as send_control_request.
ctl_response stream_control_lines(const std::string& socket_path, const std::string& target,
                                  std::chrono::milliseconds timeout, const std::function<void(std::string_view)>& line);

}  // namespace hookless
