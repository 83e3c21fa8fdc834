// Reading extend.base_url with Boost.URL.
#include "core/formats/base_url.hpp"

#include "core/formats/url_rules.hpp"

#include <boost/url/parse.hpp>

namespace hookless {

std::variant<https_origin, std::string> parse_base_url(std::string_view text) {
  const auto parsed = boost::urls::parse_uri(text);
  if (!parsed || parsed->scheme_id() != boost::urls::scheme::https) {
    return "expected an https:// URL like https://api.extend.ai; got " + quoted_url(text);
  }
  if (auto wrong = check_authority(*parsed)) return *wrong + "; got " + quoted_url(text);
  if (parsed->has_query()) return "must not have a ?query; got " + quoted_url(text);
  while (text.ends_with('/')) text.remove_suffix(1);
  std::string path{parsed->encoded_path()};
  while (path.ends_with('/')) path.pop_back();
  return https_origin{.url = std::string{text},
                      .host = std::string{parsed->host_address()},
                      .port = parsed->has_port() ? std::string{parsed->port()} : "443",
                      .base_path = std::move(path)};
}

}  // namespace hookless
