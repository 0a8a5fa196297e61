#!/usr/bin/env bash
# End-to-end: Slipway's API as another language's client sees it. A Python client is generated
# from proto/slipway with Debian's protoc and grpc_python_plugin and calls read RPCs with
# grpcio; every kind of resource `slipway -o json` prints is parsed by protobuf's own JSON
# parser (json_format.Parse, which rejects what is not the mapping: "github" for an enum,
# unknown fields); and the generated code does not shadow grpcio's own packages.
#   python_client_test.sh SLIPWAYD SLIPWAY SOURCE_DIR FIXTURES_DIR HELLO_SERVER_DIR
set -uo pipefail
SLIPWAYD=$1
SLIPWAY=$2
SRC=$3
FIXTURES=$4
export PATH="$(cd "$5" && pwd):$PATH"
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3  # Debian's, with python3-grpcio and python3-protobuf

mkdir -p "$WORK/py"
(cd "$SRC/proto" && protoc -I . --python_out="$WORK/py" --grpc_python_out="$WORK/py" \
  --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin slipway/v1/*.proto) 2>"$WORK/protoc.log"
check "Debian's protoc and grpc_python_plugin generate a client from proto/slipway" \
  test -f "$WORK/py/slipway/v1/pipeline_service_pb2_grpc.py"
[ -s "$WORK/protoc.log" ] && cat "$WORK/protoc.log" >&2
check "the generated code has no grpc/ or google/ package to shadow grpcio's" \
  bash -c "! test -e '$WORK/py/grpc' && ! test -e '$WORK/py/google'"

export HOOK_SECRET="py-secret"
start_daemon
GRPC=$(endpoint grpc)
HTTP=$(endpoint http)
TOKEN=$(cat "$DATA/admin.token")
cli apply -f "$SRC/examples/shop/pipeline.yaml" >/dev/null
cat >"$WORK/hooks.yaml" <<'YAML'
name: hooks
sources:
  - {name: app, provider: github, repository: woodpecker-ci/woodpecker, webhook_secret: {env: HOOK_SECRET}}
stages:
  - name: dev
    resources: [{name: web, driver: process, process: {command: [web]}}]
    triggers: [{git: {source: app, branches: [main]}}]
    flow: {sequential: [{ref: web, skip_if: "true", timeout: 90s, deploy: {resource: web}}]}
YAML
cli apply -f "$WORK/hooks.yaml" >/dev/null
BODY="$FIXTURES/github/push-branch.json"
SIG="sha256=$(openssl dgst -sha256 -hmac "$HOOK_SECRET" -hex <"$BODY" | awk '{print $2}')"
curl -s -o /dev/null -X POST "http://$HTTP/hooks/github" -H "Content-Type: application/json" \
  -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: py-1" -H "X-Hub-Signature-256: $SIG" \
  --data-binary @"$BODY"
cli run shop/dev --arg version=1.0.0 --wait >/dev/null
cli run shop/dev --arg version=1.0.1 --wait >/dev/null
cli hold shop/staging --reason "python client" >/dev/null
cli preview create shop --branch feature/py --sha abc123 --wait >/dev/null
run_id=$(cli runs shop/dev -o json | json "d['runs'][0]['id']")
delivery_id=$(cli deliveries -o json | json "d['deliveries'][0]['id']")
preview=$(cli previews -o json | json "d['previews'][0]['name']")

# The generated client, calling read RPCs with a bearer token.
out=$(PYTHONPATH="$WORK/py" "$PY" - "$GRPC" "$TOKEN" <<'PY' 2>&1
import sys
import grpc
from slipway.v1 import admin_service_pb2, admin_service_pb2_grpc
from slipway.v1 import pipeline_service_pb2, pipeline_service_pb2_grpc
from slipway.v1 import release_service_pb2, release_service_pb2_grpc
address, token = sys.argv[1], sys.argv[2]
auth = [("authorization", "Bearer " + token)]
with grpc.insecure_channel(address) as channel:
    pipelines = pipeline_service_pb2_grpc.PipelineServiceStub(channel)
    listed = pipelines.ListPipelines(pipeline_service_pb2.ListPipelinesRequest(), metadata=auth, timeout=10)
    print("pipelines:", ",".join(sorted(p.name for p in listed.pipelines)))
    shop = pipelines.GetPipeline(pipeline_service_pb2.GetPipelineRequest(name="shop"), metadata=auth, timeout=10)
    print("stages:", ",".join(s.name for s in shop.stages))
    releases = release_service_pb2_grpc.ReleaseServiceStub(channel)
    runs = releases.ListRuns(release_service_pb2.ListRunsRequest(pipeline="shop", stage="dev"), metadata=auth, timeout=10)
    print("runs:", len(runs.runs))
    info = admin_service_pb2_grpc.AdminServiceStub(channel).GetServerInfo(
        admin_service_pb2.GetServerInfoRequest(), metadata=auth, timeout=10)
    print("version:", info.version)
    hooks = pipelines.GetPipeline(pipeline_service_pb2.GetPipelineRequest(name="hooks"), metadata=auth, timeout=10)
    step = hooks.stages[0].flow.sequential.steps[0]
    last = runs.runs[0]
    print("times:", type(shop.create_time).__name__, shop.create_time.seconds > 1700000000,
          last.end_time.ToDatetime() >= last.create_time.ToDatetime())
    print("durations:", type(step.timeout).__name__, step.timeout.ToSeconds())
    try:
        pipelines.ListPipelines(pipeline_service_pb2.ListPipelinesRequest(), timeout=10)
        print("unauthenticated: allowed")
    except grpc.RpcError as e:
        print("unauthenticated:", e.code().name)
PY
)
echo "$out"
check "the Python client lists the pipelines" grep -qx "pipelines: hooks,shop" <<<"$out"
check "the Python client reads a pipeline's stages" grep -qx "stages: dev,staging,prod" <<<"$out"
check "the Python client lists runs" grep -qx "runs: 2" <<<"$out"
check "the Python client reads the server's version" grep -qx "version: $("$SLIPWAYD" --version | awk '{print $2}')" <<<"$out"
check "times are google.protobuf.Timestamp" grep -qx "times: Timestamp True True" <<<"$out"
check "durations are google.protobuf.Duration, from the file's 90s" grep -qx "durations: Duration 90" <<<"$out"
check "a call without a token is UNAUTHENTICATED" grep -qx "unauthenticated: UNAUTHENTICATED" <<<"$out"

# `-o json` of every resource kind, parsed by protobuf's JSON parser into the generated type.
parse() {  # description module.Message cli-args...
  local what=$1 type=$2; shift 2
  cli "$@" -o json >"$WORK/out.json" 2>"$WORK/out.err"
  check "$what: -o json is the protobuf JSON mapping of $type" \
    env PYTHONPATH="$WORK/py" "$PY" -c "
import importlib, sys
from google.protobuf import json_format
module, name = sys.argv[1].rsplit('.', 1)
cls = getattr(importlib.import_module('slipway.v1.' + module), name)
msg = json_format.Parse(open(sys.argv[2]).read(), cls())
assert msg.ByteSize() > 0, 'empty'
" "$type" "$WORK/out.json"
}
parse "get pipelines" pipeline_service_pb2.ListPipelinesResponse get pipelines
parse "get pipeline" pipeline_pb2.Pipeline get pipeline shop
parse "get stage" release_pb2.StageStatus get stage shop/dev
parse "run get" release_pb2.Run run get "$run_id"
parse "get runs" release_service_pb2.ListRunsResponse get runs shop/dev
parse "get releases" release_service_pb2.ListReleasesResponse get releases shop/dev
parse "release get" release_pb2.Release release get shop/dev 1
parse "diff" release_pb2.ReleaseDiff diff shop/dev 1 2
parse "rollback --dry-run" release_service_pb2.RollbackStageResponse rollback shop/dev --dry-run
parse "get previews" preview_pb2.ListPreviewsResponse get previews
parse "preview get" preview_pb2.Preview preview get "$preview"
parse "get deliveries" delivery_service_pb2.ListDeliveriesResponse get deliveries
parse "delivery get" delivery_pb2.Delivery delivery get "$delivery_id"
parse "get tokens" admin_service_pb2.ListTokensResponse get tokens
check "enums are the mapping's full names" grep -q '"provider": "PROVIDER_GITHUB"' <(cli get pipeline hooks -o json)
check "a run's state is its full enum name" grep -q '"state": "RUN_STATE_SUCCEEDED"' <(cli run get "$run_id" -o json)
cli get stages shop -o json >"$WORK/stages.json"
check "get stages -o json is an array of StageStatus" env PYTHONPATH="$WORK/py" "$PY" -c "
import json, sys
from google.protobuf import json_format
from slipway.v1 import release_pb2
items = json.load(open(sys.argv[1]))
stages = [json_format.ParseDict(i, release_pb2.StageStatus()) for i in items]
assert [s.spec.name for s in stages] == ['dev', 'staging', 'prod'], stages
assert stages[1].HasField('hold')
assert stages[1].hold.hold_time.seconds > 1700000000, stages[1].hold
" "$WORK/stages.json"
cli version -o json >"$WORK/version.json"
check "version -o json holds the server's ServerInfo" env PYTHONPATH="$WORK/py" "$PY" -c "
import json, sys
from google.protobuf import json_format
from slipway.v1 import admin_service_pb2
d = json.load(open(sys.argv[1]))
info = json_format.ParseDict(d['server'], admin_service_pb2.ServerInfo())
assert info.version == d['client']['version'] and info.storage == 'sqlite', d
" "$WORK/version.json"
# What -o yaml prints is applied again unchanged.
cli get pipeline shop -o yaml >"$WORK/shop.yaml"
out=$(cli apply -f "$WORK/shop.yaml" 2>&1)
check "get pipeline -o yaml applies again unchanged ($out)" grep -q unchanged <<<"$out"
summary
