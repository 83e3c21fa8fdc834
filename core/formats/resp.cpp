// RESP2 writer and reader (see resp.hpp).
#include "core/formats/resp.hpp"

#include <charconv>
#include <optional>

namespace hookless {

std::string resp_command(const std::vector<std::string_view>& arguments) {
  std::string out = "*" + std::to_string(arguments.size()) + "\r\n";
  for (const auto argument : arguments) {
    out += "$" + std::to_string(argument.size()) + "\r\n";
    out += argument;
    out += "\r\n";
  }
  return out;
}

namespace {

constexpr int resp_depth_max = 8;
constexpr std::size_t resp_line_max = 4096;

// Reads RESP values from a byte span; `at` moves past what was read.
struct resp_reader {
  std::string_view bytes;
  std::size_t at = 0;
  std::size_t max_bulk;
  std::size_t max_elements;
  std::string problem;  // set when invalid
  bool short_ = false;  // ran out of bytes

  // The line at `at` without its CRLF, or nullopt (short_ or problem set).
  std::optional<std::string_view> line() {
    const auto end = bytes.find("\r\n", at);
    if (end == std::string_view::npos) {
      // A header line is short; a long one without CRLF is not Redis.
      if (bytes.size() - at > resp_line_max) problem = "a reply line longer than 4096 bytes without CRLF";
      short_ = problem.empty();
      return std::nullopt;
    }
    const auto text = bytes.substr(at, end - at);
    at = end + 2;
    return text;
  }

  std::optional<std::int64_t> number(std::string_view text) {
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
      problem = "not a number: \"" + std::string{text.substr(0, 32)} + "\"";
      return std::nullopt;
    }
    return value;
  }

  // One value; false when short_ or invalid.
  bool value(resp_reply& out, int depth) {
    if (at >= bytes.size()) {
      short_ = true;
      return false;
    }
    const char kind = bytes[at++];
    const auto header = line();
    if (!header) return false;
    switch (kind) {
      case '+': out = {.type = resp_type::simple, .text = std::string{*header}, .number = 0}; return true;
      case '-': out = {.type = resp_type::error, .text = std::string{*header}, .number = 0}; return true;
      case ':': {
        const auto n = number(*header);
        if (!n) return false;
        out = {.type = resp_type::integer, .text = {}, .number = *n};
        return true;
      }
      case '$': {
        const auto n = number(*header);
        if (!n) return false;
        if (*n == -1) {
          out = {.type = resp_type::null, .text = {}, .number = 0};
          return true;
        }
        if (*n < 0 || static_cast<std::uint64_t>(*n) > max_bulk) {
          problem = "a bulk string of " + std::to_string(*n) + " bytes";
          return false;
        }
        const auto size = static_cast<std::size_t>(*n);
        if (bytes.size() - at < size + 2) {
          short_ = true;
          return false;
        }
        if (bytes.substr(at + size, 2) != "\r\n") {
          problem = "a bulk string not followed by CRLF";
          return false;
        }
        out = {.type = resp_type::bulk, .text = std::string{bytes.substr(at, size)}, .number = 0};
        at += size + 2;
        return true;
      }
      case '*': {
        const auto n = number(*header);
        if (!n) return false;
        if (*n == -1) {
          out = {.type = resp_type::null, .text = {}, .number = 0};
          return true;
        }
        if (*n < 0 || static_cast<std::uint64_t>(*n) > max_elements) {
          problem = "an array of " + std::to_string(*n) + " elements";
          return false;
        }
        if (depth >= resp_depth_max) {
          problem = "arrays nested deeper than " + std::to_string(resp_depth_max);
          return false;
        }
        for (std::int64_t i = 0; i < *n; ++i) {
          resp_reply element;
          if (!value(element, depth + 1)) return false;
        }
        out = {.type = resp_type::array, .text = {}, .number = *n};
        return true;
      }
      default: problem = "unknown reply type byte " + std::to_string(static_cast<unsigned char>(kind)); return false;
    }
  }
};

}  // namespace

resp_parse_result parse_resp(std::string_view bytes, std::size_t max_bulk, std::size_t max_elements) {
  resp_reader reader{
      .bytes = bytes, .at = 0, .max_bulk = max_bulk, .max_elements = max_elements, .problem = {}, .short_ = false};
  resp_parse_result result;
  if (reader.value(result.reply, 0)) {
    result.state = resp_state::complete;
    result.length = reader.at;
    return result;
  }
  result.reply = {};
  if (!reader.problem.empty()) {
    result.state = resp_state::invalid;
    result.problem = std::move(reader.problem);
  }
  return result;
}

}  // namespace hookless
