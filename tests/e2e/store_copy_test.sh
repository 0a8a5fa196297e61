#!/usr/bin/env bash
# End-to-end: an install on SQLite with runs, releases, a hold, a preview, deliveries, tokens
# and a sealed secret moves to PostgreSQL with `slipwayd store copy` while it is stopped, and
# slipwayd then serves everything from PostgreSQL: the same listings, the secret still usable,
# the old token still valid, and new runs numbered after the copied ones.
#   store_copy_test.sh SLIPWAYD SLIPWAY FIXTURES SOURCE_DIR
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
FIXTURES=$3
SRC=$4
export SHOP_HOOK_SECRET=e2e-copy-secret
source "$(dirname "$0")/lib.sh"
PG_STATE=$WORK/pg.env
"$SRC/tests/postgres/cluster.sh" start "$PG_STATE" || { echo "cannot start PostgreSQL" >&2; exit 1; }
# shellcheck disable=SC1090
. "$PG_STATE"
stop_all() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  "$SRC/tests/postgres/cluster.sh" stop "$PG_STATE"
  cleanup
}
trap stop_all EXIT

start_daemon
cat >"$WORK/shop.yaml" <<'EOF'
name: shop
sources:
  - {name: app, provider: github, repository: acme/shop, webhook_secret: {env: SHOP_HOOK_SECRET}}
arguments:
  - {name: token, secret: true}
stages:
  - name: dev
    resources: [{name: web, driver: command, command: {apply: [/bin/true]}}]
    triggers: [{git: {source: app, branches: [main]}}]
    flow: {sequential: [{ref: web, deploy: {resource: web, artifact: {version: "${trigger.sha}"}}}]}
preview_blueprints:
  - name: pr
    triggers: [{pull_request: {source: app}}]
    naming: {pr_number: {}}
    resources: [{name: web, driver: command, command: {apply: [/bin/true]}}]
EOF
check "the pipeline applies with a secret override" cli apply -f "$WORK/shop.yaml" --override token=tok-SECRET-9
for v in 1 2 3; do
  check "run $v succeeds" bash -c "\"\$@\" >/dev/null" _ "$SLIPWAY" --data-dir "$DATA" run shop/dev --sha "abc$v" --wait
done
check "the stage is held" cli hold shop/dev --reason "copy test"
sig() { echo "sha256=$(openssl dgst -sha256 -hmac "$SHOP_HOOK_SECRET" -hex <"$1" | awk '{print $2}')"; }
python3 - "$FIXTURES/github/pull_request-opened.json" >"$WORK/pr.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["repository"]["full_name"] = "acme/shop"
print(json.dumps(d))
PY
code=$(curl -s -o /dev/null -w "%{http_code}" -X POST "http://$(endpoint http)/hooks/github" \
  -H "Content-Type: application/json" -H "X-GitHub-Event: pull_request" \
  -H "X-GitHub-Delivery: copy-pr-1" -H "X-Hub-Signature-256: $(sig "$WORK/pr.json")" \
  --data-binary @"$WORK/pr.json")
check "a pull request delivery is accepted ($code)" test "$code" = 200
ready() { cli previews shop -o json | json "any(p['state'] == 'PREVIEW_STATE_READY' for p in d.get('previews', []))" | grep -q True; }
check "its preview becomes READY" wait_for 30 ready
snapshot() {  # what a user sees, to compare before and after
  cli runs shop -o json | json "sorted((r['id'], r['state'], r.get('release', 0)) for r in d['runs'])"
  cli releases shop/dev -o json | json "[(r['number'], r['run_id']) for r in d['releases']]"
  cli get stage shop/dev -o json | json "d.get('hold', {}).get('reason', '')"
  cli previews shop -o json | json "[(p['name'], p['state']) for p in d.get('previews', [])]"
  cli deliveries -o json | json "sorted(x['delivery_id'] for x in d.get('deliveries', []))"
  cli get tokens -o json | json "sorted(t['id'] for t in d['tokens'])"
  cli history shop -o json | json "[r['revision'] for r in d.get('revisions', [])]"
}
snapshot >"$WORK/before"
for what in RUN_STATE_SUCCEEDED "copy test" pr-1 copy-pr-1; do
  check "the snapshot holds $what" grep -q "$what" "$WORK/before"
done
kill -TERM "$PID"; wait "$PID"; PID=""

out=$("$SLIPWAYD" store copy --from "sqlite:$DATA/slipway.db" --to "$PG_URL" 2>&1)
check "store copy reports every table verified" grep -q "every count and checksum matches" <<<"$out"
out=$("$SLIPWAYD" store copy --from "sqlite:$DATA/slipway.db" --to "$PG_URL" 2>&1)
check "a second copy into the now non-empty database is refused" grep -qi "not empty" <<<"$out"

DAEMON_FLAGS="--store $PG_URL"
start_daemon
check "slipwayd now serves from PostgreSQL" grep -q "store: postgres://" "$WORK/slipwayd.log"
snapshot >"$WORK/after"
check "runs, releases, the hold, previews, deliveries, tokens and history are all there" \
  diff "$WORK/before" "$WORK/after"
check "the old admin token still works" cli get pipeline shop
out=$(cli get pipeline shop -o yaml)
check "the sealed secret override is there and stays hidden" \
  bash -c "grep -q 'token' <<<\"\$1\" && ! grep -q tok-SECRET-9 <<<\"\$1\"" _ "$out"
check "a new run starts over the hold once it is lifted" cli unhold shop/dev
check "a new run succeeds on PostgreSQL" cli run shop/dev --sha abc4 --wait
n=$(cli releases shop/dev -o json | json "max(r['number'] for r in d['releases'])")
check "its release is numbered after the copied ones (4)" test "$n" = 4
summary
