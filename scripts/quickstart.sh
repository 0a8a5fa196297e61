#!/usr/bin/env bash
# Installs what Slipway needs, builds it, starts slipwayd on its embedded defaults (SQLite in
# the default data dir, gRPC on 127.0.0.1:7420, HTTP on 127.0.0.1:7421) and applies the example
# pipeline. slipwayd keeps running in the foreground; Ctrl-C stops it cleanly.
#   scripts/quickstart.sh [extra slipwayd flags...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build"
slipwayd="$root/build/server/slipwayd"
slipway="$root/build/cli/slipway"
data_dir=${SLIPWAY_DATA_DIR:-$HOME/.local/share/slipway}
mkdir -p "$(dirname "$data_dir")"
rm -f "$data_dir/endpoints.json"

# The example pipeline runs hello-server, built with the project.
export PATH="$root/build/examples:$PATH"
"$slipwayd" --data-dir "$data_dir" "$@" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM
for _ in $(seq 1 100); do
  [ -s "$data_dir/endpoints.json" ] && break
  kill -0 $pid 2>/dev/null || { wait $pid; exit $?; }
  sleep 0.1
done
"$slipway" --data-dir "$data_dir" apply -f "$root/examples/shop/pipeline.yaml"
cat <<MSG

slipwayd is running (pid $pid, data in $data_dir). In another shell:
  export PATH=$root/build/cli:\$PATH
  slipway get pipelines
  slipway get pipeline shop -o yaml
  slipway run shop/dev --arg version=1.0.0 --wait
  slipway runs shop
  curl -s http://127.0.0.1:7421/metrics | head
Press Ctrl-C to stop it.
MSG
wait $pid
