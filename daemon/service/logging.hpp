// hooklessd's logs: stderr (journald and container runtimes collect it), one line per event, as
// text or as JSON objects. Messages name what they are about as key=value words
// ("run_id=exr_1 event_id=event_..."); in JSON those also become fields of the object.
// When stderr is journald's stream ($JOURNAL_STREAM names it) each line starts with its syslog
// priority (`<4>` ...) and carries no time: journald stamps every line itself.
#pragma once

#include "core/model/settings.hpp"

#include <sys/types.h>

#include <spdlog/formatter.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hookless {

// True when `level` is one of trace, debug, info, warn, error.
bool is_log_level(const std::string& level);

// The formatter of every log line: `text` is "TIME LEVEL MESSAGE", `json` an object with time,
// level, message and the message's key=value fields. For journald (`journal`) the line starts with
// its syslog priority, <3> error and critical, <4> warn, <6> info, <7> debug and trace, and has no
// time.
std::unique_ptr<spdlog::formatter> make_log_formatter(log_format format, bool journal);

// Sets the default logger up; `level_override` (--log-level) wins over the config. May be called
// again (on reload) to change the level or the format.
void configure_logging(const logging_config& logging, const std::optional<std::string>& level_override);

// True when $JOURNAL_STREAM ("DEVICE:INODE", as systemd sets it) names the file stderr is open on:
// stderr goes to journald, not merely inherited from a process that logged there.
bool stderr_is_journal();

// True when `journal_stream` (the value of $JOURNAL_STREAM) is "DEVICE:INODE" in decimal and names
// the file with that device and inode.
bool journal_stream_names(std::string_view journal_stream, dev_t device, ino_t inode);

// "<3>" when stderr is journald's stream, else "": the prefix of an error line written to stderr
// before (or without) the logger, so journald files it as an error too.
std::string journal_error_prefix();

// The key=value words of a log message, in order: a key is [a-z][a-z0-9_]* at the start or after
// a space; the value runs to the next space, without a trailing , ; or : (the prose's punctuation).
// Keys the JSON line itself uses (time, level, message) are left out.
std::vector<std::pair<std::string, std::string>> message_fields(std::string_view message);

}  // namespace hookless
