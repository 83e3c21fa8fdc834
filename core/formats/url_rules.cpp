// Shared URL checks and redaction.
#include "core/formats/url_rules.hpp"

#include "core/formats/quoted.hpp"

#include <algorithm>
#include <charconv>

namespace hookless {
namespace {

bool is_valid_port(std::string_view port) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return !port.empty() && ec == std::errc{} && end == port.data() + port.size() && value >= 1 && value <= 65535;
}

// "scheme" of "scheme://": a letter, then letters, digits, '+', '-' or '.' (RFC 3986).
bool is_scheme(std::string_view text) {
  const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  const auto scheme_char = [&](char c) {
    return letter(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
  };
  return !text.empty() && letter(text.front()) && std::all_of(text.begin(), text.end(), scheme_char);
}

}  // namespace

std::string redact_credentials(std::string_view url) {
  const auto separator = url.find("://");
  const auto authority = separator != std::string_view::npos && is_scheme(url.substr(0, separator)) ? separator + 3 : 0;
  const auto at = url.rfind('@');
  if (at == std::string_view::npos || at < authority) return std::string{url};
  return std::string{url.substr(0, authority)} + "***" + std::string{url.substr(at)};
}

std::string quoted_url(std::string_view url) { return quoted(redact_credentials(url)); }

std::optional<std::string> check_authority(const boost::urls::url_view& url, bool allow_credentials) {
  if (!url.has_authority() || url.encoded_host().empty()) return "has no host";
  // Boost.URL 1.81 reads "http://127.0.0.1.evil.example/x" or "http://[::1]:80'" as a host followed
  // by a path that does not start with '/'; such a host is not what it looks like (found by
  // fuzz_sink_target when the config loader and the sink still checked URLs each their own way).
  if (!url.encoded_path().empty() && !url.encoded_path().starts_with('/'))
    return "has a host that is not a valid name or address";
  if (url.has_userinfo() && !allow_credentials) {
    return "must not contain user:password@ (credentials do not belong in a URL here)";
  }
  const std::string_view port{url.port().data(), url.port().size()};
  if (url.has_port() && !is_valid_port(port)) return "has an invalid port " + quoted(port);
  if (url.has_fragment()) return "must not have a #fragment";
  return std::nullopt;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

}  // namespace hookless
