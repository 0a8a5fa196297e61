#!/usr/bin/env bash
# Installs the Debian 12 packages Slipway needs to build, test and benchmark. Idempotent:
# does nothing when every package is already installed.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config git curl openssl sqlite3
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcpp-httplib-dev libssl-dev nlohmann-json3-dev libsimdjson-dev libjemalloc-dev libyaml-cpp-dev libcli11-dev
  libspdlog-dev prometheus-cpp-dev libgit2-dev libboost1.81-dev libpq-dev postgresql pgbouncer
  nghttp2-client prometheus python3-grpcio python3-yaml webhook
  clang libclang-rt-14-dev clang-format clang-tidy
  podman runc netavark aardvark-dns iptables busybox-static caddy mmdebstrap zsh fish
  chromium
)
# The dashboard builds with Node.js and npm: Debian's when the machine has none (a Node.js from
# elsewhere, with its own npm, is used as it is).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "slipway: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
