#!/usr/bin/env bash
# Fails, listing file:line for each, when a file of the repository outside tests/ refers to
# something outside the repository: the sibling folder the project grew up beside (../shared and
# its spec, tools and guides), the contract documents that live there, a developer's machine
# (/work/, /home/NAME/, /Users/NAME/) or a path climbing above the repository's root. A clone must
# stand alone: what users need is written in the repository (docs/). ctest runs it (self_contained).
#   scripts/check-self-contained.sh [ROOT]
set -euo pipefail
root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
cd "$root"

# One extended regular expression per kind of reference, each with what it stands for.
patterns=(
  '\.\./shared'                                            # the sibling folder itself
  'shared/(spec|tools|guides|design|hooks)/'                # its contents
  '(^|[^A-Za-z0-9_-])(interface|extend-api)\.md'            # the contract documents kept there
  '(^|[^A-Za-z0-9_.-])/work/'                               # the development machine's work tree
  '(^|[^A-Za-z0-9_.-])/(home|Users)/[A-Za-z0-9._-]+/'        # a developer's home folder
  '(SOURCE_DIR\}|\$root|\$\{root\})/\.\./'                  # climbing out of the repository
)
regex=$(IFS='|'; echo "${patterns[*]}")

# The patterns must catch what they are for, or a broken expression would pass everything.
for sample in 'see ../shared/spec/interface.md' 'tool=$root/../shared/tools/x' 'cd /work/main' \
  'HOOKLESS_SOURCE_DIR=/home/alice/hookless/' 'the contract (extend-api.md)' '${PROJECT_SOURCE_DIR}/../x'; do
  grep -qE "$regex" <<<"$sample" || { echo "check-self-contained: the patterns miss '$sample'" >&2; exit 1; }
done
for sample in 'docs/control-api.md' 'https://example.com/work/x' '/run/hookless/hookless.sock' '../../docs/events.md'; do
  if grep -qE "$regex" <<<"$sample"; then echo "check-self-contained: the patterns wrongly match '$sample'" >&2; exit 1; fi
done

# Tracked files in a clone; every file but build output in a source tree without git.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files)
else
  mapfile -t files < <(find . -path ./.git -prune -o -path './build*' -prune -o -path ./Testing -prune -o -type f -print | sed 's|^\./||')
fi
this=scripts/check-self-contained.sh
scanned=()
for file in "${files[@]}"; do
  [[ $file == tests/* || $file == "$this" || ! -f $file ]] && continue
  scanned+=("$file")
done
# Guard against passing on nothing: the repository's own top files must be among those read.
# (grep reads all of its input: with -q it could exit early, and pipefail would then count the
# writer's SIGPIPE as a miss.)
for must in README.md CMakeLists.txt docs/control-api.md daemon/hooklessd/hooklessd_main.cpp; do
  printf '%s\n' "${scanned[@]}" | grep -xF "$must" >/dev/null || { echo "check-self-contained: $must was not scanned (wrong ROOT $root?)" >&2; exit 1; }
done
if ((${#scanned[@]} < 100)); then
  echo "check-self-contained: only ${#scanned[@]} files found under $root; expected the whole repository" >&2
  exit 1
fi

# -I: binary files (images, archives) are skipped.
if found=$(grep -nIE "$regex" -- "${scanned[@]}"); then
  echo "check-self-contained: these lines refer to something outside the repository:" >&2
  echo "$found" >&2
  echo "Write what the reader needs in the repository (docs/) and point there instead." >&2
  exit 1
fi
echo "check-self-contained: ${#scanned[@]} files outside tests/ refer to nothing outside the repository"
