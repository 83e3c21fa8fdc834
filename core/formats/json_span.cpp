// A minimal scanner over already-validated JSON: it only needs to skip strings and nesting.
#include "core/formats/json_span.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace hookless {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_space(std::string_view s, std::size_t i) {
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

// Returns the index just past the string starting at s[i] == '"'.
std::size_t skip_string(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return s.size();
}

// Returns the index just past the value starting at s[i].
std::size_t skip_value(std::string_view s, std::size_t i) {
  if (s[i] == '"') return skip_string(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = skip_string(s, i);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return s.size();
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_space(s[i])) ++i;
  return i;
}

}  // namespace

std::string_view trim_json(std::string_view json) {
  const auto first = skip_space(json, 0);
  auto last = json.size();
  while (last > first && is_space(json[last - 1])) --last;
  return json.substr(first, last - first);
}

std::optional<std::string_view> find_member_text(std::string_view json, std::string_view key) {
  auto i = skip_space(json, 0);
  if (i >= json.size() || json[i] != '{') return std::nullopt;
  i = skip_space(json, i + 1);
  while (i < json.size() && json[i] == '"') {
    const auto key_end = skip_string(json, i);
    // Keys with escapes are compared by their decoded value.
    const auto raw_key = json.substr(i, key_end - i);
    const bool match = raw_key.find('\\') == std::string_view::npos ? raw_key.substr(1, raw_key.size() - 2) == key
                                                                    : boost::json::parse(raw_key).as_string() == key;
    i = skip_space(json, key_end);
    if (i >= json.size() || json[i] != ':') return std::nullopt;
    i = skip_space(json, i + 1);
    if (i >= json.size()) return std::nullopt;
    const auto value_end = skip_value(json, i);
    if (match) return json.substr(i, value_end - i);
    i = skip_space(json, value_end);
    if (i < json.size() && json[i] == ',') i = skip_space(json, i + 1);
  }
  return std::nullopt;
}

}  // namespace hookless
