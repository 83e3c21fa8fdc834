// The exec sink's processes. A command is started with posix_spawn (glibc's clone(CLONE_VFORK):
// no copy of the daemon's page tables, and a program that cannot be run is an error returned at
// once) in a process group of its own, with every descriptor but its three pipes closed
// (closefrom), its signal mask empty and its signals at their defaults. Its end is watched through
// a pidfd on the event loop, so the daemon needs no SIGCHLD handler and can never reap or signal
// another process that reused its pid: the pid stays a zombie, and so reserved, until the pidfd
// says it ended and it is reaped (kernels without pidfd_open are polled with waitid(WNOWAIT)).
#include "core/delivery/exec_sink.hpp"

#include "core/delivery/shared_state_sink.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
// glibc 2.36's sys/pidfd.h forgets the extern "C" its other headers have.
extern "C" {
#include <sys/pidfd.h>
}
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <utility>

namespace hookless {

namespace asio = boost::asio;
using std::chrono::milliseconds;

std::vector<std::string> exec_environment(const delivery_job& job,
                                          const std::function<const char*(const char*)>& lookup) {
  std::vector<std::string> env;
  for (const auto name : exec_inherited_variables) {
    const std::string key{name};
    const char* value = lookup(key.c_str());
    if (value != nullptr) {
      env.push_back(key + "=" + value);
    } else if (name == "PATH") {
      env.push_back(key + "=" + std::string{exec_default_path});
    }
  }
  env.push_back("HOOKLESS_EVENT_ID=" + job.record.event_id);
  env.push_back("HOOKLESS_EVENT_TYPE=" + job.event_type);
  env.push_back("HOOKLESS_RUN_ID=" + job.record.run_id);
  return env;
}

void bounded_output::append(std::string_view bytes) {
  total_ += bytes.size();
  if (head_.size() < limit_) head_.append(bytes.substr(0, limit_ - head_.size()));
  tail_.append(bytes.size() > tail_keep ? bytes.substr(bytes.size() - tail_keep) : bytes);
  if (tail_.size() > 2 * tail_keep) tail_.erase(0, tail_.size() - tail_keep);
}

std::string_view bounded_output::tail(std::size_t n) const {
  const std::string_view all{tail_};
  n = std::min({n, tail_keep, all.size()});
  return all.substr(all.size() - n);
}

namespace {

std::string exec_printable_text(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += ' ';
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += '?';
    } else {
      out += c;
    }
  }
  return out;
}

std::string exec_signal_name(int signo) {
  if (const char* abbrev = ::sigabbrev_np(signo)) return std::string{"SIG"} + abbrev;
  return "signal " + std::to_string(signo);
}

}  // namespace

std::string printable_output(const bounded_output& output) {
  auto text = exec_printable_text(output.head());
  if (output.cut()) text += fmt::format(" ... ({} bytes in all)", output.total());
  return text;
}

delivery_result judge_command_end(const command_end& end, milliseconds timeout, const bounded_output& error_output) {
  const bool exited = WIFEXITED(end.wait_status);
  if (!end.timed_out && exited && WEXITSTATUS(end.wait_status) == 0) {
    return delivery_result{.delivered = true, .error = {}, .retry_after = std::nullopt};
  }
  std::string reason;
  if (end.timed_out) {
    reason = fmt::format("timeout after {}ms (stopped with {})", timeout.count(), exec_signal_name(end.kill_signal));
  } else if (exited) {
    reason = fmt::format("exit status {}", WEXITSTATUS(end.wait_status));
  } else if (WIFSIGNALED(end.wait_status)) {
    reason = "killed by " + exec_signal_name(WTERMSIG(end.wait_status));
  } else {
    reason = fmt::format("ended with wait status {}", end.wait_status);
  }
  constexpr std::size_t shown = 200;
  const auto tail = exec_printable_text(error_output.tail(shown));
  if (!tail.empty()) reason += std::string{"; stderr: "} + (error_output.total() > shown ? "..." : "") + tail;
  return delivery_result{.delivered = false, .error = std::move(reason), .retry_after = std::nullopt};
}

namespace {

// A pipe whose ends are closed unless taken.
struct exec_pipe {
  int read_end = -1;
  int write_end = -1;
  int error = 0;

  exec_pipe() {
    std::array<int, 2> fds{};
    if (::pipe2(fds.data(), O_CLOEXEC) == 0) {
      read_end = fds[0];
      write_end = fds[1];
    } else {
      error = errno;
    }
  }
  ~exec_pipe() {
    if (read_end >= 0) ::close(read_end);
    if (write_end >= 0) ::close(write_end);
  }
  exec_pipe(const exec_pipe&) = delete;
  exec_pipe& operator=(const exec_pipe&) = delete;
};

// One run of the command: its pipes, its pidfd and its timers, shared by the coroutines that feed
// and read it and the deadline's handlers.
struct exec_process {
  exec_process(const asio::any_io_executor& executor, std::size_t output_limit)
      : input(executor),
        output(executor),
        errors(executor),
        exited(executor),
        deadline(executor),
        drained(executor),
        out(output_limit),
        err(output_limit) {}

  pid_t pid = -1;
  asio::posix::stream_descriptor input;   // the command's stdin
  asio::posix::stream_descriptor output;  // its stdout
  asio::posix::stream_descriptor errors;  // its stderr
  asio::posix::stream_descriptor exited;  // its pidfd: readable once it ended (not open: polled)
  asio::steady_timer deadline;            // the timeout, then the grace before SIGKILL
  asio::steady_timer drained;             // cancelled when both outputs reached their end
  bounded_output out;
  bounded_output err;
  int open_outputs = 2;
  bool reaped = false;
  command_end end;
};

// Logs what a helper coroutine of a run threw (it has no one else to tell).
auto exec_task_done(std::string what) {
  return [what = std::move(what)](std::exception_ptr failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      spdlog::error("exec sink: {} failed: {}", what, e.what());
    }
  };
}

// Writes the envelope to the command's stdin and closes it. A command that exits without reading
// it all ends the write with EPIPE (hooklessd ignores SIGPIPE); its exit status decides.
awaitable<void> exec_feed(std::shared_ptr<exec_process> process, std::string body) {
  co_await asio::async_write(process->input, asio::buffer(body), asio::as_tuple(asio::use_awaitable));
  boost::system::error_code ignored;
  process->input.close(ignored);
}

// Reads one output stream to its end (or until it is closed), keeping its bounded capture.
awaitable<void> exec_collect(std::shared_ptr<exec_process> process, asio::posix::stream_descriptor& from,
                             bounded_output& into) {
  std::array<char, 4096> buffer{};
  for (;;) {
    const auto [ec, n] = co_await from.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
    into.append(std::string_view{buffer.data(), n});
    if (ec) break;
  }
  if (--process->open_outputs == 0) process->drained.cancel();
}

// The timeout: SIGTERM to the command's process group, then SIGKILL after the grace. The pid
// cannot have been reused while these run: it is reaped only after `reaped` is set and the timer
// cancelled.
void exec_arm_deadline(const std::shared_ptr<exec_process>& process, milliseconds timeout, milliseconds grace) {
  process->deadline.expires_after(timeout);
  process->deadline.async_wait([process, grace](const boost::system::error_code& ec) {
    if (ec || process->reaped) return;
    process->end.timed_out = true;
    process->end.kill_signal = SIGTERM;
    ::kill(-process->pid, SIGTERM);
    process->deadline.expires_after(grace);
    process->deadline.async_wait([process](const boost::system::error_code& later) {
      if (later || process->reaped) return;
      process->end.kill_signal = SIGKILL;
      ::kill(-process->pid, SIGKILL);
    });
  });
}

// True once the command has ended (or cannot be waited for), without reaping it.
bool exec_has_ended(pid_t pid) {
  for (;;) {
    siginfo_t info{};
    const int got = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if (got == 0) return info.si_pid == pid;
    if (errno != EINTR) return true;  // (ECHILD: nothing to wait for; waitpid says so too)
  }
}

// Returns once the command has ended, without reaping it (so its pid stays reserved). Asio waits
// on a descriptor edge-triggered and only for a change after the wait began, so the end is looked
// for before each wait; nothing runs in between that could take the change.
awaitable<void> exec_wait_for_end(exec_process& process) {
  asio::steady_timer tick{process.deadline.get_executor()};
  while (!exec_has_ended(process.pid)) {
    if (process.exited.is_open()) {
      const auto [failed] = co_await process.exited.async_wait(asio::posix::descriptor_base::wait_read,
                                                               asio::as_tuple(asio::use_awaitable));
      boost::system::error_code ignored;
      if (failed) process.exited.close(ignored);  // polled from now on
    } else {
      tick.expires_after(milliseconds{20});  // no pidfd (a kernel before 5.3): looked at 50 times a second
      co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
}

// Starts the command; "" or why it could not be started.
std::string exec_start(exec_process& process, const std::vector<std::string>& command,
                       const std::vector<std::string>& environment) {
  exec_pipe in;
  exec_pipe out;
  exec_pipe err;
  for (const auto* made : {&in, &out, &err}) {
    if (made->error != 0)
      return fmt::format("cannot make a pipe for {}: {}", command.front(), std::strerror(made->error));
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attributes);
  ::posix_spawn_file_actions_adddup2(&actions, in.read_end, STDIN_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, out.write_end, STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, err.write_end, STDERR_FILENO);
  // Whatever the daemon holds (sockets, the state file, the control socket from systemd, with or
  // without FD_CLOEXEC) stays with the daemon.
  ::posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  sigset_t none;
  ::sigemptyset(&none);
  ::posix_spawnattr_setsigmask(&attributes, &none);
  sigset_t defaults;  // SIGPIPE, which hooklessd ignores, among them
  ::sigfillset(&defaults);
  ::sigdelset(&defaults, SIGKILL);
  ::sigdelset(&defaults, SIGSTOP);
  ::posix_spawnattr_setsigdefault(&attributes, &defaults);
  ::posix_spawnattr_setpgroup(&attributes, 0);
  ::posix_spawnattr_setflags(
      &attributes, static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));

  std::vector<char*> argv;
  for (const auto& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& entry : environment) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int failed = ::posix_spawn(&pid, argv.front(), &actions, &attributes, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attributes);
  if (failed != 0) return fmt::format("cannot run {}: {}", command.front(), std::strerror(failed));

  process.pid = pid;
  process.input.assign(std::exchange(in.write_end, -1));
  process.output.assign(std::exchange(out.read_end, -1));
  process.errors.assign(std::exchange(err.read_end, -1));
  // (The child's ends close with the pipes here.) A pidfd is always close-on-exec.
  if (const int pidfd = ::pidfd_open(pid, 0); pidfd >= 0) process.exited.assign(pidfd);
  return {};
}

struct exec_state {
  exec_state(asio::any_io_executor ex, exec_sink_options opts) : executor(std::move(ex)), options(std::move(opts)) {}

  asio::any_io_executor executor;
  exec_sink_options options;
  std::set<pid_t> running;  // process groups of the commands running now

  awaitable<delivery_result> deliver(const delivery_job& job) {
    auto process = std::make_shared<exec_process>(executor, options.output_limit);
    const auto environment = exec_environment(job, [](const char* name) { return std::getenv(name); });
    if (auto why = exec_start(*process, options.command, environment); !why.empty()) {
      co_return delivery_result{.delivered = false, .error = std::move(why), .retry_after = std::nullopt};
    }
    const auto pid = process->pid;
    running.insert(pid);
    spdlog::debug("sink '{}': started {} (pid {}) for event_id={} run_id={}", options.sink_name,
                  options.command.front(), pid, job.record.event_id, job.record.run_id);
    asio::co_spawn(executor, exec_feed(process, job.body), exec_task_done("writing the envelope to the command"));
    asio::co_spawn(executor, exec_collect(process, process->output, process->out),
                   exec_task_done("reading the command's stdout"));
    asio::co_spawn(executor, exec_collect(process, process->errors, process->err),
                   exec_task_done("reading the command's stderr"));
    exec_arm_deadline(process, options.timeout, options.kill_grace);

    co_await exec_wait_for_end(*process);
    // Stopped for its timeout: what is left of its group goes too, while the unreaped leader still
    // holds the group's ID (so no other process can be hit).
    if (process->end.timed_out) ::kill(-pid, SIGKILL);
    process->reaped = true;
    process->deadline.cancel();
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    running.erase(pid);
    process->end.wait_status = status;

    // The outputs end when the command's last holder closes them; a process it left running may
    // keep them open, so they are read for at most a second more.
    if (process->open_outputs > 0) {
      process->drained.expires_after(std::chrono::seconds{1});
      co_await process->drained.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    boost::system::error_code ignored;
    process->input.close(ignored);
    process->output.close(ignored);
    process->errors.close(ignored);

    auto result = judge_command_end(process->end, options.timeout, process->err);
    if (process->out.total() > 0 || process->err.total() > 0) {
      spdlog::log(result.delivered ? spdlog::level::info : spdlog::level::warn,
                  "sink '{}': command output for event_id={} run_id={} ({}): stdout: {} | stderr: {}",
                  options.sink_name, job.record.event_id, job.record.run_id,
                  result.delivered ? std::string{"exit 0"} : result.error.substr(0, result.error.find("; stderr:")),
                  printable_output(process->out), printable_output(process->err));
    }
    co_return result;
  }
};

class exec_sink final : public shared_state_sink<exec_state> {
 public:
  exec_sink(asio::any_io_executor executor, exec_sink_options options)
      : shared_state_sink(std::make_shared<exec_state>(std::move(executor), std::move(options))) {}
  // The daemon is stopping (or let go of this sink): its commands go with it; their deliveries
  // stay undone and run again after a restart.
  ~exec_sink() override {
    for (const auto pid : state().running) ::kill(-pid, SIGKILL);
  }
  exec_sink(const exec_sink&) = delete;
  exec_sink& operator=(const exec_sink&) = delete;
};

}  // namespace

std::unique_ptr<sink> make_exec_sink(asio::any_io_executor executor, exec_sink_options options) {
  return std::make_unique<exec_sink>(std::move(executor), std::move(options));
}

}  // namespace hookless
