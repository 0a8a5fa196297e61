#!/usr/bin/env bash
# The dashboard at scale: slipwayd with 10,000 pipelines (applied through the Connect API) and
# one stage with 100,000 releases (written into the stopped store by ui_seed), then Chromium
# loads, searches and pages, and follows a run (bench/ui_bench.mjs). Figures: docs/benchmarks.md.
#   bench/ui_bench.sh BUILD_DIR [PIPELINES] [RELEASES] [SAMPLES]
set -euo pipefail
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
pipelines=${2:-10000}
releases=${3:-100000}
samples=${4:-10}
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
start() {
  rm -f "$work/data/endpoints.json"
  PATH="$build/examples:$PATH" "$build/server/slipwayd" --data-dir "$work/data" --log-level warn \
    --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 >>"$work/slipwayd.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do [ -s "$work/data/endpoints.json" ] && break; sleep 0.1; done
  url="http://$(python3 -c "import json;print(json.load(open('$work/data/endpoints.json'))['http'])")"
}
start
export SLIPWAY_URL=$url ADMIN_TOKEN=$(cat "$work/data/admin.token") PIPELINES=$pipelines \
  SAMPLES=$samples CHROMIUM=$(command -v chromium) UI_DIR=$root/ui
node "$root/bench/ui_bench.mjs" seed
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
"$build/bench/ui_seed" --data-dir "$work/data" --pipeline shop --stage prod --releases "$releases"
start
export SLIPWAY_URL=$url
echo "slipwayd RSS with $pipelines pipelines and $releases releases: $(( $(awk '/VmRSS/{print $2}' /proc/$pid/status) / 1024 )) MiB"
node "$root/bench/ui_bench.mjs" measure
