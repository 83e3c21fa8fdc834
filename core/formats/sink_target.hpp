// Where an http sink sends its requests, parsed from the sink's url: a loopback http:// address, a
// Unix socket (unix:/path.sock:/url-path), or, only with allow_remote, any http:// or https:// URL.
// Pure; the config loader parses every sink's url with it, and the sink dials the result.
#pragma once

#include <string>
#include <string_view>
#include <variant>

namespace hookless {

enum class target_scheme { http, https, unix_socket };

struct sink_target {
  target_scheme scheme = target_scheme::http;
  std::string host;         // http(s): the host name or IP literal, without [] for IPv6
  std::string port;         // http(s): the port, default 80 / 443
  std::string socket_path;  // unix: the socket file
  std::string target;       // the request target: path and query, at least "/"
  std::string host_header;  // what Host carries: host[:port] as written, "localhost" for a Unix socket

  friend bool operator==(const sink_target&, const sink_target&) = default;
};

// The parsed target, or a message saying what is wrong and what is allowed (the URL shown without
// credentials). Without allow_remote only http:// to 127.0.0.0/8, ::1 or localhost and unix:
// targets are accepted.
std::variant<sink_target, std::string> parse_sink_target(std::string_view url, bool allow_remote);

// A description for logs and errors: "http://127.0.0.1:8080/hook" or "unix:/run/app.sock:/hook".
std::string describe(const sink_target& target);

}  // namespace hookless
