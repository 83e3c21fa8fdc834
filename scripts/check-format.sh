#!/usr/bin/env bash
# Fails, listing them, when tracked C++ files (*.cpp, *.hpp) differ from what clang-format makes of
# them with the repository's .clang-format. scripts/test.sh runs it before building, so CI stops
# early on unformatted code. Debian 12's clang-format 14 (scripts/install-deps.sh --tests installs it);
# another version may format a few constructs differently.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
format=${CLANG_FORMAT:-clang-format}
command -v "$format" >/dev/null || { echo "check-format: $format not found (scripts/install-deps.sh --tests installs it)" >&2; exit 1; }
# A broken .clang-format must say so, not make every file look unformatted.
"$format" --style=file --dump-config >/dev/null

mapfile -t files < <(git ls-files -- '*.cpp' '*.hpp')
# One run over every file; --dry-run reports "FILE:LINE:COL: error: code should be clang-formatted"
# for each place that would change.
report=$("$format" --style=file --dry-run --ferror-limit=1 "${files[@]}" 2>&1 || true)
mapfile -t unformatted < <(grep -oP '^.+?(?=:\d+:\d+: (error|warning): code should be clang-formatted)' <<<"$report" | sort -u)
if ((${#unformatted[@]})); then
  echo "check-format: ${#unformatted[@]} of ${#files[@]} C++ files are not formatted as .clang-format says:" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  echo "Format them with clang-format -i FILE..., or every tracked file with:" >&2
  echo "  git ls-files '*.cpp' '*.hpp' | xargs clang-format -i" >&2
  exit 1
fi
if grep -q . <<<"$report"; then  # clang-format failed for another reason (a file it cannot read?)
  echo "check-format: clang-format failed:" >&2
  echo "$report" >&2
  exit 1
fi
echo "check-format: all ${#files[@]} C++ files formatted"
