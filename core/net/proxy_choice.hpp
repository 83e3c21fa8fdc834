// Which HTTP proxy, if any, carries hookless's connections to Extend: the configured one, else the
// one in the environment (HTTPS_PROXY / https_proxy) unless NO_PROXY / no_proxy exempts the host.
// Pure logic (the environment is passed in), unit tested without sockets.
#pragma once

#include <functional>
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

// Parses a proxy URL: "http://[user[:pass]@]host[:port][/]", or the same without "http://" (as
// curl and most tools accept). user and pass are percent-decoded. Throws std::invalid_argument
// naming the URL (its credentials redacted) when it cannot be parsed or uses another scheme
// (https://, socks5://: unsupported).
proxy_endpoint parse_proxy_url(std::string_view url);

// The URL as it may appear in a message or a log: whatever stands before the last '@' of its
// authority (user:password) becomes "***", "http://user:pw@proxy:3128" -> "http://***@proxy:3128".
// Works on text that is not a valid URL too (that is when it is shown), and errs on the side of
// hiding: everything up to the last '@' anywhere after the scheme goes.
std::string redact_credentials(std::string_view url);

// True when a NO_PROXY list exempts host: comma separated entries; "*" matches every host; a name
// matches itself and its subdomains whether written "example.com" or ".example.com" (or
// "*.example.com"); "host:port" and "[v6]:port" entries match on the host alone (only the host is
// known here); IP literals match exactly, and "10.0.0.0/8"-style CIDR entries match the addresses
// inside. Comparisons ignore case and a trailing dot.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host);

// The proxy to use for target_host, or nullopt for a direct connection.
// - configured (extend.proxy) wins when set: it is used for every host, NO_PROXY does not apply (it
//   is an explicit choice); an empty configured string means "no proxy", ignoring the environment.
// - otherwise the first non-empty of HTTPS_PROXY, https_proxy, unless the first non-empty of
//   NO_PROXY, no_proxy matches target_host.
// Throws std::invalid_argument on an unparsable proxy URL, naming where it came from (extend.proxy or
// the variable) and never showing its credentials.
std::optional<proxy_endpoint> choose_proxy(const std::optional<std::string>& configured, std::string_view target_host,
                                           const std::function<std::optional<std::string>(const char*)>& getenv);

}  // namespace hookless
