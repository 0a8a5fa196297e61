#!/usr/bin/env bash
# End-to-end: three slipwayd replicas on one private PostgreSQL (directly, or through PgBouncer in
# transaction-pooling mode), with the built binaries.
# - Signed GitHub pushes are spread over the replicas while random replicas are SIGKILLed and
#   started again; every acknowledged delivery starts exactly one run, redeliveries to another
#   replica start nothing, no run is left unfinished, each succeeded run leaves one release, and
#   each schedule time fires once across the replicas.
# - A replica SIGSTOPped past its lease while it executes a run: another adopts the run and
#   finishes it; woken up, the stopped one writes nothing (its writes are fenced) and exits.
# - Approve and cancel sent to a replica that does not execute the run are applied by the one
#   that does.
# - The database stopped under load: writes get 503 and /readyz says not ready; started again,
#   the replicas recover without a restart.
#   replicas_test.sh SLIPWAYD SLIPWAY FIXTURES SOURCE_DIR [direct|pgbouncer]
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
FIXTURES=$3
SRC=$4
MODE=${5:-direct}
export SHOP_HOOK_SECRET=e2e-replicas-secret
source "$(dirname "$0")/lib.sh"

PG_STATE=$WORK/pg.env
"$SRC/tests/postgres/cluster.sh" start "$PG_STATE" $([ "$MODE" = pgbouncer ] && echo --pgbouncer) ||
  { echo "cannot start PostgreSQL" >&2; exit 1; }
# shellcheck disable=SC1090
. "$PG_STATE"
STORE=$PG_URL
[ "$MODE" = pgbouncer ] && STORE=$BOUNCER_URL
LEASE=3
declare -A RPID
stop_all() {
  for r in 1 2 3; do [ -n "${RPID[$r]:-}" ] && kill -9 "${RPID[$r]}" 2>/dev/null; done
  "$SRC/tests/postgres/cluster.sh" stop "$PG_STATE"
  cleanup
}
trap stop_all EXIT

# Replica r: its own data dir, the shared store and secret key.
start_replica() {  # r
  local r=$1 d=$WORK/data$1
  mkdir -p -m 700 "$d"
  rm -f "$d/endpoints.json"
  "$SLIPWAYD" --data-dir "$d" --store "$STORE" --secret-key-file "$WORK/secret.key" \
    --replica-lease ${LEASE}s --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
    >>"$WORK/replica$r.log" 2>&1 &
  RPID[$r]=$!
  for _ in $(seq 1 100); do [ -s "$d/endpoints.json" ] && return 0; sleep 0.1; done
  echo "replica $r did not start:" >&2
  tail -20 "$WORK/replica$r.log" >&2
  exit 1
}
addr() {  # r grpc|http
  python3 -c "import json;print(json.load(open('$WORK/data$1/endpoints.json'))['$2'])"
}
alive() { kill -0 "${RPID[$1]}" 2>/dev/null; }
# The CLI against replica r (any live one when r is 0).
rcli() {
  local r=$1; shift
  if [ "$r" = 0 ]; then for r in 1 2 3; do alive "$r" && break; done; fi
  "$SLIPWAY" --server "$(addr "$r" grpc)" --token "$TOKEN" "$@"
}

python3 -c 'import secrets;print(secrets.token_hex(32))' >"$WORK/secret.key"
chmod 600 "$WORK/secret.key"
start_replica 1
TOKEN=$(cat "$WORK/data1/admin.token")
start_replica 2
start_replica 3

cat >"$WORK/shop.yaml" <<'EOF'
name: shop
sources:
  - {name: app, provider: github, repository: acme/shop, webhook_secret: {env: SHOP_HOOK_SECRET}}
stages:
  - name: dev
    concurrency: allow
    resources: [{name: web, driver: command, command: {apply: [/bin/true]}}]
    triggers:
      - git: {source: app, branches: [main]}
      - schedule: {cron: "* * * * *"}
    flow:
      sequential:
        - {ref: web, deploy: {resource: web}}
        - {ref: pause, sleep: {duration: 1s}}
  - name: serial
    concurrency: queue
    resources: [{name: db, driver: command, command: {apply: [/bin/true]}}]
    flow:
      sequential:
        - {ref: db, deploy: {resource: db}}
        - {ref: hold, sleep: {duration: 3s}}
  - name: slow
    concurrency: allow
    resources: [{name: api, driver: command, command: {apply: [/bin/true]}}]
    flow:
      sequential:
        - {ref: api, deploy: {resource: api}}
        - {ref: wait, sleep: {duration: 8s}}
  - name: gate
    concurrency: allow
    resources: [{name: site, driver: command, command: {apply: [/bin/true]}}]
    flow:
      sequential:
        - {ref: sign-off, approval: {approvals: 1}}
        - {ref: site, deploy: {resource: site}}
        - {ref: soak, sleep: {duration: 10m}}
EOF
check "the pipeline applies through replica 2" rcli 2 apply -f "$WORK/shop.yaml"
check "replica 3 sees it" rcli 3 get pipeline shop

replicas_live() {  # n: that many replicas are listed live
  [ "$(rcli 0 get replicas -o json | json "sum(1 for r in d.get('replicas',[]) if r.get('live'))")" = "$1" ]
}
check "three replicas are listed live" wait_for 10 replicas_live 3
out=$(rcli 1 get replicas)
echo "$out"
listed_with_address() { rcli 1 get replicas | grep -q "$(addr 2 grpc)"; }
check "the listing names each replica's address" wait_for 5 listed_with_address
work_shared() {
  rcli 0 get replicas -o json | python3 -c '
import json, sys
work = [w for r in json.load(sys.stdin)["replicas"] if r.get("live") for w in r.get("work", [])]
sys.exit(0 if sorted(work) == ["maintenance", "poller", "previews", "scheduler", "sweep"] else 1)'
}
check "the five pieces of work are owned once each across the replicas" wait_for 15 work_shared

# A signed push of main with delivery id `id` to replica r; prints the HTTP status.
push() {  # r id
  python3 - "$FIXTURES/github/push-branch.json" "$2" >"$WORK/push-$2.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["repository"]["full_name"] = "acme/shop"
d["ref"] = "refs/heads/main"
d["after"] = "%040x" % abs(hash(sys.argv[2]))
print(json.dumps(d))
PY
  local sig
  sig="sha256=$(openssl dgst -sha256 -hmac "$SHOP_HOOK_SECRET" -hex <"$WORK/push-$2.json" | awk '{print $2}')"
  curl -s -o /dev/null -m 10 -w "%{http_code}" -X POST "http://$(addr "$1" http)/hooks/github" \
    -H "Content-Type: application/json" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: $2" \
    -H "X-Hub-Signature-256: $sig" --data-binary @"$WORK/push-$2.json" 2>/dev/null
}

# Deliveries spread over the replicas while a random one is killed and started again every few
# seconds. A delivery is acknowledged when a replica answers 2xx; a sender whose replica died
# tries the next one, as a load balancer would.
: >"$WORK/acked"
kills=0
start_time=$SECONDS
sent=0
for i in $(seq 1 60); do
  # Bounded in time as well as in count: a slow machine (sanitizers) sends fewer.
  [ $((SECONDS - start_time)) -ge 150 ] && break
  sent=$i
  id="e2e-$i"
  for attempt in 1 2 3 4 5 6; do
    r=$(( (i + attempt) % 3 + 1 ))
    alive "$r" || continue
    code=$(push "$r" "$id")  # curl gives up after 10 s
    if [ "${code:0:1}" = 2 ]; then echo "$id" >>"$WORK/acked"; break; fi
    sleep 0.3
  done
  # Now and then the same delivery again, to another replica: it must start nothing new.
  if [ $((i % 10)) = 0 ]; then r=$(( i % 3 + 1 )); alive "$r" && push "$r" "$id" >/dev/null; fi
  if [ $((i % 12)) = 0 ]; then
    victim=$(( RANDOM % 3 + 1 ))
    kill -9 "${RPID[$victim]}" 2>/dev/null
    wait "${RPID[$victim]}" 2>/dev/null
    kills=$((kills + 1))
    start_replica "$victim"
  fi
  sleep 0.4
done
acked=$(wc -l <"$WORK/acked")
echo "sent $sent deliveries, $acked acknowledged, $kills replicas killed and restarted, $((SECONDS - start_time)) s"
check "most deliveries were acknowledged despite the kills" test $((acked * 10)) -ge $((sent * 9))

# Every schedule time that passed during the test should have come due at least once (the
# PgBouncer run leaves the schedule to the direct one, to keep the suite short).
if [ "$MODE" = direct ]; then
  while [ $((SECONDS - start_time)) -lt 65 ]; do sleep 1; done
fi

all_ended() {
  rcli 0 runs shop --limit 1000 -o json >"$WORK/runs.json" 2>/dev/null || return 1
  python3 -c '
import json, sys
runs = json.load(open(sys.argv[1])).get("runs", [])
ended = {"RUN_STATE_SUCCEEDED", "RUN_STATE_FAILED", "RUN_STATE_CANCELLED", "RUN_STATE_SKIPPED"}
sys.exit(0 if runs and all(r["state"] in ended for r in runs) else 1)' "$WORK/runs.json"
}
check "every run ends (none stuck with a killed replica)" wait_for $((LEASE * 6 + 30)) all_ended

python3 - "$WORK/runs.json" "$WORK/acked" >"$WORK/verdict" <<'PY'
import collections, json, sys
runs = json.load(open(sys.argv[1])).get("runs", [])
acked = set(open(sys.argv[2]).read().split())
by_delivery = collections.Counter(r.get("trigger", {}).get("delivery", "") for r in runs
                                  if r.get("trigger", {}).get("event") == "push")
lost = sorted(acked - set(by_delivery))
doubled = sorted(d for d, n in by_delivery.items() if n > 1)
states = collections.Counter(r["state"] for r in runs)
sched = [r for r in runs if r.get("trigger", {}).get("event") == "schedule"]
minutes = collections.Counter(r["create_time"][:16] for r in sched)
adopted = sum(1 for r in runs if r.get("replica") and r["state"] == "RUN_STATE_SUCCEEDED")
print("lost", len(lost), " ".join(lost[:5]))
print("doubled", len(doubled), " ".join(doubled[:5]))
print("failed", states.get("RUN_STATE_FAILED", 0))
print("succeeded", states.get("RUN_STATE_SUCCEEDED", 0))
print("schedule_runs", len(sched))
print("schedule_doubled", sum(1 for n in minutes.values() if n > 1))
print("with_replica", adopted)
PY
cat "$WORK/verdict"
v() { awk -v k="$1" '$1 == k {print $2}' "$WORK/verdict"; }
check "no acknowledged delivery is lost" test "$(v lost)" = 0
check "no delivery starts two runs (redeliveries to other replicas included)" test "$(v doubled)" = 0
check "no run failed" test "$(v failed)" = 0
[ "$MODE" = direct ] && check "the schedule fired during the test" test "$(v schedule_runs)" -ge 1
check "each schedule time fired once across the replicas" test "$(v schedule_doubled)" = 0
check "each run names the replica that executed it" test "$(v with_replica)" = "$(v succeeded)"
sql() { "$PG_BIN/psql" -qtA "$PG_URL" -c "$1"; }
releases=$(sql "SELECT count(*) FROM releases WHERE pipeline = 'shop' AND stage = 'dev'")
check "one release per succeeded run ($releases releases)" test "$releases" = "$(v succeeded)"
adopted_lines=$(cat "$WORK"/replica*.log | grep -c "adopted .* unfinished run")
echo "adoption log lines: $adopted_lines"
check "killed replicas had their runs adopted by live ones" test "$adopted_lines" -ge 1

# A queue stage across replicas: a run started on replica 2 while replica 1 executes the
# stage's run waits behind it, on replica 1; the two never run at once.
check "three replicas are live for the queue stage" wait_for $((LEASE * 4)) replicas_live 3
first=$(rcli 1 run shop/serial -o json | json "d['id']")
second_json=$(rcli 2 run shop/serial -o json)
second=$(json "d['id']" <<<"$second_json")
check "the second run is queued" test "$(json "d['state']" <<<"$second_json")" = RUN_STATE_QUEUED
check "it was handed over to the replica that runs the stage" \
  grep -q "handed over to replica" <<<"$(json "d.get('waiting_reason','')" <<<"$second_json")"
both_done() {
  [ "$(rcli 0 run get "$first" -o json | json "d['state']")" = RUN_STATE_SUCCEEDED ] &&
    [ "$(rcli 0 run get "$second" -o json | json "d['state']")" = RUN_STATE_SUCCEEDED ]
}
check "both runs succeed" wait_for 30 both_done
ordered=$(python3 - "$(rcli 0 run get "$first" -o json)" "$(rcli 0 run get "$second" -o json)" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("yes" if a["end_time"] <= b["start_time"] else "no %s %s" % (a["end_time"], b["start_time"]))
PY
)
check "the second started after the first ended ($ordered)" test "$ordered" = yes

# Approve and cancel through a replica that does not execute the run: the call is applied by
# the one that does, and answered through the first.
check "three replicas are live for calls about another replica's run" \
  wait_for $((LEASE * 4)) replicas_live 3
gated=$(rcli 1 run shop/gate -o json | json "d['id']")
gate_owner=$(rcli 1 run get "$gated" -o json | json "d.get('replica','')")
approver=$(rcli 1 token create --scope deploy --description e2e-approver 2>/dev/null)
approve_through_2() {
  "$SLIPWAY" --server "$(addr 2 grpc)" --token "$approver" \
    approve "$gated" --node sign-off --comment e2e >/dev/null 2>"$WORK/approve.err"
}
check "an approval sent to a replica that does not run the gate is answered" approve_through_2
check "replica 2 is not the one executing the run" \
  test "$(rcli 2 get replicas -o json | json "d.get('answered_by','')")" != "$gate_owner"
node_state() {  # ref
  rcli 0 run get "$gated" -o json | json "[n['state'] for n in d.get('nodes',[]) if n.get('ref')=='$1'][0]"
}
check "the approval is recorded" \
  test "$(node_state sign-off)" = NODE_STATE_SUCCEEDED
deployed() { [ "$(node_state site)" = NODE_STATE_SUCCEEDED ]; }
check "the approved run goes on on the replica that executes it" wait_for 15 deployed
check "it is still executed by that replica" \
  test "$(rcli 0 run get "$gated" -o json | json "d.get('replica','')")" = "$gate_owner"
check "a cancel sent to another replica is applied" \
  rcli 3 cancel "$gated" --reason "e2e cancel through another replica"
cancelled() { [ "$(rcli 0 run get "$gated" -o json | json "d['state']")" = RUN_STATE_CANCELLED ]; }
check "the run ends cancelled" wait_for 15 cancelled

# SIGSTOP past the lease: replica 3 executes a slow run and is paused.
check "three replicas are live again" wait_for $((LEASE * 4)) replicas_live 3
run=$(rcli 3 run shop/slow -o json | json "d['id']")
owner=$(rcli 3 run get "$run" -o json | json "d.get('replica','')")
check "the run started on replica 3 is its own" test -n "$owner"
kill -STOP "${RPID[3]}"
adopted_by_other() {
  local now
  now=$(rcli 1 run get "$run" -o json | json "d.get('replica','')")
  [ -n "$now" ] && [ "$now" != "$owner" ]
}
check "another replica adopts the run of the paused one within the lease time" \
  wait_for $((LEASE * 3 + 5)) adopted_by_other
succeeded() { [ "$(rcli 1 run get "$run" -o json | json "d['state']")" = RUN_STATE_SUCCEEDED ]; }
check "the adopted run finishes" wait_for 30 succeeded
events_before=$(rcli 1 run get "$run" -o json | json "d.get('last_event', 0)")
kill -CONT "${RPID[3]}"
exited() { ! alive 3; }
check "woken up, the paused replica finds its lease taken and exits" wait_for 15 exited
wait "${RPID[3]}"; rc=$?
check "it exits with status 1" test "$rc" = 1
check "its log says the lease was lost" grep -q "lease lost" "$WORK/replica3.log"
check "its stale writes were refused (fenced)" grep -qi "fenced" "$WORK/replica3.log"
events_after=$(rcli 1 run get "$run" -o json | json "d.get('last_event', 0)")
check "nothing it tried to write about the run landed" test "$events_after" = "$events_before"
rel=$(sql "SELECT count(*) FROM releases WHERE run_id = '$run'")
check "the run left exactly one release" test "$rel" = 1
start_replica 3

# The database stopped under load, then started again.
check "three replicas are live before the database stops" wait_for $((LEASE * 4)) replicas_live 3
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -s -m fast stop
code=$(push 1 "e2e-db-down")
check "a delivery while the database is down gets 503 ($code)" test "$code" = 503
ready=$(curl -s -o /dev/null -w "%{http_code}" "http://$(addr 2 http)/readyz")
check "/readyz says not ready while the database is down ($ready)" test "$ready" = 503
rcli 2 get pipelines >/dev/null 2>"$WORK/err"; rc=$?
check "a read that needs the database fails, saying it is unavailable" \
  bash -c "[ $rc != 0 ] && grep -qi unavailable '$WORK/err'"
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/restart.log" -w -s start
sed -i "s/^PG_PID=.*/PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")/" "$PG_STATE"
accepted() { code=$(push 2 "e2e-db-back"); [ "${code:0:1}" = 2 ]; }
check "after the restart deliveries are acknowledged again" wait_for 20 accepted
is_ready() { [ "$(curl -s -o /dev/null -w "%{http_code}" "http://$(addr 1 http)/readyz")" = 200 ]; }
check "/readyz is ready again" wait_for 20 is_ready
check "all three replicas stayed (no restart needed)" bash -c "kill -0 ${RPID[1]} && kill -0 ${RPID[2]} && kill -0 ${RPID[3]}"
check "three replicas are live after the database came back" wait_for $((LEASE * 4)) replicas_live 3

summary
