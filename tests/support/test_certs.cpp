// Makes a CA and a server certificate at test time with OpenSSL 3's EVP API (see test_certs.hpp).
#include "tests/support/test_certs.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace hookless {
namespace {

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct x509_free {
  void operator()(X509* p) const { X509_free(p); }
};
struct bio_free {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct bn_free {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct ext_free {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
struct asn1_int_free {
  void operator()(ASN1_INTEGER* p) const { ASN1_INTEGER_free(p); }
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string{"make_test_certs: "} + what + " failed");
}

pkey_ptr make_p256_key() {
  // EVP_EC_gen is a macro over this variadic call; spelled out to keep the types visible.
  pkey_ptr key{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")};
  check(key != nullptr, "EC P-256 key generation");
  return key;
}

void set_random_serial(X509* cert) {
  std::array<unsigned char, 16> bytes{};
  check(RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) == 1, "RAND_bytes");
  bytes[0] &= 0x7f;  // serial numbers must be positive
  bytes[0] |= 0x01;  // and non-zero
  std::unique_ptr<BIGNUM, bn_free> bn{BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr)};
  check(bn != nullptr, "BN_bin2bn");
  std::unique_ptr<ASN1_INTEGER, asn1_int_free> serial{BN_to_ASN1_INTEGER(bn.get(), nullptr)};
  check(serial != nullptr, "BN_to_ASN1_INTEGER");
  check(X509_set_serialNumber(cert, serial.get()) == 1, "X509_set_serialNumber");
}

void set_validity(X509* cert, std::chrono::seconds not_before, std::chrono::seconds not_after) {
  check(X509_gmtime_adj(X509_getm_notBefore(cert), static_cast<long>(not_before.count())) != nullptr, "notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(not_after.count())) != nullptr, "notAfter");
}

void set_common_name(X509* cert, const std::string& cn) {
  X509_NAME* name = X509_get_subject_name(cert);
  check(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("hookless tests"),
                                   -1, -1, 0) == 1,
        "subject O");
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                   0) == 1,
        "subject CN");
}

// Adds one extension written in openssl.cnf syntax; issuer == cert for the self-signed CA.
void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ext_free> ext{X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str())};
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  check(X509_add_ext(cert, ext.get(), -1) == 1, "X509_add_ext");
}

x509_ptr new_cert(EVP_PKEY* key, std::chrono::seconds not_before, std::chrono::seconds not_after) {
  x509_ptr cert{X509_new()};
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");
  set_random_serial(cert.get());
  set_validity(cert.get(), not_before, not_after);
  check(X509_set_pubkey(cert.get(), key) == 1, "X509_set_pubkey");
  return cert;
}

std::string read_bio(BIO* bio) {
  std::string text(BIO_ctrl_pending(bio), '\0');
  if (text.empty()) return text;
  check(BIO_read(bio, text.data(), static_cast<int>(text.size())) == static_cast<int>(text.size()), "BIO_read");
  return text;
}

std::string cert_to_pem(X509* cert) {
  std::unique_ptr<BIO, bio_free> bio{BIO_new(BIO_s_mem())};
  check(bio != nullptr, "BIO_new");
  check(PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  return read_bio(bio.get());
}

std::string key_to_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, bio_free> bio{BIO_new(BIO_s_mem())};
  check(bio != nullptr, "BIO_new");
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  return read_bio(bio.get());
}

}  // namespace

test_certs make_test_certs(const std::vector<std::string>& dns_names, const std::vector<std::string>& ip_addresses,
                           std::chrono::seconds not_before, std::chrono::seconds not_after) {
  // The CA outlives the leaf on both sides, so an "expired" leaf fails for its own dates only.
  const auto ca_from = std::min(not_before, std::chrono::seconds{0}) - std::chrono::hours{1};
  const auto ca_until = std::max(not_after, std::chrono::seconds{std::chrono::hours{24}}) + std::chrono::hours{1};

  const pkey_ptr ca_key = make_p256_key();
  const x509_ptr ca = new_cert(ca_key.get(), ca_from, ca_until);
  set_common_name(ca.get(), "hookless test CA");
  check(X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get())) == 1, "CA issuer name");
  add_extension(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
  add_extension(ca.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  check(X509_sign(ca.get(), ca_key.get(), EVP_sha256()) > 0, "signing the CA");

  const pkey_ptr leaf_key = make_p256_key();
  const x509_ptr leaf = new_cert(leaf_key.get(), not_before, not_after);
  set_common_name(leaf.get(), dns_names.empty() ? std::string{"hookless test server"} : dns_names.front());
  check(X509_set_issuer_name(leaf.get(), X509_get_subject_name(ca.get())) == 1, "leaf issuer name");
  add_extension(leaf.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(leaf.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
  add_extension(leaf.get(), ca.get(), NID_ext_key_usage, "serverAuth");
  add_extension(leaf.get(), ca.get(), NID_subject_key_identifier, "hash");
  add_extension(leaf.get(), ca.get(), NID_authority_key_identifier, "keyid");
  std::string alt_names;
  for (const auto& dns : dns_names) alt_names += (alt_names.empty() ? "" : ",") + std::string{"DNS:"} + dns;
  for (const auto& ip : ip_addresses) alt_names += (alt_names.empty() ? "" : ",") + std::string{"IP:"} + ip;
  if (!alt_names.empty()) add_extension(leaf.get(), ca.get(), NID_subject_alt_name, alt_names);
  check(X509_sign(leaf.get(), ca_key.get(), EVP_sha256()) > 0, "signing the leaf");

  return test_certs{cert_to_pem(ca.get()), cert_to_pem(leaf.get()), key_to_pem(leaf_key.get())};
}

void write_text_file(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  if (!out) throw std::runtime_error("write_text_file: cannot open " + path.string());
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) throw std::runtime_error("write_text_file: cannot write " + path.string());
}

}  // namespace hookless
