// The TLS client context: system trust store + extra CA files, verify_peer, TLS 1.2 minimum.
#include "core/net/tls_context.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <openssl/ssl.h>

namespace hookless {

namespace ssl = boost::asio::ssl;

ssl::context make_client_tls_context(const std::optional<std::string>& ca_file) {
  ssl::context context{ssl::context::tls_client};
  context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  // The option flags above are deprecated in OpenSSL 3; the minimum version is what it honours.
  if (SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION) != 1) {
    throw std::runtime_error("TLS: cannot require TLS 1.2 as the minimum version");
  }
  context.set_verify_mode(ssl::verify_peer);

  boost::system::error_code ec;
  context.set_default_verify_paths(ec);
  if (ec) {
    throw std::runtime_error("TLS: cannot load the system trust store: " + ec.message());
  }

  if (ca_file) add_trust_anchors(context, *ca_file, "extend.ca_file");
  return context;
}

void add_trust_anchors(ssl::context& context, const std::string& ca_file, std::string_view key) {
  // Opening it first gives "cannot read" rather than OpenSSL's terse "system lib" for a missing
  // or unreadable file.
  const std::string where = std::string{key} + " " + ca_file;
  if (!std::ifstream{ca_file}.good())
    throw std::runtime_error(where + ": cannot read the file: " + std::strerror(errno));
  boost::system::error_code ec;
  context.load_verify_file(ca_file, ec);
  if (ec) throw std::runtime_error(where + ": no usable PEM certificate (" + ec.message() + ")");
}

}  // namespace hookless
