// extend.base_url: where Extend's API is, https://host[:port][/path].
#pragma once

#include <string>
#include <string_view>
#include <variant>

namespace hookless {

struct https_origin {
  std::string url;        // as written, trailing slashes trimmed: "https://api.extend.ai"
  std::string host;       // name or IP literal (IPv6 without brackets)
  std::string port;       // "443" when the URL gives none
  std::string base_path;  // what every request path is appended to: "" or "/prefix", no trailing '/'

  bool operator==(const https_origin&) const = default;
};

// The origin, or what is wrong with the URL (shown without credentials): it must be https:// with a
// host, and has no user:password@, ?query or #fragment.
std::variant<https_origin, std::string> parse_base_url(std::string_view text);

}  // namespace hookless
