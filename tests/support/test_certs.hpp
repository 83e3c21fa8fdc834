// Certificates made at test time: a throwaway CA and a server certificate it signs, so TLS tests
// run with verification on (there is no switch to turn it off) without any file checked in.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace hookless {

// PEM text of a CA certificate, a leaf certificate signed by it, and the leaf's private key.
struct test_certs {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
};

// A fresh CA and a server certificate it signs, with these DNS names and IP addresses as
// subjectAltNames, valid from now+not_before to now+not_after (pass negative offsets for an expired
// certificate). EC P-256 keys, SHA-256 signatures. Throws std::runtime_error on any OpenSSL failure.
test_certs make_test_certs(const std::vector<std::string>& dns_names, const std::vector<std::string>& ip_addresses,
                           std::chrono::seconds not_before = -std::chrono::hours{1},
                           std::chrono::seconds not_after = std::chrono::hours{24});

// Writes text to path (created or truncated). Throws std::runtime_error when it cannot.
void write_text_file(const std::filesystem::path& path, std::string_view text);

}  // namespace hookless
