// The TLS client context hookless uses to talk to Extend: the system trust store plus an optional
// extra CA file, peer verification always on, TLS 1.2 at least. There is deliberately no way to
// turn verification off.
#pragma once

#include <optional>
#include <string>

#include <boost/asio/ssl/context.hpp>

namespace hookless {

// A client context with the system's default trust store (set_default_verify_paths), the PEM
// certificates in ca_file added to it when given (extend.ca_file), verify_peer and a TLS 1.2 minimum.
// Host name checks and SNI are per connection (see https_pool). Throws std::runtime_error naming the
// file when ca_file cannot be read or holds no certificate.
boost::asio::ssl::context make_client_tls_context(const std::optional<std::string>& ca_file);

}  // namespace hookless
