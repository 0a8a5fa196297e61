#!/usr/bin/env bash
# GetPipeline throughput and latency against the framework baseline (a minimal gRPC server
# from the same libraries answering an empty message), measured in one run on this machine,
# plus slipwayd's idle RSS. Prints a Markdown report.
#   bench/grpc_bench.sh [BUILD_DIR]   (default build/; build it first with scripts/build.sh)
# Env: SECONDS_PER_RUN (default 10), CONNECTIONS (4), STREAMS (10), ROUNDS (2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
secs=${SECONDS_PER_RUN:-10}
conns=${CONNECTIONS:-4}
streams=${STREAMS:-10}
rounds=${ROUNDS:-2}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$build/server/slipwayd" --data-dir "$work/data" --grpc-listen 127.0.0.1:0 \
  --http-listen 127.0.0.1:0 >"$work/slipwayd.log" 2>&1 &
pids+=($!)
slipwayd_pid=$!
for _ in $(seq 1 100); do [ -s "$work/data/endpoints.json" ] && break; sleep 0.1; done
grpc=$(python3 -c "import json;print(json.load(open('$work/data/endpoints.json'))['grpc'])")
http=$(python3 -c "import json;print(json.load(open('$work/data/endpoints.json'))['http'])")
token=$(cat "$work/data/admin.token")
"$build/cli/slipway" --data-dir "$work/data" apply -f "$root/examples/shop/pipeline.yaml" >/dev/null
sleep 2
idle_rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$slipwayd_pid/status)

"$build/bench/minimal_server" sync >"$work/sync.port" &
pids+=($!)
"$build/bench/minimal_server" callback >"$work/callback.port" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/sync.port" ] && [ -s "$work/callback.port" ] && break; sleep 0.1; done
baseline_sync="127.0.0.1:$(cat "$work/sync.port")"
baseline_callback="127.0.0.1:$(cat "$work/callback.port")"

load() {
  "$build/bench/grpc_load" --target "$1" --method "$2" --request-hex "$3" --token "$token" \
    --connections "$conns" --streams "$streams" --seconds "$secs"
}
field() { python3 -c "import json,sys;print(json.loads(sys.argv[1])['$2'])" "$1"; }

echo "| round | server | method | ok | errors | req/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|---|---|"
best_base=0; best_slip=0; slip_p99=0; base_p99=0; base_name=""
row() { echo "| $1 | $2 | $(field "$3" method) | $(field "$3" ok) | $(field "$3" errors) | $(field "$3" rps) | $(field "$3" p50_ms) | $(field "$3" p99_ms) |"; }
better() { python3 -c "import sys; sys.exit(0 if $1 > $2 else 1)"; }
for r in $(seq 1 "$rounds"); do
  for kind in sync callback; do
    addr=$baseline_sync; [ $kind = callback ] && addr=$baseline_callback
    b=$(load "$addr" /slipway.bench.v1.Baseline/Empty "")
    row "$r" "minimal_server ($kind)" "$b"
    if better "$(field "$b" rps)" "$best_base"; then
      best_base=$(field "$b" rps); base_p99=$(field "$b" p99_ms); base_name=$kind
    fi
  done
  s=$(load "$grpc" /slipway.v1.PipelineService/GetPipeline 0a0473686f70)
  row "$r" slipwayd "$s"
  if better "$(field "$s" rps)" "$best_slip"; then best_slip=$(field "$s" rps); slip_p99=$(field "$s" p99_ms); fi
done
ratio=$(python3 -c "print(f'{100*$best_slip/$best_base:.1f}')")
response_bytes=$("$build/cli/slipway" --data-dir "$work/data" get pipeline shop -o json | wc -c)
echo
echo "Best of $rounds rounds, $conns connections x $streams calls in flight, ${secs}s each:"
echo "- minimal_server Empty (best: $base_name API): $best_base req/s, p99 $base_p99 ms"
echo "- slipwayd GetPipeline (examples/shop, about $response_bytes bytes as JSON): $best_slip req/s, p99 $slip_p99 ms"
echo "- ratio: $ratio % (target >= 70 %)"
echo "- slipwayd idle RSS after applying the example: $((idle_rss_kb / 1024)) MiB ($idle_rss_kb kB; target <= 25 MB)"

if command -v h2load >/dev/null; then
  # h2load as a second, independent load tool. It counts HTTP 200 as success whatever the
  # grpc-status says, so the server's own OK counter is checked afterwards.
  printf '\x00\x00\x00\x00\x06\x0a\x04shop' >"$work/get.bin"
  printf '\x00\x00\x00\x00\x00' >"$work/empty.bin"
  n=$((conns * streams * 2000))
  before=$(curl -fsS "http://$http/metrics" | awk '/slipway_grpc_requests_total\{code="OK",method="\/slipway.v1.PipelineService\/GetPipeline"\}/ {print $2}')
  h2() {
    h2load -n "$n" -c "$conns" -m "$streams" -H 'content-type: application/grpc' -H 'te: trailers' \
      -H "authorization: Bearer $token" -d "$2" "http://$1" 2>&1 | awk '/^finished in/ {print $4}'
  }
  hb=$(h2 "$baseline_sync/slipway.bench.v1.Baseline/Empty" "$work/empty.bin")
  hc=$(h2 "$baseline_callback/slipway.bench.v1.Baseline/Empty" "$work/empty.bin")
  hs=$(h2 "$grpc/slipway.v1.PipelineService/GetPipeline" "$work/get.bin")
  after=$(curl -fsS "http://$http/metrics" | awk '/slipway_grpc_requests_total\{code="OK",method="\/slipway.v1.PipelineService\/GetPipeline"\}/ {print $2}')
  echo
  echo "h2load, $n requests, -c $conns -m $streams: minimal_server sync $hb req/s, callback $hc req/s;"
  echo "slipwayd GetPipeline $hs req/s;"
  echo "slipwayd counted $((${after%.*} - ${before%.*})) OK GetPipeline responses for the $n sent."
fi
