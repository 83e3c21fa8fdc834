#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (tests/fuzz, HOOKLESS_FUZZ=ON, in build-fuzz/) with
# AddressSanitizer + UBSan, runs each for a while on a copy of its seed corpus, and reports execs
# and crashes per target. A crash leaves its input in build-fuzz/artifacts/ and fails the script.
#
# Usage: scripts/fuzz.sh [--seconds N] [--timeout S] [TARGET...]
#   default 10 s per target; HOOKLESS_LONG_TESTS=1 makes the default one hour per target.
#   --timeout: wall-clock seconds one input may take before it counts as a hang (default 10). Give
#   a long run at `nice -n 19` beside builds minutes: a starved process misses 10 s with 10 ms of work.
#   TARGET is control_request, config, extend_answer, sink_target or resp (default: all).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HOOKLESS_FUZZ_BUILD:-$root/build-fuzz}
seconds=10
input_timeout=10
[[ ${HOOKLESS_LONG_TESTS:-0} == 1 ]] && seconds=3600
targets=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) seconds=$2; shift ;;
    --timeout) input_timeout=$2; shift ;;
    control_request|config|extend_answer|sink_target|resp) targets+=("$1") ;;
    *) echo "usage: $0 [--seconds N] [--timeout S] [control_request|config|extend_answer|sink_target|resp]..." >&2; exit 2 ;;
  esac
  shift
done
((${#targets[@]})) || targets=(control_request config extend_answer sink_target resp)

command -v clang++ >/dev/null || { echo "clang++ is missing: run scripts/install-deps.sh --tests" >&2; exit 2; }
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DHOOKLESS_FUZZ=ON >/dev/null
cmake --build "$build" --target fuzz_targets -j "${HOOKLESS_JOBS:-2}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/artifacts" "$build/logs"
status=0
printf '%-16s %8s %14s %10s %8s\n' target seconds execs execs/s crashes
for target in "${targets[@]}"; do
  work=$build/corpus/$target   # new inputs go here; the seeds in the repo stay as they are
  mkdir -p "$work"
  log=$build/logs/$target.log
  rc=0
  "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 -timeout="$input_timeout" -rss_limit_mb=4096 \
    -max_len=262144 -artifact_prefix="$build/artifacts/$target-" \
    "$work" "$root/tests/fuzz/corpus/$target" >"$log" 2>&1 || rc=$?
  execs=$(grep -h 'stat::number_of_executed_units' "$log" | awk '{s+=$2} END {print s+0}')
  # slow-unit-* files are inputs over 10 s of wall clock, which a starved process also writes: not findings.
  crashes=$(find "$build/artifacts" -name "$target-*" ! -name "$target-slow-unit-*" -newer "$work" 2>/dev/null | wc -l)
  ((rc == 0)) || crashes=$((crashes > 0 ? crashes : 1))
  printf '%-16s %8s %14s %10s %8s\n' "$target" "$seconds" "$execs" "$((execs / (seconds > 0 ? seconds : 1)))" "$crashes"
  if ((crashes > 0)); then
    status=1
    echo "  finding: see $log and $build/artifacts/$target-*" >&2
    grep -m3 -E 'ERROR: |runtime error:|fuzz_[a-z_]+: ' "$log" >&2 || true
  fi
  touch "$work"
done
exit "$status"
