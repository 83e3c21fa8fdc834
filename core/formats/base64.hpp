// Standard base64 (RFC 4648 §4, with padding), through OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hookless {

std::string encode_base64(std::string_view bytes);

// Accepts padded or unpadded input; nullopt for anything that is not base64 (whitespace included).
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace hookless
