#!/usr/bin/env bash
# The packages as a platform engineer meets them:
# - the .deb that cpack builds, installed into a fresh Debian 12 root (made by mmdebstrap with
#   only the package's declared dependencies, plus systemd) booted under systemd in a podman
#   container: slipwayd starts as the slipway user, the CLI on the same host finds the token,
#   `systemd-analyze verify` and `security` pass, a purge leaves nothing;
# - the image packaging/Containerfile builds from that .deb on that base, run with podman and
#   driven with the CLI from outside, its data surviving a new container;
# - the Kubernetes manifests, checked by check_kubernetes.py and their pod run as podman would.
#   package_test.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
BUILD=$1
SRC=$2
SLIPWAY=$BUILD/cli/slipway
SLIPWAYD=$BUILD/server/slipwayd
# shellcheck source=../e2e/lib.sh
source "$SRC/tests/e2e/lib.sh"
export CONTAINERS_CONF=$SRC/scripts/containers.conf
TAG=t$$
free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }
CONTAINERS=()
IMAGES=()
VOLUMES=()
package_cleanup() {
  for c in "${CONTAINERS[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1; done
  for v in "${VOLUMES[@]}"; do podman volume rm -f "$v" >/dev/null 2>&1; done
  for i in "${IMAGES[@]}"; do podman rmi -f "$i" >/dev/null 2>&1; done
  cleanup
}
trap package_cleanup EXIT

# --- the .deb ---
cpack --config "$BUILD/CPackConfig.cmake" -B "$WORK/pkg" >"$WORK/cpack.log" 2>&1
deb=$(ls "$WORK"/pkg/slipway_*_amd64.deb 2>/dev/null | head -1)
check "cpack builds a .deb" test -f "$deb"
[ -f "$deb" ] || { cat "$WORK/cpack.log" >&2; summary; exit 1; }
echo "deb size: $(stat -c %s "$deb") bytes"
depends=$(dpkg-deb -f "$deb" Depends)
check "Depends lists the shared libraries (dpkg-shlibdeps) and adduser" \
  bash -c "grep -q 'libgrpc++1.51' <<<'$depends' && grep -q 'libsqlite3-0' <<<'$depends' && grep -q adduser <<<'$depends'"
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for path in ./usr/bin/slipwayd ./usr/bin/slipway ./lib/systemd/system/slipwayd.service \
  ./etc/slipway/slipwayd.yaml ./usr/share/man/man1/slipway.1 ./usr/share/man/man8/slipwayd.8 \
  ./usr/share/bash-completion/completions/slipway ./usr/share/zsh/vendor-completions/_slipway \
  ./usr/share/fish/vendor_completions.d/slipway.fish ./usr/share/doc/slipway/copyright \
  ./usr/share/doc/slipway/CHANGELOG.md ./usr/share/slipway/proto/slipway/v1/pipeline_service.proto; do
  check "the .deb holds $path" grep -qx -- "$path" <<<"$contents"
done
check "the config file is a conffile" bash -c "dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./conffiles | grep -qx /etc/slipway/slipwayd.yaml"

# A Debian 12 root with nothing but the package's dependencies (the image's base), and the
# same root with systemd (the "machine" the .deb is installed on).
packages=$(python3 -c "import re,sys; print(','.join(re.sub(r'\(.*?\)','',d).split('|')[0].strip() for d in sys.argv[1].split(',')))" "$depends")
if ! mmdebstrap --quiet --variant=apt --include="$packages" bookworm "$WORK/base.tar" >"$WORK/mmdebstrap.log" 2>&1; then
  cat "$WORK/mmdebstrap.log" >&2
  fail "mmdebstrap makes a Debian 12 root"
  summary; exit 1
fi
podman import -q "$WORK/base.tar" "localhost/slipway-test-base:$TAG" >/dev/null
IMAGES+=("localhost/slipway-test-base:$TAG")
mkdir "$WORK/root"
tar -C "$WORK/root" -xf "$WORK/base.tar"
cp /etc/resolv.conf "$WORK/root/etc/resolv.conf"
chroot "$WORK/root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd' >"$WORK/systemd-install.log" 2>&1 \
  || { cat "$WORK/systemd-install.log" >&2; fail "systemd installs into the root"; summary; exit 1; }
rm -f "$WORK/root/etc/resolv.conf"
tar -C "$WORK/root" -cf "$WORK/machine.tar" .
rm -rf "$WORK/root" "$WORK/base.tar.unused"
podman import -q "$WORK/machine.tar" "localhost/slipway-test-machine:$TAG" >/dev/null
IMAGES+=("localhost/slipway-test-machine:$TAG")
rm -f "$WORK/machine.tar"

machine=slipway-machine-$TAG
podman run -d --name "$machine" --systemd=always "localhost/slipway-test-machine:$TAG" /lib/systemd/systemd >/dev/null
CONTAINERS+=("$machine")
in_machine() { podman exec "$machine" "$@"; }
booted() { state=$(in_machine systemctl is-system-running 2>/dev/null); [ "$state" = running ] || [ "$state" = degraded ]; }
check "a fresh Debian 12 root boots systemd" wait_for 60 booted
podman cp "$deb" "$machine:/tmp/slipway.deb"
check "dpkg -i installs the .deb (its dependencies are all there)" in_machine dpkg -i /tmp/slipway.deb
active() { [ "$(in_machine systemctl is-active slipwayd 2>/dev/null)" = active ]; }
check "the package enables and starts slipwayd under systemd" wait_for 30 active
check "slipwayd.service is enabled" bash -c "[ \"\$(podman exec $machine systemctl is-enabled slipwayd)\" = enabled ]"
main_pid=$(in_machine systemctl show -p MainPID --value slipwayd)
check "slipwayd runs as the slipway user" bash -c "[ \"\$(podman exec $machine stat -c %U /proc/$main_pid)\" = slipway ]"
token_ready() { in_machine test -s /var/lib/slipway/admin.token; }
wait_for 20 token_ready
check "its state is /var/lib/slipway, 0700 and slipway's" \
  bash -c "[ \"\$(podman exec $machine stat -c '%U %a' /var/lib/slipway)\" = 'slipway 700' ]"
check "the admin token is 0600" bash -c "[ \"\$(podman exec $machine stat -c '%U %a' /var/lib/slipway/admin.token)\" = 'slipway 600' ]"
out=$(in_machine slipway apply -f /usr/share/doc/slipway/examples/shop/pipeline.yaml 2>&1)
check "slipway on the same host finds the daemon and its token" bash -c "grep -q shop <<<'$out'"
check "slipway get pipelines lists it" bash -c "podman exec $machine slipway get pipelines | grep -q '^shop '"
check "systemd-analyze verify passes on the unit" in_machine systemd-analyze verify --man=no /lib/systemd/system/slipwayd.service
exposure=$(in_machine systemd-analyze security slipwayd.service 2>&1 | sed -n 's/.*Overall exposure level for slipwayd.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security exposure: $exposure"
check "systemd-analyze security rates the unit's exposure at most 3.0 (got $exposure)" \
  python3 -c "import sys; sys.exit(0 if 0 < float('${exposure:-99}') <= 3.0 else 1)"
for option in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes; do
  key=${option%%=*}
  check "the running unit has $option" bash -c "podman exec $machine systemctl show -p $key slipwayd | grep -qx '$option'"
done
in_machine systemctl restart slipwayd
check "after a restart the pipeline is still there" \
  bash -c "sleep 1; for i in \$(seq 50); do podman exec $machine slipway get pipeline shop >/dev/null 2>&1 && exit 0; sleep 0.2; done; exit 1"
check "the man pages are installed" in_machine test -s /usr/share/man/man8/slipwayd.8
check "dpkg --purge removes the package" in_machine dpkg --purge slipway
check "the purge stopped slipwayd" bash -c "! podman exec $machine systemctl is-active slipwayd >/dev/null 2>&1"
check "the purge removed the state and the user" \
  bash -c "! podman exec $machine test -e /var/lib/slipway && ! podman exec $machine getent passwd slipway"

# --- the image ---
mkdir "$WORK/context"
cp "$deb" "$WORK/context/"
image=localhost/slipway:$TAG
if podman build -q --format docker --build-arg "BASE=localhost/slipway-test-base:$TAG" \
  -f "$SRC/packaging/Containerfile" -t "$image" "$WORK/context" >"$WORK/build.log" 2>&1; then
  IMAGES+=("$image")
  check "the Containerfile builds on a local Debian 12 base" true
else
  cat "$WORK/build.log" >&2
  fail "the Containerfile builds on a local Debian 12 base"
  summary; exit 1
fi
echo "image size: $(podman image inspect --format '{{.Size}}' "$image") bytes"
check "the image runs as slipway, not root" bash -c "[ \"\$(podman image inspect --format '{{.Config.User}}' $image)\" = slipway ]"
check "the image has a HEALTHCHECK" bash -c "podman image inspect --format '{{.Config.Healthcheck}}' $image | grep -q healthcheck"
check "the image declares the data dir a volume" bash -c "podman image inspect --format '{{.Config.Volumes}}' $image | grep -q /var/lib/slipway"

token="slw_$(openssl rand -hex 32)"
mkdir -m 0755 "$WORK/secret"
printf '%s\n' "$token" >"$WORK/secret/token"
chmod 0644 "$WORK/secret/token"
volume=slipway-data-$TAG
podman volume create "$volume" >/dev/null
VOLUMES+=("$volume")
gport=$(free_port)
hport=$(free_port)
run_image() {  # name
  podman run -d --name "$1" -p "127.0.0.1:$gport:7420" -p "127.0.0.1:$hport:7421" \
    -v "$volume:/var/lib/slipway" -v "$WORK/secret:/run/slipway-secret:ro" "$image" \
    --data-dir /var/lib/slipway --grpc-listen 0.0.0.0:7420 --http-listen 0.0.0.0:7421 \
    --admin-token-file /run/slipway-secret/token >/dev/null 2>>"$WORK/podman-run.log"
  CONTAINERS+=("$1")
}
healthy() { curl -sf "http://127.0.0.1:$hport/healthz" >/dev/null; }
run_image "slipway-image-$TAG"
check "the container answers /healthz on its published port" wait_for 30 healthy
check "its HEALTHCHECK passes" podman healthcheck run "slipway-image-$TAG"
check "slipwayd in the container is uid 10001" bash -c "[ \"\$(podman exec slipway-image-$TAG id -u)\" = 10001 ]"
remote() { "$SLIPWAY" --server "127.0.0.1:$gport" --token "$token" "$@"; }
check "the CLI applies a pipeline to the container with the given admin token" \
  remote apply -f "$SRC/examples/shop/pipeline.yaml"
check "a wrong token is refused" bash -c "! $SLIPWAY --server 127.0.0.1:$gport --token slw_$(printf '0%.0s' $(seq 64)) get pipelines >/dev/null 2>&1"
check "the container did not write the given token into its data dir" \
  bash -c "! podman exec slipway-image-$TAG test -e /var/lib/slipway/admin.token"
podman rm -f -t 10 "slipway-image-$TAG" >/dev/null 2>&1
run_image "slipway-image2-$TAG"
wait_for 30 healthy
check "a new container on the same volume keeps the pipeline and the token" \
  bash -c "$SLIPWAY --server 127.0.0.1:$gport --token $token get pipeline shop >/dev/null"
podman rm -f -t 10 "slipway-image2-$TAG" >/dev/null 2>&1

# --- the Kubernetes manifests ---
check "the manifests are consistent (check_kubernetes.py)" \
  /usr/bin/python3 "$SRC/tests/package/check_kubernetes.py" "$SRC/packaging/kubernetes/slipwayd.yaml" "$SLIPWAYD" "$WORK/k8s"
if [ -f "$WORK/k8s/pod.json" ]; then
  pod() { python3 -c "import json; print(json.load(open('$WORK/k8s/pod.json'))$1)"; }
  mkdir -m 0755 "$WORK/k8s/config"
  cp "$WORK/k8s/slipwayd.yaml" "$WORK/k8s/config/slipwayd.yaml"
  chmod 0644 "$WORK/k8s/config/slipwayd.yaml"
  mapfile -t args < <(python3 -c "import json; [print(a) for a in json.load(open('$WORK/k8s/args.json'))]")
  kvolume=slipway-k8s-$TAG
  podman volume create "$kvolume" >/dev/null
  VOLUMES+=("$kvolume")
  hport=$(free_port)
  # The pod as the manifest describes it: its user, args, config and Secret mounts, a
  # read-only root with /tmp an emptyDir, no capabilities.
  podman run -d --name "slipway-pod-$TAG" --user "$(pod "['user']"):$(pod "['group']")" \
    --read-only --tmpfs /tmp --cap-drop=ALL --security-opt no-new-privileges \
    -p "127.0.0.1:$hport:7421" -v "$kvolume:$(pod "['data_dir']")" \
    -v "$WORK/k8s/config:$(pod "['config_dir']"):ro" \
    -v "$WORK/secret:$(dirname "$(pod "['token_file']")"):ro" "$image" "${args[@]}" \
    >/dev/null 2>>"$WORK/podman-run.log"
  CONTAINERS+=("slipway-pod-$TAG")
  check "the manifest's pod starts and passes its startup probe" wait_for 30 healthy
  for path in $(python3 -c "import json; print(' '.join(sorted(set(json.load(open('$WORK/k8s/pod.json'))['probes'].values()))))"); do
    check "probe $path answers 200" curl -sf "http://127.0.0.1:$hport$path" -o /dev/null
  done
fi
summary
