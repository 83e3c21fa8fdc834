#!/usr/bin/env bash
# Checks the built man pages: each renders with `man -l` without a warning and has its NAME,
# SYNOPSIS and EXIT STATUS or FILES; hooklessctl(1) names every command and option the built
# hooklessctl's --help lists (its command table), hooklessd(8) every option of hooklessd --help,
# and hookless.yaml(5) every key of docs/configuration.md. No page shows a build path.
#   man-pages-test.sh SOURCE_DIR MAN_DIR HOOKLESSD HOOKLESSCTL
set -euo pipefail
source_dir=$1 man_dir=$2 hooklessd=$3 hooklessctl=$4
status=0
fail() { echo "FAIL: $*" >&2; status=1; }
command -v man >/dev/null || { echo "FAIL: man is missing (Debian's man-db: scripts/install-deps.sh --tests)" >&2; exit 1; }

declare -A text
for page in hooklessd.8 hooklessctl.1 hookless.yaml.5; do
  file=$man_dir/$page
  [[ -s $file ]] || { fail "$file was not built"; continue; }
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l "$file" 2>&1 >/dev/null) || fail "man -l $page failed"
  [[ -z $warnings ]] || fail "man -l $page warns: $warnings"
  # Rendered without hyphenation or justification, so a name is never split across lines.
  text[$page]=$(LC_ALL=C.UTF-8 MANWIDTH=1000 MAN_KEEP_FORMATTING= man -l "$file" 2>/dev/null | col -bx)
  for section in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
    grep -q "^$section\$" <<<"${text[$page]}" || fail "$page has no $section section"
  done
  if grep -qE "$source_dir|/build[-/a-z]*/|CMakeFiles" "$file"; then fail "$page shows a build path"; fi
done

# The options a program's --help lists (CLI11: "  -h,--help  ...", "  --socket TEXT  ...").
help_options() { "$@" --help | grep -oE '^  (-[a-zA-Z],)?--[a-z][a-z-]*|^  -[a-zA-Z]\b' | tr ',' '\n' | tr -d ' ' | sort -u; }
names_in() { # page, what, names...
  local page=$1 what=$2; shift 2
  for name in "$@"; do
    grep -qF -- "$name" <<<"${text[$page]}" || fail "$page does not describe $what $name"
  done
}

mapfile -t options < <(help_options "$hooklessd")
((${#options[@]} > 2)) || fail "no options found in hooklessd --help"
names_in hooklessd.8 "the option" "${options[@]}"

mapfile -t global_options < <(help_options "$hooklessctl")
names_in hooklessctl.1 "the global option" "${global_options[@]}"
mapfile -t commands < <("$hooklessctl" --help | sed -n '/^[A-Za-z]*\(ommands\|OMMANDS\):/,/^$/p' | grep -oE '^  [a-z][a-z-]*' | tr -d ' ')
((${#commands[@]} >= 8)) || fail "found only ${#commands[@]} commands in hooklessctl --help: ${commands[*]}"
for command in "${commands[@]}"; do
  # Each command has its own subsection, titled by its name, and its synopsis line.
  grep -qE "^   $command\$" <<<"${text[hooklessctl.1]}" || fail "hooklessctl.1 has no section for the command $command"
  grep -qE "hooklessctl $command( |\$)" <<<"${text[hooklessctl.1]}" || fail "hooklessctl.1 has no synopsis of $command"
  mapfile -t command_options < <(help_options "$hooklessctl" "$command" | grep -vxF -e -h -e --help)
  names_in hooklessctl.1 "the option of $command" "${command_options[@]}"
done
for code in 0 1 2 3 4; do
  grep -qE "^       $code\$" <<<"${text[hooklessctl.1]}" || fail "hooklessctl.1 does not explain exit status $code"
done

# Every key of docs/configuration.md's tables, with its section: "extend.base_url",
# "sinks.NAME.url", "subscriptions.NAME.kinds", and the top-level "default_sinks".
section="" keys=()
while IFS= read -r line; do
  if [[ $line =~ ^\#\#\#?\ ([a-z_]+) ]]; then section=${BASH_REMATCH[1]}; continue; fi
  [[ $line =~ ^\|\ \`([a-z_]+)\`\ \| ]] || continue
  key=${BASH_REMATCH[1]}
  case $section in
    sinks) keys+=("sinks.NAME.$key") ;;
    subscriptions) keys+=("subscriptions.NAME.$key") ;;
    default_sinks) keys+=("$key") ;;
    *) keys+=("$section.$key") ;;
  esac
done <"$source_dir/docs/configuration.md"
((${#keys[@]} > 30)) || fail "found only ${#keys[@]} keys in docs/configuration.md"
names_in hookless.yaml.5 "the key" "${keys[@]}"

((status == 0)) && echo "man pages OK (${#commands[@]} commands, ${#keys[@]} configuration keys)"
exit "$status"
