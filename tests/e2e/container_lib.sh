# Shared by the container end-to-end scripts (source after lib.sh): a private Podman API
# service and a private Caddy, started on sockets and ports of their own and stopped by pid at
# exit, plus test images built locally (no registry is reachable): FROM scratch with
# busybox-static, serving /www on 8080.
PODMAN_SOCK=$WORK/podman.sock
PODMAN_PID=""
CADDY_PID=""
IMAGES=()
export CONTAINERS_CONF="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../scripts" && pwd)/containers.conf"

free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }
engine() {  # METHOD PATH [BODY]
  if [ $# -ge 3 ]; then
    curl -s --unix-socket "$PODMAN_SOCK" -X "$1" -H 'Content-Type: application/json' "http://d/v1.41$2" -d "$3"
  else
    curl -s --unix-socket "$PODMAN_SOCK" -X "$1" "http://d/v1.41$2"
  fi
}
start_podman() {
  podman system service --time=0 "unix://$PODMAN_SOCK" >>"$WORK/podman.log" 2>&1 &
  PODMAN_PID=$!
  for _ in $(seq 1 100); do engine GET /version 2>/dev/null | grep -q Version && return 0; sleep 0.1; done
  echo "the Podman API service did not start:" >&2
  cat "$WORK/podman.log" >&2
  exit 1
}
CADDY_ADMIN=""
CADDY_HTTP=""
start_caddy() {
  CADDY_ADMIN=127.0.0.1:$(free_port)
  CADDY_HTTP=127.0.0.1:$(free_port)
  cat >"$WORK/caddy.json" <<JSON
{"admin":{"listen":"$CADDY_ADMIN"},"apps":{"http":{"servers":{"previews":{"listen":["$CADDY_HTTP"],"automatic_https":{"disable":true},"routes":[]}}}}}
JSON
  XDG_DATA_HOME=$WORK/caddy-data XDG_CONFIG_HOME=$WORK/caddy-config \
    caddy run --config "$WORK/caddy.json" >>"$WORK/caddy.log" 2>&1 &
  CADDY_PID=$!
  for _ in $(seq 1 100); do curl -s "http://$CADDY_ADMIN/config/" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "caddy did not start:" >&2
  cat "$WORK/caddy.log" >&2
  exit 1
}
# build_image TAG FILE=CONTENT...: an image whose /www holds the given files.
build_image() {
  local tag=$1; shift
  local dir
  dir=$(mktemp -d "$WORK/img.XXXX")
  mkdir -p "$dir/www"
  cp /bin/busybox "$dir/busybox"
  for kv in "$@"; do printf '%s\n' "${kv#*=}" >"$dir/www/${kv%%=*}"; done
  # Distinct from every other test's image even with the same files (one image id per content).
  printf '%s %s %s\n' "$tag" "$$" "$dir" >"$dir/www/.image"
  cat >"$dir/Containerfile" <<'CF'
FROM scratch
COPY busybox /bin/busybox
COPY www /www
ENTRYPOINT ["/bin/busybox"]
CMD ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]
CF
  podman build -q -t "$tag" "$dir" >/dev/null || { echo "podman build $tag failed" >&2; exit 1; }
  IMAGES+=("$tag")
}
controller_id() { cat "$DATA/container/controller-id"; }
# Labelled objects of this data dir's controller: containers|networks|volumes.
count_labelled() {  # kind [extra label filter]
  local f="{\"label\":[\"io.slipway.controller=$(controller_id)\"${2:+,\"$2\"}]}"
  local q
  q=$(python3 -c "import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1]))" "$f")
  case $1 in
    containers) engine GET "/containers/json?all=1&filters=$q" | json "len(d)";;
    networks) engine GET "/networks?filters=$q" | json "len(d)";;
    volumes) engine GET "/volumes?filters=$q" | json "len(d.get('Volumes') or [])";;
  esac
}
container_cleanup() {
  if [ -n "$PODMAN_PID" ] && [ -s "$DATA/container/controller-id" ]; then
    local id
    id=$(controller_id)
    podman ps -aq --filter "label=io.slipway.controller=$id" | xargs -r podman rm -f >/dev/null 2>&1
    podman network ls -q --filter "label=io.slipway.controller=$id" | xargs -r podman network rm >/dev/null 2>&1
    podman volume ls -q --filter "label=io.slipway.controller=$id" | xargs -r podman volume rm -f >/dev/null 2>&1
  fi
  for t in "${IMAGES[@]}"; do podman rmi -f "$t" >/dev/null 2>&1; done
  [ -n "$CADDY_PID" ] && kill "$CADDY_PID" 2>/dev/null && wait "$CADDY_PID" 2>/dev/null
  [ -n "$PODMAN_PID" ] && kill "$PODMAN_PID" 2>/dev/null && wait "$PODMAN_PID" 2>/dev/null
}
# slipwayd goes first, so nothing it does races the cleanup.
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; container_cleanup; cleanup' EXIT
