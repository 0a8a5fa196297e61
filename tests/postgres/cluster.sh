#!/usr/bin/env bash
# Starts and stops a private PostgreSQL (Debian's postgresql package) for Slipway's tests and
# benchmarks: initdb in a new temp dir, the server on a free loopback port, trust auth for local
# connections only, and optionally PgBouncer in transaction-pooling mode in front of it.
#
#   tests/postgres/cluster.sh start STATE_FILE [--pgbouncer] [--durable]
#   tests/postgres/cluster.sh stop STATE_FILE
#
# start writes STATE_FILE (shell assignments: PG_DIR, PG_PORT, PG_PID, PG_URL, and with
# --pgbouncer BOUNCER_PORT, BOUNCER_PID, BOUNCER_URL, which says pooler=transaction). Without
# --durable the server runs with fsync=off: a test cluster that is thrown away. stop kills only
# the processes start started (by their pid) and removes the temp dir. Run as root, the server
# runs as the postgres user (initdb refuses root).
set -euo pipefail
cmd=${1:?start|stop}
state=${2:?state file}
shift 2

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$d" ]; then
    echo "cluster.sh: PostgreSQL is not installed (scripts/install-deps.sh installs it)" >&2
    exit 1
  fi
  echo "$d"
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Starts "$@" as the postgres user in its own session, logging to $LOG, and waits (10 s at most)
# until something answers on $PORT; fails with the log if the process ends first.
start_and_wait() {
  local log=$1 port=$2
  shift 2
  setsid bash -c "$(declare -f as_owner); as_owner $(printf '%q ' "$@")" </dev/null >"$log" 2>&1 &
  local starter=$!
  for _ in $(seq 100); do
    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then return 0; fi
    if ! kill -0 "$starter" 2>/dev/null; then cat "$log" >&2; exit 1; fi
    sleep 0.1
  done
  echo "cluster.sh: nothing answers on port $port after 10 s" >&2
  cat "$log" >&2
  exit 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

if [ "$cmd" = stop ]; then
  [ -f "$state" ] || exit 0
  # shellcheck disable=SC1090
  . "$state"
  for pid in ${BOUNCER_PID:-} ${PG_PID:-}; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -INT "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  [ -n "${PG_DIR:-}" ] && rm -rf "$PG_DIR"
  rm -f "$state"
  exit 0
fi

bouncer=0
durable=0
for a in "$@"; do
  case "$a" in
    --pgbouncer) bouncer=1 ;;
    --durable) durable=1 ;;
    *) echo "cluster.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

bin=$(pg_bin)
dir=$(mktemp -d /tmp/slipway-pg.XXXXXX)
chmod 0755 "$dir"
mkdir "$dir/data" "$dir/run"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$dir"; fi
as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
  >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
port=$(free_port)
{
  echo "listen_addresses = '127.0.0.1'"
  echo "port = $port"
  echo "unix_socket_directories = '$dir/run'"
  echo "max_connections = 200"
  echo "shared_buffers = 64MB"
  if [ "$durable" -eq 0 ]; then
    echo "fsync = off"
    echo "full_page_writes = off"
  fi
} >>"$dir/data/postgresql.conf"
start_and_wait "$dir/postgres.log" "$port" "$bin/postgres" -D "$dir/data"
pid=$(head -1 "$dir/data/postmaster.pid")
"$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
  -c "CREATE ROLE slipway LOGIN" -c "CREATE DATABASE slipway OWNER slipway" >/dev/null
{
  echo "PG_DIR=$dir"
  echo "PG_BIN=$bin"
  echo "PG_PORT=$port"
  echo "PG_PID=$pid"
  echo "PG_URL=postgres://slipway@127.0.0.1:$port/slipway"
  echo "PG_ADMIN_URL=postgres://postgres@127.0.0.1:$port/postgres"
} >"$state"

if [ "$bouncer" -eq 1 ]; then
  bport=$(free_port)
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 400
default_pool_size = 20
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/run/pgbouncer.pid
INI
  printf '"slipway" ""\n"postgres" ""\n' >"$dir/userlist.txt"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir/pgbouncer.ini" "$dir/userlist.txt"; fi
  start_and_wait "$dir/pgbouncer.out" "$bport" /usr/sbin/pgbouncer "$dir/pgbouncer.ini"
  bpid=$(cat "$dir/run/pgbouncer.pid")
  {
    echo "BOUNCER_PORT=$bport"
    echo "BOUNCER_PID=$bpid"
    echo "BOUNCER_URL=postgres://slipway@127.0.0.1:$bport/slipway?pooler=transaction"
  } >>"$state"
fi
