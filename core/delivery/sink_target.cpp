// URL parsing with Boost.URL for http(s) and by hand for the unix: form, which is not a URL.
#include "core/delivery/sink_target.hpp"

#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>

namespace hookless {

namespace {

constexpr std::size_t max_socket_path = 107;  // sun_path holds 108 bytes with the terminating NUL

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_loopback(const boost::urls::url_view& url) {
  switch (url.host_type()) {
    case boost::urls::host_type::ipv4: return url.host_ipv4_address().is_loopback();
    case boost::urls::host_type::ipv6: return url.host_ipv6_address().is_loopback();
    case boost::urls::host_type::name: {
      const std::string_view host{url.encoded_host().data(), url.encoded_host().size()};
      return equals_ignoring_case(host, "localhost");
    }
    default: return false;
  }
}

std::variant<sink_target, std::string> parse_unix(std::string_view url) {
  const auto rest = url.substr(5);  // after "unix:"
  const auto split = rest.find(":/");
  if (!rest.starts_with('/') || split == std::string_view::npos || split < 2) {
    return "expected unix:/path/to/app.sock:/url-path; got \"" + std::string{url} + "\"";
  }
  if (split > max_socket_path) return std::string{"the socket path is longer than a Unix socket path may be"};
  sink_target target;
  target.scheme = target_scheme::unix_socket;
  target.socket_path = std::string{rest.substr(0, split)};
  target.target = std::string{rest.substr(split + 1)};
  target.host_header = "localhost";
  return target;
}

}  // namespace

std::variant<sink_target, std::string> parse_sink_target(std::string_view url, bool allow_remote) {
  if (url.starts_with("unix:")) return parse_unix(url);
  const auto parsed = boost::urls::parse_uri(url);
  const auto scheme = parsed ? parsed->scheme_id() : boost::urls::scheme::unknown;
  if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https) {
    return "expected http://127.0.0.1:PORT/path, unix:/path/to/app.sock:/url-path, or with allow_remote: true an "
           "https:// URL; got \"" + std::string{url} + "\"";
  }
  const auto& u = *parsed;
  if (!u.has_authority() || u.encoded_host().empty()) return "has no host: \"" + std::string{url} + "\"";
  // Boost.URL 1.81 reads "http://127.0.0.1.evil.example/x" as host 127.0.0.1 with the path
  // ".evil.example/x"; a path after an authority always starts with '/', so this catches it.
  if (!u.encoded_path().empty() && !u.encoded_path().starts_with('/')) {
    return "has a host that is not a valid name or address: \"" + std::string{url} + "\"";
  }
  if (u.has_userinfo()) return std::string{"must not contain user:password@"};
  if (u.has_fragment()) return std::string{"must not have a #fragment"};
  const bool https = scheme == boost::urls::scheme::https;
  if (!allow_remote) {
    if (https) return std::string{"an https:// target needs allow_remote: true"};
    if (!is_loopback(u)) {
      return "host \"" + std::string{u.encoded_host()} + "\" is not a loopback address; set allow_remote: true";
    }
  }
  sink_target target;
  target.scheme = https ? target_scheme::https : target_scheme::http;
  target.host = std::string{u.host_address()};  // IPv6 without the brackets, percent-decoded
  if (u.has_port()) {
    const auto port = std::string{u.port()};
    const bool numeric = !port.empty() && std::ranges::all_of(port, [](char c) { return c >= '0' && c <= '9'; });
    // Leading zeros are allowed (the config loader accepts "00080" too); the value must be 1..65535.
    const auto digits = numeric ? port.substr(std::min(port.find_first_not_of('0'), port.size())) : std::string{};
    if (!numeric || digits.empty() || digits.size() > 5 || std::stoul(digits) > 65535) {
      return "has an invalid port \"" + port + "\"";
    }
    target.port = digits;
  } else {
    target.port = https ? "443" : "80";
  }
  target.target = std::string{u.encoded_path()};
  if (target.target.empty()) target.target = "/";
  if (u.has_query()) target.target += "?" + std::string{u.encoded_query()};
  target.host_header = std::string{u.encoded_host_and_port()};
  return target;
}

std::string describe(const sink_target& target) {
  switch (target.scheme) {
    case target_scheme::unix_socket: return "unix:" + target.socket_path + ":" + target.target;
    case target_scheme::https: return "https://" + target.host_header + target.target;
    case target_scheme::http: break;
  }
  return "http://" + target.host_header + target.target;
}

}  // namespace hookless
