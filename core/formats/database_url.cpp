// Checks and redaction of state.url (database_url.hpp), following libpq's URI grammar.
#include "core/formats/database_url.hpp"

#include "core/formats/quoted.hpp"
#include "core/formats/url_rules.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace hookless {
namespace {

using namespace std::string_view_literals;

// libpq compares the prefix exactly (it is case-sensitive).
constexpr std::array schemes = {"postgresql://"sv, "postgres://"sv};
constexpr std::string_view example = "postgresql://hookless@db.internal:5432/hookless";

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Every '%' starts a two-digit hex escape (libpq refuses the URI otherwise).
bool escapes_are_valid(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') continue;
    if (i + 2 >= text.size() || !is_hex(text[i + 1]) || !is_hex(text[i + 2])) return false;
    i += 2;
  }
  return true;
}

std::optional<std::string> check_port(std::string_view port) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value < 1 || value > 65535)
    return "has an invalid port " + quoted(port) + " (1 to 65535)";
  return std::nullopt;
}

// One host of the comma-separated list: a name, an address, [IPv6], a percent-encoded socket folder
// or nothing (libpq's default), each with an optional :port.
std::optional<std::string> check_host(std::string_view host) {
  if (host.starts_with('[')) {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return "has an IPv6 address without its closing ]";
    const auto rest = host.substr(close + 1);
    if (rest.empty()) return std::nullopt;
    if (!rest.starts_with(':')) return "has something after an IPv6 address's ] other than :port";
    return check_port(rest.substr(1));
  }
  if (const auto colon = host.find(':'); colon != std::string_view::npos) return check_port(host.substr(colon + 1));
  return std::nullopt;
}

std::optional<std::string> check_query(std::string_view query) {
  std::size_t start = 0;
  while (start <= query.size()) {
    const auto end = std::min(query.find('&', start), query.size());
    const auto pair = query.substr(start, end - start);
    const auto equals = pair.find('=');
    if (equals == std::string_view::npos || equals == 0)
      return "has a query parameter that is not name=value (libpq options such as ?sslmode=require)";
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_database_url(std::string_view url) {
  const auto shown = [&] { return quoted(redact_database_url(url)); };
  const auto scheme = std::find_if(schemes.begin(), schemes.end(), [&](auto s) { return url.starts_with(s); });
  if (scheme == schemes.end()) {
    return "expected a PostgreSQL connection URI starting with postgresql:// or postgres://, e.g. " +
           std::string{example} + "; got " + shown();
  }
  if (std::any_of(url.begin(), url.end(), [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; }))
    return "must not contain spaces or control characters (percent-encode them, e.g. %20); got " + shown();
  if (url.find('#') != std::string_view::npos) return "must not have a #fragment; got " + shown();
  if (!escapes_are_valid(url)) return "has a % that does not start a two-digit hex escape like %2F; got " + shown();

  auto rest = url.substr(scheme->size());
  const auto authority_end = std::min(rest.find_first_of("/?"), rest.size());
  auto authority = rest.substr(0, authority_end);
  rest.remove_prefix(authority_end);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::size_t start = 0;
  while (start <= authority.size()) {
    const auto end = std::min(authority.find(',', start), authority.size());
    if (auto wrong = check_host(authority.substr(start, end - start))) return *wrong + "; got " + shown();
    start = end + 1;
  }
  if (const auto question = rest.find('?'); question != std::string_view::npos) {
    if (auto wrong = check_query(rest.substr(question + 1))) return *wrong + "; got " + shown();
  }
  return std::nullopt;
}

std::string redact_database_url(std::string_view url) {
  auto out = redact_credentials(url);
  const auto question = out.find('?');
  if (question == std::string::npos) return out;
  // Each password=VALUE of the query (a parameter name is matched whole, so passfile= stays).
  std::size_t start = question + 1;
  while (start < out.size()) {
    const auto end = std::min(out.find('&', start), out.size());
    constexpr std::string_view key = "password=";
    if (std::string_view{out}.substr(start, end - start).starts_with(key)) {
      out.replace(start + key.size(), end - start - key.size(), "***");
      start += key.size() + 3 + 1;
    } else {
      start = end + 1;
    }
  }
  return out;
}

}  // namespace hookless
