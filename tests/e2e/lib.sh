# Shared by the end-to-end scripts: a scratch data dir, starting slipwayd on free ports,
# stopping the services it started, and counting checks. Source it after setting SLIPWAYD and
# SLIPWAY; set DAEMON_FLAGS for extra slipwayd flags.
WORK=$(mktemp -d)
DATA=$WORK/data
PID=""
failures=0
checks=0
DAEMON_FLAGS=${DAEMON_FLAGS:-}

# Stops every service the process driver started from this data dir, with its process group.
kill_services() {
  for f in "$DATA"/process/instances/*.json; do
    [ -f "$f" ] || continue
    pid=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1])).get('pid',0))" "$f")
    [ "$pid" -gt 0 ] 2>/dev/null && kill -9 -- -"$pid" "$pid" 2>/dev/null
  done
}
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  kill_services
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
check() {  # check "description" command...
  local what=$1; shift
  checks=$((checks + 1))
  if "$@"; then echo "ok: $what"; else fail "$what"; fi
}
# Starts slipwayd on free ports and waits (up to 10 s) until it has written its endpoints.
start_daemon() {
  rm -f "$DATA/endpoints.json"
  # shellcheck disable=SC2086
  "$SLIPWAYD" --data-dir "$DATA" --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
    $DAEMON_FLAGS >>"$WORK/slipwayd.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do [ -s "$DATA/endpoints.json" ] && return 0; sleep 0.1; done
  echo "slipwayd did not start:" >&2
  cat "$WORK/slipwayd.log" >&2
  exit 1
}
endpoint() { python3 -c "import json;print(json.load(open('$DATA/endpoints.json'))['$1'])"; }
cli() { "$SLIPWAY" --data-dir "$DATA" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
lacks() { ! grep -qi -- "$1" <<<"$2"; }
# Polls `command...` every 0.2 s until it succeeds (0) or `seconds` pass (1).
wait_for() {  # seconds command...
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}
# Prints the tally in the form CI reads and fails if any check failed.
summary() {
  echo "$((checks - failures)) passed, $failures failed"
  [ "$failures" = 0 ]
}
