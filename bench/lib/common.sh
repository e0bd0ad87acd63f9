# bench/lib/common.sh - shared by scale.sh and admin-throughput.sh (sourced, not run).
# Starts processes pinned with taskset, remembers their pids and stops exactly those (by pid,
# SIGTERM then SIGKILL) on exit or Ctrl-C. Everything listens on 127.0.0.1, ports 21000-21999,
# chosen apart from ../shared/bench's (21081-21104, 21379) so that the two never collide.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PUB=${PUB:-/tmp/scale-pub}                       # dotnet publish output: $PUB/router, $PUB/admin, $PUB/tools
WORKDIR=${WORKDIR:-$(mktemp -d /tmp/hipache-bench.XXXXXX)}
mkdir -p "$WORKDIR"
chmod 755 "$WORKDIR"                             # nginx workers (nobody, when started as root) read it
CPU_CLIENT=${CPU_CLIENT:-0}                      # wrk, backend, load tools
CPU_PROXY=${CPU_PROXY:-1}                        # router and its Redis, as in ../shared/bench
REDIS_PORT=${REDIS_PORT:-21479}
ROUTER_PORT=${ROUTER_PORT:-21184}
ROUTER_MANAGEMENT_PORT=${ROUTER_MANAGEMENT_PORT:-21185}
ADMIN_PORT=${ADMIN_PORT:-21190}
BACKEND_PORTS=(21201 21202)
BACKEND_BODY="hipache-scale-backend"
PIDS=()

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { log "pid $pid still alive 10 s after SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
  wait "$pid" 2>/dev/null || true   # its exit status (143 after SIGTERM) must not stop a set -e caller
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
cleanup() { local i; for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done; }
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# start_bg NAME CPU cmd... -> LAST_PID (the command itself: taskset and env exec it)
start_bg() {
  local name=$1 cpu=$2; shift 2
  taskset -c "$cpu" "$@" </dev/null >"$WORKDIR/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
wait_port() { # port [tries of 0.1 s] [pid that must stay alive]
  local i
  for ((i = 0; i < ${2:-100}; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    [[ -n ${3:-} ]] && ! kill -0 "$3" 2>/dev/null && { log "pid $3 exited before listening on $1"; return 1; }
    sleep 0.1
  done
  return 1
}
need() { command -v "$1" >/dev/null || die "$1 is not installed"; }

start_backend() { # one nginx worker answering every path with a small body, as ../shared/bench's backend
  local d=$WORKDIR/backend listens="" p
  mkdir -p "$d/tmp"
  for p in "${BACKEND_PORTS[@]}"; do
    port_free "$p" || die "port $p is in use"
    listens+="    listen 127.0.0.1:$p backlog=4096;"$'\n'
  done
  cat >"$d/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    default_type text/plain;
    server {
$listens
        location / { return 200 "$BACKEND_BODY"; }
    }
}
CONF
  start_bg backend "$CPU_CLIENT" nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf"
  for p in "${BACKEND_PORTS[@]}"; do wait_port "$p" 100 "$LAST_PID" || die "backend did not listen on $p"; done
  log "backend nginx on ${BACKEND_PORTS[*]} (cpu $CPU_CLIENT)"
}

start_redis() {
  port_free "$REDIS_PORT" || die "port $REDIS_PORT is in use"
  mkdir -p "$WORKDIR/redis"
  start_bg redis "$CPU_PROXY" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --dir "$WORKDIR/redis"
  REDIS_PID=$LAST_PID
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && { log "redis on $REDIS_PORT (cpu $CPU_PROXY)"; return 0; }
    sleep 0.1
  done
  die "redis did not start"
}

# start_router NAME [VAR=value...] -> ROUTER_PID; the published router via bench/router-cmd.sh
start_router() {
  local name=$1; shift
  port_free "$ROUTER_PORT" || die "port $ROUTER_PORT is in use"
  start_bg "$name" "$CPU_PROXY" env "$@" ROUTER_PUB="$PUB/router" ROUTER_PORT="$ROUTER_PORT" ROUTER_BIND=127.0.0.1 \
    REDIS_PORT="$REDIS_PORT" ROUTER_MANAGEMENT_PORT="$ROUTER_MANAGEMENT_PORT" bash "$REPO/bench/router-cmd.sh"
  ROUTER_PID=$LAST_PID
  wait_port "$ROUTER_PORT" 600 "$ROUTER_PID" || { tail -20 "$WORKDIR/$name.log" >&2; die "router did not listen"; }
}

rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }  # pid VmRSS|VmHWM
