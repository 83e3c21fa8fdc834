// metrics.listen: the TCP address hooklessd serves GET /metrics on, written HOST:PORT.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace hookless {

struct listen_address {
  std::string host;        // an IP literal (IPv6 without brackets); "localhost" is read as 127.0.0.1
  std::uint16_t port = 0;  // 1..65535

  bool operator==(const listen_address&) const = default;
};

// "127.0.0.1:9464", "0.0.0.0:9464" (every IPv4 interface), "[::1]:9464", "[::]:9464" or
// "localhost:9464"; or what is wrong with it. A host name other than localhost is refused (the
// address is bound, not looked up), and so is an empty host (":9464"), which would quietly listen
// on every interface.
std::variant<listen_address, std::string> parse_listen_address(std::string_view text);

// As written in logs and URLs: "127.0.0.1:9464", "[::1]:9464".
std::string to_string(const listen_address& address);

}  // namespace hookless
