#!/usr/bin/env bash
# The dashboard end to end: a real slipwayd with the example pipeline, Debian's Chromium
# (headless) driven by playwright-core from ui/node_modules, checked against the CLI.
# Screenshots of each page go to BUILD_DIR/dashboard-screenshots.
#   dashboard_test.sh SLIPWAYD SLIPWAY SOURCE_DIR HELLO_SERVER_DIR BUILD_DIR
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
SRC=$3
export PATH="$(cd "$4" && pwd):$PATH"
SHOTS=$5/dashboard-screenshots
source "$(dirname "$0")/lib.sh"
export SHOP_HOOK_SECRET=e2e-hook-secret
CHROMIUM=$(command -v chromium || true)
if [ -z "$CHROMIUM" ]; then
  echo "chromium is not installed: scripts/install-deps.sh installs it" >&2
  exit 1
fi
if [ ! -d "$SRC/ui/node_modules/playwright-core" ]; then
  echo "ui/node_modules is missing: the build runs npm ci" >&2
  exit 1
fi

# The example, without its weekend freeze window (this test must pass on any day).
sed '/^    protection:/,/reason: weekend}/d' "$SRC/examples/shop/pipeline.yaml" >"$WORK/shop.yaml"
start_daemon
check "the example applies" cli apply -f "$WORK/shop.yaml"
cat >"$WORK/gate.yaml" <<'YAML'
name: gate
stages:
  - name: prod
    flow:
      sequential:
        - {ref: first, approval: {approvals: 1}}
        - {ref: second, approval: {approvals: 1}}
YAML
check "a pipeline with two approvals applies" cli apply -f "$WORK/gate.yaml"
# A pipeline kept in a Git file (a bare repository on local disk).
git -c init.defaultBranch=main init -q --bare "$WORK/kept.git"
git clone -q "$WORK/kept.git" "$WORK/kept" 2>/dev/null
echo kept >"$WORK/kept/README.md"
git -C "$WORK/kept" add README.md
git -C "$WORK/kept" -c user.name=e2e -c user.email=e2e@example.com commit -q -m first
git -C "$WORK/kept" push -q origin HEAD:main
cat >"$WORK/kept.yaml" <<YAML
name: kept
sources: [{name: app, provider: github, repository: acme/kept, clone_url: $WORK/kept.git}]
stages: [{name: dev, flow: {sequential: [{ref: go, approval: {approvals: 1}}]}}]
YAML
check "a pipeline to keep in Git applies" cli apply -f "$WORK/kept.yaml"
check "and is bound to a file" cli gitops enable kept --source app
deployer=$(cli token create --scope deploy --description "on-call" 2>/dev/null)
approver=$(cli token create --scope deploy --description "approver" 2>/dev/null)
reader=$(cli token create --scope read --description "viewer" 2>/dev/null)
check "tokens were issued" test -n "$deployer" -a -n "$approver" -a -n "$reader"
check "dev 1.0.0" cli run shop/dev --arg version=1.0.0 --sha 1111111 --wait
check "staging promotes it" cli run shop/staging --wait

# A delivery with a wrong signature, for the deliveries page.
http="http://$(endpoint http)"
body='{"ref":"refs/heads/main","after":"2222222222222222222222222222222222222222","repository":{"full_name":"acme/shop"}}'
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$http/hooks/github" \
  -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: e2e-bad-1' \
  -H 'X-Hub-Signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000' \
  --data "$body")
check "a badly signed delivery is refused (401)" test "$code" = 401
check "a preview to delete" cli preview create shop --branch feature/ui --sha abcdef1 --wait
preview=$(cli previews -o json | json "d['previews'][0]['name']")

mkdir -p "$SHOTS"
out=$(cd "$SRC/ui" && SLIPWAY_URL="$http" CHROMIUM="$CHROMIUM" SHOTS="$SHOTS" \
  DEPLOY_TOKEN="$deployer" APPROVER_TOKEN="$approver" READ_TOKEN="$reader" \
  SLIPWAY_CLI="$SLIPWAY" SLIPWAY_DATA="$DATA" \
  node test/dashboard.test.mjs 2>&1); rc=$?
echo "$out"
check "the browser checks pass" test "$rc" = 0

# What the page did, seen through the CLI.
check "prod release 3 is a rollback of 1" \
  test "$(cli release get shop/prod 3 -o json | json "d.get('rollback_of')")" = 1
check "prod is held by the on-call token" bash -c \
  "\"$SLIPWAY\" --data-dir \"$DATA\" get stage shop/prod | grep -q 'rolled back to release 1'"
deleted() { cli preview get "$preview" -o json 2>/dev/null | grep -q PREVIEW_STATE_DELETED; }
check "the preview $preview was deleted from the page" wait_for 30 deleted
check "screenshots were saved" bash -c "ls \"$SHOTS\"/*.png | wc -l | grep -qv '^0$'"
summary
