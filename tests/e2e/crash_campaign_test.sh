#!/usr/bin/env bash
# The crash campaign, kept short: 50 signed GitHub pushes (each a new commit) reach a stage
# whose flow deploys the real hello-server at that commit, while slipwayd is killed with
# SIGKILL 5 times as deploys start and restarted. Every delivery is retried until it is
# acknowledged, as GitHub does. Then:
# - every commit has exactly one run (none lost, none doubled), and every run succeeded;
# - exactly one tagged service process runs (no stray), and it is the tracked one, serving the
#   last commit.
# And a targeted kill at the failpoint between spawning a service and recording its pid: the
# restart stops the untracked process and runs the service once.
#   crash_campaign_test.sh SLIPWAYD SLIPWAY FIXTURES_DIR HELLO_DIR
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
FIXTURES=$3
HELLO_DIR=$4
source "$(dirname "$0")/lib.sh"
export PATH="$HELLO_DIR:$PATH"
export CRASH_HOOK_SECRET="e2e-crash-secret"
start_daemon
HTTP=$(endpoint http)

cat >"$WORK/p.yaml" <<'YAML'
name: crash
sources:
  - {name: app, provider: github, repository: woodpecker-ci/woodpecker, webhook_secret: {env: CRASH_HOOK_SECRET}}
stages:
  - name: dev
    concurrency: queue
    resources:
      - name: web
        driver: process
        process: {command: [hello-server, --version, "${trigger.sha}"], health: {http_path: /healthz}}
    triggers: [{git: {source: app, branches: [main]}}]
    flow: {sequential: [{ref: web, deploy: {resource: web}}]}
YAML
cli apply -f "$WORK/p.yaml" >/dev/null || { echo "apply failed"; exit 1; }

# Pushes 0..49: the fixture with `after` set to a commit of its own, signed.
python3 - "$FIXTURES/github/push-branch.json" "$WORK" <<'PY'
import hashlib, hmac, json, os, sys
d = json.load(open(sys.argv[1]))
for i in range(50):
    d["after"] = "%040x" % (0xc0ffee0000 + i)
    body = json.dumps(d).encode()
    open(os.path.join(sys.argv[2], "push-%d.json" % i), "wb").write(body)
    sig = hmac.new(os.environ["CRASH_HOOK_SECRET"].encode(), body, hashlib.sha256).hexdigest()
    open(os.path.join(sys.argv[2], "push-%d.sig" % i), "w").write("sha256=" + sig)
PY
deliver() {  # i: retried until acknowledged, with the same delivery id
  local code
  for _ in $(seq 1 300); do
    HTTP=$(endpoint http 2>/dev/null) || { sleep 0.1; continue; }
    code=$(curl -s -m 5 -o /dev/null -w "%{http_code}" -X POST "http://$HTTP/hooks/github" \
      -H "Content-Type: application/json" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: crash-$1" \
      -H "X-Hub-Signature-256: $(cat "$WORK/push-$1.sig")" --data-binary @"$WORK/push-$1.json")
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  echo "delivery $1 was never acknowledged" >&2
  return 1
}
deploying() { cli runs crash/dev --state running -o json 2>/dev/null | grep -q '"id"'; }
restart() {
  kill -9 "$PID"
  wait "$PID" 2>/dev/null
  start_daemon
}

# Five rounds of ten deliveries; each round ends with a kill while a deploy is under way.
undelivered=0
for round in 0 1 2 3 4; do
  for k in $(seq 0 9); do deliver $((round * 10 + k)) || undelivered=$((undelivered + 1)); done
  wait_for 20 deploying
  sleep "0.$((RANDOM % 4))"
  restart
done
check "all 50 deliveries were acknowledged" test "$undelivered" = 0

settled() {
  [ -z "$(cli runs crash/dev --state queued -o json | json "''.join(r['id'] for r in d.get('runs',[]))")" ] &&
    [ -z "$(cli runs crash/dev --state running -o json | json "''.join(r['id'] for r in d.get('runs',[]))")" ]
}
check "every run ends" wait_for 180 settled
cli runs crash/dev --limit 1000 -o json >"$WORK/runs.json"
check "each of the 50 commits has exactly one run" python3 - "$WORK/runs.json" <<'PY'
import collections, json, sys
runs = json.load(open(sys.argv[1])).get("runs", [])
per = collections.Counter(r["trigger"]["sha"] for r in runs)
want = {"%040x" % (0xc0ffee0000 + i) for i in range(50)}
missing, doubled = want - set(per), [s for s, n in per.items() if n > 1]
print("runs:", len(runs), "missing:", len(missing), "doubled:", doubled)
sys.exit(0 if not missing and not doubled and len(runs) == 50 else 1)
PY
check "every run succeeded" python3 - "$WORK/runs.json" <<'PY'
import collections, json, sys
states = collections.Counter(r["state"] for r in json.load(open(sys.argv[1])).get("runs", []))
print(dict(states))
sys.exit(0 if set(states) == {"RUN_STATE_SUCCEEDED"} else 1)
PY

# Processes carrying this data dir's tag, and the pid slipwayd tracks.
tagged() {
  python3 - "$DATA/process/owner" <<'PY'
import os, sys
tag = b"SLIPWAY_PROCESS_TAG=" + open(sys.argv[1], "rb").read().strip() + b":"
for p in os.listdir("/proc"):
    if not p.isdigit(): continue
    try: env = open("/proc/%s/environ" % p, "rb").read().split(b"\0")
    except OSError: continue
    if any(v.startswith(tag) for v in env): print(p)
PY
}
tracked() { cli get stage crash/dev -o json | json "[r['status']['pid'] for r in d.get('resources',[]) if r['name']=='web'][0]"; }
check "exactly one tagged service process runs (no stray)" test "$(tagged | wc -l)" = 1
check "it is the one slipwayd tracks" test "$(tagged)" = "$(tracked)"
url=$(cli get stage crash/dev -o json | json "[r['status']['url'] for r in d.get('resources',[]) if r['name']=='web'][0]")
newest=$(python3 -c "import json;print(json.load(open('$WORK/runs.json'))['runs'][0]['trigger']['sha'])")
check "it serves the newest run's commit" test "$(curl -s "$url/version")" = "$newest"

# The targeted kill: slipwayd dies right after spawning the service, before recording it.
kill -9 "$PID"; wait "$PID" 2>/dev/null
DAEMON_FLAGS="" SLIPWAY_FAILPOINT=process.after_spawn start_daemon
before=$(tagged)
cli run crash/dev --sha feedface >/dev/null 2>&1
died() { ! kill -0 "$PID" 2>/dev/null; }
check "slipwayd died at the failpoint" wait_for 30 died
wait "$PID" 2>/dev/null
stray=$(comm -13 <(echo "$before" | sort) <(tagged | sort))
check "the process it had just spawned runs, untracked" test -n "$stray"
start_daemon
check "the restart reports the stray" wait_for 10 grep -q "stopped 1 process group" "$WORK/slipwayd.log"
# Gone: no such process, or only a zombie left for init to reap (it runs nothing).
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]; }
check "the stray is gone" wait_for 10 gone "$stray"
recovered() { [ "$(tracked 2>/dev/null)" != "" ] && [ "$(tagged | wc -l)" = 1 ] && [ "$(tagged)" = "$(tracked)" ]; }
check "afterwards exactly one tracked service process runs" wait_for 60 recovered

summary
