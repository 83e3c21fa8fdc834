// libFuzzer target: what the redis sink reads and parses. Byte 0 picks the subject: even, the RESP
// reply reader (core/formats/resp), which reads what a Redis server (or anything listening where
// one was expected) sends; odd, a redis sink's url (core/formats/redis_url). A reply must be
// complete with a length within the input (and stay complete, with the same length, when more bytes
// follow), incomplete, or invalid with a reason; a url is accepted only with what the sink needs to
// dial it and never with a password in it.
#include "core/formats/redis_url.hpp"
#include "core/formats/resp.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void fail_resp(const char* what, std::string_view input) {
  std::fprintf(stderr, "fuzz_resp: %s (input %.*s)\n", what, static_cast<int>(std::min<std::size_t>(input.size(), 300)),
               input.data());
  std::abort();
}

void check_reply(std::string_view bytes) {
  const auto parsed = hookless::parse_resp(bytes);
  switch (parsed.state) {
    case hookless::resp_state::complete: {
      if (parsed.length == 0 || parsed.length > bytes.size()) fail_resp("a complete reply's length is wrong", bytes);
      const auto again = hookless::parse_resp(std::string{bytes} + "+more\r\n");
      if (again.state != hookless::resp_state::complete || again.length != parsed.length)
        fail_resp("bytes after a complete reply changed it", bytes);
      break;
    }
    case hookless::resp_state::invalid:
      if (parsed.problem.empty()) fail_resp("invalid without a reason", bytes);
      break;
    case hookless::resp_state::incomplete: break;
  }
}

void check_url(std::string_view url) {
  const auto parsed = hookless::parse_redis_target(url);
  if (const auto* target = std::get_if<hookless::redis_target>(&parsed)) {
    (void)hookless::describe(*target);
    if (target->scheme == hookless::redis_scheme::unix_socket) {
      if (target->socket_path.empty() || target->socket_path.front() != '/') fail_resp("relative socket path", url);
    } else {
      const auto port = std::strtol(target->port.c_str(), nullptr, 10);
      if (target->host.empty() || port < 1 || port > 65535) fail_resp("no host or a bad port", url);
    }
  } else if (std::get<std::string>(parsed).empty()) {
    fail_resp("refused without a message", url);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest{reinterpret_cast<const char*>(data + 1), size - 1};
  if ((data[0] & 1) == 0) {
    check_reply(rest);
  } else {
    check_url(rest);
  }
  return 0;
}
