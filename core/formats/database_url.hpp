// state.url: the PostgreSQL database several daemons share, as a libpq connection URI
// (postgresql://[user[:password]@][host][:port][,host[:port]...][/dbname][?param=value&...]).
// Checked here only as far as a config mistake can be told from the text (the scheme, the hosts and
// ports, the percent-escapes, the query's shape), so --check-config names the key; libpq reads the
// URI itself when the daemon connects. Shown in messages and logs without its password. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hookless {

// What is wrong with `url` as a libpq URI, in words that say what is expected (the URI shown
// redacted), or nullopt when it looks right.
std::optional<std::string> check_database_url(std::string_view url);

// The URI as a message or a log may show it: user:password@ becomes ***@ (redact_credentials) and
// the value of a ?password= parameter becomes ***.
std::string redact_database_url(std::string_view url);

}  // namespace hookless
