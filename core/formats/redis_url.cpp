// redis:// and rediss:// through Boost.URL (with the rules every URL in the config shares), unix: by
// hand.
#include "core/formats/redis_url.hpp"

#include "core/formats/quoted.hpp"
#include "core/formats/url_rules.hpp"

#include <boost/url/parse.hpp>

#include <charconv>
#include <optional>

namespace hookless {

namespace {

constexpr std::size_t redis_socket_path_max = 107;  // sun_path holds 108 bytes with the terminating NUL
constexpr unsigned redis_db_max = 99'999;           // Redis' `databases` setting; far above any real one
constexpr std::string_view redis_url_forms =
    "redis://[user@]host[:port][/db], rediss://[user@]host[:port][/db] or unix:/path/to/redis.sock[?db=N]";

// "N" as a database number, or nullopt.
std::optional<unsigned> redis_db_number(std::string_view text) {
  unsigned value = 0;
  if (text.empty() || text.size() > 5) return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > redis_db_max) return std::nullopt;
  return value;
}

std::variant<redis_target, std::string> parse_redis_unix(std::string_view url) {
  auto rest = url.substr(5);  // after "unix:"
  redis_target target;
  target.scheme = redis_scheme::unix_socket;
  if (const auto query = rest.find('?'); query != std::string_view::npos) {
    const auto parameter = rest.substr(query + 1);
    const auto db = parameter.starts_with("db=") ? redis_db_number(parameter.substr(3)) : std::nullopt;
    if (!db) return "after the socket path only ?db=N (a database number) may follow; got " + quoted(url);
    target.db = *db;
    rest = rest.substr(0, query);
  }
  if (!rest.starts_with('/') || rest.size() < 2)
    return "expected " + std::string{redis_url_forms} + "; got " + quoted(url);
  if (rest.size() > redis_socket_path_max) {
    return "the socket path is longer than " + std::to_string(redis_socket_path_max) +
           " bytes, the limit for a Unix socket path";
  }
  target.socket_path = std::string{rest};
  return target;
}

}  // namespace

std::variant<redis_target, std::string> parse_redis_target(std::string_view url) {
  if (url.starts_with("unix:")) return parse_redis_unix(url);
  const auto parsed = boost::urls::parse_uri(url);
  const std::string_view scheme =
      parsed ? std::string_view{parsed->scheme().data(), parsed->scheme().size()} : std::string_view{};
  const bool plain = equals_ignoring_case(scheme, "redis");
  if (!plain && !equals_ignoring_case(scheme, "rediss")) {
    return "expected " + std::string{redis_url_forms} + "; got " + quoted_url(url);
  }
  const auto& u = *parsed;
  if (u.has_password()) {
    return "the url must not carry a password (it would show in logs and `ps`); put it in password_file; got " +
           quoted_url(url);
  }
  if (auto wrong = check_authority(u, true)) return *wrong + "; got " + quoted_url(url);
  if (u.has_query()) return "a redis url takes no ?query; got " + quoted_url(url);
  redis_target target;
  target.scheme = plain ? redis_scheme::tcp : redis_scheme::tls;
  target.host = std::string{u.host_address()};
  if (u.has_userinfo()) target.user = std::string{u.user()};
  if (u.has_port()) {
    const std::string_view port{u.port().data(), u.port().size()};
    target.port = std::string{port.substr(port.find_first_not_of('0'))};
  } else {
    target.port = "6379";
  }
  const std::string_view path{u.encoded_path().data(), u.encoded_path().size()};
  if (!path.empty() && path != "/") {
    const auto db = redis_db_number(path.substr(1));
    if (!db)
      return "the path is the database number, /0 to /" + std::to_string(redis_db_max) + "; got " + quoted_url(url);
    target.db = *db;
  }
  return target;
}

std::string describe(const redis_target& target) {
  if (target.scheme == redis_scheme::unix_socket) {
    return "unix:" + target.socket_path + (target.db != 0 ? "?db=" + std::to_string(target.db) : std::string{});
  }
  const bool ipv6 = target.host.find(':') != std::string::npos;
  std::string out = target.scheme == redis_scheme::tls ? "rediss://" : "redis://";
  if (!target.user.empty()) out += target.user + "@";
  out += ipv6 ? "[" + target.host + "]" : target.host;
  out += ":" + target.port + "/" + std::to_string(target.db);
  return out;
}

}  // namespace hookless
