// hooklessctl's shell completion: the commands, their flags and the values flags take, as scripts
// for bash, zsh and fish (`hooklessctl completion SHELL`).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hookless {

struct ctl_flag {
  std::string name;                 // "--state"
  std::string short_name;           // "-o", or empty
  std::string help;                 // one line
  bool takes_value = false;         // "--state VALUE"
  bool file_value = false;          // the value is a path
  std::vector<std::string> values;  // the values it takes, when they are a fixed set
};

struct ctl_command {
  std::string name;
  std::string help;
  std::vector<ctl_flag> flags;
  std::vector<std::string> words;  // fixed positional words ("completion bash"), else empty
};

// The flags every command takes, before or after the command.
const std::vector<ctl_flag>& ctl_global_flags();
// Every command with its own flags.
const std::vector<ctl_command>& ctl_commands();

// Every run kind hooklessd knows under any API version, and the outcomes records commonly show.
std::vector<std::string> ctl_kind_names();
std::vector<std::string> ctl_outcome_names();

// The completion script for "bash", "zsh" or "fish"; nullopt for any other shell.
std::optional<std::string> completion_script(std::string_view shell);

}  // namespace hookless
