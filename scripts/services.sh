#!/usr/bin/env bash
# The real servers of the PostgreSQL/Redis work, on loopback ports, for a developer and for CI (.ci/run):
# a PostgreSQL 15 primary with pgvector, a streaming replica of it, and Redis.
#
#   scripts/services.sh install         Debian packages (postgresql-15, postgresql-server-dev-15, redis-server) and
#                                       pgvector built from ../shared/vendor; needs root (or sudo); skips what is there
#   scripts/services.sh up              install what is missing, create what is missing, start, wait until each answers
#                                       and the replica streams; a no-op when all is up
#   scripts/services.sh down [--clean]  stop all three (fast shutdown), keeping the data; --clean removes the state dir
#   scripts/services.sh status          what runs (exit 0 when all three do, 3 otherwise)
#   scripts/services.sh env             export lines for the tests: eval "$(scripts/services.sh env)"
#
# Settings (environment): FASHION_SERVICES_DIR (state dir, default <repo>/.services), FASHION_PG_PORT (55432),
# FASHION_PG_REPLICA_PORT (55433), FASHION_REDIS_PORT (56379), FASHION_SHARED (default <repo>/../shared).
# Ports are fixed when the state dir is created (`down --clean` to change them).
# As root, the servers run as the `postgres` OS user that Debian's package creates (initdb refuses root).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_PORT=${FASHION_PG_PORT:-55432}
REPLICA_PORT=${FASHION_PG_REPLICA_PORT:-55433}
REDIS_PORT=${FASHION_REDIS_PORT:-56379}
HOST=127.0.0.1
DB=fashion
SLOT=fashion_replica
PG_MAJOR=15
PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin
PGVECTOR_VERSION=0.8.6
PGVECTOR_SHA256=5743dac39fdfa740533cf95e71b033bd5513b71dda194b3cf19464ccbf76f3fb
PACKAGES=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR redis-server make gcc)
MARKER=.fashion-services

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# Temporary files and folders, removed however the script ends.
CLEANUP=()
cleanup() { if [ "${#CLEANUP[@]}" -gt 0 ]; then rm -rf "${CLEANUP[@]}"; fi; }
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------- install

packages_missing() {
  local p
  for p in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = 'install ok installed' ] || return 0
  done
  return 1
}

pgvector_installed() {
  [ -x "$PGBIN/pg_config" ] || return 1
  local control
  control="$("$PGBIN/pg_config" --sharedir)/extension/vector.control"
  [ -f "$control" ] && grep -q "default_version = '$PGVECTOR_VERSION'" "$control" &&
    [ -f "$("$PGBIN/pg_config" --pkglibdir)/vector.so" ]
}

shared_dir() {
  local d
  for d in "${FASHION_SHARED:-}" "$REPO/../shared" "$REPO/shared"; do
    [ -n "$d" ] && [ -d "$d/vendor" ] && { (cd "$d" && pwd); return 0; }
  done
  return 1
}

install_packages() {
  local t0 policy=/usr/sbin/policy-rc.d out rc=0
  t0=$(now)
  # Debian's packages start their own servers (a `main` cluster on 5432, Redis on 6379) when installed; ours run
  # from the state dir instead, so keep theirs from starting while apt runs (where no policy says otherwise).
  if [ ! -e "$policy" ]; then
    CLEANUP+=("$policy")
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
  fi
  out=$(mktemp)
  CLEANUP+=("$out")
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"; } >"$out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -n 30 "$out" >&2
    die "apt-get install ${PACKAGES[*]} failed ($rc)"
  fi
  log "apt install (${PACKAGES[*]}): $(took "$t0")"
}

build_pgvector() {
  local t0 shared tarball build rc=0
  t0=$(now)
  shared=$(shared_dir) || die "no ../shared/vendor beside the repository (set FASHION_SHARED)"
  tarball="$shared/vendor/pgvector-$PGVECTOR_VERSION.tar.gz"
  [ -f "$tarball" ] || die "missing $tarball"
  [ "$(sha256sum "$tarball" | cut -d' ' -f1)" = "$PGVECTOR_SHA256" ] || die "$tarball: unexpected sha256"
  build=$(mktemp -d)
  CLEANUP+=("$build")
  tar -xzf "$tarball" -C "$build"
  # OPTFLAGS="" drops -march=native, so the build runs on any x86-64 (../shared/vendor/README.md).
  {
    make -C "$build/pgvector-$PGVECTOR_VERSION" -j"$(nproc)" OPTFLAGS="" PG_CONFIG="$PGBIN/pg_config" &&
      make -C "$build/pgvector-$PGVECTOR_VERSION" install OPTFLAGS="" PG_CONFIG="$PGBIN/pg_config"
  } >"$build/make.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -n 30 "$build/make.log" >&2
    die "pgvector $PGVECTOR_VERSION build failed"
  fi
  log "pgvector $PGVECTOR_VERSION build + install: $(took "$t0")"
}

cmd_install() {
  if ! packages_missing && pgvector_installed; then
    log "installed: ${PACKAGES[*]}, pgvector $PGVECTOR_VERSION"
    return 0
  fi
  if ! is_root; then
    command -v sudo >/dev/null 2>&1 || die "installing needs root: run 'scripts/services.sh install' as root"
    log "installing needs root: sudo $0 install"
    sudo FASHION_SHARED="$(shared_dir || true)" "$0" install
    return 0
  fi
  if packages_missing; then install_packages; fi
  if ! pgvector_installed; then build_pgvector; fi
}

# ---------------------------------------------------------------------------------------------- state

# The servers run as the invoking user, or as `postgres` when that is root.
svc_user() { if is_root; then echo postgres; else id -un; fi; }

# Run a command as the service user, from / (PostgreSQL's programs refuse a working directory they cannot read).
as_svc() {
  if is_root; then (cd / && runuser -u postgres -- "$@"); else (cd / && "$@"); fi
}

# <repo>/.services, unless the postgres user cannot reach the repository (a clone under /root): then a folder in
# /var/tmp named after the repository's path, so that every command finds the same one.
state_dir() {
  if [ -n "${FASHION_SERVICES_DIR:-}" ]; then
    echo "$FASHION_SERVICES_DIR"
  elif is_root && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$REPO" 2>/dev/null; then
    echo "/var/tmp/fashion-services-$(printf '%s' "$REPO" | sha256sum | cut -c1-12)"
  else
    echo "$REPO/.services"
  fi
}

STATE=
PRIMARY=
REPLICA=
REDIS_DIR=
set_paths() {
  STATE=$(state_dir)
  PRIMARY=$STATE/primary
  REPLICA=$STATE/replica
  REDIS_DIR=$STATE/redis
}

ensure_state_dir() {
  if [ -e "$STATE" ] && [ ! -f "$STATE/$MARKER" ]; then
    [ -z "$(ls -A "$STATE")" ] || die "$STATE exists and is not a services state dir"
  fi
  mkdir -p "$STATE/log" "$REDIS_DIR"
  local ports="$PG_PORT $REPLICA_PORT $REDIS_PORT"
  if [ -f "$STATE/$MARKER" ]; then
    local made
    made=$(cat "$STATE/$MARKER")
    [ "$made" = "$ports" ] ||
      die "$STATE was made for ports $made, not $ports: 'scripts/services.sh down --clean' to change them"
  else
    echo "$ports" >"$STATE/$MARKER"
  fi
  if is_root; then chown -R postgres: "$STATE"; fi
  as_svc test -w "$STATE" || die "$(svc_user) cannot write $STATE (set FASHION_SERVICES_DIR)"
}

# ---------------------------------------------------------------------------------------------- probes

psql_at() { # port database sql...
  local port=$1 db=$2
  shift 2
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$port" -U postgres -d "$db" -tA "$@"
}
pg_running() { [ -f "$1/PG_VERSION" ] && as_svc "$PGBIN/pg_ctl" -D "$1" status >/dev/null 2>&1; }
pg_ready() { "$PGBIN/pg_isready" -q -h "$HOST" -p "$1" -U postgres -d postgres; }
replica_streaming() {
  [ "$(psql_at "$REPLICA_PORT" postgres -c 'SELECT status FROM pg_stat_wal_receiver' 2>/dev/null)" = streaming ]
}
redis_pid() { [ -f "$REDIS_DIR/redis.pid" ] && cat "$REDIS_DIR/redis.pid"; }
redis_running() {
  local pid
  pid=$(redis_pid) && kill -0 "$pid" 2>/dev/null &&
    [ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}
all_up() {
  pg_running "$PRIMARY" && pg_ready "$PG_PORT" && pg_running "$REPLICA" && pg_ready "$REPLICA_PORT" &&
    replica_streaming && redis_running
}

wait_for() { # seconds description logfile command...
  local seconds=$1 what=$2 logfile=$3 i
  shift 3
  for ((i = 0; i < seconds * 10; i++)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  tail -n 20 "$logfile" >&2 || true
  die "$what did not come up within ${seconds} s (log: $logfile)"
}

# ---------------------------------------------------------------------------------------------- servers

pg_start() { # datadir port name
  local data=$1 port=$2 name=$3
  if pg_running "$data"; then return 0; fi
  if ! as_svc "$PGBIN/pg_ctl" -D "$data" -l "$STATE/log/$name.log" -o "-p $port" -w -t 60 start >/dev/null; then
    tail -n 20 "$STATE/log/$name.log" >&2 || true
    die "$name did not start (log: $STATE/log/$name.log)"
  fi
}

primary_up() {
  if [ ! -f "$PRIMARY/PG_VERSION" ]; then
    rm -rf "$PRIMARY"
    as_svc "$PGBIN/initdb" -D "$PRIMARY" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-instructions >/dev/null
    # Loopback only, trust auth, no Unix socket (its path would depend on the state dir's length).
    as_svc tee -a "$PRIMARY/postgresql.conf" >/dev/null <<EOF

# scripts/services.sh
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
EOF
    as_svc tee "$PRIMARY/pg_hba.conf" >/dev/null <<EOF
# scripts/services.sh: trust, loopback only
host all all $HOST/32 trust
host replication all $HOST/32 trust
EOF
    log "primary: created $PRIMARY"
  fi
  pg_start "$PRIMARY" "$PG_PORT" primary
  wait_for 30 "the primary on $HOST:$PG_PORT" "$STATE/log/primary.log" pg_ready "$PG_PORT"
  if [ -z "$(psql_at "$PG_PORT" postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
    psql_at "$PG_PORT" postgres -c "CREATE DATABASE $DB"
  fi
  psql_at "$PG_PORT" "$DB" -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS vector'
}

replica_up() {
  if [ ! -f "$REPLICA/PG_VERSION" ]; then
    rm -rf "$REPLICA"
    # A slot left by an earlier replica of this primary would make -C fail; it has no replica any more.
    psql_at "$PG_PORT" postgres \
      -c "SELECT pg_drop_replication_slot('$SLOT') FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null
    as_svc "$PGBIN/pg_basebackup" -h "$HOST" -p "$PG_PORT" -U postgres -D "$REPLICA" \
      -R -X stream -C -S "$SLOT" -c fast
    printf '\n# scripts/services.sh: the replica\nport = %s\n' "$REPLICA_PORT" |
      as_svc tee -a "$REPLICA/postgresql.conf" >/dev/null
    log "replica: created $REPLICA (pg_basebackup -R, slot $SLOT)"
  fi
  pg_start "$REPLICA" "$REPLICA_PORT" replica
  wait_for 30 "the replica on $HOST:$REPLICA_PORT" "$STATE/log/replica.log" pg_ready "$REPLICA_PORT"
  wait_for 30 "streaming replication" "$STATE/log/replica.log" replica_streaming
}

redis_up() {
  if redis_running; then return 0; fi
  if [ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; then
    die "another Redis answers on $HOST:$REDIS_PORT (FASHION_REDIS_PORT to use another port)"
  fi
  rm -f "$REDIS_DIR/redis.pid"
  # No persistence: the queue's contents are test data.
  as_svc redis-server --bind "$HOST" --port "$REDIS_PORT" --protected-mode yes --save '' --appendonly no \
    --dir "$REDIS_DIR" --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$STATE/log/redis.log"
  wait_for 30 "Redis on $HOST:$REDIS_PORT" "$STATE/log/redis.log" redis_running
}

cmd_up() {
  local t0
  cmd_install
  set_paths
  if all_up; then
    log "already up: primary $HOST:$PG_PORT, replica $HOST:$REPLICA_PORT (streaming), redis $HOST:$REDIS_PORT ($STATE)"
    return 0
  fi
  t0=$(now)
  ensure_state_dir
  primary_up
  replica_up
  redis_up
  log "up in $(took "$t0"): primary $HOST:$PG_PORT (database $DB, pgvector), replica $HOST:$REPLICA_PORT (streaming), redis $HOST:$REDIS_PORT; state $STATE"
}

pg_stop() { # datadir name
  if pg_running "$1"; then
    as_svc "$PGBIN/pg_ctl" -D "$1" -m fast -w -t 60 stop >/dev/null
    log "$2 stopped"
  fi
}

redis_stop() {
  local pid i
  pid=$(redis_pid) || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then die "redis ($pid) did not stop"; fi
    log "redis stopped"
  fi
  rm -f "$REDIS_DIR/redis.pid"
}

cmd_down() {
  local clean=
  case "${1:-}" in
    '') ;;
    --clean) clean=1 ;;
    *) die "usage: scripts/services.sh down [--clean]" ;;
  esac
  set_paths
  if [ ! -d "$STATE" ]; then
    log "nothing to stop ($STATE does not exist)"
    return 0
  fi
  [ -f "$STATE/$MARKER" ] || die "$STATE is not a services state dir"
  [ -x "$PGBIN/pg_ctl" ] || die "$PGBIN/pg_ctl is missing"
  pg_stop "$REPLICA" replica
  pg_stop "$PRIMARY" primary
  redis_stop
  if [ -n "$clean" ]; then
    rm -rf "$STATE"
    log "removed $STATE"
  fi
}

cmd_status() {
  set_paths
  local ok=0
  if [ -x "$PGBIN/pg_ctl" ] && pg_running "$PRIMARY" && pg_ready "$PG_PORT"; then
    echo "primary  $HOST:$PG_PORT  running"
  else
    echo "primary  $HOST:$PG_PORT  stopped"; ok=3
  fi
  if [ -x "$PGBIN/pg_ctl" ] && pg_running "$REPLICA" && pg_ready "$REPLICA_PORT"; then
    if replica_streaming; then echo "replica  $HOST:$REPLICA_PORT  running, streaming"
    else echo "replica  $HOST:$REPLICA_PORT  running, not streaming"; ok=3; fi
  else
    echo "replica  $HOST:$REPLICA_PORT  stopped"; ok=3
  fi
  if command -v redis-cli >/dev/null 2>&1 && redis_running; then
    echo "redis    $HOST:$REDIS_PORT  running"
  else
    echo "redis    $HOST:$REDIS_PORT  stopped"; ok=3
  fi
  echo "state    $STATE"
  return "$ok"
}

cmd_env() {
  cat <<EOF
export FASHION_TEST_DATABASE_URL=postgres://postgres@$HOST:$PG_PORT/$DB
export FASHION_TEST_READ_DATABASE_URL=postgres://postgres@$HOST:$REPLICA_PORT/$DB
export FASHION_TEST_QUEUE_URL=redis://$HOST:$REDIS_PORT
EOF
}

case "${1:-}" in
  install) cmd_install ;;
  up) cmd_up ;;
  down) shift; cmd_down "$@" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *)
    echo "usage: scripts/services.sh install|up|down [--clean]|status|env" >&2
    exit 2
    ;;
esac
