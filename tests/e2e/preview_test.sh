#!/usr/bin/env bash
# End-to-end preview environments with the built binaries, the shared webhook fixtures sent as
# signed deliveries, and the process driver running the real hello-server:
# - GitHub pull_request opened -> preview pr-2 is READY and its URL answers with the head SHA;
# - synchronize with a new head SHA (the fixture with its head moved, signed again) -> the same
#   name and URL answer with the new SHA;
# - closed -> its process is gone (checked by pid) and the preview is DELETED;
# - GitLab branch created / deleted pushes -> a branch preview comes and goes;
# - budget reject through the API; extend, pause and resume;
# - SIGKILL of slipwayd while a preview is being created, then a restart: it becomes READY with
#   exactly one service process.
#   preview_test.sh SLIPWAYD SLIPWAY FIXTURES_DIR HELLO_DIR
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
FIXTURES=$3
HELLO_DIR=$4
source "$(dirname "$0")/lib.sh"

export PREVIEW_HOOK_SECRET="e2e-preview-secret"
export PATH="$HELLO_DIR:$PATH"
start_daemon
HTTP=$(endpoint http)

cat >"$WORK/p.yaml" <<'YAML'
name: shop
sources:
  - {name: gh, provider: github, repository: Codertocat/Hello-World, webhook_secret: {env: PREVIEW_HOOK_SECRET}}
  - {name: gl, provider: gitlab, repository: gitlab-org/hello-world, webhook_secret: {env: PREVIEW_HOOK_SECRET}}
stages:
  - name: dev
    resources: [{name: web, driver: process, process: {command: [hello-server]}}]
    flow: {sequential: [{ref: web, deploy: {resource: web}}]}
preview_blueprints:
  - name: pr
    triggers: [{pull_request: {source: gh, branches: ["**"]}}]
    naming: {pr_number: {}}
    lifetime: {ttl: 24h, reset_on_update: true}
    budget: {max_active: 2, when_full: reject}
    resources:
      - name: web
        driver: process
        process: {command: [hello-server, --version, "${trigger.sha}"], health: {http_path: /version}}
  - name: branches
    triggers: [{push: {source: gl, branches: ["feature*"]}}]
    naming: {branch: {prefix: "br-"}}
    resources:
      - name: web
        driver: process
        process: {command: [hello-server, --version, "${trigger.sha}"], health: {http_path: /version}}
YAML
cli apply -f "$WORK/p.yaml" >/dev/null || { echo "apply failed"; exit 1; }

sign() { echo "sha256=$(openssl dgst -sha256 -hmac "$PREVIEW_HOOK_SECRET" -hex <"$1" | awk '{print $2}')"; }
gh() {  # event delivery-id body
  curl -s -o "$WORK/resp" -w "%{http_code}" -X POST "http://$HTTP/hooks/github" \
    -H "Content-Type: application/json" -H "X-GitHub-Event: $1" -H "X-GitHub-Delivery: $2" \
    -H "X-Hub-Signature-256: $(sign "$3")" --data-binary @"$3"
}
gl() {  # delivery-id body
  curl -s -o "$WORK/resp" -w "%{http_code}" -X POST "http://$HTTP/hooks/gitlab" \
    -H "Content-Type: application/json" -H "X-Gitlab-Event: Push Hook" -H "Idempotency-Key: $1" \
    -H "X-Gitlab-Token: $PREVIEW_HOOK_SECRET" --data-binary @"$2"
}
state_is() { [ "$(cli preview get "$1" -o json 2>/dev/null | json "d.get('state','').removeprefix('PREVIEW_STATE_')")" = "$2" ]; }
wait_state() {  # name state [seconds]
  wait_for "${3:-60}" state_is "$1" "$2" && return 0
  cli preview get "$1" >&2
  return 1
}
url_of() { cli preview get "$1" -o json | json "[r['status']['url'] for r in d.get('resources',[]) if r['name']=='web'][0]"; }
pid_of() { cli preview get "$1" -o json | json "[r['status']['pid'] for r in d.get('resources',[]) if r['name']=='web'][0]"; }
alive() { kill -0 "$1" 2>/dev/null; }

OPEN_SHA=ec26c3e57ca3a959ca5aad62de7213c562f8c821
NEW_SHA=0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c
check "a signed pull_request opened is accepted" test "$(gh pull_request pr-open "$FIXTURES/github/pull_request-opened.json")" = 200
check "it created preview pr-2" grep -q '{"action":"create","preview":"pr-2"}' "$WORK/resp"
check "pr-2 becomes READY" wait_state pr-2 READY
url=$(url_of pr-2)
pid1=$(pid_of pr-2)
check "its URL answers with the PR's head SHA" test "$(curl -s "$url/version")" = "$OPEN_SHA"
check "/metrics counts it" bash -c "curl -s http://$HTTP/metrics | grep -q 'slipway_previews{state=\"ready\"} 1'"
check "and its way there: queued or creating, then ready" \
  bash -c "curl -s http://$HTTP/metrics | grep -qE '^slipway_preview_transitions_total\{from=\"creating\",to=\"ready\"\} [1-9]'"
check "previews lists it" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" previews shop | grep -qi 'pr-2 .*ready'"

# The synchronize fixture with its head moved to a new commit, as GitHub sends after a push.
python3 - "$FIXTURES/github/pull_request-synchronize.json" "$WORK/sync.json" "$NEW_SHA" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["pull_request"]["head"]["sha"] = sys.argv[3]
json.dump(d, open(sys.argv[2], "w"))
PY
check "synchronize is accepted" test "$(gh pull_request pr-sync "$WORK/sync.json")" = 200
check "it updates pr-2" grep -q '{"action":"update","preview":"pr-2"}' "$WORK/resp"
ready_at() { [ "$(cli preview get "$1" -o json | json "d.get('ready_sha','')")" = "$2" ]; }
wait_for 30 ready_at pr-2 "$NEW_SHA"
check "pr-2 is READY at the new SHA" wait_state pr-2 READY
check "the same name and URL answer with the new SHA" test "$(curl -s "$url/version")" = "$NEW_SHA"
pid2=$(pid_of pr-2)
check "the old process was replaced" bash -c "! kill -0 $pid1 2>/dev/null"
check "a replayed delivery changes nothing" test "$(gh pull_request pr-sync "$WORK/sync.json")" = 200
check "a wrongly signed close is refused" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$HTTP/hooks/github" -H 'Content-Type: application/json' -H 'X-GitHub-Event: pull_request' -H 'X-GitHub-Delivery: pr-bad' -H 'X-Hub-Signature-256: sha256=00' --data-binary @"$FIXTURES/github/pull_request-closed-not-merged.json")" = 401
check "pr-2 is still READY" wait_state pr-2 READY 2

check "closed is accepted" test "$(gh pull_request pr-close "$FIXTURES/github/pull_request-closed-not-merged.json")" = 200
check "pr-2 becomes DELETED" wait_state pr-2 DELETED
check "its process is gone" bash -c "! kill -0 $pid2 2>/dev/null"
check "its URL no longer answers" bash -c "! curl -s -m 2 $url/version >/dev/null"

# Branch previews from GitLab pushes: created, then removed by the branch deletion.
check "a GitLab branch-created push is accepted" test "$(gl gl-create "$FIXTURES/gitlab/push-branch-created.json")" = 200
check "preview br-feature becomes READY" wait_state br-feature READY
bpid=$(pid_of br-feature)
check "it answers with the branch's commit" test "$(curl -s "$(url_of br-feature)/version")" = c4c79227ed610f1151f05bbc5be33b4f340d39c8
check "the branch deletion push is accepted" test "$(gl gl-delete "$FIXTURES/gitlab/push-branch-deleted.json")" = 200
check "br-feature becomes DELETED" wait_state br-feature DELETED
check "its process is gone" bash -c "! kill -0 $bpid 2>/dev/null"

# The API: hostile branch names, budget, extend, pause, resume.
hostile='feature/$(touch '"$WORK"'/pwned)`id`'
made=$(cli preview create shop --blueprint pr --branch "$hostile" --sha abc123 -o json | json "d['name']")
check "a hostile branch gives a DNS label" python3 -c "import re,sys; sys.exit(0 if re.fullmatch(r'[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?', '$made') else 1)"
check "it becomes READY" wait_state "$made" READY
check "nothing was executed from the branch name" test ! -e "$WORK/pwned"
other=$(cli preview create shop --blueprint pr --branch second --sha abc124 -o json | json "d['name']")
check "a third preview over the budget is refused" bash -c "! \"$SLIPWAY\" --data-dir \"$DATA\" preview create shop --blueprint pr --branch third 2>$WORK/err && grep -q 'max_active' $WORK/err"
check "extend moves the expiry" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" preview extend $made 2h | grep -q 'now expires at'"
mpid=$(pid_of "$made")
check "the preview's process runs" alive "$mpid"
check "pause" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" preview pause $made >/dev/null"
stopped() { [ "$(cli preview get "$1" -o json | json "d.get('stopped', False)")" = True ]; }
wait_for 20 stopped "$made"
check "pausing stopped its process" bash -c "! kill -0 $mpid 2>/dev/null"
check "resume --wait brings it back" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" preview resume $made --wait | grep -qi ready"
check "delete --wait removes it" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" preview delete $made --wait | grep -qi deleted"
cli preview delete "$other" --wait >/dev/null

# SIGKILL while a preview is being created, then a restart: it converges to READY with one
# service process.
cat >"$WORK/slow.yaml" <<'YAML'
name: slow
stages:
  - name: dev
    resources: [{name: web, driver: process, process: {command: [hello-server]}}]
    flow: {sequential: [{ref: web, deploy: {resource: web}}]}
preview_blueprints:
  - name: pr
    triggers: [{push: {source: gh, branches: ["**"]}}]
    resources:
      - {name: prep, driver: command, command: {apply: [sleep, "2"]}}
      - name: web
        driver: process
        process: {command: [hello-server, --version, "${trigger.sha}"], health: {http_path: /version}}
sources:
  - {name: gh, provider: github, repository: acme/slow}
YAML
cli apply -f "$WORK/slow.yaml" >/dev/null
name=$(cli preview create slow --branch crash-test --sha s1 -o json | json "d['name']")
# Killed while the preview's run is in the middle of its (2 s) first deploy.
prep_running() {
  local run
  run=$(cli preview get "$1" -o json | json "d.get('run_id','')")
  [ -n "$run" ] && [ "$(cli run get "$run" -o json | json "[n.get('state','') for n in d.get('nodes',[]) if n['ref']=='deploy-prep'][0]")" = NODE_STATE_RUNNING ]
}
check "the preview's first deploy is running" wait_for 20 prep_running "$name"
kill -9 "$PID"
wait "$PID" 2>/dev/null
start_daemon
check "after the restart the preview becomes READY" wait_state "$name" READY 90
check "its service answers" test "$(curl -s "$(url_of "$name")/version")" = s1
count=$(pgrep -fc -- "hello-server --version s1" || true)
check "exactly one service process runs for it" test "$count" = 1
cli preview delete "$name" --wait >/dev/null
check "after delete no process of it is left" test "$(pgrep -fc -- "hello-server --version s1" || true)" = 0

summary
