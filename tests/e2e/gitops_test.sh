#!/usr/bin/env bash
# End-to-end: a pipeline kept in a Git file, both ways, with the built binaries, a bare
# repository on local disk and the git CLI as a second client. Binding commits the spec; signed
# GitHub pushes apply the file (an invalid one changes nothing and says why); CLI edits become
# commits by the token's description; a concurrent edit in Git refuses the CLI's; two pipelines
# share the file; and slipwayd killed with SIGKILL between its push and its database write
# agrees with Git after a restart.
#   gitops_test.sh SLIPWAYD SLIPWAY FIXTURES
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
FIXTURES=$3
export SHOP_HOOK_SECRET=e2e-gitops-secret
source "$(dirname "$0")/lib.sh"
start_daemon

ORIGIN=$WORK/origin.git
CLONE=$WORK/work
FILE=.slipway/shop.yaml
g() { git -c user.name="Dana Dev" -c user.email=dana@example.com -c init.defaultBranch=main "$@"; }
g init -q --bare -b main "$ORIGIN"
g clone -q "$ORIGIN" "$CLONE" 2>/dev/null
g -C "$CLONE" checkout -q -b main
echo shop >"$CLONE/README.md"
g -C "$CLONE" add README.md && g -C "$CLONE" commit -q -m first && g -C "$CLONE" push -q origin main
head_sha() { g -C "$ORIGIN" rev-parse main; }
# Replaces `old` by `new` in the file in the work clone, commits and pushes (no webhook).
push_edit() {  # old new message
  g -C "$CLONE" pull -q --rebase origin main
  python3 - "$CLONE/$FILE" "$1" "$2" <<'PY'
import sys
p, old, new = sys.argv[1:]
text = open(p).read()
assert old in text, old
open(p, "w").write(text.replace(old, new, 1))
PY
  g -C "$CLONE" commit -q -am "$3" && g -C "$CLONE" push -q origin main
}
# The signed GitHub webhook of the push of `sha` that modified `files`.
deliver() {  # sha delivery-id files...
  local sha=$1 id=$2; shift 2
  python3 - "$FIXTURES/github/push-branch.json" "$sha" "$@" >"$WORK/push.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["repository"]["full_name"] = "acme/shop"
d["ref"] = "refs/heads/main"
d["after"] = sys.argv[2]
for c in d["commits"] + [d["head_commit"]]:
    c["added"], c["removed"], c["modified"] = [], [], sys.argv[3:]
print(json.dumps(d))
PY
  local sig
  sig="sha256=$(openssl dgst -sha256 -hmac "$SHOP_HOOK_SECRET" -hex <"$WORK/push.json" | awk '{print $2}')"
  curl -s -o "$WORK/resp" -w "%{http_code}" -X POST "http://$(endpoint http)/hooks/github" \
    -H "Content-Type: application/json" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: $id" \
    -H "X-Hub-Signature-256: $sig" --data-binary @"$WORK/push.json"
}

cat >"$WORK/shop.yaml" <<EOF
name: shop
description: the shop
sources:
  - name: app
    provider: github
    repository: acme/shop
    clone_url: $ORIGIN
    webhook_secret: {env: SHOP_HOOK_SECRET}
arguments:
  - {name: region, default: us}
  - {name: db-password, secret: true}
stages:
  - name: dev
    resources: [{name: web, driver: command, command: {apply: [/bin/true]}}]
    triggers: [{git: {source: app, branches: [main], paths: {include: ["src/**"]}}}]
    flow: {sequential: [{ref: web, deploy: {resource: web}}]}
EOF
check "the pipeline applies" cli apply -f "$WORK/shop.yaml" --override db-password=pw-SECRET-3
out=$(cli gitops enable shop --source app --branch main --path "$FILE")
check "binding commits the spec and says it is synced" grep -q "synced at $(head_sha | cut -c1-12)" <<<"$out"
g -C "$CLONE" pull -q --rebase origin main
check "the file is in Git" test -f "$CLONE/$FILE"
check "with the secret's reference" grep -q "SHOP_HOOK_SECRET" "$CLONE/$FILE"
check "and no secret override" bash -c "! grep -q SECRET-3 '$CLONE/$FILE' && ! grep -q argument_overrides '$CLONE/$FILE'"
check "committed by the token's description" test "$(g -C "$ORIGIN" log -1 --format=%an main)" = "bootstrap admin token"

# A push that changes the file applies it.
push_edit "description: the shop" "description: the shop, from git" "describe the shop"
sha=$(head_sha)
check "the signed push is accepted" test "$(deliver "$sha" gitops-1 "$FILE")" = 200
check "the pipeline took the file" test "$(cli get pipeline shop -o json | json "d['description']")" = "the shop, from git"
check "get pipeline says synced at the commit" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" get pipeline shop | grep -q 'GitOps:       synced at ${sha:0:12}'"
check "the revision records the commit" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" history pipeline shop | grep -Eq '^[0-9]+ .*git:${sha:0:12}.*describe the shop'"
good=$(cli get pipeline shop -o json | json "d['revision']")
check "the secret override stayed in Slipway" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" get pipeline shop | grep -q 'db-password.*secret override'"

# An invalid file changes nothing and says why, with every error.
push_edit "driver: command" "driver: teleport" "break the driver"
g -C "$CLONE" pull -q --rebase origin main
sed -i 's/- name: dev/- name: Dev_Stage/' "$CLONE/$FILE"
g -C "$CLONE" commit -q -am "break the name" && g -C "$CLONE" push -q origin main
bad=$(head_sha)
deliver "$bad" gitops-2 "$FILE" >/dev/null
status=$(cli get pipeline shop)
check "get pipeline says the sync failed at the commit" grep -q "sync failed at ${bad:0:12}: 2 problem(s)" <<<"$status"
check "naming the driver" grep -q "error .*teleport" <<<"$status"
check "and the stage name" grep -q "error .*Dev_Stage" <<<"$status"
check "the last good revision keeps running" test "$(cli get pipeline shop -o json | json "d['revision']")" = "$good"
check "the delivery says so too" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" get deliveries -o json | grep -q 'sync failed at ${bad:0:12}'"
out=$(cli gitops status shop); rc=$?
check "gitops status fails while the sync does" test "$rc" = 1
push_edit "driver: teleport" "driver: command" "fix the driver"
g -C "$CLONE" pull -q --rebase origin main
sed -i 's/- name: Dev_Stage/- name: dev/' "$CLONE/$FILE"
g -C "$CLONE" commit -q -am "fix the name" && g -C "$CLONE" push -q origin main
deliver "$(head_sha)" gitops-3 "$FILE" >/dev/null
check "a fixed file syncs again" cli gitops status shop

# A CLI edit is committed back by the token's description, with its message.
second=$(cli token create --scope admin --description "release bot" 2>/dev/null)
cli get pipeline shop -o yaml | sed 's/the shop, from git/edited from the CLI/' >"$WORK/edit.yaml"
check "a CLI edit goes through" "$SLIPWAY" --data-dir "$DATA" --token "$second" apply -f "$WORK/edit.yaml" --message "Describe it from the CLI"
g -C "$CLONE" pull -q --rebase origin main
check "it is a commit in Git" grep -q "edited from the CLI" "$CLONE/$FILE"
check "by the second token's description" test "$(g -C "$ORIGIN" log -1 --format=%an main)" = "release bot"
check "with the message given" test "$(g -C "$ORIGIN" log -1 --format=%s main)" = "Describe it from the CLI"
check "the revision names the commit" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" history pipeline shop | grep -Eq '^[0-9]+ .*release bot.*cli:$(head_sha | cut -c1-12)'"
check "no secret went to Git, ever" bash -c "! git -C '$ORIGIN' log -p --all | grep -q -e SECRET-3 -e e2e-gitops-secret"

# A concurrent edit of the file in Git refuses the CLI's, naming the new commit.
push_edit "edited from the CLI" "edited in git meanwhile" "concurrent edit"
theirs=$(head_sha)
sed 's/edited from the CLI/edited in slipway meanwhile/' "$WORK/edit.yaml" >"$WORK/edit2.yaml"
out=$(cli apply -f "$WORK/edit2.yaml" 2>&1); rc=$?
check "the CLI edit is refused" test "$rc" != 0
check "with ABORTED naming the new commit" grep -q "$theirs" <<<"$out"
check "and Git keeps the other edit" test "$(head_sha)" = "$theirs"
deliver "$theirs" gitops-4 "$FILE" >/dev/null
check "its webhook syncs it" test "$(cli get pipeline shop -o json | json "d['description']")" = "edited in git meanwhile"
# A push to another file only: the CLI edit is committed on top of it.
g -C "$CLONE" pull -q --rebase origin main
mkdir -p "$CLONE/src" && echo "int main() {}" >"$CLONE/src/main.c"
g -C "$CLONE" add src/main.c && g -C "$CLONE" commit -q -m "code" && g -C "$CLONE" push -q origin main
code=$(head_sha)
cli get pipeline shop -o yaml | sed 's/edited in git meanwhile/edited after a code push/' >"$WORK/edit3.yaml"
check "an edit after a push to another file goes through" cli apply -f "$WORK/edit3.yaml"
check "rebased onto that push" test "$(g -C "$ORIGIN" rev-parse main^)" = "$code"

# Two pipelines from one file, each with its own override.
cli get pipeline shop -o yaml >"$WORK/shop-now.yaml"
check "shop-eu from the same spec" cli apply -f "$WORK/shop-now.yaml" --name shop-eu --override region=eu
check "bound to the same file" cli gitops enable shop-eu --source app --path "$FILE"
push_edit "edited after a code push" "one file, two shops" "describe both"
deliver "$(head_sha)" gitops-5 "$FILE" >/dev/null
check "a push updates both" test "$(cli get pipeline shop-eu -o json | json "d['description']")/$(cli get pipeline shop -o json | json "d['description']")" = "one file, two shops/one file, two shops"
check "each keeps its override" test "$(cli get pipeline shop-eu -o json | json "d['argument_overrides']['region']")" = eu

# SIGKILL between the push and the database write: the store is held by another writer, so
# slipwayd waits after pushing; it is killed there. After a restart Git and Slipway agree.
cli get pipeline shop -o yaml | sed 's/one file, two shops/pushed, then killed/' >"$WORK/edit4.yaml"
before=$(head_sha)
python3 - "$DATA/slipway.db" "$WORK/locked" <<'PY' &
import sqlite3, sys, time, pathlib
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
c.execute("BEGIN IMMEDIATE")
pathlib.Path(sys.argv[2]).touch()
time.sleep(15)
PY
LOCKER=$!
wait_for 10 test -f "$WORK/locked"
cli apply -f "$WORK/edit4.yaml" >/dev/null 2>&1 &
APPLY=$!
check "the edit is pushed" wait_for 10 bash -c "[ \"\$(git -C '$ORIGIN' rev-parse main)\" != '$before' ]"
kill -9 "$PID"
wait "$PID" 2>/dev/null
kill "$LOCKER" 2>/dev/null; wait "$LOCKER" 2>/dev/null
wait "$APPLY" 2>/dev/null
check "killed before it stored the edit" test "$(sqlite3 "$DATA/slipway.db" "SELECT count(*) FROM pipelines WHERE name = 'shop' AND instr(spec, 'pushed, then killed') > 0")" = 0
start_daemon
check "after the restart the pipeline is what Git has" wait_for 20 bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" get pipeline shop -o json | grep -q 'pushed, then killed'"
check "synced at Git's head" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" get pipeline shop | grep -q 'synced at $(head_sha | cut -c1-12)'"

audit=$(cli audit --action GitOps/ -o json)
check "syncs and write-backs are in the audit trail" test "$(json "len({r['action'] for r in d.get('records', [])} & {'GitOps/Sync', 'GitOps/WriteBack', 'GitOps/Enable'})" <<<"$audit")" = 3
check "the trail has no secret" lacks "SECRET-3" "$(cli audit -o json)"
summary
