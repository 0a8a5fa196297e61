#!/usr/bin/env bash
# The secret sweep: a pipeline with every kind of secret (webhook and HMAC secrets, HTTP node
# signing secrets, bearer tokens and headers, environment values, URL credentials), a run that
# uses them and a preview whose blueprint holds them; then everything is read back with a
# `read` token through the CLI (tables, JSON and YAML), and from slipwayd's log and /metrics.
# None of the secret values may appear anywhere; their masked forms must.
#   secret_sweep_test.sh SLIPWAYD SLIPWAY HELLO_DIR
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
HELLO_DIR=$3
source "$(dirname "$0")/lib.sh"
export PATH="$HELLO_DIR:$PATH"
start_daemon
HTTP=$(endpoint http)

SECRETS=(sw-webhook-aa11 sw-hmac-bb22 sw-sign-cc33 sw-bearer-dd44 sw-header-ee55 sw-env-ff66
         sw-clone-gg77 sw-probe-hh88 sw-url-jj00 sw-prev-kk11 sw-prevtok-ll22 sw-job-mm33)
cat >"$WORK/p.yaml" <<YAML
name: vault
sources:
  - name: app
    provider: github
    repository: acme/vault
    clone_url: "https://ci:sw-clone-gg77@127.0.0.1:1/vault.git"
    webhook_secret: {value: sw-webhook-aa11}
webhook_triggers:
  - {name: ci, stage: dev, hmac_secret: {value: sw-hmac-bb22}}
stages:
  - name: dev
    resources:
      - name: web
        driver: process
        process: {command: [hello-server], env: {API_KEY: sw-env-ff66}, health: {http_path: /healthz}}
      - name: migrate
        kind: job
        driver: process
        process: {command: ["true"]}
    flow:
      sequential:
        - {ref: web, deploy: {resource: web}}
        - {ref: migrate, run_job: {resource: migrate, env: {DB_PASSWORD: sw-job-mm33}}}
        - {ref: probe, timeout: 20s, await_condition: {interval: 200ms, http: {url: "http://u:sw-probe-hh88@$HTTP/healthz"}}}
        - ref: call
          http_request:
            method: GET
            url: "http://u:sw-url-jj00@$HTTP/healthz"
            headers: {X-Api-Key: sw-header-ee55}
            signing_secret: {value: sw-sign-cc33}
            bearer_token: {value: sw-bearer-dd44}
preview_blueprints:
  - name: pr
    triggers: [{pull_request: {source: app, branches: ["**"]}}]
    resources:
      - name: web
        driver: process
        process: {command: [hello-server], env: {TOKEN: sw-env-ff66}}
    flow:
      sequential:
        - ref: notify
          http_request:
            method: GET
            url: "http://$HTTP/healthz"
            signing_secret: {value: sw-prev-kk11}
            bearer_token: {value: sw-prevtok-ll22}
YAML
check "the pipeline applies" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" apply -f \"$WORK/p.yaml\" >/dev/null"
READ=$(cli token create --scope read -o json | json "d['secret']")
check "a read token was issued" test -n "$READ"
r() { "$SLIPWAY" --data-dir "$DATA" --token "$READ" "$@" 2>&1; }

run_state() { cli run get "$1" -o json | json "d.get('state','').removeprefix('RUN_STATE_')"; }
ended() { case "$(run_state "$1")" in *SUCCEEDED|*FAILED|*CANCELLED) return 0;; esac; return 1; }
run=$(cli run vault/dev -o json 2>"$WORK/run.err" | json "d.get('id','')")
wait_for 60 ended "$run"
check "the run that uses every secret succeeds" test "$(run_state "$run")" = SUCCEEDED
preview=$(cli preview create vault --blueprint pr --branch feature/x --sha abc -o json | json "d['name']")
ready() { [ "$(r preview get "$preview" -o json | json "d.get('state','').removeprefix('PREVIEW_STATE_')")" = READY ]; }
check "the preview becomes READY" wait_for 60 ready
# A webhook delivery with an Authorization header and a URL credential in its query.
curl -s -o /dev/null -X POST "http://$HTTP/hooks/github" -H "Content-Type: application/json" \
  -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: sweep-1" -H "Authorization: Bearer sw-webhook-aa11" \
  -H "Proxy-Authorization: Basic sw-hmac-bb22" -H "X-Hub-Signature-256: sha256=00" --data-binary '{}'
delivery=$(r deliveries -o json | json "d['deliveries'][0]['id'] if d.get('deliveries') else ''")

out=$WORK/everything.txt
for fmt in table json yaml; do
  {
    r -o "$fmt" get pipelines
    r -o "$fmt" get pipeline vault
    r -o "$fmt" get stage vault/dev
    r -o "$fmt" runs vault/dev
    r -o "$fmt" run get "$run"
    r -o "$fmt" logs "$run"
    r -o "$fmt" releases vault/dev
    r -o "$fmt" release get vault/dev 1
    r -o "$fmt" previews vault
    r -o "$fmt" preview get "$preview"
    r -o "$fmt" deliveries
    [ -n "$delivery" ] && r -o "$fmt" delivery get "$delivery"
  } >>"$out"
done
# An admin token sees no secret either: they are write-only, not scoped.
cli -o json get pipeline vault >>"$out" 2>&1
cli -o json run get "$run" >>"$out" 2>&1
curl -s "http://$HTTP/metrics" >>"$out"
cat "$WORK/slipwayd.log" "$WORK/run.err" >>"$out"

check "the sweep read a real amount of output" test "$(wc -c <"$out")" -gt 20000
for s in "${SECRETS[@]}"; do
  check "no trace of $s" lacks "$s" "$(cat "$out")"
done
check "URL credentials show as ***@" grep -q 'http://\*\*\*@127.0.0.1' "$out"
check "the clone URL shows as ***@" grep -q 'https://\*\*\*@127.0.0.1:1/vault.git' "$out"
check "secret references show as redacted" grep -q '"redacted": *true' "$out"
check "header and env values show as ***" grep -q '"X-Api-Key": *"\*\*\*"' "$out"
check "delivery records keep no Proxy-Authorization" lacks "proxy-authorization" "$(cat "$out")"
check "the preview's blueprint was read" grep -q '"notify"' "$out"

# A round trip through get -o yaml and update keeps every stored secret.
cli -o yaml get pipeline vault >"$WORK/round.yaml"
check "get -o yaml | update is accepted" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" update -f \"$WORK/round.yaml\" >/dev/null"
run2=$(cli run vault/dev -o json | json "d.get('id','')")
wait_for 60 ended "$run2"
check "a run after the round trip still has its secrets" test "$(run_state "$run2")" = SUCCEEDED

# At rest: with slipwayd stopped, the database and its WAL hold none of the secret values.
kill -TERM "$PID"; wait "$PID" 2>/dev/null; PID=""
SEALED=(sw-webhook-aa11 sw-hmac-bb22 sw-sign-cc33 sw-bearer-dd44 sw-header-ee55 sw-env-ff66
        sw-prev-kk11 sw-prevtok-ll22 sw-job-mm33)
disk=$(cat "$DATA"/slipway.db* | tr -c '[:print:]' '.')
for s in "${SEALED[@]}"; do
  check "$s is not in slipway.db or its WAL" lacks "$s" "$disk"
done
check "sealed values are" grep -q "slipway-sealed:v1:" <<<"$disk"
check "the key file is private" test "$(stat -c %a "$DATA/secret.key")" = 600

# A wrong key is a clear startup error that changes nothing.
before=$(cat "$DATA"/slipway.db* | sha256sum)
openssl rand -hex 32 >"$WORK/wrong.key"
"$SLIPWAYD" --data-dir "$DATA" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  --secret-key-file "$WORK/wrong.key" >"$WORK/wrong.log" 2>&1 &
wrong=$!
wait "$wrong"; rc=$?
check "slipwayd refuses to start with another key (exit $rc)" test "$rc" != 0
check "it says why" grep -q "is not the one the database's secrets are sealed with" "$WORK/wrong.log"
check "the database is unchanged" test "$(cat "$DATA"/slipway.db* | sha256sum)" = "$before"

# Rotation while stopped: a new key, and every secret still works.
old_key=$(cat "$DATA/secret.key")
check "secrets rotate-key succeeds" bash -c "\"$SLIPWAYD\" secrets rotate-key --data-dir \"$DATA\" | grep -q 're-sealed'"
check "the key file holds a new key" test "$(cat "$DATA/secret.key")" != "$old_key"
start_daemon
HTTP=$(endpoint http)
body='{"ref":"refs/heads/main","after":"1111111111111111111111111111111111111111","repository":{"full_name":"acme/vault"}}'
sig="sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac sw-webhook-aa11 -hex | awk '{print $2}')"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$HTTP/hooks/github" -H "Content-Type: application/json" \
  -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: after-rotate" -H "X-Hub-Signature-256: $sig" --data-binary "$body")
check "after rotation the webhook secret still verifies deliveries ($code)" test "$code" != 401
bad=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$HTTP/hooks/github" -H "Content-Type: application/json" \
  -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: after-rotate-bad" -H "X-Hub-Signature-256: sha256=00" --data-binary "$body")
check "and a wrong signature is still refused" test "$bad" = 401

summary
