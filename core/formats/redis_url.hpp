// Where a redis sink appends its events, parsed from the sink's url: redis://[user@]host[:port][/db]
// (plain TCP), rediss://[user@]host[:port][/db] (TLS, verified like every TLS connection hookless
// makes) or unix:/path/to/redis.sock[?db=N]. The password is never in the url: it comes from the
// sink's password_file. Pure; the config loader parses every redis sink's url with it.
#pragma once

#include <string>
#include <string_view>
#include <variant>

namespace hookless {

enum class redis_scheme { tcp, tls, unix_socket };

struct redis_target {
  redis_scheme scheme = redis_scheme::tcp;
  std::string host;         // tcp, tls: the host name or IP literal, without [] for IPv6
  std::string port;         // tcp, tls: default 6379
  std::string socket_path;  // unix: the socket file
  std::string user;         // AUTH user (Redis 6 ACL); empty: AUTH with the password alone
  unsigned db = 0;          // SELECT this database when it is not 0

  friend bool operator==(const redis_target&, const redis_target&) = default;
};

// The parsed target, or a message saying what is wrong and what is allowed (the url shown without
// credentials).
std::variant<redis_target, std::string> parse_redis_target(std::string_view url);

// For logs and errors: "redis://127.0.0.1:6379/0", "rediss://cache.internal:6380/2" or
// "unix:/run/redis/redis.sock" (never a password; the user is shown).
std::string describe(const redis_target& target);

}  // namespace hookless
