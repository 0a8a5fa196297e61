#!/usr/bin/env bash
# End-to-end rollback with the built binaries and real processes: deploy v1 then v2, roll back
# (the service answers v1 again), release 3 records rollback_of 1, the stage is held and a run
# is refused until unhold, then v3 deploys. Also: a dry run changes nothing, a rollback after
# SIGKILL and restart, and a rollback whose workloads are gone entirely.
#   rollback_test.sh SLIPWAYD SLIPWAY SOURCE_DIR HELLO_SERVER_DIR
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
export PATH="$(cd "$4" && pwd):$PATH"
source "$(dirname "$0")/lib.sh"
stage_url() { cli get stage roll/prod -o json | json "[r['status']['url'] for r in d['resources'] if r['name']=='$1'][0]"; }
serves() {  # url version: waits up to 10 s for the service to answer with the version
  for _ in $(seq 1 100); do
    [ "$(curl -fsS "$1/version" 2>/dev/null)" = "$2" ] && return 0
    sleep 0.1
  done
  echo "$1 answers '$(curl -sS "$1/version" 2>&1)', not $2" >&2
  return 1
}
releases() { cli releases roll/prod -o json | json "len(d.get('releases', []))"; }

cat >"$WORK/roll.yaml" <<'YAML'
name: roll
stages:
  - name: prod
    concurrency: queue
    resources:
      - {name: web, driver: process, process: {command: ["hello-server", "--version", "${artifact.version}"], health: {http_path: /healthz}}}
      - {name: api, driver: process, process: {command: ["hello-server", "--version", "api-${artifact.version}"], health: {http_path: /healthz}}}
    flow:
      sequential:
        - parallel:
            - {ref: web, deploy: {resource: web, artifact: {version: "${args.version}"}}}
            - {ref: api, deploy: {resource: api, artifact: {version: "${args.version}"}}}
        - {ref: ready, timeout: 30s, await_condition: {interval: 200ms, http: {resource: web, path: /healthz}}}
YAML

start_daemon
cli apply -f "$WORK/roll.yaml" >/dev/null
check "deploy v1" cli run roll/prod --arg version=v1 --wait
check "deploy v2" cli run roll/prod --arg version=v2 --wait
check "the service answers v2" serves "$(stage_url web)" v2

out=$(cli rollback roll/prod --dry-run)
check "a dry run shows the diff" grep -q "artifact.version: v2 -> v1" <<<"$out"
check "a dry run changes nothing: still 2 releases" test "$(releases)" = 2
check "a dry run changes nothing: no hold" test "$(cli get stage roll/prod -o json | json "'hold' in d")" = False
check "a dry run changes nothing: still v2" serves "$(stage_url web)" v2

out=$(cli rollback roll/prod --reason "v2 breaks checkout"); rc=$?
check "rollback exits 0" test "$rc" = 0
check "the service answers v1 again" serves "$(stage_url web)" v1
check "and so does the second resource" serves "$(stage_url api)" api-v1
check "release 3 records rollback_of 1" test "$(cli release get roll/prod 3 -o json | json "d.get('rollback_of')")" = 1
stage=$(cli get stage roll/prod)
check "get stage shows the hold and what it pins" grep -q "pins release 3" <<<"$stage"
check "the hold says why" grep -q "v2 breaks checkout" <<<"$stage"
out=$(cli run roll/prod --arg version=v3 2>&1); rc=$?
check "a run on the held stage is refused" bash -c "test $rc = 1 && grep -q 'is held' <<<\"$out\" && grep -q FAILED_PRECONDITION <<<\"$out\""
check "diff 2 3 shows the rollback" bash -c "cli() { \"$SLIPWAY\" --data-dir \"$DATA\" \"\$@\"; }; cli diff roll/prod 2 3 | grep -q 'v2 -> v1'"
check "unhold" cli unhold roll/prod
check "deploy v3 after unhold" cli run roll/prod --arg version=v3 --wait
check "the service answers v3" serves "$(stage_url web)" v3

# Rollback after a controller SIGKILL and restart.
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=""
start_daemon
check "rollback to release 2 after a restart" cli rollback roll/prod --to 2 --reason restart
check "the service answers v2" serves "$(stage_url web)" v2
check "release 5 records rollback_of 2" test "$(cli release get roll/prod 5 -o json | json "d.get('rollback_of')")" = 2
cli unhold roll/prod >/dev/null

# Rollback to a release whose processes are gone: the workloads and the driver's records are
# wiped while slipwayd is down; the snapshot alone brings v1 back.
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=""
kill_services
rm -rf "$DATA/process"
start_daemon
check "rollback to release 1 with every process gone" cli rollback roll/prod --to 1
check "the service answers v1 on its new port" serves "$(stage_url web)" v1
check "every run of the stage ended" test "$(cli runs roll/prod -o json | json "len([r for r in d['runs'] if r['state'].removeprefix('RUN_STATE_').lower() not in ('succeeded','failed','cancelled','skipped')])")" = 0

# Who did what: one audit line per mutation, naming the token, the target and the outcome.
admin_id=$(cli get tokens -o json | json "[t['id'] for t in d['tokens'] if t['description']=='bootstrap admin token'][0]")
check "the rollback is audited with its token, target and outcome" \
  grep -qE "audit: ReleaseService/RollbackStage by token $admin_id \(\"bootstrap admin token\"\) pipeline=\"roll\" stage=\"prod\".* -> OK" "$WORK/slipwayd.log"
check "the apply is audited" grep -qE "audit: PipelineService/ApplyPipeline by token $admin_id .*pipeline=\"roll\" -> OK" "$WORK/slipwayd.log"
check "runs are audited" grep -qE "audit: ReleaseService/StartRun by token $admin_id .*pipeline=\"roll\" stage=\"prod\"" "$WORK/slipwayd.log"
check "reads are not audited" bash -c "! grep -q 'audit: .*/Get' '$WORK/slipwayd.log'"
"$SLIPWAY" --data-dir "$DATA" --token "slw_$(printf '0%.0s' $(seq 64))" hold roll/prod --reason nope >/dev/null 2>&1
check "a refused mutation is audited as refused" grep -qE "audit: ReleaseService/HoldStage refused pipeline=\"roll\" stage=\"prod\" -> UNAUTHENTICATED" "$WORK/slipwayd.log"
check "the rollback is counted in slipway_rollbacks_total" bash -c "curl -fsS http://\$(python3 -c \"import json;print(json.load(open('$DATA/endpoints.json'))['http'])\")/metrics | grep -E '^slipway_rollbacks_total\{' | grep 'outcome=\"succeeded\"' | grep -q 'pipeline=\"roll\"'"
cli hold roll/prod --reason "by hand" >/dev/null
metrics=$(curl -fsS "http://$(python3 -c "import json;print(json.load(open('$DATA/endpoints.json'))['http'])")/metrics")
check "the rollback's hold is counted as placed by the rollback" \
  grep -q 'slipway_holds_placed_total{cause="rollback",pipeline="roll",stage="prod"} 1' <<<"$metrics"
check "a hold by hand as manual" grep -q 'slipway_holds_placed_total{cause="manual",pipeline="roll",stage="prod"} 1' <<<"$metrics"
check "the held stage is in slipway_stages_held" grep -qx 'slipway_stages_held 1' <<<"$metrics"
cli unhold roll/prod >/dev/null
metrics=$(curl -fsS "http://$(python3 -c "import json;print(json.load(open('$DATA/endpoints.json'))['http'])")/metrics")
check "unhold is counted as lifted" grep -q 'slipway_holds_lifted_total{pipeline="roll",stage="prod"} 1' <<<"$metrics"
check "and the stage is no longer held" grep -qx 'slipway_stages_held 0' <<<"$metrics"
kill -TERM "$PID"; wait "$PID"; PID=""
summary
