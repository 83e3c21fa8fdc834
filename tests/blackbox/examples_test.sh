#!/usr/bin/env bash
# Black box: the applications in examples/ against the built hooklessd and the Extend simulator
# over TLS, as a user would run them. The Node.js app creates an extract run with the official SDK
# (extend-ai, pinned in examples/node/package-lock.json, installed here with `npm ci`) and registers
# it over the Unix socket; the Python app registers runs with the standard library. hooklessd
# delivers each finished run to the app's receiver through an http sink; the receivers verify the
# signature (the SDK's verifyAndParse; hmac) and print the events they accepted.
# Usage: examples_test.sh HOOKLESSD FAKE_EXTEND EXAMPLES_DIR WORK_DIR
set -euo pipefail
hooklessd=$1 fake_extend=$2 examples=$3 work=$4

fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in node npm python3 curl; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done

# The Node.js example's packages, installed once per lock file in the build tree.
mkdir -p "$work/node" "$work/python"
cp "$examples"/python/*.py "$work/python/"
cp "$examples"/node/*.mjs "$examples/node/package.json" "$work/node/"
if ! cmp -s "$examples/node/package-lock.json" "$work/node/package-lock.json" || [[ ! -d $work/node/node_modules/extend-ai ]]; then
  cp "$examples/node/package-lock.json" "$work/node/"
  (cd "$work/node" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci of examples/node"
fi

run=$(mktemp -d -t hookless-examples.XXXXXX)
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if ((status != 0)); then
    for log in "$run"/*.log "$run"/*.out; do [[ -f $log ]] && { echo "---- $log"; tail -n 40 "$log"; }; done
  fi
  rm -rf "$run"
}
trap cleanup EXIT

# wait_for SECONDS COMMAND...: true once COMMAND succeeds, polled every 0.1 s.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}
listening_port() { sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)/$|\1|p' "$1"; }

secret=wss_examples_test_secret
printf '%s\n' "$secret" >"$run/signing-secret"

"$fake_extend" --quiet --auto-finish-after-ms 1500 --ca-out "$run/ca.pem" --ready-file "$run/fake-url" \
  >"$run/fake.log" 2>&1 &
pids+=($!)
wait_for 20 test -s "$run/fake-url" || fail "the Extend simulator did not start"
base_url=$(cat "$run/fake-url")

EXTEND_WEBHOOK_SECRET=$secret PORT=0 node "$work/node/receiver.mjs" >"$run/node-receiver.out" 2>"$run/node-receiver.log" &
pids+=($!)
(cd "$work/python" && EXTEND_WEBHOOK_SECRET=$secret PORT=0 exec python3 receiver.py) \
  >"$run/python-receiver.out" 2>"$run/python-receiver.log" &
pids+=($!)
wait_for 20 grep -q listening "$run/node-receiver.log" || fail "the Node.js receiver did not start"
wait_for 20 grep -q listening "$run/python-receiver.log" || fail "the Python receiver did not start"
node_port=$(listening_port "$run/node-receiver.log")
python_port=$(listening_port "$run/python-receiver.log")

socket=$run/hookless.sock
cat >"$run/hookless.yaml" <<YAML
extend:
  base_url: $base_url
  ca_file: $run/ca.pem
polling:
  fast_interval: 200ms
control:
  socket: $socket
state:
  path: $run/state.db
sinks:
  node_app:
    type: http
    url: http://127.0.0.1:$node_port/webhooks/extend
    signing_secret_file: $run/signing-secret
    events: ["*"]
  python_app:
    type: http
    url: http://127.0.0.1:$python_port/webhooks/extend
    signing_secret_file: $run/signing-secret
    events: ["extract_run.*", "run.*"]
default_sinks: [node_app]
YAML
EXTEND_API_KEY=sk_test_hookless "$hooklessd" --config "$run/hookless.yaml" >"$run/hooklessd.out" 2>"$run/hooklessd.log" &
pids+=($!)
health() { curl -sf --unix-socket "$socket" http://localhost/v1/health >/dev/null; }
wait_for 20 health || fail "hooklessd did not answer on $socket"

# The Node.js app: creates the run with the SDK at the simulator, registers it for node_app.
(cd "$work/node" && NODE_EXTRA_CA_CERTS=$run/ca.pem EXTEND_BASE_URL=$base_url EXTEND_API_KEY=sk_test_hookless \
  HOOKLESS_SOCKET=$socket node start_run.mjs https://example.com/invoice.pdf node_app) >"$run/node-app.out" 2>&1 ||
  fail "start_run.mjs: $(cat "$run/node-app.out")"
created=$(sed -n 's/^created \(exr_[A-Za-z0-9_-]*\) (PROCESSING)$/\1/p' "$run/node-app.out")
[[ -n $created ]] || fail "start_run.mjs did not create a PROCESSING run: $(cat "$run/node-app.out")"
grep -q "^hookless is watching $created (extract_run, pending)$" "$run/node-app.out" ||
  fail "start_run.mjs did not register $created: $(cat "$run/node-app.out")"

# The Python app: registers runs the simulator makes up (one succeeds, one fails) for python_app.
(cd "$work/python" && HOOKLESS_SOCKET=$socket python3 watch_runs.py --sink python_app \
  exr_python_example exr_python_example_fail) >"$run/python-app.out" 2>&1 ||
  fail "watch_runs.py: $(cat "$run/python-app.out")"
grep -q "^hookless is watching exr_python_example_fail (extract_run, pending)$" "$run/python-app.out" ||
  fail "watch_runs.py did not register its runs: $(cat "$run/python-app.out")"

# Each receiver verified and printed its finished runs, with the context given at registration.
received() { grep -q "\"eventType\":\"$2\",\"runId\":\"$3\"" "$1"; }
wait_for 60 received "$run/node-receiver.out" extract_run.processed "$created" ||
  fail "the Node.js receiver did not get extract_run.processed for $created"
wait_for 60 received "$run/python-receiver.out" extract_run.processed exr_python_example ||
  fail "the Python receiver did not get extract_run.processed for exr_python_example"
wait_for 60 received "$run/python-receiver.out" extract_run.failed exr_python_example_fail ||
  fail "the Python receiver did not get extract_run.failed for exr_python_example_fail"
grep -q '"context":{"fileUrl":"https://example.com/invoice.pdf","startedBy":"start_run.mjs"}' \
  "$run/node-receiver.out" || fail "the Node.js receiver's event lacks the registration's context"
grep -q '"status":"FAILED","context":{"startedBy":"watch_runs.py"}' "$run/python-receiver.out" ||
  fail "the Python receiver's event lacks the run's status or the context"
# The run the SDK created carries the metadata it was created with.
curl -sf --unix-socket "$socket" "http://localhost/v1/runs/$created/events" | grep '"source":"hookless-example-node"' >/dev/null ||
  fail "the event of $created lacks the run's metadata"
# Every delivery was accepted: nothing refused, nothing left to retry.
for log in node-receiver.log python-receiver.log; do
  ! grep -q refused "$run/$log" || fail "$log: a delivery from hooklessd was refused: $(cat "$run/$log")"
done
# (A receiver prints an event before it answers, so the last delivery may take a moment to be done.)
none_pending() { curl -sf --unix-socket "$socket" "http://localhost/v1/deliveries?state=pending" | grep '"deliveries":\[\]' >/dev/null; }
wait_for 20 none_pending ||
  fail "deliveries still pending: $(curl -s --unix-socket "$socket" "http://localhost/v1/deliveries?state=pending")"

# And the receivers do verify: a forged request and a stale one are refused.
body='{"eventId":"event_forged","eventType":"extract_run.processed","payload":{"id":"exr_forged"}}'
now=$(date +%s)
stale=$((now - 3600))
good_old=$(printf 'v0:%s:%s' "$stale" "$body" | openssl dgst -sha256 -hmac "$secret" -hex | sed 's/^.* //')
for port in "$node_port" "$python_port"; do
  status=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
    -H "x-extend-request-timestamp: $now" -H "x-extend-request-signature: $(printf '%064d' 0)" \
    --data-binary "$body" "http://127.0.0.1:$port/webhooks/extend")
  [[ $status == 400 ]] || fail "the receiver on port $port answered $status to a forged signature"
  status=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
    -H "x-extend-request-timestamp: $stale" -H "x-extend-request-signature: $good_old" \
    --data-binary "$body" "http://127.0.0.1:$port/webhooks/extend")
  [[ $status == 400 ]] || fail "the receiver on port $port answered $status to an hour-old timestamp"
done
! grep -q exr_forged "$run/node-receiver.out" "$run/python-receiver.out" || fail "a forged event was handled"
echo "examples: the Node.js and Python apps' runs were delivered and verified"
