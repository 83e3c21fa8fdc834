// HMAC-SHA256 through OpenSSL's one-shot HMAC(), hex by hand.
#include "core/delivery/webhook_signature.hpp"

#include "core/formats/base64.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <stdexcept>

namespace hookless {

namespace {

std::string hmac_sha256(std::string_view key, std::string_view message) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  const auto* done =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest.data(), &length);
  if (done == nullptr) throw std::runtime_error("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(digest.data()), length);
}

std::string to_lower_hex(std::string_view bytes) {
  constexpr std::string_view digits = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    hex += digits[byte >> 4];
    hex += digits[byte & 0x0f];
  }
  return hex;
}

}  // namespace

std::string extend_signature(std::string_view secret, std::int64_t timestamp, std::string_view body) {
  std::string message = "v0:" + std::to_string(timestamp) + ":";
  message.append(body);
  return to_lower_hex(hmac_sha256(secret, message));
}

std::string standard_webhooks_signature(std::string_view secret, std::string_view id, std::int64_t timestamp,
                                        std::string_view body) {
  constexpr std::string_view prefix = "whsec_";
  std::string key{secret};
  if (secret.starts_with(prefix)) {
    if (auto decoded = decode_base64(secret.substr(prefix.size())); decoded && !decoded->empty())
      key = std::move(*decoded);
  }
  std::string message{id};
  message += "." + std::to_string(timestamp) + ".";
  message.append(body);
  return "v1," + encode_base64(hmac_sha256(key, message));
}

std::vector<std::pair<std::string, std::string>> callback_headers(const callback_signing& signing,
                                                                  std::string_view event_id, std::int64_t timestamp,
                                                                  std::string_view body) {
  const auto seconds = std::to_string(timestamp);
  std::vector<std::pair<std::string, std::string>> headers{
      {"content-type", "application/json"},
      {"x-extend-request-timestamp", seconds},
      {"x-extend-request-signature", extend_signature(signing.secret, timestamp, body)},
      {"x-extend-api-version", signing.api_version},
      {"idempotency-key", std::string{event_id}},
      {"user-agent", signing.user_agent},
  };
  if (signing.standard_webhooks) {
    headers.emplace_back("webhook-id", std::string{event_id});
    headers.emplace_back("webhook-timestamp", seconds);
    headers.emplace_back("webhook-signature", standard_webhooks_signature(signing.secret, event_id, timestamp, body));
  }
  return headers;
}

}  // namespace hookless
