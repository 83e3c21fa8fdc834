// hooklessctl's completion scripts, written from one table of commands and flags.
#include "daemon/ctl/ctl_completion.hpp"

#include "core/model/run_kind.hpp"

#include <algorithm>

namespace hookless {

namespace {

ctl_flag value_flag(std::string name, std::string help, std::vector<std::string> values = {}) {
  return ctl_flag{.name = std::move(name),
                  .short_name = {},
                  .help = std::move(help),
                  .takes_value = true,
                  .file_value = false,
                  .values = std::move(values)};
}

ctl_flag switch_flag(std::string name, std::string help) {
  return ctl_flag{.name = std::move(name),
                  .short_name = {},
                  .help = std::move(help),
                  .takes_value = false,
                  .file_value = false,
                  .values = {}};
}

std::string completion_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words) out += (out.empty() ? "" : " ") + word;
  return out;
}

// Every spelling of the flags of `command` and the global ones, for "complete a flag".
std::string completion_flag_words(const ctl_command* command) {
  std::vector<std::string> words;
  const auto add = [&words](const ctl_flag& flag) {
    words.push_back(flag.name);
    if (!flag.short_name.empty()) words.push_back(flag.short_name);
  };
  if (command != nullptr) std::ranges::for_each(command->flags, add);
  std::ranges::for_each(ctl_global_flags(), add);
  return completion_words(words);
}

// Every flag that takes a value, as a case pattern ("--socket|--state|-o|...").
std::string completion_value_flag_pattern() {
  std::vector<std::string> names;
  const auto add = [&names](const ctl_flag& flag) {
    if (!flag.takes_value) return;
    for (const auto* name : {&flag.name, &flag.short_name}) {
      if (!name->empty() && std::ranges::find(names, *name) == names.end()) names.push_back(*name);
    }
  };
  std::ranges::for_each(ctl_global_flags(), add);
  for (const auto& command : ctl_commands()) std::ranges::for_each(command.flags, add);
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : "|") + name;
  return out;
}

// The case pattern for a flag of `command` (nullptr: any command) given as the previous word.
std::string completion_case_pattern(const ctl_command* command, const ctl_flag& flag) {
  const std::string prefix = command == nullptr ? "*:" : command->name + ":";
  std::string out = prefix + flag.name;
  if (!flag.short_name.empty()) out += "|" + prefix + flag.short_name;
  return out;
}

// The value cases shared by bash and zsh; `files`, `words` and `nothing` are each shell's way to
// offer file names, a list of words, and nothing at all.
template <typename Files, typename Words>
std::string completion_value_cases(Files files, Words words, std::string_view nothing, std::string_view open) {
  std::string out;
  const auto one = [&](const ctl_command* command, const ctl_flag& flag) {
    if (!flag.takes_value) return;
    out += "    " + std::string{open} + completion_case_pattern(command, flag) + ") ";
    if (flag.file_value) {
      out += files();
    } else if (!flag.values.empty()) {
      out += words(completion_words(flag.values));
    } else {
      out += nothing;
    }
    out += "; return ;;\n";
  };
  for (const auto& command : ctl_commands()) {
    for (const auto& flag : command.flags) one(&command, flag);
  }
  for (const auto& flag : ctl_global_flags()) one(nullptr, flag);
  return out;
}

std::string command_names() {
  std::vector<std::string> names;
  for (const auto& command : ctl_commands()) names.push_back(command.name);
  return completion_words(names);
}

std::string bash_script() {
  std::string out =
      "# bash completion for hooklessctl: source it, or save it as\n"
      "# /usr/share/bash-completion/completions/hooklessctl (hooklessctl completion bash)\n"
      "_hooklessctl() {\n"
      "  local cur=${COMP_WORDS[COMP_CWORD]} prev='' cmd='' i\n"
      "  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    case ${COMP_WORDS[i]} in\n"
      "      " +
      completion_value_flag_pattern() +
      ") ((i++)) ;;\n"
      "      -*) ;;\n"
      "      *) cmd=${COMP_WORDS[i]}; break ;;\n"
      "    esac\n"
      "  done\n"
      "  COMPREPLY=()\n"
      "  case \"$cmd:$prev\" in\n";
  out += completion_value_cases(
      [] { return std::string{"COMPREPLY=($(compgen -f -- \"$cur\"))"}; },
      [](const std::string& words) { return "COMPREPLY=($(compgen -W \"" + words + "\" -- \"$cur\"))"; }, ":", "");
  out += "  esac\n  if [[ $cur == -* ]]; then\n    case $cmd in\n";
  for (const auto& command : ctl_commands()) {
    out += "      " + command.name + ") COMPREPLY=($(compgen -W \"" + completion_flag_words(&command) +
           "\" -- \"$cur\")) ;;\n";
  }
  out += "      *) COMPREPLY=($(compgen -W \"" + completion_flag_words(nullptr) + " --version\" -- \"$cur\")) ;;\n";
  out += "    esac\n    return\n  fi\n  case $cmd in\n";
  out += "    '') COMPREPLY=($(compgen -W \"" + command_names() + "\" -- \"$cur\")) ;;\n";
  for (const auto& command : ctl_commands()) {
    if (command.words.empty()) continue;
    out += "    " + command.name + ") COMPREPLY=($(compgen -W \"" + completion_words(command.words) +
           "\" -- \"$cur\")) ;;\n";
  }
  out += "  esac\n}\ncomplete -F _hooklessctl hooklessctl\n";
  return out;
}

std::string zsh_script() {
  std::string out =
      "#compdef hooklessctl\n"
      "# zsh completion for hooklessctl: save it as _hooklessctl in a directory of $fpath, or source it\n"
      "# after compinit (hooklessctl completion zsh)\n"
      "_hooklessctl() {\n"
      "  local cur=${words[CURRENT]} prev=${words[CURRENT-1]} cmd='' i\n"
      "  for ((i = 2; i < CURRENT; i++)); do\n"
      "    case ${words[i]} in\n"
      "      (" +
      completion_value_flag_pattern() +
      ") ((i++)) ;;\n"
      "      (-*) ;;\n"
      "      (*) cmd=${words[i]}; break ;;\n"
      "    esac\n"
      "  done\n"
      "  case \"$cmd:$prev\" in\n";
  out += completion_value_cases([] { return std::string{"_files"}; },
                                [](const std::string& words) { return "compadd -- " + words; }, ":", "(");
  out += "  esac\n  if [[ $cur == -* ]]; then\n    case $cmd in\n";
  for (const auto& command : ctl_commands()) {
    out += "      (" + command.name + ") compadd -- " + completion_flag_words(&command) + " ;;\n";
  }
  out += "      (*) compadd -- " + completion_flag_words(nullptr) + " --version ;;\n";
  out += "    esac\n    return\n  fi\n  case $cmd in\n";
  out += "    ('') compadd -- " + command_names() + " ;;\n";
  for (const auto& command : ctl_commands()) {
    if (command.words.empty()) continue;
    out += "    (" + command.name + ") compadd -- " + completion_words(command.words) + " ;;\n";
  }
  out +=
      "  esac\n}\n"
      "if [[ ${funcstack[1]} == _hooklessctl ]]; then _hooklessctl \"$@\"; else compdef _hooklessctl hooklessctl; fi\n";
  return out;
}

// A fish single-quoted string.
std::string fish_quoted(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string fish_flag(const ctl_flag& flag, const std::string& condition) {
  std::string out = "complete -c hooklessctl";
  if (!condition.empty()) out += " -n " + fish_quoted(condition);
  if (!flag.short_name.empty()) out += " -s " + flag.short_name.substr(1);
  out += " -l " + flag.name.substr(2);
  if (flag.file_value) {
    out += " -r -F";
  } else if (flag.takes_value) {
    out += " -x";
    if (!flag.values.empty()) out += " -a " + fish_quoted(completion_words(flag.values));
  }
  return out + " -d " + fish_quoted(flag.help) + '\n';
}

std::string fish_script() {
  std::string out =
      "# fish completion for hooklessctl: save it as ~/.config/fish/completions/hooklessctl.fish\n"
      "# (hooklessctl completion fish)\n"
      "complete -c hooklessctl -f\n";
  for (const auto& command : ctl_commands()) {
    out += "complete -c hooklessctl -n __fish_use_subcommand -a " + command.name + " -d " + fish_quoted(command.help) +
           '\n';
  }
  for (const auto& flag : ctl_global_flags()) out += fish_flag(flag, "");
  out += "complete -c hooklessctl -n __fish_use_subcommand -l version -d 'print the version'\n";
  for (const auto& command : ctl_commands()) {
    const auto condition = "__fish_seen_subcommand_from " + command.name;
    for (const auto& flag : command.flags) out += fish_flag(flag, condition);
    if (!command.words.empty()) {
      out += "complete -c hooklessctl -n " + fish_quoted(condition) + " -a " +
             fish_quoted(completion_words(command.words)) + '\n';
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> ctl_kind_names() {
  std::vector<std::string> names;
  for (const auto generation : {api_generation::current, api_generation::legacy}) {
    for (const auto& info : kinds_of(generation)) {
      if (std::ranges::find(names, info.kind) == names.end()) names.emplace_back(info.kind);
    }
  }
  return names;
}

std::vector<std::string> ctl_outcome_names() {
  return {"processed", "failed", "cancelled", "rejected", "needs_review", "expired", "not_found"};
}

const std::vector<ctl_flag>& ctl_global_flags() {
  static const std::vector<ctl_flag> flags{
      ctl_flag{.name = "--socket",
               .short_name = {},
               .help = "control socket (default $HOOKLESS_SOCKET, else /run/hookless/hookless.sock)",
               .takes_value = true,
               .file_value = true,
               .values = {}},
      switch_flag("--json", "machine output: JSON, one object per line, errors too"),
      ctl_flag{.name = "--output",
               .short_name = "-o",
               .help = "output format: text or json (-o json is --json)",
               .takes_value = true,
               .file_value = false,
               .values = {"json", "text"}},
      switch_flag("--help", "show the help of a command"),
  };
  return flags;
}

const std::vector<ctl_command>& ctl_commands() {
  static const std::vector<ctl_command> commands{
      {"watch",
       "register runs; - reads IDs from stdin, one per line",
       {value_flag("--kind", "run kind, when the ID prefix does not tell it", ctl_kind_names()),
        value_flag("--sink", "deliver to this named sink (repeatable)"),
        value_flag("--context", "JSON object handed back in every event"),
        value_flag("--deadline", "stop tracking after this long (e.g. 24h, 1h30m)")},
       {}},
      {"wait",
       "block until runs are finished and print their final events",
       {value_flag("--timeout", "give up after this long (exit 4), e.g. 30s, 1m30s, 1.5h")},
       {}},
      {"events",
       "print your recent events as JSON lines, then with --follow each new one",
       {switch_flag("--follow", "keep printing each new event as it is made"),
        value_flag("--run", "only this run's events")},
       {}},
      {"get", "show one run", {}, {}},
      {"ls",
       "list runs, newest first",
       {value_flag("--state", "pending, finished or all", {"pending", "finished", "all"}),
        value_flag("--kind", "only runs of this kind", ctl_kind_names()),
        value_flag("--outcome", "only runs with this outcome", ctl_outcome_names()),
        value_flag("--limit", "list at most this many runs")},
       {}},
      {"forget", "stop tracking a run; nothing is delivered for it", {}, {}},
      {"deliveries",
       "list deliveries that are not yet done",
       {value_flag("--state", "pending or dead", {"pending", "dead"})},
       {}},
      {"redeliver",
       "deliver a delivery again, or every dead one",
       {switch_flag("--all-dead", "redeliver every dead delivery")},
       {}},
      {"health", "daemon, API and sink health (exit 0 ok, 1 degraded, 2 unreachable)", {}, {}},
      {"completion", "print a completion script for bash, zsh or fish", {}, {"bash", "zsh", "fish"}},
  };
  return commands;
}

std::optional<std::string> completion_script(std::string_view shell) {
  if (shell == "bash") return bash_script();
  if (shell == "zsh") return zsh_script();
  if (shell == "fish") return fish_script();
  return std::nullopt;
}

}  // namespace hookless
