// URL parsing with Boost.URL for http(s) and by hand for the unix: form, which is not a URL.
#include "core/formats/sink_target.hpp"

#include "core/formats/quoted.hpp"
#include "core/formats/url_rules.hpp"

#include <boost/url/parse.hpp>

namespace hookless {

namespace {

constexpr std::size_t max_socket_path = 107;  // sun_path holds 108 bytes with the terminating NUL
constexpr std::string_view unix_form = "unix:/path/to/app.sock:/url-path";

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
    return "expected " + std::string{unix_form} + "; got " + quoted(url);
  }
  if (split > max_socket_path) {
    return "the socket path is longer than " + std::to_string(max_socket_path) +
           " bytes, the limit for a Unix socket path";
  }
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
    return "expected http://127.0.0.1:PORT/path, " + std::string{unix_form} +
           ", or with allow_remote: true an https:// or remote http:// URL; got " + quoted_url(url);
  }
  const auto& u = *parsed;
  if (auto wrong = check_authority(u)) return *wrong + "; got " + quoted_url(url);
  const bool https = scheme == boost::urls::scheme::https;
  if (!allow_remote) {
    if (https) {
      return "an https:// target needs allow_remote: true (without it only loopback http:// and unix: are allowed); "
             "got " +
             quoted_url(url);
    }
    if (!is_loopback(u)) {
      return "host " + quoted(std::string_view{u.encoded_host().data(), u.encoded_host().size()}) +
             " is not a loopback address (127.0.0.0/8, [::1], localhost); set allow_remote: true to send events to "
             "another host";
    }
  }
  sink_target target;
  target.scheme = https ? target_scheme::https : target_scheme::http;
  target.host = std::string{u.host_address()};  // IPv6 without the brackets, percent-decoded
  if (u.has_port()) {
    // check_authority took it as 1..65535, leading zeros allowed: dialled by its value.
    const std::string_view port{u.port().data(), u.port().size()};
    target.port = std::string{port.substr(port.find_first_not_of('0'))};
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
