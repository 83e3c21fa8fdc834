#!/usr/bin/env bash
# The sanitizer job: builds everything with the `asan` preset (AddressSanitizer + UBSan, aborting on
# the first finding), runs every test under ctest, then runs hooklessd end to end against the fake
# Extend API (register runs, wait until each is finished and delivered, SIGTERM, restart, register
# one more and wait for it, SIGTERM). Every process (test
# programs and the hooklessd, hooklessctl and fake Extend API they start) writes its sanitizer
# reports, leaks included, to build-asan/sanitizer-reports/; the job fails if any report is there,
# whether or not the test that started the process noticed.
#
# Usage: scripts/ci-sanitizers.sh [--no-build | --build-only] [--no-ctest] [--e2e-timeout N] [-- CTEST_ARGS...]
# The work directory (configs, logs, state) is kept and printed, so a failure can be read. The end
# to end run fails when its runs are not all finished and delivered within N seconds (default 60).
# HOOKLESS_JOBS (default 2) compilers build; HOOKLESS_TEST_JOBS (default: the same) tests run at once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-asan
do_build=1
build_only=0
do_ctest=1
e2e_timeout=60
ctest_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --no-build) do_build=0 ;;
    --build-only) build_only=1 ;;
    --no-ctest) do_ctest=0 ;;
    --e2e-timeout) e2e_timeout=$2; shift ;;
    --) shift; ctest_args=("$@"); break ;;
    *) echo "usage: $0 [--no-build | --build-only] [--no-ctest] [--e2e-timeout N] [-- CTEST_ARGS...]" >&2; exit 2 ;;
  esac
  shift
done

# Same options as the asan test preset, so a finding stops the process with its stack; the
# `asan-ci` test preset hands them (with log_path) to every test and the tests to their children.
reports=$build/sanitizer-reports
rm -rf "$reports"
mkdir -p "$reports"
chmod 1777 "$reports"  # the isolation test's users write here too
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1}:log_path=$reports/asan
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$reports/ubsan

started=$SECONDS
if ((do_build)); then
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "${HOOKLESS_JOBS:-2}"
  echo "== sanitizer build: $((SECONDS - started)) s"
fi
((build_only)) && exit 0
status=0
if ((do_ctest)); then
  ctest_started=$SECONDS
  (cd "$root" && ctest --preset asan-ci -j "${HOOKLESS_TEST_JOBS:-${HOOKLESS_JOBS:-2}}" "${ctest_args[@]}") || status=1
  echo "== sanitizer suite (ctest): $((SECONDS - ctest_started)) s"
fi

# ---- end to end ----
work=$(mktemp -d -t hookless-asan.XXXXXX)
echo "== end to end in $work"
fake_pid=""
daemon_pid=""
cleanup() {
  [[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null || true
  [[ -n $fake_pid ]] && kill "$fake_pid" 2>/dev/null || true
}
trap cleanup EXIT

"$build/tests/support/hookless-fake-extend" --rate-limit 10 --auto-finish-after-ms 3000 \
  --ca-out "$work/ca.pem" --ready-file "$work/fake-url" 2>"$work/fake.log" &
fake_pid=$!
for _ in $(seq 200); do [[ -s $work/fake-url ]] && break; sleep 0.1; done
[[ -s $work/fake-url ]] || { echo "the fake Extend API did not start; see $work/fake.log" >&2; exit 1; }

cat >"$work/hookless.yaml" <<EOF
extend:
  base_url: $(cat "$work/fake-url")
  ca_file: $work/ca.pem
  requests_per_second: 10
control:
  socket: $work/hookless.sock
state:
  path: $work/state.db
# A run Extend does not know (exr_missing_e) ends as run.not_found once the fast period has passed:
# 5 s instead of the default 30 s, so that outcome does not set the length of the run.
polling:
  fast_period: 5s
sinks:
  out:
    type: stdout
  archive:
    type: file
    path: $work/events.jsonl
default_sinks: [out, archive]
logging:
  level: debug
EOF

start_daemon() {  # $1: log name
  EXTEND_API_KEY=sk_test_hookless "$build/daemon/hooklessd" --config "$work/hookless.yaml" \
    >"$work/$1.stdout" 2>"$work/$1.log" &
  daemon_pid=$!
  for _ in $(seq 300); do
    curl -sf --unix-socket "$work/hookless.sock" http://localhost/v1/health >/dev/null 2>&1 && return 0
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "hooklessd did not become ready; see $work/$1.log" >&2
  return 1
}

# True once no run is pending and no delivery is waiting: every registered run is finished and
# each of its events is in every sink.
all_delivered() {
  local runs deliveries
  runs=$(curl -sf --unix-socket "$work/hookless.sock" "http://localhost/v1/runs?state=pending&limit=1") || return 1
  deliveries=$(curl -sf --unix-socket "$work/hookless.sock" "http://localhost/v1/deliveries?state=pending&limit=1") || return 1
  [[ $runs == *'"runs":[]'* && $deliveries == *'"deliveries":[]'* ]]
}

wait_until_delivered() {  # $1: log name; waits for the condition, not a fixed time
  local deadline=$((SECONDS + e2e_timeout))
  until all_delivered; do
    if ((SECONDS >= deadline)); then
      echo "end to end ($1): runs or deliveries still pending after $e2e_timeout s; see $work/$1.log" >&2
      status=1
      return 0
    fi
    sleep 0.2
  done
  echo "== end to end ($1): every run finished and delivered after $((SECONDS - phase_started)) s"
}

stop_daemon() {  # $1: log name; SIGTERM must end it with status 0 and no sanitizer report
  kill -TERM "$daemon_pid"
  local rc=0
  wait "$daemon_pid" || rc=$?
  daemon_pid=""
  if ((rc != 0)); then
    echo "hooklessd ($1) exited with status $rc after SIGTERM" >&2
    status=1
  fi
}

start_daemon first || status=1
phase_started=$SECONDS
curl -sf --unix-socket "$work/hookless.sock" -H 'content-type: application/json' \
  -d '{"runs":[{"id":"exr_a"},{"id":"clr_b_fail"},{"id":"workflow_run_c_review"},{"id":"dpr_d"},{"id":"exr_missing_e"}]}' \
  http://localhost/v1/runs >"$work/register.json" || status=1
wait_until_delivered first
curl -sf --unix-socket "$work/hookless.sock" "http://localhost/v1/runs?state=all" >"$work/runs-first.json" || status=1
stop_daemon first

start_daemon second || status=1
phase_started=$SECONDS
curl -sf --unix-socket "$work/hookless.sock" -H 'content-type: application/json' \
  -d '{"runs":[{"id":"exr_after_restart"}]}' http://localhost/v1/runs >/dev/null || status=1
wait_until_delivered second
curl -sf --unix-socket "$work/hookless.sock" "http://localhost/v1/runs?state=all" >"$work/runs-second.json" || status=1
stop_daemon second

kill -TERM "$fake_pid"
wait "$fake_pid" || { echo "the fake Extend API exited with status $?" >&2; status=1; }
fake_pid=""

echo "== $(wc -l <"$work/events.jsonl" 2>/dev/null || echo 0) events in $work/events.jsonl"

# A report in a log means a process could not write to $reports; either way it is a finding.
found=$(find "$reports" -type f | sort)
logged=$(grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|Undefined)' "$work"/*.log || true)
if [[ -n $found || -n $logged ]]; then
  for report in $found $logged; do
    echo "---- $report" >&2
    head -n 60 "$report" >&2
  done
  echo "sanitizer findings: $(wc -w <<<"$found $logged") report(s), see above" >&2
  status=1
fi
echo "== sanitizer job: $((SECONDS - started)) s, $([[ $status == 0 ]] && echo passed || echo FAILED)"
exit "$status"
