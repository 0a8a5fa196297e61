#!/usr/bin/env bash
# Container previews: open -> READY latency through slipwayd's container driver, against a
# script doing `podman run` plus waiting for the same health check, in the same run, on the
# same private Podman API service and image; then N live container previews and slipwayd's RSS,
# and what teardown leaves.
#   bench/container_preview_bench.sh BUILD_DIR [CYCLES] [LIVE]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
CYCLES=${2:-30}
LIVE=${3:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
export CONTAINERS_CONF=$ROOT/scripts/containers.conf
SOCK=$WORK/podman.sock
podman system service --time=0 "unix://$SOCK" >"$WORK/podman.log" 2>&1 &
PODMAN_PID=$!
IMAGE=localhost/slipway-bench-$$:1
cleanup() {
  kill "$PODMAN_PID" 2>/dev/null || true
  wait "$PODMAN_PID" 2>/dev/null || true
  podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf --unix-socket "$SOCK" http://d/v1.41/version >/dev/null && break; sleep 0.1; done
mkdir -p "$WORK/img/www"
cp /bin/busybox "$WORK/img/busybox"
cat >"$WORK/img/Containerfile" <<'CF'
FROM scratch
COPY busybox /bin/busybox
COPY www /www
ENTRYPOINT ["/bin/busybox"]
CF
echo ok >"$WORK/img/www/healthz"
echo "$IMAGE $WORK" >"$WORK/img/www/.image"  # its own image id, shared with no other image
podman build -q -t "$IMAGE" "$WORK/img" >/dev/null

# Baseline: podman run with a published port, then poll the same health check.
baseline=()
for i in $(seq 1 "$CYCLES"); do
  t0=$(date +%s%N)
  id=$(podman run -d -p 127.0.0.1::8080 -e SHA="base$i" "$IMAGE" sh -c 'echo $SHA > /www/sha.txt; exec httpd -f -p 8080 -h /www')
  port=$(podman port "$id" 8080/tcp | head -1 | sed 's/.*://')
  until curl -sf "http://127.0.0.1:$port/sha.txt" >/dev/null; do sleep 0.01; done
  t1=$(date +%s%N)
  baseline+=($(( (t1 - t0) / 1000000 )))
  podman rm -f -t 1 "$id" >/dev/null 2>&1
done
base_p50=$(printf '%s\n' "${baseline[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

out=$("$BUILD/bench/preview_bench" --fixture "$ROOT/../shared/fixtures/webhooks/github/pull_request-opened.json" \
  --slipwayd "$BUILD/server/slipwayd" --driver container --container-host "unix://$SOCK" --image "$IMAGE" \
  --cycles "$CYCLES" --in-flight 1 --live "$LIVE")
echo "$out"
ctl=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['controller'])" "$out")
left=$(podman ps -aq --filter "label=io.slipway.controller=$ctl" | wc -l)
podman ps -aq --filter "label=io.slipway.controller=$ctl" | xargs -r podman rm -f >/dev/null 2>&1 || true
podman network ls -q --filter "label=io.slipway.controller=$ctl" | xargs -r podman network rm >/dev/null 2>&1 || true
python3 - "$out" "$base_p50" "$left" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); base = float(sys.argv[2]); left = int(sys.argv[3])
print(json.dumps({"podman_run_p50_ms": base, "slipway_open_to_ready_p50_ms": d["open_to_ready_p50_ms"],
                  "ratio": round(d["open_to_ready_p50_ms"] / base, 2), "live_ready": d["live_ready"],
                  "rss_live_mb": d["rss_live_mb"], "containers_left_after_teardown": left}))
PY
