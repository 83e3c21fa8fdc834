// The TLS client contexts hookless uses to talk to Extend and to https sinks: the system trust store
// plus optional extra CA files, peer verification always on, TLS 1.2 at least. There is deliberately no way to
// turn verification off.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ssl/context.hpp>

namespace hookless {

// A client context with the system's default trust store (set_default_verify_paths), the PEM
// certificates in ca_file added to it when given (extend.ca_file), verify_peer and a TLS 1.2 minimum.
// Host name checks and SNI are per connection (see https_pool). Throws std::runtime_error naming the
// file when ca_file cannot be read or holds no certificate.
boost::asio::ssl::context make_client_tls_context(const std::optional<std::string>& ca_file);

// Adds the PEM certificates in `ca_file` to the context's trust store (an http sink's own ca_file).
// Throws std::runtime_error naming `key` (the config key, e.g. "sinks.app.ca_file") and the file when
// it cannot be read or holds no certificate.
void add_trust_anchors(boost::asio::ssl::context& context, const std::string& ca_file, std::string_view key);

}  // namespace hookless
