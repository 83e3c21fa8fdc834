// The exec sink: runs a command once per event, with no shell, the envelope on its stdin and the
// event's IDs in its environment. Exit 0 is delivered; a non-zero exit, a signal or the timeout is
// a failure the delivery queue retries (like an http failure) until max_age. What a command's end
// means, the environment it gets and its bounded output are plain functions; the process handling
// (posix_spawn, a pidfd watched on the event loop) is in exec_sink.cpp.
#pragma once

#include "core/delivery/delivery_queue.hpp"
#include "core/delivery/sink.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookless {

struct exec_sink_options {
  std::string sink_name;                        // for the log lines
  std::vector<std::string> command;             // argv; command[0] an absolute path, run without PATH search
  std::chrono::milliseconds timeout{30'000};    // from the start to the exit; then SIGTERM to its process group
  std::chrono::milliseconds kill_grace{5'000};  // after SIGTERM, SIGKILL to the group if it still runs
  std::size_t output_limit = 4096;              // bytes of stdout and of stderr kept (each) for the log
  delivery_limits limits{.max_in_flight = 4, .max_age = std::chrono::milliseconds{3LL * 24 * 3600 * 1000}};
};

// Each delivery starts the command in a process group of its own, with a minimal environment
// (exec_environment), the envelope on stdin (a pipe, closed after it), stdout and stderr on pipes
// read on the event loop, and every other descriptor of the daemon closed. At most
// limits.max_in_flight commands run at once (the queue's limit). Destroying the sink kills the
// process groups of the commands still running (SIGKILL); their deliveries stay undone.
std::unique_ptr<sink> make_exec_sink(boost::asio::any_io_executor executor, exec_sink_options options);

// The names of the daemon's environment variables a command inherits when they are set.
inline constexpr std::string_view exec_inherited_variables[] = {"PATH", "HOME", "LANG", "LC_ALL", "TZ"};
// The PATH a command gets when the daemon has none.
inline constexpr std::string_view exec_default_path = "/usr/local/bin:/usr/bin:/bin";

// The environment ("NAME=value" entries) of the command run for `job`: the inherited variables
// `lookup` finds (nullptr: unset), PATH defaulted, then HOOKLESS_EVENT_ID, HOOKLESS_EVENT_TYPE and
// HOOKLESS_RUN_ID. Nothing else of the daemon's environment (no EXTEND_API_KEY, no NOTIFY_SOCKET).
std::vector<std::string> exec_environment(const delivery_job& job,
                                          const std::function<const char*(const char*)>& lookup);

// The first `limit` bytes of a stream, and its last few (tail_keep), however long it runs.
class bounded_output {
 public:
  static constexpr std::size_t tail_keep = 512;

  explicit bounded_output(std::size_t limit) : limit_(limit) {}
  void append(std::string_view bytes);
  const std::string& head() const { return head_; }
  // Up to the last `n` bytes seen (n at most tail_keep).
  std::string_view tail(std::size_t n) const;
  std::uint64_t total() const { return total_; }
  bool cut() const { return total_ > head_.size(); }

 private:
  std::size_t limit_;
  std::string head_;
  std::string tail_;
  std::uint64_t total_ = 0;
};

// Output as one log-friendly line: a trailing line end dropped, line ends as "\n", other control
// bytes as '?', and " ... (N bytes)" when the capture was cut.
std::string printable_output(const bounded_output& output);

// How a command ended: its wait status (waitpid), and whether it was stopped for its timeout
// (then with the signal that was last sent, SIGTERM or SIGKILL).
struct command_end {
  int wait_status = 0;
  bool timed_out = false;
  int kill_signal = 0;
};

// What a command's end means for the delivery: exit 0 (not timed out) is delivered; otherwise the
// reason ("exit status 3", "killed by signal SIGSEGV", "timeout after 1000ms (stopped with
// SIGTERM)"), followed by the tail of its stderr when it wrote any.
delivery_result judge_command_end(const command_end& end, std::chrono::milliseconds timeout,
                                  const bounded_output& error_output);

}  // namespace hookless
