#!/usr/bin/env bash
# Installs what hookless needs (Debian 12 packages) and builds it into build/ (or
# $HOOKLESS_BUILD_DIR): every target, or the targets named as arguments.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HOOKLESS_BUILD_DIR:-$root/build}
"$root/scripts/install-deps.sh"
# The benchmark harness is built too, so its quick ctest (bench_quick) keeps it from rotting.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOOKLESS_WERROR=ON -DHOOKLESS_BUILD_BENCH=ON >/dev/null
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
