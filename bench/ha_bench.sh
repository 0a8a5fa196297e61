#!/usr/bin/env bash
# Replicas on PostgreSQL, measured (docs/benchmarks.md):
# 1. build/bench/ha_bench: webhook intake and run throughput, one replica on SQLite against one
#    on PostgreSQL in the same run, then two and three replicas, and the store's round trips
#    per delivery. PostgreSQL is durable here (fsync and synchronous commit on), as SQLite is.
# 2. Failover with real processes: two slipwayd replicas; a run with a long sleep is started on
#    one, which is then SIGKILLed; the time until the other has adopted the run (its first
#    resumed node: the run names the new replica and its sleep starts again) is taken from the
#    kill. Repeated KILLS times (the victim is started again in between); p50 and p99.
#   bench/ha_bench.sh [SECONDS_PER_PHASE] [KILLS] [LEASE]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-5}
kills=${2:-20}
lease=${3:-10}
work=$(mktemp -d)
state=$work/pg.env
declare -A pids
finish() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  "$root/tests/postgres/cluster.sh" stop "$state" || true
  rm -rf "$work"
}
trap finish EXIT
fixture=$root/../shared/fixtures/webhooks/github/push-branch.json

"$root/tests/postgres/cluster.sh" start "$state" --durable
# shellcheck disable=SC1090
. "$state"
echo "== intake and runs: build/bench/ha_bench --postgres $PG_URL --seconds $seconds"
"$root/build/bench/ha_bench" --postgres "$PG_URL" --fixture "$fixture" --seconds "$seconds"

echo "== failover: 2 replicas, lease ${lease}s, $kills kills"
python3 -c 'import secrets;print(secrets.token_hex(32))' >"$work/secret.key"
chmod 600 "$work/secret.key"
"$PG_BIN/psql" -q "$PG_ADMIN_URL" -c "CREATE DATABASE failover OWNER slipway" >/dev/null
store=${PG_URL%/slipway}/failover
start() {  # replica
  local d=$work/r$1
  mkdir -p -m 700 "$d"
  rm -f "$d/endpoints.json"
  "$root/build/server/slipwayd" --data-dir "$d" --store "$store" --secret-key-file "$work/secret.key" \
    --replica-lease "${lease}s" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
    >>"$work/r$1.log" 2>&1 &
  pids[$1]=$!
  for _ in $(seq 100); do [ -s "$d/endpoints.json" ] && return 0; sleep 0.1; done
  echo "replica $1 did not start" >&2; tail "$work/r$1.log" >&2; exit 1
}
grpc() { python3 -c "import json;print(json.load(open('$work/r$1/endpoints.json'))['grpc'])"; }
start 1
token=$(cat "$work/r1/admin.token")
start 2
cli() { local r=$1; shift; "$root/build/cli/slipway" --server "$(grpc "$r")" --token "$token" "$@"; }
cat >"$work/p.yaml" <<'EOF'
name: failover
stages:
  - name: dev
    concurrency: allow
    resources: [{name: web, driver: command, command: {apply: [/bin/true]}}]
    flow: {sequential: [{ref: web, deploy: {resource: web}}, {ref: wait, sleep: {duration: 10m}}]}
EOF
cli 1 apply -f "$work/p.yaml" >/dev/null
: >"$work/failover.txt"
for k in $(seq "$kills"); do
  victim=$(( k % 2 + 1 )); other=$(( 3 - victim ))
  run=$(cli "$victim" run failover/dev -o json | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
  owner=$(cli "$victim" run get "$run" -o json | python3 -c 'import json,sys;print(json.load(sys.stdin)["replica"])')
  sleep 0.5  # the run is in its sleep
  t0=$(date +%s.%N)
  kill -9 "${pids[$victim]}"
  while :; do
    now=$(cli "$other" run get "$run" -o json 2>/dev/null |
      python3 -c 'import json,sys;d=json.load(sys.stdin);print(d.get("replica",""))' 2>/dev/null || true)
    if [ -n "$now" ] && [ "$now" != "$owner" ]; then break; fi
    sleep 0.05
  done
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.2f}')" | tee -a "$work/failover.txt"
  cli "$other" cancel "$run" >/dev/null
  start "$victim"
done
python3 - "$work/failover.txt" "$lease" <<'PY'
import sys
v = sorted(float(x) for x in open(sys.argv[1]).read().split())
p = lambda q: v[min(len(v) - 1, int(q * len(v)))]
print(f"failover over {len(v)} kills, lease {sys.argv[2]} s: p50 {p(0.5):.2f} s, p99 {p(0.99):.2f} s, "
      f"max {v[-1]:.2f} s (target p99 <= lease + 2 s = {float(sys.argv[2]) + 2:.0f} s)")
PY
