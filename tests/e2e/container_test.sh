#!/usr/bin/env bash
# End-to-end container deploys with the built binaries, a real Podman API service and a real
# Caddy (both private to this test), and images built locally:
# - the engine down at start: the deploy fails naming the socket and nothing is recorded;
# - a stage deploy by tag records the digest; after the tag moves to another image, a rollback
#   serves exactly what ran before (through the stage's route);
# - a signed pull_request opened gives a preview whose web reaches its db by name, served by
#   Caddy at pr-2.<domain> with the head SHA; synchronize serves the new SHA at the same host;
#   closed removes containers, network, volume and route;
# - `slipway preview logs` shows the container's output;
# - an orphan (labelled, no record) is swept, an unlabelled container is never touched;
# - SIGKILL during a container deploy and during a teardown: after the restart exactly one
#   container per resource and no labelled object nothing owns.
#   container_test.sh SLIPWAYD SLIPWAY FIXTURES_DIR
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
FIXTURES=$3
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/container_lib.sh"

export HOOK_SECRET="e2e-container-secret"
DOMAIN=preview.localhost
TAG=$$
SHOP=localhost/slipway-e2e-shop-$TAG
DB=localhost/slipway-e2e-db-$TAG

start_podman
start_caddy
build_image "$SHOP:1.4.2" version.txt=one healthz=ok
build_image "$DB:15" db.txt=db-reached healthz=ok

cat >"$WORK/p.yaml" <<YAML
name: shop
sources:
  - {name: gh, provider: github, repository: Codertocat/Hello-World, webhook_secret: {env: HOOK_SECRET}}
stages:
  - name: prod
    resources:
      - name: web
        driver: container
        container:
          image: "\${artifact.image}"
          ports: [{name: http, container_port: 8080}]
          health: {http_path: /healthz}
          limits: {memory: 64MiB, cpus: "0.5"}
    flow: {sequential: [{ref: web, deploy: {resource: web, artifact: {image: "\${args.image}"}}}]}
preview_blueprints:
  - name: pr
    triggers: [{pull_request: {source: gh, branches: ["**"]}}]
    naming: {pr_number: {}}
    resources:
      - name: db
        driver: container
        container:
          image: $DB:15
          ports: [{container_port: 8080}]
          health: {http_path: /healthz}
          volumes: [{name: data, path: /data}]
      - name: web
        driver: container
        container:
          image: $SHOP:1.4.2
          route: true
          env: {SHA: "\${trigger.sha}"}
          command: [sh, -c, "until wget -q -O /www/db.txt http://db:8080/db.txt; do sleep 0.2; done; echo \$SHA > /www/sha.txt; exec httpd -f -v -p 8080 -h /www"]
          ports: [{container_port: 8080}]
          health: {http_path: /sha.txt}
          stop_timeout: 3s
YAML

# 1. The engine down at start.
DAEMON_FLAGS="--container-host unix://$WORK/nothing-here.sock"
start_daemon
cli apply -f "$WORK/p.yaml" >/dev/null || { echo "apply failed"; cat "$WORK/slipwayd.log"; exit 1; }
out=$(cli run shop/prod --arg image="$SHOP:1.4.2" --wait 2>&1)
rc=$?
check "with the engine down the deploy fails" test "$rc" -ne 0
check "the failure names the socket" grep -q "nothing-here.sock" <<<"$out"
recorded() { cli get stage shop/prod -o json | json "len(d.get('resources', []))"; }
check "nothing is recorded as deployed" test "$(recorded)" = 0
kill "$PID"; wait "$PID" 2>/dev/null

# A bad spec is refused at apply, naming the field.
sed 's/memory: 64MiB/memory: lots/' "$WORK/p.yaml" >"$WORK/bad.yaml"
DAEMON_FLAGS="--container-host unix://$PODMAN_SOCK --router caddy --router-admin http://$CADDY_ADMIN --preview-domain $DOMAIN --preview-reconcile-interval 0s"
start_daemon
bad=$(cli apply -f "$WORK/bad.yaml" 2>&1)
check "a bad memory limit is refused at apply, naming the field" grep -q "limits.memory" <<<"$bad"

# 2. Stage deploy by tag, the tag moves, rollback by digest.
via_caddy() { curl -s -m 5 -H "Host: $1" "http://$CADDY_HTTP$2"; }
check "deploy by tag succeeds" cli run shop/prod --arg image="$SHOP:1.4.2" --wait
check "the stage's route serves it" test "$(via_caddy shop-prod.$DOMAIN /version.txt)" = one
digest1=$(cli get stage shop/prod -o json | json "[r['artifact'].get('digest','') for r in d['resources'] if r['name']=='web'][0]")
check "the release records a digest" grep -q "@sha256:" <<<"$digest1"
build_image "$SHOP:1.4.2" version.txt=two healthz=ok
check "a deploy of the moved tag succeeds" cli run shop/prod --arg image="$SHOP:1.4.2" --wait
check "the route serves the new image" test "$(via_caddy shop-prod.$DOMAIN /version.txt)" = two
check "one container runs for the stage's web" test "$(count_labelled containers io.slipway.key=shop/prod/web)" = 1
check "rollback succeeds" cli rollback shop/prod
check "after the rollback the route serves the image that ran before" test "$(via_caddy shop-prod.$DOMAIN /version.txt)" = one
digest3=$(cli get stage shop/prod -o json | json "[r['artifact'].get('digest','') for r in d['resources'] if r['name']=='web'][0]")
check "the rollback ran the recorded digest" test "$digest3" = "$digest1"
check "still one container for the stage's web" test "$(count_labelled containers io.slipway.key=shop/prod/web)" = 1

# 3. Previews from signed pull_request deliveries.
sign() { echo "sha256=$(openssl dgst -sha256 -hmac "$HOOK_SECRET" -hex <"$1" | awk '{print $2}')"; }
gh() {  # event delivery-id body
  curl -s -o "$WORK/resp" -w "%{http_code}" -X POST "http://$(endpoint http)/hooks/github" \
    -H "Content-Type: application/json" -H "X-GitHub-Event: $1" -H "X-GitHub-Delivery: $2" \
    -H "X-Hub-Signature-256: $(sign "$3")" --data-binary @"$3"
}
state_is() { [ "$(cli preview get "$1" -o json 2>/dev/null | json "d.get('state','').removeprefix('PREVIEW_STATE_')")" = "$2" ]; }
wait_state() {  # name state [seconds]
  wait_for "${3:-90}" state_is "$1" "$2" && return 0
  cli preview get "$1" >&2
  return 1
}
OPEN_SHA=ec26c3e57ca3a959ca5aad62de7213c562f8c821
NEW_SHA=0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c
check "a signed pull_request opened is accepted" test "$(gh pull_request c-open "$FIXTURES/github/pull_request-opened.json")" = 200
check "pr-2 becomes READY" wait_state pr-2 READY
check "Caddy serves the head SHA at pr-2.$DOMAIN" test "$(via_caddy pr-2.$DOMAIN /sha.txt)" = "$OPEN_SHA"
check "web reached db by name on the preview's network" test "$(via_caddy pr-2.$DOMAIN /db.txt)" = db-reached
check "the preview has its own network" test "$(count_labelled networks io.slipway.preview=pr-2)" = 1
check "and its db volume" test "$(count_labelled volumes io.slipway.preview=pr-2)" = 1
check "the preview's URL is its hostname" bash -c "\"$SLIPWAY\" --data-dir \"$DATA\" preview get pr-2 -o json | grep -q 'http://pr-2.$DOMAIN/'"
via_caddy pr-2.$DOMAIN /sha.txt >/dev/null
cli preview logs pr-2 --resource web >"$WORK/web.log" 2>&1
check "preview logs shows web's output" grep -q "response:200" "$WORK/web.log"
python3 - "$FIXTURES/github/pull_request-synchronize.json" "$WORK/sync.json" "$NEW_SHA" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["pull_request"]["head"]["sha"] = sys.argv[3]
json.dump(d, open(sys.argv[2], "w"))
PY
check "synchronize is accepted" test "$(gh pull_request c-sync "$WORK/sync.json")" = 200
ready_at() { [ "$(cli preview get "$1" -o json | json "d.get('ready_sha','')")" = "$2" ]; }
wait_for 90 ready_at pr-2 "$NEW_SHA"
check "the same host serves the new SHA" test "$(via_caddy pr-2.$DOMAIN /sha.txt)" = "$NEW_SHA"
check "one container per preview resource" test "$(count_labelled containers io.slipway.preview=pr-2)" = 2
check "closed is accepted" test "$(gh pull_request c-close "$FIXTURES/github/pull_request-closed-not-merged.json")" = 200
check "pr-2 becomes DELETED" wait_state pr-2 DELETED
check "its containers are gone" test "$(count_labelled containers io.slipway.preview=pr-2)" = 0
check "its network is gone" test "$(count_labelled networks io.slipway.preview=pr-2)" = 0
check "its volume is gone" test "$(count_labelled volumes io.slipway.preview=pr-2)" = 0
check "its route is gone" bash -c "! curl -s http://$CADDY_ADMIN/config/apps/http/servers/previews/routes | grep -q 'pr-2.$DOMAIN'"

# 4. Orphans: a labelled container no record owns is swept at start; an unlabelled one stays.
ctl=$(controller_id)
engine POST "/containers/create?name=slipway-e2e-orphan-$TAG" "{\"Image\":\"$DB:15\",\"Labels\":{\"io.slipway.controller\":\"$ctl\",\"io.slipway.key\":\"shop/prod/ghost\",\"io.slipway.scope\":\"shop/prod\",\"io.slipway.role\":\"service\"}}" >/dev/null
engine POST "/containers/create?name=slipway-e2e-unlabelled-$TAG" "{\"Image\":\"$DB:15\"}" >/dev/null
engine POST "/containers/slipway-e2e-orphan-$TAG/start" >/dev/null
# Routes: the stage's is lost (as when Caddy restarts with its file config), and a stale one of
# this controller is left behind; the sweep puts the first back and removes the second.
stage_route=$(curl -s "http://$CADDY_ADMIN/config/apps/http/servers/previews/routes" | json "[r['@id'] for r in d if 'shop-prod' in r['match'][0]['host'][0]][0]")
curl -s -X DELETE "http://$CADDY_ADMIN/id/$stage_route" >/dev/null
curl -s -X POST -H 'Content-Type: application/json' "http://$CADDY_ADMIN/config/apps/http/servers/previews/routes" \
  -d "{\"@id\":\"slipway.$ctl.shop.preview_pr-99.web\",\"match\":[{\"host\":[\"pr-99.$DOMAIN\"]}],\"handle\":[{\"handler\":\"reverse_proxy\",\"upstreams\":[{\"dial\":\"127.0.0.1:9\"}]}]}" >/dev/null
check "the stage's route is gone from Caddy" test -z "$(via_caddy shop-prod.$DOMAIN /version.txt)"
kill "$PID"; wait "$PID" 2>/dev/null
start_daemon
served_again() { [ "$(via_caddy shop-prod.$DOMAIN /version.txt)" = one ]; }
check "after the restart the sweep puts the stage's route back" wait_for 20 served_again
stale_gone() { ! curl -s "http://$CADDY_ADMIN/config/apps/http/servers/previews/routes" | grep -q "pr-99.$DOMAIN"; }
check "and removes the stale route" wait_for 20 stale_gone
gone() { [ "$(engine GET "/containers/slipway-e2e-orphan-$TAG/json" | json "d.get('Id','')")" = "" ]; }
check "the labelled orphan is swept" wait_for 20 gone
check "the unlabelled container is untouched" test -n "$(engine GET "/containers/slipway-e2e-unlabelled-$TAG/json" | json "d.get('Id','')")"
engine DELETE "/containers/slipway-e2e-unlabelled-$TAG?force=1" >/dev/null
check "the stage's own container survived the sweep" test "$(count_labelled containers io.slipway.key=shop/prod/web)" = 1

# 5. SIGKILL during a container deploy (web's health waits for its db) and during a teardown
# (web ignores SIGTERM for its 3 s stop timeout).
python3 - "$FIXTURES/github/pull_request-opened.json" "$WORK/open2.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["number"] = 7
d["pull_request"]["number"] = 7
json.dump(d, open(sys.argv[2], "w"))
PY
code=$(gh pull_request c-open7 "$WORK/open2.json")
check "a second pull request is accepted" test "$code" = 200
has_web() { [ "$(count_labelled containers io.slipway.preview=pr-7)" -ge 1 ]; }
check "its containers are being created" wait_for 60 has_web
kill -9 "$PID"; wait "$PID" 2>/dev/null
start_daemon
check "after the restart pr-7 becomes READY" wait_state pr-7 READY
check "exactly one container per resource" test "$(count_labelled containers io.slipway.preview=pr-7)" = 2
check "it serves its SHA" test "$(via_caddy pr-7.$DOMAIN /sha.txt)" = "$OPEN_SHA"
cli preview delete pr-7 >/dev/null
tearing() { state_is pr-7 TEARING_DOWN; }
wait_for 20 tearing
sleep 1
kill -9 "$PID"; wait "$PID" 2>/dev/null
start_daemon
check "after a restart mid-teardown pr-7 becomes DELETED" wait_state pr-7 DELETED
check "none of its containers is left" test "$(count_labelled containers io.slipway.preview=pr-7)" = 0
check "nor its network" test "$(count_labelled networks io.slipway.preview=pr-7)" = 0
check "nor its volume" test "$(count_labelled volumes io.slipway.preview=pr-7)" = 0
total=$(count_labelled containers)
check "only the stage's container is left labelled" test "$total" = 1

[ "$failures" = 0 ] || tail -30 "$WORK/slipwayd.log"
summary
