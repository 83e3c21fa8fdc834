// An HTTP proxy's URL, in the two forms hookless reads: extend.proxy, written for hookless, and
// HTTPS_PROXY / https_proxy, written for every tool on the machine.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hookless {

// An HTTP proxy reached with CONNECT.
struct proxy_endpoint {
  std::string host;                          // name or IP literal (IPv6 without brackets)
  std::string port;                          // "80" when the URL gives none
  std::optional<std::string> authorization;  // "Basic base64(user:pass)" from user:pass@ in the URL
  bool operator==(const proxy_endpoint&) const = default;
};

// The environment's form, as curl and most tools read it: "http://[user[:pass]@]host[:port][/]",
// or the same without "http://", surrounding whitespace ignored; user and pass are percent-decoded.
// Throws std::invalid_argument naming the URL (its credentials redacted) when it cannot be parsed
// or uses another scheme (https://, socks5://: unsupported).
proxy_endpoint parse_proxy_url(std::string_view url);

// extend.proxy: exactly "http://host:port[/]": the scheme and the port written, no credentials
// (they do not belong in a config file). Throws std::invalid_argument as parse_proxy_url does.
proxy_endpoint parse_configured_proxy_url(std::string_view url);

}  // namespace hookless
