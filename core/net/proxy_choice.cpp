// Proxy selection: extend.proxy, else HTTPS_PROXY / https_proxy minus NO_PROXY / no_proxy.
#include "core/net/proxy_choice.hpp"

#include "core/formats/trim.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

#include <boost/asio/ip/address.hpp>

namespace hookless {

namespace {

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

// parse_proxy_url with the variable the URL came from in front of its error.
proxy_endpoint parse_proxy_from(std::string_view source, std::string_view url) {
  try {
    return parse_proxy_url(url);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string{source} + ": " + e.what());
  }
}

}  // namespace

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
    if (name.starts_with("*."))
      name.erase(0, 2);
    else if (name.starts_with("."))
      name.erase(0, 1);
    if (name.empty()) continue;
    if (target == name) return true;
    if (target.size() > name.size() && target.ends_with(name) && target[target.size() - name.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

std::optional<proxy_endpoint> choose_proxy(const std::optional<proxy_endpoint>& configured,
                                           std::string_view target_host,
                                           const std::function<std::optional<std::string>(const char*)>& getenv) {
  if (configured) return configured;
  const auto from_env = first_set(getenv, "HTTPS_PROXY", "https_proxy");
  if (!from_env) return std::nullopt;
  if (const auto no_proxy = first_set(getenv, "NO_PROXY", "no_proxy");
      no_proxy && no_proxy_matches(no_proxy->value, target_host)) {
    return std::nullopt;
  }
  return parse_proxy_from(from_env->name, from_env->value);
}

}  // namespace hookless
