// Reading metrics.listen: HOST:PORT with an IP literal host, checked with Asio's address parser.
#include "core/formats/listen_address.hpp"

#include "core/formats/quoted.hpp"

#include <boost/asio/ip/address.hpp>

#include <charconv>

namespace hookless {

namespace {

constexpr std::string_view listen_address_form =
    "expected HOST:PORT with an IP address or localhost as HOST, e.g. \"127.0.0.1:9464\" (this machine only), "
    "\"0.0.0.0:9464\" (every interface) or \"[::1]:9464\"";

}  // namespace

std::variant<listen_address, std::string> parse_listen_address(std::string_view text) {
  const auto wrong = [&](std::string_view why) { return std::string{why} + "; got " + quoted(text); };
  if (text.find("://") != std::string_view::npos || text.find('/') != std::string_view::npos) {
    return wrong("write HOST:PORT alone, without a scheme or a path (the path is always /metrics)");
  }
  std::string_view host;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return wrong(listen_address_form);
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return wrong(std::string{listen_address_form} + " (the port is missing)");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return wrong("an IPv6 address goes in brackets, e.g. \"[::1]:9464\"");
    }
  }
  if (host.empty()) {
    return wrong(
        "the host is missing: write \"0.0.0.0:PORT\" to listen on every interface or \"127.0.0.1:PORT\" "
        "for this machine only");
  }
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() || port < 1 ||
      port > 65535) {
    return wrong("the port must be a number from 1 to 65535");
  }
  listen_address out{.host = std::string{host}, .port = static_cast<std::uint16_t>(port)};
  if (host == "localhost") {
    out.host = "127.0.0.1";
    return out;
  }
  boost::system::error_code bad;
  const auto address = boost::asio::ip::make_address(out.host, bad);
  if (bad) return wrong(std::string{listen_address_form} + " (" + quoted(host) + " is not an IP address)");
  if (address.is_v6() != text.starts_with('[')) return wrong(listen_address_form);
  return out;
}

std::string to_string(const listen_address& address) {
  const bool v6 = address.host.find(':') != std::string::npos;
  return (v6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

}  // namespace hookless
