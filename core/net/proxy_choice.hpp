// Which HTTP proxy, if any, carries hookless's connections to Extend: the configured one, else the
// one in the environment (HTTPS_PROXY / https_proxy) unless NO_PROXY / no_proxy exempts the host.
// Pure logic (the environment is passed in), unit tested without sockets.
#pragma once

#include "core/formats/proxy_url.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace hookless {

// True when a NO_PROXY list exempts host: comma separated entries; "*" matches every host; a name
// matches itself and its subdomains whether written "example.com" or ".example.com" (or
// "*.example.com"); "host:port" and "[v6]:port" entries match on the host alone (only the host is
// known here); IP literals match exactly, and "10.0.0.0/8"-style CIDR entries match the addresses
// inside. Comparisons ignore case and a trailing dot.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host);

// The proxy to use for target_host, or nullopt for a direct connection.
// - configured (extend.proxy, parsed by the config loader) wins when set: it is used for every
//   host, NO_PROXY does not apply (it is an explicit choice).
// - otherwise the first non-empty of HTTPS_PROXY, https_proxy, unless the first non-empty of
//   NO_PROXY, no_proxy matches target_host.
// Throws std::invalid_argument on an unparsable variable, naming it and never showing its
// credentials.
std::optional<proxy_endpoint> choose_proxy(const std::optional<proxy_endpoint>& configured,
                                           std::string_view target_host,
                                           const std::function<std::optional<std::string>(const char*)>& getenv);

}  // namespace hookless
