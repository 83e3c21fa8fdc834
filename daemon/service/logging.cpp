// spdlog on stderr, with a JSON formatter that escapes the message properly and lifts its
// key=value words into fields, so log collectors can filter on run_id and event_id, and under
// journald the syslog priority in front of each line (sd-daemon(3)).
#include "daemon/service/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace hookless {

namespace {

bool is_key_start(char c) { return c >= 'a' && c <= 'z'; }
bool is_key_char(char c) { return is_key_start(c) || (c >= '0' && c <= '9') || c == '_'; }

// %* in a pattern: the message as a JSON string, quotes included, then `,"key":"value"` for each
// key=value word in it.
class json_message_flag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string_view message{msg.payload.data(), msg.payload.size()};
    append(dest, boost::json::serialize(boost::json::value(message)));
    for (const auto& [key, value] : message_fields(message)) {
      append(dest, ",\"" + key + "\":");
      append(dest, boost::json::serialize(boost::json::value(value)));
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<json_message_flag>(); }

 private:
  static void append(spdlog::memory_buf_t& dest, const std::string& text) {
    dest.append(text.data(), text.data() + text.size());
  }
};

// %~ in a pattern: the line's syslog priority as sd-daemon(3) prefixes it, for journald.
class journal_priority_flag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string_view prefix = "<6>";
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: prefix = "<7>"; break;
      case spdlog::level::warn: prefix = "<4>"; break;
      case spdlog::level::err:
      case spdlog::level::critical: prefix = "<3>"; break;
      default: break;
    }
    dest.append(prefix.data(), prefix.data() + prefix.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<journal_priority_flag>(); }
};

// The unsigned decimal number that is all of `text`.
std::optional<unsigned long long> journal_stream_number(std::string_view text) {
  unsigned long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

bool journal_stream_names(std::string_view journal_stream, dev_t device, ino_t inode) {
  const auto colon = journal_stream.find(':');
  if (colon == std::string_view::npos) return false;
  const auto dev = journal_stream_number(journal_stream.substr(0, colon));
  const auto ino = journal_stream_number(journal_stream.substr(colon + 1));
  return dev && ino && *dev == static_cast<unsigned long long>(device) &&
         *ino == static_cast<unsigned long long>(inode);
}

bool stderr_is_journal() {
  const char* value = std::getenv("JOURNAL_STREAM");
  struct stat status {};
  if (value == nullptr || ::fstat(STDERR_FILENO, &status) != 0) return false;
  return journal_stream_names(value, status.st_dev, status.st_ino);
}

std::string journal_error_prefix() { return stderr_is_journal() ? "<3>" : ""; }

bool is_log_level(const std::string& level) {
  return level == "trace" || level == "debug" || level == "info" || level == "warn" || level == "error";
}

std::vector<std::pair<std::string, std::string>> message_fields(std::string_view message) {
  std::vector<std::pair<std::string, std::string>> fields;
  std::size_t i = 0;
  while (i < message.size()) {
    const bool word_start = i == 0 || message[i - 1] == ' ';
    if (!word_start || !is_key_start(message[i])) {
      ++i;
      continue;
    }
    std::size_t key_end = i;
    while (key_end < message.size() && is_key_char(message[key_end])) ++key_end;
    if (key_end >= message.size() || message[key_end] != '=') {
      i = key_end;
      continue;
    }
    std::size_t value_end = key_end + 1;
    while (value_end < message.size() && message[value_end] != ' ') ++value_end;
    std::string_view value = message.substr(key_end + 1, value_end - key_end - 1);
    while (!value.empty() && (value.back() == ',' || value.back() == ';' || value.back() == ':'))
      value.remove_suffix(1);
    const auto key = message.substr(i, key_end - i);
    const bool reserved = key == "time" || key == "level" || key == "message";
    const bool seen = std::ranges::any_of(fields, [&](const auto& f) { return f.first == key; });
    if (!value.empty() && !reserved && !seen) fields.emplace_back(std::string{key}, std::string{value});
    i = value_end;
  }
  return fields;
}

std::unique_ptr<spdlog::formatter> make_log_formatter(log_format format, bool journal) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<json_message_flag>('*');
  formatter->add_flag<journal_priority_flag>('~');
  if (format == log_format::json) {
    formatter->set_pattern(journal ? R"(%~{"level":"%l","message":%*})"
                                   : R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","message":%*})");
  } else {
    formatter->set_pattern(journal ? "%~%l %v" : "%Y-%m-%dT%H:%M:%S.%eZ %l %v");
  }
  return formatter;
}

void configure_logging(const logging_config& logging, const std::optional<std::string>& level_override) {
  // Built directly (not through spdlog's registry), so a reload can replace it under the same name.
  auto logger = std::make_shared<spdlog::logger>("hooklessd", std::make_shared<spdlog::sinks::stderr_sink_st>());
  logger->set_formatter(make_log_formatter(logging.format, stderr_is_journal()));
  logger->set_level(spdlog::level::from_str(level_override.value_or(logging.level)));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace hookless
