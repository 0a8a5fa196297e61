#!/usr/bin/env bash
# End-to-end: the built slipwayd and slipway binaries, used as a person or a CI job would.
#   cli_and_daemon_test.sh SLIPWAYD SLIPWAY SOURCE_DIR
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
SRC=$3
DAEMON_FLAGS="--log-format json"
source "$(dirname "$0")/lib.sh"

# Under the usual umask the data dir and everything in it stay private.
umask 022
start_daemon

# The admin token is written once, mode 0600, and found by the CLI on its own.
check "admin token file is 0600" test "$(stat -c %a "$DATA/admin.token")" = 600
check "the data dir is 0700" test "$(stat -c %a "$DATA")" = 700
for f in slipway.db slipway.db-wal slipway.db-shm endpoints.json; do
  check "$f is 0600 under umask 022" test "$(stat -c %a "$DATA/$f")" = 600
done
check "the process driver's folder is 0700" test "$(stat -c %a "$DATA/process")" = 700
check "logs are JSON lines" python3 -c "
import json,sys
for line in open('$WORK/slipwayd.log'):
    json.loads(line)
"
check "logs never contain the token" bash -c "! grep -q \"\$(cat $DATA/admin.token)\" $WORK/slipwayd.log"

out=$(cli apply -f "$SRC/examples/shop/pipeline.yaml")
check "apply creates" grep -q "pipeline/shop created" <<<"$out"
out=$(cli apply -f "$SRC/examples/shop/pipeline.yaml")
check "apply again is unchanged" grep -q "pipeline/shop unchanged" <<<"$out"

out=$(cli get pipelines)
check "get pipelines lists shop" grep -q "^shop " <<<"$out"
out=$(cli get pipeline shop -o json)
check "get -o json is JSON naming three stages" python3 -c "
import json,sys
p=json.loads(sys.stdin.read())
assert p['name']=='shop' and len(p['stages'])==3, p
" <<<"$out"

# Update with the etag from a read; a second update with the same (now stale) etag is refused.
cli get pipeline shop -o yaml >"$WORK/a.yaml"
cp "$WORK/a.yaml" "$WORK/b.yaml"
sed -i 's/^description: .*/description: first edit/' "$WORK/a.yaml"
sed -i 's/^description: .*/description: second edit/' "$WORK/b.yaml"
check "update with the current etag succeeds" cli update -f "$WORK/a.yaml"
out=$(cli update -f "$WORK/b.yaml" 2>&1); rc=$?
check "update with a stale etag fails with exit 1" test "$rc" = 1
check "stale etag message says ABORTED" grep -q "ABORTED" <<<"$out"
out=$(cli get pipeline shop -o json)
check "the stale update changed nothing" grep -q '"description": "first edit"' <<<"$out"

# Bad input: a clear error naming the field, exit code 1, nothing written.
sed 's/driver: process/driver: dokcer/' "$SRC/examples/shop/pipeline.yaml" | sed 's/^name: shop/name: broken/' >"$WORK/bad.yaml"
out=$(cli apply -f "$WORK/bad.yaml" 2>&1); rc=$?
check "invalid apply exits 1" test "$rc" = 1
check "invalid apply names the field" grep -q 'stages\[dev\].resources\[web\].driver: unknown driver "dokcer"' <<<"$out"
check "apply prints every violation on its own line" test "$(grep -c '^  [a-z_]*\[[a-z]*\].resources\[web\].driver: unknown driver' <<<"$out")" = 4
out=$(cli validate -f "$WORK/bad.yaml" 2>&1); rc=$?
check "validate lists every problem and exits 1" bash -c "test $rc = 1 && test \$(grep -c 'unknown driver' <<<\"$out\") = 4"
for line in $(grep -n 'driver: dokcer' "$WORK/bad.yaml" | cut -d: -f1); do
  check "validate gives the semantic error's line ($line)" \
    grep -q "^$WORK/bad.yaml:$line: [a-z_]*\\[[a-z]*\\].resources\[web\].driver: unknown driver" <<<"$out"
done
out=$(cli get pipeline broken 2>&1); rc=$?
check "nothing was written for the invalid spec" bash -c "test $rc = 1 && grep -q NOT_FOUND <<<\"$out\""
printf 'name: shop\nstages:\n  - name: dev\n    dirver: x\n' >"$WORK/typo.yaml"
out=$(cli apply -f "$WORK/typo.yaml" 2>&1); rc=$?
check "unknown YAML field is an error with its path" bash -c "test $rc = 1 && grep -q 'stages\[0\].dirver' <<<\"$out\""

# Tokens: a read token can read but not write; a bad token is refused.
read_token=$(cli token create --scope read --description e2e 2>/dev/null)
check "a read token can list" "$SLIPWAY" --data-dir "$DATA" --token "$read_token" get pipelines
out=$("$SLIPWAY" --data-dir "$DATA" --token "$read_token" delete pipeline shop 2>&1); rc=$?
check "a read token cannot delete" bash -c "test $rc = 1 && grep -q PERMISSION_DENIED <<<\"$out\""
out=$(SLIPWAY_TOKEN=slw_nope "$SLIPWAY" --data-dir "$DATA" get pipelines 2>&1); rc=$?
check "a bad token is UNAUTHENTICATED" bash -c "test $rc = 1 && grep -q UNAUTHENTICATED <<<\"$out\""
offline=$("$SLIPWAYD" token create --scope deploy --data-dir "$DATA" 2>/dev/null)
check "slipwayd token create works next to a running daemon" "$SLIPWAY" --data-dir "$DATA" --token "$offline" get pipelines

# kill -9 loses nothing acknowledged.
cli apply -f "$SRC/examples/shop/pipeline.yaml" >/dev/null
for i in $(seq 1 20); do
  sed "s/^name: shop/name: shop-$i/" "$SRC/examples/shop/pipeline.yaml" >"$WORK/p.yaml"
  cli apply -f "$WORK/p.yaml" >/dev/null || fail "apply shop-$i"
done
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=""
start_daemon
out=$(cli get pipelines -o json)
check "after kill -9 all 21 pipelines are there" python3 -c "
import json,sys
assert len(json.loads(sys.stdin.read())['pipelines'])==21
" <<<"$out"
out=$(cli get pipeline shop)
check "the same admin token still works after restart" grep -q "Name:         shop" <<<"$out"

check "delete removes the pipeline" cli delete pipeline shop-1
out=$(cli get pipeline shop-1 2>&1); rc=$?
check "deleted pipeline is NOT_FOUND" bash -c "test $rc = 1 && grep -q NOT_FOUND <<<\"$out\""

# HTTP endpoints.
http=$(endpoint http)
check "/healthz answers" curl -fsS "http://$http/healthz" -o /dev/null
check "/readyz answers" curl -fsS "http://$http/readyz" -o /dev/null
check "/metrics counts RPCs" bash -c "curl -fsS http://$http/metrics | grep -q 'slipway_grpc_requests_total{code=\"OK\",method=\"/slipway.v1.PipelineService/DeletePipeline\"} 1'"

# A second daemon on the same port fails instead of sharing it.
grpc=$(endpoint grpc)
"$SLIPWAYD" --data-dir "$WORK/other" --grpc-listen "$grpc" --http-listen 127.0.0.1:0 >"$WORK/second.log" 2>&1; rc=$?
check "a second daemon on a taken port exits non-zero" test "$rc" != 0
"$SLIPWAYD" --data-dir "$WORK/other2" --grpc-listen "$grpc" --http-listen 127.0.0.1:0 \
  --log-format json >"$WORK/second.json" 2>&1
check "gRPC's own error about the taken port is in the log" grep -q '"msg":"grpc: ' "$WORK/second.json"
check "with --log-format json every line is JSON, gRPC's too" python3 -c "
import json, sys
for line in open(sys.argv[1]):
    json.loads(line)
" "$WORK/second.json"
out=$("$SLIPWAYD" --data-dir "$WORK/other3" --log-level loud 2>&1); rc=$?
check "an unknown --log-level is refused naming it" bash -c "test $rc = 1 && grep -q -- '--log-level: \"loud\" is not debug, info, warn or error' <<<'$out'"
"$SLIPWAYD" --data-dir "$WORK/other4" --grpc-listen "$grpc" --http-listen 127.0.0.1:0 \
  --log-level error >"$WORK/quiet.log" 2>&1
check "--log-level error leaves out info lines" bash -c "! grep -q ' info ' '$WORK/quiet.log' && grep -q ' error ' '$WORK/quiet.log'"

# SIGTERM drains and exits 0.
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
check "SIGTERM exits 0" test "$rc" = 0
check "SIGTERM logs a clean stop" grep -q "stopped cleanly" "$WORK/slipwayd.log"

out=$(cli get pipelines 2>&1); rc=$?
check "the CLI explains an unreachable daemon" bash -c "test $rc = 1 && grep -q 'is slipwayd running' <<<\"$out\""

summary
