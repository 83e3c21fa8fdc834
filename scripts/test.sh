#!/usr/bin/env bash
# Installs, checks the C++ formatting (scripts/check-format.sh, first: it fails in seconds), builds
# and runs every test (ctest) in build/, then the whole suite again under AddressSanitizer + UBSan +
# LeakSanitizer in build-asan/ (scripts/ci-sanitizers.sh; built while the plain tests run), after
# the plain suite so that a plain failure is reported first. Extra arguments go to both ctest runs.
# HOOKLESS_SANITIZERS=0 skips the sanitizer suite.
# HOOKLESS_TEST_JOBS (default 2) is how many tests each ctest runs at once: most of them wait on
# timers and child processes rather than compute, so more than the cores may pay off.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HOOKLESS_BUILD_DIR:-$root/build}
started=$SECONDS
"$root/scripts/install-deps.sh" --tests
"$root/scripts/check-format.sh"
"$root/scripts/build.sh" --tests
sanitizers=${HOOKLESS_SANITIZERS:-1}
if [[ $sanitizers != 0 ]]; then
  # The sanitizer build runs beside the plain tests, at the lowest priority: those mostly wait on
  # timers and child processes, so it takes the idle cores without slowing a test that measures time.
  sanitizer_build_log=$(mktemp -t hookless-sanitizer-build.XXXXXX)
  nice -n 19 "$root/scripts/ci-sanitizers.sh" --build-only >"$sanitizer_build_log" 2>&1 &
  sanitizer_build=$!
fi
status=0
(cd "$build" && ctest --output-on-failure --timeout 600 -j "${HOOKLESS_TEST_JOBS:-2}" "$@") || status=1
echo "== plain suite: $([[ $status == 0 ]] && echo passed || echo FAILED) ($((SECONDS - started)) s with the build)"
if [[ $sanitizers != 0 ]]; then
  if wait "$sanitizer_build"; then
    tail -n 1 "$sanitizer_build_log"
    "$root/scripts/ci-sanitizers.sh" --no-build -- "$@" || status=1
  else
    cat "$sanitizer_build_log"
    echo "== sanitizer build FAILED" >&2
    status=1
  fi
  rm -f "$sanitizer_build_log"
fi
exit "$status"
