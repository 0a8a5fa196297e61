#!/usr/bin/env bash
# End-to-end: pipeline revisions, templates and the audit trail with the built binaries. The
# example shop is applied, changed five times (history, diff, a dry run that writes nothing),
# instantiated twice from one file with different overrides (a secret one never shown), a
# signed GitHub push deploys dev with the version default derived from its commit, and the
# audit trail holds each action with its actor: the CLI under a second token and the webhook.
#   pipeline_history_test.sh SLIPWAYD SLIPWAY SOURCE_DIR FIXTURES HELLO_SERVER_DIR
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
SRC=$3
FIXTURES=$4
export PATH="$(cd "$5" && pwd):$PATH"
export SHOP_HOOK_SECRET=e2e-history-secret
source "$(dirname "$0")/lib.sh"
DAEMON_FLAGS="--audit-file $WORK/audit.jsonl"
start_daemon

# Five revisions, each a different description; the fourth also changes staging's concurrency.
# prod's weekend freeze is left out so that the test passes on any day.
spec() {  # n
  python3 - "$SRC/examples/shop/pipeline.yaml" "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
n = int(sys.argv[2])
text = text.replace("description: Web shop, three stages and PR previews", f"description: shop v{n}")
text = re.sub(r"    protection:\n      freeze_windows:\n        - .*\n", "", text)
if n >= 4:
    text = text.replace("  - name: staging\n    concurrency: queue", "  - name: staging\n    concurrency: forbid")
print(text)
PY
}
for n in 1 2 3 4 5; do
  spec $n >"$WORK/shop-$n.yaml"
  cli apply -f "$WORK/shop-$n.yaml" --message "change $n" >/dev/null || fail "apply $n"
done
history=$(cli history pipeline shop)
check "history lists five revisions" test "$(grep -c '^[0-9]' <<<"$history")" = 5
check "the newest first, with its message and source" grep -Eq '^5 .*cli .*change 5$' <<<"$history"
check "each revision names who wrote it" grep -q 'token:.*(bootstrap admin token)' <<<"$history"
diff=$(cli diff pipeline shop 3 5)
check "diff 3 5 shows the description" grep -q '~ description: shop v3 -> shop v5' <<<"$diff"
check "diff 3 5 shows staging's concurrency" grep -q '~ stages\[staging\].concurrency: CONCURRENCY_POLICY_QUEUE -> CONCURRENCY_POLICY_FORBID' <<<"$diff"
check "diff 3 5 shows nothing else" test "$(grep -c '^  ' <<<"$diff")" = 2
spec 6 >"$WORK/shop-6.yaml"
dry=$(cli apply -f "$WORK/shop-6.yaml" --dry-run)
check "a dry run says what would change" grep -q '~ description: shop v5 -> shop v6' <<<"$dry"
check "a dry run writes no revision" test "$(cli get pipeline shop -o json | json "d['revision']")" = 5
check "and leaves the spec as it was" test "$(cli get pipeline shop -o json | json "d['description']")" = "shop v5"

# One file, two pipelines: an ordinary and a secret override each.
python3 - "$WORK/shop-5.yaml" >"$WORK/template.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
text = text.replace("arguments:\n", "arguments:\n  - {name: region, required: true}\n  - {name: db-password, secret: true}\n", 1)
print(text)
PY
check "shop-eu from the template" cli apply -f "$WORK/template.yaml" --name shop-eu --override region=eu --override db-password=eu-pw-SECRET-1
check "shop-us from the template" cli apply -f "$WORK/template.yaml" --name shop-us --override region=us --override db-password=us-pw-SECRET-2
out=$(cli run shop-eu/dev --sha 1234567890abcdef -o json)
check "a run gets the instance's override" test "$(json "d['args']['region']" <<<"$out")" = eu
check "and the version default from its commit" test "$(json "d['args']['version']" <<<"$out")" = 0.0.0-1234567
check "a secret argument is shown as ***" test "$(json "d['secret_args']['db-password']" <<<"$out")" = '***'
us=$(cli run shop-us/dev --sha 1234567890abcdef -o json)
check "the other instance runs with its own override" test "$(json "d['args']['region']" <<<"$us")" = us
yaml=$(cli get pipeline shop-eu -o yaml)
check "-o yaml shows the secret override as ***" grep -q 'db-password: "\*\*\*"' <<<"$yaml"
check "-o yaml never shows the secret" lacks "SECRET-1" "$yaml"
check "the yaml applies again unchanged" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" apply -f - <<<'$yaml' | grep -q unchanged"
out=$(cli apply -f "$WORK/template.yaml" --name shop-ap 2>&1); rc=$?
check "a required argument without a value is refused at apply time" test "$rc" = 1
check "naming the trigger that cannot give it" grep -q 'argument "region" is required' <<<"$out"
out=$(cli apply -f "$WORK/template.yaml" --name shop-xx --override colour=red 2>&1); rc=$?
check "an undeclared override is a usage error" test "$rc" = 2

# A signed push to main deploys dev with a version derived from the commit.
python3 - "$FIXTURES/github/push-branch.json" >"$WORK/push.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["repository"]["full_name"] = "acme/shop"
for c in d["commits"] + [d["head_commit"]]:
    c["modified"] = ["src/shop.c"]
print(json.dumps(d))
PY
sha=$(json "d['after']" <"$WORK/push.json")
sig="sha256=$(openssl dgst -sha256 -hmac "$SHOP_HOOK_SECRET" -hex <"$WORK/push.json" | awk '{print $2}')"
code=$(curl -s -o "$WORK/resp" -w "%{http_code}" -X POST "http://$(endpoint http)/hooks/github" \
  -H "Content-Type: application/json" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: hist-1" \
  -H "X-Hub-Signature-256: $sig" --data-binary @"$WORK/push.json")
check "the signed push is accepted and starts a run" test "$code" = 200
dev_run=$(cli runs shop/dev -o json | json "d['runs'][0]['id']")
check "the push's run deploys dev with the default version" test "$(cli run get "$dev_run" -o json | json "d['args']['version']")" = "0.0.0-${sha:0:7}"
check "the run records revision 5" test "$(cli run get "$dev_run" -o json | json "d['pipeline_revision']")" = 5

# The audit trail: a second token acting through the CLI, the webhook, and the admin.
second=$(cli token create --scope deploy --description "release bot" 2>/dev/null)
second_id=$(cli get tokens -o json | json "[t['id'] for t in d['tokens'] if t.get('description')=='release bot'][0]")
"$SLIPWAY" --data-dir "$DATA" --token "$second" hold shop/prod --reason "audit check" >/dev/null 2>&1
"$SLIPWAY" --data-dir "$DATA" --token "$second" unhold shop/prod >/dev/null 2>&1
"$SLIPWAY" --data-dir "$DATA" --token "$second" apply -f "$WORK/shop-5.yaml" >/dev/null 2>&1
# The other kinds of action: an approval and a rejection, a rollback, preview actions, a token
# revoked, a redelivery.
cli run shop/dev --arg version=2.0.0 --sha abcdef1 --wait >/dev/null 2>&1
check "staging promoted" cli run shop/staging --wait
prod=$(cli run shop/prod -o json | json "d['id']")
wait_for 30 bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" run get $prod -o json | grep -q AWAITING_APPROVAL"
"$SLIPWAY" --data-dir "$DATA" --token "$second" approve "$prod" --node go >/dev/null 2>&1
wait_for 60 bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" run get $prod -o json | grep -q RUN_STATE_SUCCEEDED"
prod2=$(cli run shop/prod -o json | json "d['id']")
wait_for 30 bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" run get $prod2 -o json | grep -q AWAITING_APPROVAL"
"$SLIPWAY" --data-dir "$DATA" --token "$second" reject "$prod2" --node go >/dev/null 2>&1
cli rollback shop/dev >/dev/null 2>&1
cli preview create shop --branch feature/audit --sha 1111111 >/dev/null 2>&1
preview=$(cli previews -o json | json "d['previews'][0]['name']")
cli preview extend "$preview" 2h >/dev/null 2>&1
cli preview delete "$preview" >/dev/null 2>&1
cli delivery redeliver "$(cli get deliveries -o json | json "d['deliveries'][0]['id']")" >/dev/null 2>&1
spare=$(cli token create --scope read --description spare 2>/dev/null)
spare_id=$(cli get tokens -o json | json "[t['id'] for t in d['tokens'] if t.get('description')=='spare'][0]")
cli token revoke "$spare_id" >/dev/null 2>&1

# Through the browser API: the record names the HTTP client's address.
curl -s -o /dev/null -H "Authorization: Bearer $(cat "$DATA/admin.token")" -H 'Content-Type: application/json' \
  -H 'Slipway-Client: dashboard' -d '{"pipeline": "shop", "stage": "staging", "reason": "from the page"}' \
  "http://$(endpoint http)/slipway.v1.ReleaseService/HoldStage"
# On the server machine, without a token: recorded as slipwayd's own action.
offline=$("$SLIPWAYD" token create --scope read --description offline --data-dir "$DATA" --audit-file "$WORK/audit.jsonl" 2>/dev/null)
offline_id=$(cli get tokens -o json | json "[t['id'] for t in d['tokens'] if t.get('description')=='offline'][0]")
"$SLIPWAYD" token revoke "$offline_id" --data-dir "$DATA" --audit-file "$WORK/audit.jsonl" >/dev/null 2>&1
audit=$(cli audit -o json)
has() {  # python condition on record r
  json "any($1 for r in d.get('records', []))" <<<"$audit" | grep -q True
}
check "slipwayd token create on the server machine" has "r['action']=='slipwayd/token create' and r['target']=='token $offline_id' and r['actor_kind']=='ACTOR_KIND_SYSTEM'"
check "and slipwayd token revoke" has "r['action']=='slipwayd/token revoke' and r['target']=='token $offline_id'"
check "the offline token is never in the trail" lacks "$offline" "$audit"
check "the trail has the admin's applies" has "r['action']=='PipelineService/ApplyPipeline' and r['target']=='shop' and r['outcome']=='OK'"
check "the dry run is not in the trail" test "$(json "len([r for r in d['records'] if r['action']=='PipelineService/ApplyPipeline' and r['target']=='shop' and r['outcome']=='OK'])" <<<"$audit")" = 5
check "the token creation" has "r['action']=='AdminService/CreateToken'"
check "the second token's hold, from the CLI's address" has "r['action']=='ReleaseService/HoldStage' and r['actor']=='token:$second_id' and r['actor_description']=='release bot' and r['target']=='shop/prod' and r['source_address'].startswith('ipv4:127.0.0.1')"
check "and its unhold" has "r['action']=='ReleaseService/ReleaseHold' and r['actor']=='token:$second_id'"
check "a refused action is recorded with its outcome" has "r['actor']=='token:$second_id' and r['action']=='PipelineService/ApplyPipeline' and r['outcome'].startswith('PERMISSION_DENIED')"
check "the webhook's run, by delivery" has "r['actor']=='webhook:github:hist-1' and r['action']=='webhook/StartRun' and r['target']=='shop/dev' and r['actor_kind']=='ACTOR_KIND_WEBHOOK'"
check "the runs started by the CLI" has "r['action']=='ReleaseService/StartRun' and r['target']=='shop-eu/dev'"
check "a browser API call is recorded with the HTTP client's address" has "r['action']=='ReleaseService/HoldStage' and r['target']=='shop/staging' and r['source_address']=='http:127.0.0.1'"
for action in ReleaseService/ApproveRun ReleaseService/RejectRun ReleaseService/RollbackStage \
  PreviewService/CreatePreview PreviewService/ExtendPreview PreviewService/DeletePreview \
  DeliveryService/Redeliver AdminService/RevokeToken; do
  check "the trail has $action" has "r['action']=='$action' and r['outcome']=='OK'"
done
check "the approval names the approver" has "r['action']=='ReleaseService/ApproveRun' and r['actor']=='token:$second_id' and r['target']=='$prod'"
check "the redelivered push started its run again, on the trail" test "$(json "len([r for r in d['records'] if r['action']=='webhook/StartRun'])" <<<"$audit")" -ge 2
check "no secret in the trail" lacks "SECRET" "$audit"
check "no secret in the shipped file" lacks "SECRET" "$(cat "$WORK/audit.jsonl")"
check "the shipped file has a line per record" test "$(wc -l <"$WORK/audit.jsonl")" = "$(json "len(d['records'])" <<<"$audit")"
only=$(cli audit --target shop/prod --actor "token:$second_id" -o json)
check "audit filters by target and actor" test "$(json "len(d['records'])" <<<"$only")" = 2
check "audit --since 1h has them all" test "$(cli audit --since 1h -o json | json "len(d['records'])")" = "$(json "len(d['records'])" <<<"$audit")"
out=$("$SLIPWAY" --data-dir "$DATA" --token "$second" audit 2>&1); rc=$?
check "reading the trail needs admin" bash -c "test $rc = 1 && grep -q PERMISSION_DENIED <<<'$out'"

summary
