#!/usr/bin/env bash
# Installs what hookless needs (Debian 12 packages) and builds it into build/ (or
# $HOOKLESS_BUILD_DIR): every target, or the targets named as arguments.
#   build.sh [TARGET...]           the programs (and the Extend simulator the demo runs)
#   build.sh --tests [TARGET...]   also the tests and the benchmark harness, with the test toolchain
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HOOKLESS_BUILD_DIR:-$root/build}
options=()
if [[ ${1:-} == --tests ]]; then
  shift
  "$root/scripts/install-deps.sh" --tests
  # The benchmark harness is built too, so its quick ctest (bench_quick) keeps it from rotting. The
  # /usr prefix is the .deb's: the deb_install test packages this build as it is.
  options=(-DBUILD_TESTING=ON -DHOOKLESS_BUILD_BENCH=ON -DCMAKE_INSTALL_PREFIX=/usr)
else
  "$root/scripts/install-deps.sh"
  # Without the test toolchain, a new build tree leaves the tests out; one configured for them
  # (by scripts/test.sh) keeps them.
  [[ -f $build/CMakeCache.txt ]] || options=(-DBUILD_TESTING=OFF)
fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOOKLESS_WERROR=ON "${options[@]}" >/dev/null
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
