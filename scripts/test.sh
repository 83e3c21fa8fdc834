#!/usr/bin/env bash
# Installs, checks the C++ formatting (scripts/check-format.sh, first: it fails in seconds), builds
# and runs every test (ctest) in build/, then the whole suite again under AddressSanitizer + UBSan +
# LeakSanitizer in build-asan/ (scripts/ci-sanitizers.sh), after the plain suite so that a plain
# failure is reported first. Extra arguments go to both ctest runs.
# HOOKLESS_SANITIZERS=0 skips the sanitizer suite (about three times as long as the plain one).
# HOOKLESS_TEST_JOBS (default 2) is how many tests each ctest runs at once: most of them wait on
# timers and child processes rather than compute, so more than the cores may pay off.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HOOKLESS_BUILD_DIR:-$root/build}
started=$SECONDS
"$root/scripts/install-deps.sh"
"$root/scripts/check-format.sh"
"$root/scripts/build.sh"
status=0
(cd "$build" && ctest --output-on-failure --timeout 600 -j "${HOOKLESS_TEST_JOBS:-2}" "$@") || status=1
echo "== plain suite: $([[ $status == 0 ]] && echo passed || echo FAILED) ($((SECONDS - started)) s with the build)"
if [[ ${HOOKLESS_SANITIZERS:-1} != 0 ]]; then
  "$root/scripts/ci-sanitizers.sh" -- "$@" || status=1
fi
exit "$status"
