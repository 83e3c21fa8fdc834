// RESP2, the Redis protocol, as far as the redis sink needs it: a command written as an array of
// bulk strings, and one reply read back (simple string, error, integer, bulk string, null, or an
// array, whose elements are checked and skipped). Pure, no I/O: the sink feeds it the bytes it has.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hookless {

// *N\r\n then $len\r\narg\r\n for each argument: binary-safe, what Redis reads from any client.
std::string resp_command(const std::vector<std::string_view>& arguments);

enum class resp_type { simple, error, integer, bulk, null, array };

struct resp_reply {
  resp_type type = resp_type::null;
  std::string text;         // simple, error, bulk: the string (error: "ERR ..." as Redis wrote it)
  std::int64_t number = 0;  // integer: the value; array: the element count
};

enum class resp_state { complete, incomplete, invalid };

struct resp_parse_result {
  resp_state state = resp_state::incomplete;
  std::size_t length = 0;  // complete: the bytes the reply took
  resp_reply reply;        // complete: the reply
  std::string problem;     // invalid: what is wrong
};

// The reply at the start of `bytes`: complete (with its length; bytes after it are the next
// reply's), incomplete (read more and call again), or invalid (the connection is unusable). A bulk
// string longer than `max_bulk`, more than `max_elements` array elements or arrays nested deeper
// than 8 are invalid: the sink's replies are a few bytes.
resp_parse_result parse_resp(std::string_view bytes, std::size_t max_bulk = 1 << 20, std::size_t max_elements = 1024);

}  // namespace hookless
