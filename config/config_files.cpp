// Opens the files a config names (config_files.hpp). Only reads: a file sink's file is not created.
#include "config/config_files.hpp"

#include "config/api_key.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace hookless {
namespace {

// Secrets and CA bundles are small; reading stops here (a bigger file is read no further, not refused).
constexpr std::size_t most_bytes_read = 16 * 1024 * 1024;

struct file_text {
  std::string text;
  std::string error;  // "cannot read PATH: <OS error>", empty when it was read
};

file_text read_named_file(const std::string& path) {
  file_text out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    out.error = fmt::format("cannot read {}: {}", path, std::strerror(errno));
    return out;
  }
  std::array<char, 16384> buffer{};
  while (out.text.size() < most_bytes_read) {
    const auto got = ::read(fd, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      out.error = fmt::format("cannot read {}: {}", path, std::strerror(errno));  // EISDIR for a folder
      break;
    }
    if (got == 0) break;
    out.text.append(buffer.data(), static_cast<std::size_t>(got));
  }
  ::close(fd);
  return out;
}

std::string signing_secret_problem(const std::string& path) {
  auto file = read_named_file(path);
  if (!file.error.empty()) return file.error;
  if (file.text.find_first_not_of(" \t\r\n") == std::string::npos)
    return fmt::format("the signing secret file {} is empty", path);
  return {};
}

std::string ca_file_problem(const std::string& path) {
  const auto file = read_named_file(path);
  if (!file.error.empty()) return file.error;
  if (file.text.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return fmt::format("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path);
  }
  return {};
}

std::string password_file_problem(const std::string& path) {
  try {
    read_database_password(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return {};
}

// The file sink opens (or creates) its file for appending when it writes the first event.
std::string file_sink_problem(const std::string& path) {
  const auto parent = std::filesystem::path{path}.parent_path();
  const auto folder = parent.empty() ? std::filesystem::path{"."} : parent;
  struct stat info {};
  if (::stat(folder.c_str(), &info) != 0) return fmt::format("folder {}: {}", folder.string(), std::strerror(errno));
  if (!S_ISDIR(info.st_mode)) return fmt::format("folder {}: {}", folder.string(), std::strerror(ENOTDIR));
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    return {};
  }
  if (errno != ENOENT) return fmt::format("cannot open {} for appending: {}", path, std::strerror(errno));
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    return fmt::format("cannot create {}: {}", path, std::strerror(errno));
  return {};
}

// The exec sink runs command[0] itself (posix_spawn, no PATH search): a regular file this user may
// execute. (A script's interpreter is the kernel's to find when the command runs.)
std::string exec_program_problem(const std::vector<std::string>& command) {
  if (command.empty()) return "is empty; an exec sink needs the program to run";
  const auto& program = command.front();
  struct stat info {};
  if (::stat(program.c_str(), &info) != 0) return fmt::format("cannot run {}: {}", program, std::strerror(errno));
  if (!S_ISREG(info.st_mode)) return fmt::format("cannot run {}: not a regular file", program);
  if (::access(program.c_str(), X_OK) != 0) return fmt::format("cannot run {}: {}", program, std::strerror(errno));
  return {};
}

}  // namespace

std::string read_database_password(const std::string& path) {
  auto file = read_named_file(path);
  if (!file.error.empty()) throw std::runtime_error(file.error);
  // One line: the line end an editor leaves is not part of the password; anything else is.
  while (!file.text.empty() && (file.text.back() == '\n' || file.text.back() == '\r')) file.text.pop_back();
  if (file.text.empty()) throw std::runtime_error(fmt::format("the password file {} is empty", path));
  return std::move(file.text);
}

std::vector<config_problem> check_config_files(const config& settings, const std::map<std::string, int>& key_lines) {
  std::vector<config_problem> problems;
  const auto add = [&](const std::string& key, const std::string& message) {
    if (message.empty()) return;
    const auto line = key_lines.find(key);
    problems.push_back({key, line == key_lines.end() ? 0 : line->second, message});
  };
  if (settings.extend.api_key_file) {
    const auto no_environment = [](const char*) -> std::optional<std::string> { return std::nullopt; };
    add("extend.api_key_file", resolve_api_key(settings.extend, no_environment).error);
  }
  if (settings.extend.ca_file) add("extend.ca_file", ca_file_problem(*settings.extend.ca_file));
  if (settings.state.password_file) add("state.password_file", password_file_problem(*settings.state.password_file));
  for (const auto& [name, sink] : settings.sinks) {
    const auto key = [&name](std::string_view setting) { return fmt::format("sinks.{}.{}", name, setting); };
    switch (sink.type) {
      case sink_type::stdout_lines: break;
      case sink_type::file: add(key("path"), file_sink_problem(sink.path)); break;
      case sink_type::http:
        add(key("signing_secret_file"), signing_secret_problem(sink.signing_secret_file));
        if (sink.ca_file) add(key("ca_file"), ca_file_problem(*sink.ca_file));
        break;
      case sink_type::exec: add(key("command"), exec_program_problem(sink.command)); break;
      case sink_type::redis:
        if (sink.password_file) add(key("password_file"), password_file_problem(*sink.password_file));
        if (sink.ca_file) add(key("ca_file"), ca_file_problem(*sink.ca_file));
        break;
    }
  }
  // In file order, as the loader's problems are.
  std::stable_sort(problems.begin(), problems.end(),
                   [](const config_problem& a, const config_problem& b) { return a.line < b.line; });
  return problems;
}

}  // namespace hookless
