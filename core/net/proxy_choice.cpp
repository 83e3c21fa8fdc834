// Proxy selection: extend.proxy, else HTTPS_PROXY / https_proxy minus NO_PROXY / no_proxy.
#include "core/net/proxy_choice.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <stdexcept>

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>

namespace hookless {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

std::string to_lower(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A host as it is compared: lower case, no IPv6 brackets, no trailing dot of a fully qualified name.
std::string normalize_host(std::string_view host) {
  host = trim(host);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return to_lower(host);
}

std::optional<boost::asio::ip::address> parse_ip(std::string_view text) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(std::string{text}, ec);
  if (ec) return std::nullopt;
  return address;
}

std::string base64_encode(std::string_view in) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto n = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
                   static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 |
                   static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 2]));
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += alphabet[n >> 6 & 63];
    out += alphabet[n & 63];
  }
  if (const auto rest = in.size() - i; rest > 0) {
    auto n = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += rest == 2 ? alphabet[n >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

// The address as 16 bytes (IPv4 as its v4-mapped IPv6 form), so one prefix comparison serves both.
std::array<unsigned char, 16> as_v6_bytes(const boost::asio::ip::address& a) {
  if (a.is_v4()) return boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, a.to_v4()).to_bytes();
  return a.to_v6().to_bytes();
}

// "10.0.0.0/8" or "fd00::/8" containing host; false for anything that is not such an entry.
bool cidr_contains(std::string_view entry, const std::optional<boost::asio::ip::address>& host) {
  const auto slash = entry.find('/');
  auto network = parse_ip(entry.substr(0, slash));
  const auto bits_text = entry.substr(slash + 1);
  if (!network || !host || bits_text.empty() || bits_text.size() > 3 ||
      !std::all_of(bits_text.begin(), bits_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  std::size_t bits = std::stoul(std::string{bits_text});
  if (network->is_v4() != host->is_v4()) return false;
  if (network->is_v4()) {
    if (bits > 32) return false;
    bits += 96;  // the v4-mapped prefix
  } else if (bits > 128) {
    return false;
  }
  const auto a = as_v6_bytes(*network);
  const auto b = as_v6_bytes(*host);
  for (std::size_t i = 0; i < 16 && bits > 0; ++i) {
    const auto take = std::min<std::size_t>(bits, 8);
    const auto mask = static_cast<unsigned char>(0xFFu << (8 - take));
    if ((a[i] & mask) != (b[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

// The host part of a NO_PROXY entry: "[::1]:443" -> "::1", "example.com:443" -> "example.com",
// "::1" stays (several colons and no brackets: an IPv6 literal, not host:port).
std::string_view entry_host(std::string_view entry) {
  if (entry.front() == '[') {
    const auto close = entry.find(']');
    return close == std::string_view::npos ? entry : entry.substr(1, close - 1);
  }
  if (std::count(entry.begin(), entry.end(), ':') == 1) return entry.substr(0, entry.find(':'));
  return entry;
}

// An environment variable's name and value.
struct variable {
  const char* name;
  std::string value;
};

std::optional<variable> first_set(const std::function<std::optional<std::string>(const char*)>& getenv,
                                  const char* upper, const char* lower) {
  for (const char* name : {upper, lower}) {
    if (auto value = getenv(name); value && !trim(*value).empty()) return variable{name, std::move(*value)};
  }
  return std::nullopt;
}

// "scheme" of "scheme://": a letter, then letters, digits, '+', '-' or '.' (RFC 3986).
bool is_scheme(std::string_view text) {
  const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  const auto scheme_char = [&](char c) {
    return letter(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
  };
  return !text.empty() && letter(text.front()) && std::all_of(text.begin(), text.end(), scheme_char);
}

// parse_proxy_url with the source of the URL (a key or a variable name) in front of its error.
proxy_endpoint parse_proxy_from(std::string_view source, std::string_view url) {
  try {
    return parse_proxy_url(url);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string{source} + ": " + e.what());
  }
}

}  // namespace

std::string redact_credentials(std::string_view url) {
  const auto separator = url.find("://");
  const auto authority = separator != std::string_view::npos && is_scheme(url.substr(0, separator)) ? separator + 3 : 0;
  const auto at = url.rfind('@');
  if (at == std::string_view::npos || at < authority) return std::string{url};
  return std::string{url.substr(0, authority)} + "***" + std::string{url.substr(at)};
}

proxy_endpoint parse_proxy_url(std::string_view url) {
  const auto fail = [&](std::string_view why) {
    return std::invalid_argument("proxy URL \"" + redact_credentials(url) + "\": " + std::string{why});
  };
  std::string text{trim(url)};
  if (text.find("://") == std::string::npos) text = "http://" + text;
  const auto parsed = boost::urls::parse_uri(text);
  if (!parsed) throw fail("not a URL (" + parsed.error().message() + ")");
  const auto& u = *parsed;
  if (to_lower(u.scheme()) != "http") throw fail("only http:// proxies are supported");
  if (!u.has_authority() || u.encoded_host_address().empty()) throw fail("no host");
  if (!u.encoded_path().empty() && u.encoded_path() != "/") throw fail("a proxy URL has no path");
  if (u.has_query() || u.has_fragment()) throw fail("a proxy URL has no query or fragment");
  // Checked here: port_number() wraps values above 65535 rather than refusing them.
  if (u.has_port() && (u.port().empty() || u.port().size() > 5 || std::stoul(std::string{u.port()}) == 0 ||
                       std::stoul(std::string{u.port()}) > 65535)) {
    throw fail("bad port");
  }

  proxy_endpoint proxy;
  proxy.host = u.host_address();  // IPv6 without brackets
  proxy.port = u.has_port() ? std::string{u.port()} : "80";
  if (u.has_userinfo()) {
    proxy.authorization = "Basic " + base64_encode(u.user() + ":" + u.password());
  }
  return proxy;
}

bool no_proxy_matches(std::string_view no_proxy, std::string_view host) {
  const auto target = normalize_host(host);
  if (target.empty()) return false;
  const auto target_ip = parse_ip(target);
  while (!no_proxy.empty()) {
    const auto comma = no_proxy.find(',');
    const auto entry = trim(no_proxy.substr(0, comma));
    no_proxy = comma == std::string_view::npos ? std::string_view{} : no_proxy.substr(comma + 1);
    if (entry.empty()) continue;
    if (entry == "*") return true;

    if (entry.find('/') != std::string_view::npos) {
      if (cidr_contains(entry, target_ip)) return true;
      continue;
    }
    auto name = normalize_host(entry_host(entry));
    if (const auto ip = parse_ip(name)) {
      if (target_ip && *ip == *target_ip) return true;
      continue;
    }
    if (name.starts_with("*.")) name.erase(0, 2);
    else if (name.starts_with(".")) name.erase(0, 1);
    if (name.empty()) continue;
    if (target == name) return true;
    if (target.size() > name.size() && target.ends_with(name) && target[target.size() - name.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

std::optional<proxy_endpoint> choose_proxy(const std::optional<std::string>& configured, std::string_view target_host,
                                           const std::function<std::optional<std::string>(const char*)>& getenv) {
  if (configured) {
    if (trim(*configured).empty()) return std::nullopt;
    return parse_proxy_from("extend.proxy", *configured);
  }
  const auto from_env = first_set(getenv, "HTTPS_PROXY", "https_proxy");
  if (!from_env) return std::nullopt;
  if (const auto no_proxy = first_set(getenv, "NO_PROXY", "no_proxy");
      no_proxy && no_proxy_matches(no_proxy->value, target_host)) {
    return std::nullopt;
  }
  return parse_proxy_from(from_env->name, from_env->value);
}

}  // namespace hookless
