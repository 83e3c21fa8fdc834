// spdlog on stderr, with a JSON formatter that escapes the message properly.
#include "daemon/logging.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace hookless {

namespace {

// %* in a pattern: the message as a JSON string, quotes included.
class json_message_flag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const auto text = boost::json::serialize(boost::json::value(std::string_view{msg.payload.data(), msg.payload.size()}));
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<json_message_flag>(); }
};

}  // namespace

bool is_log_level(const std::string& level) {
  return level == "trace" || level == "debug" || level == "info" || level == "warn" || level == "error";
}

void configure_logging(const logging_config& logging, const std::optional<std::string>& level_override) {
  auto logger = spdlog::stderr_logger_st("hooklessd");
  if (logging.format == log_format::json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<json_message_flag>('*').set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","message":%*})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(level_override.value_or(logging.level)));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace hookless
