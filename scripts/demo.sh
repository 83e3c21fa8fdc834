#!/usr/bin/env bash
# The main job, end to end: builds hookless, starts hooklessd, registers runs and shows their
# events arriving on stdout and in a file.
#
# Without EXTEND_API_KEY it runs against the bundled Extend simulator (hookless-fake-extend) on
# 127.0.0.1 and registers a few runs of different kinds and outcomes. With EXTEND_API_KEY set it
# runs against the real API (extend.base_url from EXTEND_BASE_URL, default https://api.extend.ai)
# and watches the run IDs given as arguments: ./scripts/demo.sh exr_... workflow_run_...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HOOKLESS_BUILD_DIR:-$root/build}
"$root/scripts/build.sh" hooklessd hooklessctl hookless-fake-extend

work=$(mktemp -d -t hookless-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

if [[ -z ${EXTEND_API_KEY:-} ]]; then
  echo "== No EXTEND_API_KEY: using the bundled Extend simulator"
  "$build/tests/support/hookless-fake-extend" --quiet --rate-limit 10 --auto-finish-after-ms 3000 \
    --ca-out "$work/ca.pem" --ready-file "$work/fake-url" 2>"$work/fake.log" &
  pids+=($!)
  for _ in $(seq 50); do [[ -s $work/fake-url ]] && break; sleep 0.1; done
  base_url=$(cat "$work/fake-url")
  export EXTEND_API_KEY=sk_test_hookless
  ca_line="  ca_file: $work/ca.pem"
  runs=(exr_demo_invoice clr_demo_fail splr_demo_cancel workflow_run_demo_review dpr_demo_legacy pr_demo_parse)
else
  base_url=${EXTEND_BASE_URL:-https://api.extend.ai}
  ca_line=""
  runs=("$@")
  [[ ${#runs[@]} -gt 0 ]] || { echo "usage: EXTEND_API_KEY=sk_... $0 RUN_ID..." >&2; exit 2; }
fi

cat >"$work/hookless.yaml" <<EOF
extend:
  base_url: $base_url
$ca_line
  requests_per_second: 10
control:
  socket: $work/hookless.sock
state:
  path: $work/state.db
sinks:
  out:
    type: stdout
  archive:
    type: file
    path: $work/events.jsonl
default_sinks: [out, archive]
EOF

echo "== Starting hooklessd (config $work/hookless.yaml); events print below as JSON lines"
"$build/daemon/hooklessd" --config "$work/hookless.yaml" 2>"$work/hooklessd.log" &
pids+=($!)
export HOOKLESS_SOCKET=$work/hookless.sock
for _ in $(seq 100); do "$build/daemon/hooklessctl" health >/dev/null 2>&1 && break; sleep 0.1; done

echo "== Registering: ${runs[*]}"
"$build/daemon/hooklessctl" watch "${runs[@]}"
"$build/daemon/hooklessctl" wait "${runs[@]}" --timeout 10m >/dev/null || true

echo "== Runs"
"$build/daemon/hooklessctl" ls
echo "== $(wc -l <"$work/events.jsonl") events in $work/events.jsonl; daemon log: $work/hooklessd.log"
