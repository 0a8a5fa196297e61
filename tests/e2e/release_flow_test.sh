#!/usr/bin/env bash
# End-to-end: release flows with the built binaries and real processes. Deploys the example
# shop to dev, promotes it to staging and prod (with an approval by a second token), checks the
# service with HTTP, then kills slipwayd with SIGKILL in the middle of runs (during a deploy, a
# sleep and an approval wait), restarts it, and checks that each run finishes exactly once with
# exactly one release.
#   release_flow_test.sh SLIPWAYD SLIPWAY SOURCE_DIR HELLO_SERVER_DIR
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
SRC=$3
export PATH="$(cd "$4" && pwd):$PATH"
source "$(dirname "$0")/lib.sh"
run_state() { cli run get "$1" -o json | json "d.get('state','').removeprefix('RUN_STATE_').lower()"; }
# Waits until `run_state RUN` prints $2 (or a node condition), up to 30 s.
wait_for() {
  local run=$1 want=$2
  for _ in $(seq 1 300); do
    [ "$(run_state "$run")" = "$want" ] && return 0
    sleep 0.1
  done
  echo "run $run is $(run_state "$run"), not $want" >&2
  cli run get "$run" >&2
  return 1
}
wait_node() {  # run ref state
  for _ in $(seq 1 300); do
    s=$(cli run get "$1" -o json | json "[n.get('state','').removeprefix('NODE_STATE_').lower() for n in d['nodes'] if n['ref']=='$2'][0]")
    [ "$s" = "$3" ] && return 0
    sleep 0.1
  done
  echo "node $2 of $1 is $s, not $3" >&2
  return 1
}
url_of() { cli run get "$1" -o json | json "[n['outputs']['url'] for n in d['nodes'] if n['ref']=='$2'][0]"; }

start_daemon
cli apply -f "$SRC/examples/shop/pipeline.yaml" >/dev/null
second=$(cli token create --scope deploy --description approver 2>/dev/null)

# dev: deploy and check with HTTP; the CLI exits 0 only on success.
out=$(cli run shop/dev --arg version=1.4.2 --sha 3f2c9a1 --request-id ci-1 --wait); rc=$?
check "run --wait exits 0 on success" test "$rc" = 0
check "run --wait shows node progress" grep -q "deploy-web succeeded" <<<"$out"
dev_run=$(cli runs shop/dev -o json | json "d['runs'][0]['id']")
dev_url=$(url_of "$dev_run" deploy-web)
check "dev answers with its version" test "$(curl -fsS "$dev_url/version")" = "1.4.2"
again=$(cli run shop/dev --arg version=1.4.2 --sha 3f2c9a1 --request-id ci-1 -o json | json "d['id']")
check "a retried CI job with the same request id attaches to the same run" test "$again" = "$dev_run"
out=$(cli run shop/dev --sha 9e8d7c6b5a --wait 2>&1); rc=$?
check "a run without --arg version takes the declared default" test "$rc" = 0
no_arg_run=$(cli runs shop/dev -o json | json "d['runs'][0]['id']")
check "the default is derived from the commit" test "$(curl -fsS "$(url_of "$no_arg_run" deploy-web)/version")" = "0.0.0-9e8d7c6"
out=$(cli run shop/dev --arg version=1.4.2 --sha 3f2c9a1 --wait); rc=$?
check "dev is back at 1.4.2 for the stages after it" test "$rc" = 0

# staging promotes what dev runs; prod waits for an approval by someone else.
check "staging promotes dev" cli run shop/staging --wait
stg_run=$(cli runs shop/staging -o json | json "d['runs'][0]['id']")
check "staging answers with dev's version" test "$(curl -fsS "$(url_of "$stg_run" web)/version")" = "1.4.2"
prod_run=$(cli run shop/prod -o json | json "d['id']")
check "prod waits for approval" wait_for "$prod_run" awaiting_approval
out=$(cli approve "$prod_run" --node go 2>&1); rc=$?
check "the initiator cannot approve" bash -c "test $rc = 1 && grep -q PERMISSION_DENIED <<<\"$out\""
check "another token approves" "$SLIPWAY" --data-dir "$DATA" --token "$second" approve "$prod_run" --node go
check "prod succeeds" wait_for "$prod_run" succeeded
check "prod runs the promoted version" test "$(curl -fsS "$(url_of "$prod_run" web)/version")" = "1.4.2"
check "prod recorded release 1" test "$(cli releases shop/prod -o json | json "len(d['releases'])")" = 1
out=$(cli logs "$prod_run")
check "logs show the migration job" grep -q "migrate" <<<"$out"

# Cancel.
cat >"$WORK/e2e.yaml" <<'YAML'
name: e2e
stages:
  - name: slow
    resources:
      - {name: web, driver: process, process: {command: ["hello-server", "--version", "${artifact.version}"], health: {http_path: /healthz}}}
    flow:
      sequential:
        - {ref: wait, sleep: {duration: 3s}}
        - {ref: web, deploy: {resource: web, artifact: {version: slow}}}
  - name: gated
    resources:
      - {name: web, driver: process, process: {command: ["hello-server", "--version", "${artifact.version}"]}}
    flow:
      sequential:
        - {ref: go, approval: {}}
        - {ref: web, deploy: {resource: web, artifact: {version: gated}}}
  - name: busy
    resources:
      - {name: db, driver: command, command: {apply: ["/bin/sh", "-c", "sleep 3; echo applied"]}}
    flow:
      sequential:
        - {ref: db, deploy: {resource: db, artifact: {version: "9"}}}
  - name: idle
    resources:
      - {name: web, driver: process, process: {command: ["hello-server"]}}
    flow:
      sequential:
        - {ref: wait, sleep: {duration: 60s}}
YAML
cli apply -f "$WORK/e2e.yaml" >/dev/null
idle=$(cli run e2e/idle -o json | json "d['id']")
check "cancel a running run" cli cancel "$idle" --reason "not needed"
check "the cancelled run ends cancelled" wait_for "$idle" cancelled

# SIGKILL in the middle of a sleep, an approval wait and a deploy.
slow=$(cli run e2e/slow -o json | json "d['id']")
gated=$(cli run e2e/gated -o json | json "d['id']")
busy=$(cli run e2e/busy -o json | json "d['id']")
check "slow is sleeping" wait_node "$slow" wait waiting
check "gated waits for approval" wait_for "$gated" awaiting_approval
check "busy is deploying" wait_node "$busy" db running
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=""
start_daemon
check "the gated run still waits after the restart" wait_for "$gated" awaiting_approval
"$SLIPWAY" --data-dir "$DATA" --token "$second" approve "$gated" --node go >/dev/null
for r in "$slow" "$gated" "$busy"; do
  check "run $r finishes after the restart" wait_for "$r" succeeded
done
for s in slow gated busy; do
  n=$(cli releases "e2e/$s" -o json | json "len(d.get('releases', []))")
  check "stage e2e/$s has exactly one release" test "$n" = 1
  n=$(cli runs "e2e/$s" -o json | json "len(d.get('runs', []))")
  check "stage e2e/$s has exactly one run" test "$n" = 1
done
slow_url=$(url_of "$slow" web)
check "the resumed deploy runs" test "$(curl -fsS "$slow_url/version")" = "slow"
check "no run is left unfinished" test "$(cli runs -o json | json "len([r for r in d.get('runs',[]) if r['state'].removeprefix('RUN_STATE_').lower() in ('running','pending','queued','awaiting_approval','cancelling')])")" = 0

# Metrics after the flows: streams apart from the unary histogram, the process families, and
# an exposition promtool accepts.
cli logs "$slow" >/dev/null
curl -fsS "http://$(endpoint http)/metrics" >"$WORK/metrics.txt"
for family in process_cpu_seconds_total process_resident_memory_bytes process_virtual_memory_bytes \
  process_open_fds process_max_fds process_start_time_seconds slipway_grpc_stream_duration_seconds \
  slipway_grpc_request_duration_seconds slipway_grpc_requests_total slipway_build_info \
  slipway_runs_started_total slipway_runs_ended_total slipway_run_duration_seconds \
  slipway_releases_total slipway_executor_commit_events slipway_executor_commit_duration_seconds \
  slipway_executor_active_runs slipway_node_duration_seconds slipway_stages_held; do
  check "/metrics has $family" grep -q "^# TYPE $family " "$WORK/metrics.txt"
done
metric() {  # family label-value...: the sample of `family` whose labels include them all
  python3 - "$WORK/metrics.txt" "$@" <<'PY'
import re, sys
text, family, want = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3:]
for m in re.finditer(r'^' + re.escape(family) + r'\{([^}]*)\} (\S+)$', text, re.M):
    labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
    if all(labels.get(k) == v for k, v in (w.split('=', 1) for w in want)):
        print(m.group(2)); break
PY
}
for s in slow gated busy; do
  check "the resumed e2e/$s run counts as ended, succeeded" \
    test "$(metric slipway_runs_ended_total pipeline=e2e stage=$s kind=release outcome=succeeded)" = 1
  check "and its release is counted" test "$(metric slipway_releases_total pipeline=e2e stage=$s)" = 1
done
check "run durations are observed by kind and outcome" \
  python3 -c "import sys; sys.exit(0 if float(sys.argv[1] or 0) >= 3 else 1)" \
  "$(metric slipway_run_duration_seconds_count kind=release outcome=succeeded)"
check "node durations are observed by outcome" \
  python3 -c "import sys; sys.exit(0 if float(sys.argv[1] or 0) >= 3 else 1)" \
  "$(grep '^slipway_node_duration_seconds_count{outcome="succeeded"}' "$WORK/metrics.txt" | awk '{print $2}')"
check "commits are observed" python3 -c "import sys; sys.exit(0 if float(sys.argv[1] or 0) >= 1 else 1)" \
  "$(grep '^slipway_executor_commit_events_count' "$WORK/metrics.txt" | awk '{print $2}')"
check "no run id is a label" bash -c "! grep -q 'run-[0-9a-f]\{16\}' '$WORK/metrics.txt'"
check "WatchRun is in the stream histogram" grep -q 'slipway_grpc_stream_duration_seconds_count{method="/slipway.v1.ReleaseService/WatchRun"}' "$WORK/metrics.txt"
check "WatchRun is not in the unary histogram" bash -c "! grep -q 'slipway_grpc_request_duration_seconds_count{method=\"/slipway.v1.ReleaseService/WatchRun\"}' '$WORK/metrics.txt'"
check "the start time is this process's" python3 -c "
import re, sys, time
v = float(re.search(r'^process_start_time_seconds (\S+)', open(sys.argv[1]).read(), re.M).group(1))
sys.exit(0 if time.time() - 600 < v <= time.time() + 1 else 1)
" "$WORK/metrics.txt"
if command -v promtool >/dev/null; then
  check "promtool check metrics is clean" bash -c "promtool check metrics <'$WORK/metrics.txt'"
fi

kill -TERM "$PID"; wait "$PID"; PID=""
summary
