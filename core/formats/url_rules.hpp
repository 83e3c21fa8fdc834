// The rules every URL in hookless.yaml shares (extend.base_url, extend.proxy, an http sink's url)
// and how a URL is shown in a message: never with its user:password@.
#pragma once

#include <boost/url/url_view.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace hookless {

// The URL as it may appear in a message or a log: whatever stands before the last '@' of its
// authority (user:password) becomes "***", "http://user:pw@proxy:3128" -> "http://***@proxy:3128".
// Works on text that is not a valid URL too (that is when it is shown), and errs on the side of
// hiding: everything up to the last '@' anywhere after the scheme goes.
std::string redact_credentials(std::string_view url);

// The URL quoted for a message (see quoted()), its credentials redacted.
std::string quoted_url(std::string_view url);

// Whatever is wrong with a URL's authority, or nullopt: no host, a host followed by junk, a port
// outside 1..65535 (leading zeros allowed), a #fragment, and user:password@ unless
// `allow_credentials`.
std::optional<std::string> check_authority(const boost::urls::url_view& url, bool allow_credentials = false);

// ASCII case-insensitive equality, as schemes and host names compare.
bool equals_ignoring_case(std::string_view a, std::string_view b);

}  // namespace hookless
