// Base64 through OpenSSL: the input is checked here first, because EVP_DecodeBlock skips
// surrounding whitespace and wants padding that callers may leave out.
#include "core/formats/base64.hpp"

#include <openssl/evp.h>

namespace hookless {

std::string encode_base64(std::string_view bytes) {
  std::string text((bytes.size() + 2) / 3 * 4 + 1, '\0');  // EVP_EncodeBlock writes a NUL after the text
  const int length =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  text.resize(static_cast<std::size_t>(length));
  return text;
}

std::optional<std::string> decode_base64(std::string_view text) {
  constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1 || text.find_first_not_of(alphabet) != std::string_view::npos) return std::nullopt;
  const std::size_t padding = (4 - text.size() % 4) % 4;
  std::string padded{text};
  padded.append(padding, '=');
  std::string bytes(padded.size() / 4 * 3, '\0');
  const int length =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                      reinterpret_cast<const unsigned char*>(padded.data()), static_cast<int>(padded.size()));
  if (length < 0) return std::nullopt;
  // EVP_DecodeBlock counts the zero bytes the padding stands for.
  bytes.resize(static_cast<std::size_t>(length) - padding);
  return bytes;
}

}  // namespace hookless
