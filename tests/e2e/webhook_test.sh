#!/usr/bin/env bash
# End-to-end webhook intake with the built binaries: a signed GitHub push (the shared fixture,
# signed with curl and openssl as GitHub would) starts the matching stage's run; the delivery
# is listed and shown without its signature; a replay is a duplicate; a bad signature is 401
# and recorded; redeliver matches the stored event again.
#   webhook_test.sh SLIPWAYD SLIPWAY FIXTURES_DIR
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
FIXTURES=$3
source "$(dirname "$0")/lib.sh"

export WOODPECKER_HOOK_SECRET="e2e-secret"
start_daemon
HTTP=$(endpoint http)

cat >"$WORK/p.yaml" <<'YAML'
name: wp
sources:
  - {name: app, provider: github, repository: woodpecker-ci/woodpecker, webhook_secret: {env: WOODPECKER_HOOK_SECRET}}
stages:
  - name: dev
    resources: [{name: web, driver: process, process: {command: [web]}}]
    triggers: [{git: {source: app, branches: [main]}}]
    flow: {sequential: [{ref: web, skip_if: "true", deploy: {resource: web}}]}
  - name: docs
    resources: [{name: web, driver: process, process: {command: [web]}}]
    triggers: [{git: {source: app, branches: [main], paths: {include: ["docs/**"]}}}]
    flow: {sequential: [{ref: web, skip_if: "true", deploy: {resource: web}}]}
YAML
cli apply -f "$WORK/p.yaml" >/dev/null
BODY="$FIXTURES/github/push-branch.json"
SIG="sha256=$(openssl dgst -sha256 -hmac "$WOODPECKER_HOOK_SECRET" -hex <"$BODY" | awk '{print $2}')"
post() {  # delivery-id signature
  curl -s -o "$WORK/resp" -w "%{http_code}" -X POST "http://$HTTP/hooks/github" \
    -H "Content-Type: application/json" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: $1" \
    -H "X-Hub-Signature-256: $2" --data-binary @"$BODY"
}
check "a signed push is accepted with 200" test "$(post gh-1 "$SIG")" = 200
check "it started one run (the docs stage's path rule does not match)" test "$(json "len(d['runs'])" <"$WORK/resp")" = 1
run=$(json "d['runs'][0]" <"$WORK/resp")
check "the run records the push" test "$(cli run get "$run" -o json | json "d['trigger']['sha']")" = 366701fde727cb7a9e7f21eb88264f59f6f9b89c
check "a replay is a duplicate" bash -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' -X POST http://$HTTP/hooks/github -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: gh-1' -H 'X-Hub-Signature-256: $SIG' --data-binary @$BODY)\" = 200"
check "a bad signature is 401" test "$(post gh-2 sha256=deadbeef)" = 401
check "still exactly one run" test "$(cli runs wp -o json | json "len(d['runs'])")" = 1
list=$(cli deliveries)
check "deliveries lists all three" test "$(cli deliveries -o json | json "len(d['deliveries'])")" = 3
check "the list shows the rejected one" grep -q "signature does not match" <<<"$list"
first=$(cli deliveries -o json | json "[x['id'] for x in d['deliveries'] if x.get('delivery_id')=='gh-1' and not x.get('duplicate')][0]")
shown=$(cli delivery get "$first")
check "delivery get shows what matched" grep -q "run_id: $run" <<<"$shown"
check "delivery get never shows the signature" lacks x-hub-signature "$shown"
check "redeliver starts the run again" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" delivery redeliver $first | grep -q 'started 1 run'"
check "two runs now" test "$(cli runs wp -o json | json "len(d['runs'])")" = 2
check "raw bodies are not logged" bash -c "! grep -q 'woodpecker-ci/woodpecker.git' $WORK/slipwayd.log"
check "each delivery is logged in one line with its verdict" grep -q 'id="gh-1" client=127.0.0.1 status=200 verdict=valid runs=1' "$WORK/slipwayd.log"
check "the rejected one too" grep -q 'id="gh-2" client=127.0.0.1 status=401 verdict=invalid runs=0' "$WORK/slipwayd.log"
check "secrets are never logged" lacks "$WOODPECKER_HOOK_SECRET" "$(cat "$WORK/slipwayd.log")"
metrics=$(curl -s "http://$HTTP/metrics")
check "deliveries are counted by provider, verdict and status" \
  grep -q 'slipway_webhook_deliveries_total{provider="github",status="401",verdict="invalid"} 1' <<<"$metrics"
check "accepted ones too (the first and its replay)" \
  grep -q 'slipway_webhook_deliveries_total{provider="github",status="200",verdict="valid"} 2' <<<"$metrics"

# The HTTP edge refuses from the head what it will not read, and counts it.
code=$(curl -s -o "$WORK/gz" -w "%{http_code}" -X POST "http://$HTTP/hooks/github" \
  -H "Content-Type: application/json" -H "Content-Encoding: gzip" -H "X-GitHub-Event: push" \
  --data-binary @"$BODY")
check "a compressed body is 415" test "$code" = 415
code=$(curl -s -o /dev/null -w "%{http_code}" -X POST "http://$HTTP/hooks/github" \
  -H "Content-Type: application/json" -H "X-GitHub-Event: push" -H "Transfer-Encoding: chunked" \
  --data-binary @<(head -c 30000000 /dev/zero | tr '\0' ' '))
check "a 30 MB chunked body is 413 (over the 25 MiB default)" test "$code" = 413
code=$(curl -s -o /dev/null -w "%{http_code}" "http://$HTTP/hooks/github")
check "a GET on a hook is 405" test "$code" = 405
metrics=$(curl -s "http://$HTTP/metrics")
check "refusals are counted by reason" grep -q 'slipway_http_rejected_total{reason="content_encoding"} 1' <<<"$metrics"
check "the body limit too" grep -q 'slipway_http_rejected_total{reason="body_too_large"} 1' <<<"$metrics"
check "no run was started by them" test "$(cli runs wp -o json | json "len(d['runs'])")" = 2

# Generic webhook triggers: a token URL shown once, HMAC, arguments from query and body.
cat >"$WORK/g.yaml" <<'YAML'
name: gen
stages:
  - name: staging
    resources: [{name: web, driver: process, process: {command: [web]}}]
    flow: {sequential: [{ref: web, skip_if: "true", deploy: {resource: web, artifact: {version: "${args.version}"}}}]}
webhook_triggers:
  - {name: deploy, stage: staging, hmac_secret: {value: gen-secret}}
YAML
url=$(cli apply -f "$WORK/g.yaml" -o json | json "d['pipeline']['new_webhook_urls']['deploy']")
check "apply shows the new trigger's URL" grep -q "^/hooks/t/wht_" <<<"$url"
check "applying again shows no token" test "$(cli apply -f "$WORK/g.yaml" -o json | json "'new_webhook_urls' in d['pipeline']")" = False
check "get never shows the token" lacks "${url#/hooks/t/}" "$(cli get pipeline gen -o yaml)"
GBODY='{"version": "2.1.0", "sha": "abc123"}'
GSIG="sha256=$(printf '%s' "$GBODY" | openssl dgst -sha256 -hmac gen-secret -hex | awk '{print $2}')"
gpost() {  # path signature request-id
  curl -s -o "$WORK/gresp" -w "%{http_code}" -X POST "http://$HTTP$1?branch=release/2" \
    -H "Content-Type: application/json" -H "X-Slipway-Signature-256: $2" -H "X-Request-Id: $3" \
    --data-binary "$GBODY"
}
check "a signed call starts the stage" test "$(gpost "$url" "$GSIG" r-1)" = 200
grun=$(json "d['run']" <"$WORK/gresp")
check "body values became arguments" test "$(cli run get "$grun" -o json | json "d['args']['version']")" = 2.1.0
check "sha and branch went to the trigger" test "$(cli run get "$grun" -o json | json "d['trigger']['sha'] + ' ' + d['trigger']['branch']")" = "abc123 release/2"
check "the same request id returns the same run" bash -c "test \"\$(curl -s -X POST 'http://$HTTP$url' -H 'Content-Type: application/json' -H 'X-Slipway-Signature-256: $GSIG' -H 'X-Request-Id: r-1' --data-binary '$GBODY' | python3 -c 'import json,sys;print(json.load(sys.stdin)[\"run\"])')\" = $grun"
check "a wrong signature is 401" test "$(gpost "$url" sha256=00 r-2)" = 401
check "an unknown token is 404" test "$(gpost /hooks/t/wht_nope "$GSIG" r-3)" = 404
check "still one run of gen" test "$(cli runs gen -o json | json "len(d['runs'])")" = 1

kill -TERM "$PID"; wait "$PID"; PID=""

# The body limit is a flag: the 10 KB push over a 4KiB limit is refused before it is read.
DAEMON_FLAGS="--max-webhook-body 4KiB" start_daemon
HTTP=$(endpoint http)
check "a body over --max-webhook-body is 413" test "$(post gh-big "$SIG")" = 413
check "it started nothing" test "$(cli runs wp -o json | json "len(d['runs'])")" = 2
kill -TERM "$PID"; wait "$PID"; PID=""
check "a --max-webhook-body out of range is refused, naming the flag" bash -c \
  "\"$SLIPWAYD\" --data-dir \"$DATA\" --max-webhook-body 2GiB 2>&1 | grep -q -- '--max-webhook-body: 2GiB is not between 1KiB and 1GiB'"
check "an edge bound out of range is refused, naming the flag" bash -c \
  "\"$SLIPWAYD\" --data-dir \"$DATA\" --http-max-headers 0 2>&1 | grep -q -- '--http-max-headers: 0 is not between 1 and 1000'"

# A short head timeout is a flag: a client that sends half a head and waits is cut.
DAEMON_FLAGS="--http-head-timeout 1s" start_daemon
HTTP=$(endpoint http)
exec 7<>"/dev/tcp/${HTTP%:*}/${HTTP#*:}"
printf 'POST /hooks/github HTTP/1.1\r\nHost: x\r\n' >&7
check "a head not finished within --http-head-timeout is cut" timeout 5 cat <&7
exec 7>&-
check "and counted" grep -q 'slipway_http_rejected_total{reason="head_timeout"} 1' <<<"$(curl -s "http://$HTTP/metrics")"
kill -TERM "$PID"; wait "$PID"; PID=""
summary
