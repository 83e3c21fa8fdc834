// Finds the Extend API key: the configured file, a systemd credential, or the environment.
// The key's value never appears in any message this produces: errors name the file only.
#include "config/api_key.hpp"

#include "core/formats/trim.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace hookless {
namespace {

// API keys are tens of bytes; a larger file is the wrong file.
constexpr std::size_t max_key_bytes = 64 * 1024;

// The key goes into an Authorization header: a space, CR, LF or any byte outside printable ASCII
// would break the header or inject another one, so such a key is refused rather than sent.
bool is_header_safe(std::string_view key) {
  return std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// The outcome of reading a key file: its contents, or errno / a reason.
struct file_read {
  std::string text;
  int error = 0;  // errno from open or read, 0 when fine
  bool too_large = false;
};

file_read read_key_file(const std::string& path) {
  file_read out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    out.error = errno;
    return out;
  }
  std::array<char, 4096> buffer{};
  while (true) {
    const auto got = ::read(fd, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      out.error = errno;
      break;
    }
    if (got == 0) break;
    out.text.append(buffer.data(), static_cast<std::size_t>(got));
    if (out.text.size() > max_key_bytes) {
      out.too_large = true;
      break;
    }
  }
  ::close(fd);
  // Do not keep a partial or oversized secret around longer than needed.
  if (out.error != 0 || out.too_large) out.text.clear();
  return out;
}

// Turns a read file into a result; `what` names the source in messages.
api_key_result key_from_file(const std::string& path, const std::string& what) {
  api_key_result result;
  result.source = path + " (" + what + ")";
  const auto file = read_key_file(path);
  if (file.error != 0) {
    result.error = "cannot read the Extend API key from " + path + " (" + what + "): " + std::strerror(file.error);
    return result;
  }
  if (file.too_large) {
    result.error = "the Extend API key file " + path + " (" + what + ") is larger than " +
                   std::to_string(max_key_bytes) + " bytes; is it the right file?";
    return result;
  }
  const auto key = trim(file.text);
  if (key.empty()) {
    result.error = "the Extend API key file " + path + " (" + what + ") is empty";
  } else if (!is_header_safe(key)) {
    result.error = "the Extend API key in " + path + " (" + what +
                   ") contains spaces, line breaks or other characters an API key cannot have";
  } else {
    result.key = std::string{key};
  }
  return result;
}

}  // namespace

api_key_result resolve_api_key(const extend_config& extend,
                               const std::function<std::optional<std::string>(const char*)>& getenv) {
  if (extend.api_key_file) return key_from_file(*extend.api_key_file, "extend.api_key_file");

  if (const auto directory = getenv("CREDENTIALS_DIRECTORY"); directory && !directory->empty()) {
    const auto path = *directory + "/extend-api-key";
    // systemd sets CREDENTIALS_DIRECTORY for any credential: without ours, look further.
    if (::access(path.c_str(), F_OK) == 0 || errno != ENOENT) {
      return key_from_file(path, "$CREDENTIALS_DIRECTORY/extend-api-key");
    }
  }

  if (const auto value = getenv("EXTEND_API_KEY")) {
    const auto key = trim(*value);
    api_key_result result;
    result.source = "$EXTEND_API_KEY";
    if (key.empty()) return {};  // exported but empty: as if unset
    if (!is_header_safe(key)) {
      result.error = "$EXTEND_API_KEY contains spaces, line breaks or other characters an API key cannot have";
    } else {
      result.key = std::string{key};
    }
    return result;
  }
  return {};
}

}  // namespace hookless
