// libFuzzer target: the http sink's URL parser (core/formats/sink_target), which the config loader
// calls for every sink's url: what it accepts must be something the sink can dial (an absolute
// request target, a port in range, a remote or https target only with allow_remote), and what it
// refuses it says why.
#include "core/formats/sink_target.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void fail(const char* what, std::string_view url) {
  std::fprintf(stderr, "fuzz_sink_target: %s (url %.*s)\n", what,
               static_cast<int>(std::min<std::size_t>(url.size(), 300)), url.data());
  std::abort();
}

// Host names compare without regard to case ("LOCALHOST" is localhost).
bool is_loopback(std::string_view host) {
  std::string lower{host};
  for (auto& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  if (lower == "localhost" || lower.starts_with("127.")) return true;
  // IPv6 loopback has many spellings ("::1", "0::0:1"): compare the address, not the text.
  in6_addr address{};
  return ::inet_pton(AF_INET6, lower.c_str(), &address) == 1 &&
         std::memcmp(&address, &in6addr_loopback, sizeof address) == 0;
}

}  // namespace

// Input layout: byte 0 bit 0 is allow_remote; the rest is the url.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool allow_remote = (data[0] & 1) != 0;
  const std::string_view url{reinterpret_cast<const char*>(data + 1), size - 1};
  const auto parsed = hookless::parse_sink_target(url, allow_remote);
  const auto* target = std::get_if<hookless::sink_target>(&parsed);
  if (target != nullptr) {
    (void)hookless::describe(*target);
    if (!target->target.starts_with('/')) fail("request target does not start with /", url);
    if (target->scheme == hookless::target_scheme::unix_socket) {
      if (target->socket_path.empty() || target->socket_path.front() != '/')
        fail("unix socket path is not absolute", url);
    } else {
      if (target->host.empty() || target->port.empty()) fail("http target without host or port", url);
      const auto port = std::strtol(target->port.c_str(), nullptr, 10);
      if (port < 1 || port > 65535 || target->port.find_first_not_of("0123456789") != std::string::npos) {
        fail("port out of range", url);
      }
      if (!allow_remote && (target->scheme != hookless::target_scheme::http || !is_loopback(target->host))) {
        fail("a remote or https target accepted without allow_remote", url);
      }
    }
  } else if (std::get<std::string>(parsed).empty()) {
    fail("refused without a message", url);
  }
  return 0;
}
