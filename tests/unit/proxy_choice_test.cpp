// Which proxy carries the connection to Extend: extend.proxy, HTTPS_PROXY / https_proxy, NO_PROXY.
#include "core/net/proxy_choice.hpp"

#include "core/formats/url_rules.hpp"

#include <map>
#include <stdexcept>

#include <gtest/gtest.h>

namespace hookless {
namespace {

// A fake environment: only the variables given exist.
auto env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    if (auto it = vars.find(name); it != vars.end()) return it->second;
    return std::nullopt;
  };
}

const std::optional<proxy_endpoint> none;

TEST(parse_proxy_url, reads_host_port_and_credentials) {
  EXPECT_EQ(parse_proxy_url("http://proxy.internal:3128"), (proxy_endpoint{"proxy.internal", "3128", std::nullopt}));
  EXPECT_EQ(parse_proxy_url("http://proxy.internal:3128/"), (proxy_endpoint{"proxy.internal", "3128", std::nullopt}));
  EXPECT_EQ(parse_proxy_url("HTTP://Proxy:8080"), (proxy_endpoint{"Proxy", "8080", std::nullopt}));
  // No scheme, as curl accepts; no port: 80.
  EXPECT_EQ(parse_proxy_url("proxy.internal:3128"), (proxy_endpoint{"proxy.internal", "3128", std::nullopt}));
  EXPECT_EQ(parse_proxy_url("http://proxy.internal"), (proxy_endpoint{"proxy.internal", "80", std::nullopt}));
  EXPECT_EQ(parse_proxy_url("http://[::1]:3128"), (proxy_endpoint{"::1", "3128", std::nullopt}));
  // "Aladdin:open sesame" is RFC 7617's example; the space arrives percent-encoded.
  EXPECT_EQ(parse_proxy_url("http://Aladdin:open%20sesame@proxy:3128").authorization,
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  EXPECT_EQ(parse_proxy_url("http://u:p@proxy:3128").authorization, "Basic dTpw");
  EXPECT_EQ(parse_proxy_url("http://user@proxy:3128").authorization, "Basic dXNlcjo=");
}

TEST(parse_proxy_url, refuses_what_it_cannot_use) {
  for (const char* bad :
       {"", "http://", "http://:3128", "https://proxy:3128", "socks5://proxy:1080", "http://proxy:99999",
        "http://proxy:port", "http://proxy:3128/path", "http://proxy:3128/?q=1", "http://pro xy:3128"}) {
    EXPECT_THROW(parse_proxy_url(bad), std::invalid_argument) << bad;
  }
  try {
    parse_proxy_url("https://proxy:3128");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string{e.what()}.find("https://proxy:3128"), std::string::npos) << e.what();
  }
}

// extend.proxy is written for hookless alone: the scheme and port spelled out, no credentials.
TEST(parse_configured_proxy_url, is_strict_where_the_environment_is_lenient) {
  EXPECT_EQ(parse_configured_proxy_url("http://proxy.internal:3128/"),
            (proxy_endpoint{"proxy.internal", "3128", std::nullopt}));
  for (const char* bad : {"proxy.internal:3128", "http://proxy.internal", "http://u:p@proxy.internal:3128",
                          " http://proxy.internal:3128", "https://proxy.internal:3128", "ftp://proxy"}) {
    EXPECT_THROW(parse_configured_proxy_url(bad), std::invalid_argument) << bad;
  }
}

TEST(redact_credentials, hides_what_stands_before_the_at_sign) {
  EXPECT_EQ(redact_credentials("http://user:s3cret@proxy:3128"), "http://***@proxy:3128");
  EXPECT_EQ(redact_credentials("socks5://user:s3cret@proxy:1080"), "socks5://***@proxy:1080");
  EXPECT_EQ(redact_credentials("user:s3cret@proxy:3128"), "***@proxy:3128");
  // Unencoded '/', '@' or "://" in a password: still hidden (up to the last '@').
  EXPECT_EQ(redact_credentials("http://user:pa/ss@proxy:3128"), "http://***@proxy:3128");
  EXPECT_EQ(redact_credentials("http://user:p@ss@proxy:3128"), "http://***@proxy:3128");
  EXPECT_EQ(redact_credentials("user:p://ss@proxy:3128"), "***@proxy:3128");
  EXPECT_EQ(redact_credentials("http://proxy.internal:3128"), "http://proxy.internal:3128");
  EXPECT_EQ(redact_credentials(""), "");
}

// Every way a proxy URL with credentials can be refused: the message names the URL without them.
TEST(parse_proxy_url, errors_never_show_the_credentials) {
  for (const char* bad : {"socks5://user:s3cret@proxy:1080", "https://user:s3cret@proxy:3128",
                          "http://user:s3cret@proxy:99999", "http://user:s3cret@proxy:3128/path",
                          "http://user:s3cret@pro xy:3128", "http://user:s3cret@:3128", "ftp://user:s3cret@proxy"}) {
    try {
      parse_proxy_url(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const std::invalid_argument& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
      EXPECT_EQ(message.find("user"), std::string::npos) << message;
      EXPECT_NE(message.find("***@"), std::string::npos) << message;
    }
  }
}

TEST(choose_proxy, a_bad_proxy_url_is_named_by_its_source_without_credentials) {
  const auto message_of = [](std::map<std::string, std::string> vars) {
    try {
      choose_proxy(none, "api.extend.ai", env(std::move(vars)));
    } catch (const std::invalid_argument& e) {
      return std::string{e.what()};
    }
    return std::string{"(accepted)"};
  };
  const auto from_env = message_of({{"HTTPS_PROXY", "socks5://user:s3cret@proxy:1080"}});
  EXPECT_TRUE(from_env.starts_with("HTTPS_PROXY: proxy URL \"socks5://***@proxy:1080\"")) << from_env;
  const auto lower = message_of({{"https_proxy", "http://user:s3cret@proxy:port"}});
  EXPECT_TRUE(lower.starts_with("https_proxy: ")) << lower;
  EXPECT_EQ(lower.find("s3cret"), std::string::npos) << lower;
}

TEST(choose_proxy, configured_wins_over_the_environment_and_no_proxy) {
  const auto vars = env({{"HTTPS_PROXY", "http://env:1"}, {"NO_PROXY", "*"}});
  const proxy_endpoint configured{"conf", "2", std::nullopt};
  EXPECT_EQ(choose_proxy(configured, "api.extend.ai", vars), configured);
}

TEST(choose_proxy, takes_https_proxy_then_https_proxy_lowercase) {
  EXPECT_EQ(choose_proxy(none, "api.extend.ai", env({})), std::nullopt);
  EXPECT_EQ(
      choose_proxy(none, "api.extend.ai", env({{"HTTPS_PROXY", "http://upper:1"}, {"https_proxy", "http://lower:2"}}))
          ->host,
      "upper");
  EXPECT_EQ(choose_proxy(none, "api.extend.ai", env({{"https_proxy", "http://lower:2"}}))->host, "lower");
  // An empty variable counts as unset.
  EXPECT_EQ(choose_proxy(none, "api.extend.ai", env({{"HTTPS_PROXY", ""}, {"https_proxy", "http://lower:2"}}))->host,
            "lower");
  // HTTP_PROXY is for plain http:// traffic; Extend is always https.
  EXPECT_EQ(
      choose_proxy(none, "api.extend.ai", env({{"HTTP_PROXY", "http://plain:3"}, {"http_proxy", "http://plain:3"}})),
      std::nullopt);
}

TEST(choose_proxy, no_proxy_disables_the_environment_proxy) {
  const auto with = [](std::string no_proxy) {
    return env({{"HTTPS_PROXY", "http://env:1"}, {"NO_PROXY", std::move(no_proxy)}});
  };
  EXPECT_EQ(choose_proxy(none, "api.extend.ai", with("extend.ai")), std::nullopt);
  EXPECT_EQ(choose_proxy(none, "api.extend.ai", with("example.com")), (proxy_endpoint{"env", "1", std::nullopt}));
  EXPECT_EQ(choose_proxy(none, "api.extend.ai", env({{"HTTPS_PROXY", "http://env:1"}, {"no_proxy", "api.extend.ai"}})),
            std::nullopt);
  // NO_PROXY is read before no_proxy.
  EXPECT_EQ(
      choose_proxy(none, "api.extend.ai",
                   env({{"HTTPS_PROXY", "http://env:1"}, {"NO_PROXY", "other.com"}, {"no_proxy", "api.extend.ai"}})),
      (proxy_endpoint{"env", "1", std::nullopt}));
  // An exempt host never reaches the URL parser, so a broken HTTPS_PROXY does not matter for it.
  EXPECT_EQ(choose_proxy(none, "api.extend.ai", env({{"HTTPS_PROXY", "socks5://x"}, {"NO_PROXY", "*"}})), std::nullopt);
}

TEST(choose_proxy, throws_on_an_unparsable_url) {
  EXPECT_THROW(choose_proxy(none, "api.extend.ai", env({{"https_proxy", "http://proxy:notaport"}})),
               std::invalid_argument);
}

TEST(no_proxy_matches, star_matches_everything) {
  EXPECT_TRUE(no_proxy_matches("*", "api.extend.ai"));
  EXPECT_TRUE(no_proxy_matches("localhost, *", "10.1.2.3"));
  EXPECT_FALSE(no_proxy_matches("", "api.extend.ai"));
  EXPECT_FALSE(no_proxy_matches(" , ,", "api.extend.ai"));
}

TEST(no_proxy_matches, names_match_themselves_and_subdomains) {
  for (const char* entry : {"extend.ai", ".extend.ai", "*.extend.ai", "EXTEND.AI", " extend.ai ", "extend.ai."}) {
    EXPECT_TRUE(no_proxy_matches(entry, "extend.ai")) << entry;
    EXPECT_TRUE(no_proxy_matches(entry, "api.extend.ai")) << entry;
    EXPECT_TRUE(no_proxy_matches(entry, "a.b.EXTEND.ai.")) << entry;
    EXPECT_FALSE(no_proxy_matches(entry, "notextend.ai")) << entry;  // a suffix, not a subdomain
    EXPECT_FALSE(no_proxy_matches(entry, "extend.ai.evil.com")) << entry;
  }
  EXPECT_TRUE(no_proxy_matches("localhost,api.extend.ai", "api.extend.ai"));
  EXPECT_FALSE(no_proxy_matches("api.extend.ai", "eu1.api2.extend.ai"));
  EXPECT_FALSE(no_proxy_matches("api.extend.ai", "extend.ai"));  // a subdomain entry does not cover its parent
}

TEST(no_proxy_matches, host_port_entries_match_on_the_host) {
  EXPECT_TRUE(no_proxy_matches("api.extend.ai:443", "api.extend.ai"));
  EXPECT_TRUE(no_proxy_matches("127.0.0.1:8443", "127.0.0.1"));
  EXPECT_TRUE(no_proxy_matches("[::1]:443", "::1"));
  EXPECT_TRUE(no_proxy_matches("[::1]:443", "[::1]"));
  EXPECT_FALSE(no_proxy_matches("other.ai:443", "api.extend.ai"));
}

TEST(no_proxy_matches, ip_literals_match_exactly) {
  EXPECT_TRUE(no_proxy_matches("10.0.0.1", "10.0.0.1"));
  EXPECT_FALSE(no_proxy_matches("10.0.0.1", "10.0.0.10"));
  EXPECT_FALSE(no_proxy_matches("10.0.0.1", "110.0.0.1"));
  EXPECT_TRUE(no_proxy_matches("::1", "0:0:0:0:0:0:0:1"));  // the same address, spelled differently
  EXPECT_TRUE(no_proxy_matches("fd00::1", "[FD00::1]"));
  EXPECT_FALSE(no_proxy_matches("::1", "::2"));
  // A name entry never matches an address and vice versa.
  EXPECT_FALSE(no_proxy_matches("localhost", "127.0.0.1"));
  EXPECT_FALSE(no_proxy_matches("127.0.0.1", "localhost"));
}

TEST(no_proxy_matches, cidr_entries_match_the_addresses_inside) {
  EXPECT_TRUE(no_proxy_matches("10.0.0.0/8", "10.200.3.4"));
  EXPECT_FALSE(no_proxy_matches("10.0.0.0/8", "11.0.0.1"));
  EXPECT_TRUE(no_proxy_matches("192.168.1.0/24", "192.168.1.255"));
  EXPECT_FALSE(no_proxy_matches("192.168.1.0/24", "192.168.2.1"));
  EXPECT_TRUE(no_proxy_matches("0.0.0.0/0", "8.8.8.8"));
  EXPECT_TRUE(no_proxy_matches("fd00::/8", "fd12::1"));
  EXPECT_FALSE(no_proxy_matches("fd00::/8", "fe80::1"));
  EXPECT_FALSE(no_proxy_matches("10.0.0.0/8", "api.extend.ai"));
  EXPECT_FALSE(no_proxy_matches("10.0.0.0/8", "::ffff:10.0.0.1"));  // families do not mix
  EXPECT_FALSE(no_proxy_matches("10.0.0.0/33", "10.0.0.1"));        // not a valid prefix
}

}  // namespace
}  // namespace hookless
