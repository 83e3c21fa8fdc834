#!/usr/bin/env bash
# The benchmark (bench/README.md) in one command: installs what it needs, builds hooklessd and
# bench/hookless_bench with HOOKLESS_BUILD_BENCH=ON into build/ (or $HOOKLESS_BUILD_DIR), runs it and
# writes the tables to bench/results-<UTC date and time>.md. Arguments go to hookless_bench:
# `--quick` for a smoke run of about a minute; the full run takes about 35 minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HOOKLESS_BUILD_DIR:-$root/build}
"$root/scripts/build.sh" --tests hooklessd hookless_bench
out="$root/bench/results-$(date -u +%Y-%m-%d-%H%M).md"
"$build/bench/hookless_bench" --markdown "$out" "$@"
echo "bench: results written to $out" >&2
