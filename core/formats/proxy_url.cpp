// Proxy URLs with Boost.URL: one reading, the configured form being the stricter.
#include "core/formats/proxy_url.hpp"

#include "core/formats/base64.hpp"
#include "core/formats/trim.hpp"
#include "core/formats/url_rules.hpp"

#include <boost/url/parse.hpp>

#include <stdexcept>

namespace hookless {
namespace {

enum class proxy_form { environment, configured };

proxy_endpoint parse_proxy(std::string_view url, proxy_form form) {
  const auto fail = [&](std::string_view why) {
    return std::invalid_argument("proxy URL " + quoted_url(url) + ": " + std::string{why});
  };
  constexpr std::string_view expected = "expected an http proxy as http://host:port";
  const bool configured = form == proxy_form::configured;
  std::string text{configured ? url : trim(url)};
  if (text.size() >= 8 && equals_ignoring_case(std::string_view{text}.substr(0, 8), "https://")) {
    throw fail(
        "an https:// proxy is not supported; give an http proxy as http://host:port "
        "(the connection to Extend through it is still TLS)");
  }
  // A bare "host:port" is how HTTPS_PROXY is often written; extend.proxy says what it means.
  if (!configured && text.find("://") == std::string::npos) text = "http://" + text;
  const auto parsed = boost::urls::parse_uri(text);
  if (!parsed || !equals_ignoring_case(parsed->scheme(), "http")) throw fail(expected);
  const auto& u = *parsed;
  if (auto wrong = check_authority(u, !configured)) throw fail(*wrong);
  if (configured && !u.has_port()) throw fail("needs a port, as http://host:port");
  if ((!u.encoded_path().empty() && u.encoded_path() != "/") || u.has_query()) {
    throw fail(std::string{expected} + " with no path or query");
  }
  proxy_endpoint proxy;
  proxy.host = u.host_address();  // IPv6 without brackets
  proxy.port = u.has_port() ? std::string{u.port()} : "80";
  if (u.has_userinfo()) proxy.authorization = "Basic " + encode_base64(u.user() + ":" + u.password());
  return proxy;
}

}  // namespace

proxy_endpoint parse_proxy_url(std::string_view url) { return parse_proxy(url, proxy_form::environment); }

proxy_endpoint parse_configured_proxy_url(std::string_view url) { return parse_proxy(url, proxy_form::configured); }

}  // namespace hookless
