#!/usr/bin/env bash
# bench/junk-flood.sh - the route cache under a flood of Host headers never seen before.
#
# REAL real frontends in a fresh Redis; the published router (ROUTER_PUB) on core 1; wrk on core 0
# sends DURATION s of requests, JUNK_PERCENT % of them with a Host never seen before (each one
# unique: a junk flood of ~1M distinct hosts at full speed), the rest to random real hosts. Then
# REAL_SECONDS s of real hosts only. Reports: distinct junk hosts sent, the router's RSS (VmRSS
# once a second, VmHWM), the cache's found/not-found counts (/health), and the LRANGE calls Redis
# served during the real-only phase (0 when every real host is still a cache hit; refreshes aside).
#   dotnet publish Router -c Release -o /tmp/router-pub
#   flock /tmp/hipache-cpu.lock env ROUTER_PUB=/tmp/router-pub bash bench/junk-flood.sh
set -euo pipefail
REAL=${REAL:-1000}
JUNK_PERCENT=${JUNK_PERCENT:-90}
DURATION=${DURATION:-60}
REAL_SECONDS=${REAL_SECONDS:-10}
WARMUP=${WARMUP:-15}
ROUTER_PUB=${ROUTER_PUB:-/tmp/router-pub}
WORKDIR=${WORKDIR:-$(mktemp -d /tmp/junk-flood.XXXXXX)}
ROUTER_ENV=${ROUTER_ENV:-}
REDIS_PORT=${REDIS_PORT:-21379}
BACKEND_PORT=${BACKEND_PORT:-21301}
ROUTER_PORT=${ROUTER_PORT:-21380}
MANAGEMENT_PORT=${MANAGEMENT_PORT:-21385}
LUA=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/junk-flood.lua
mkdir -p "$WORKDIR"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

cat >"$WORKDIR/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORKDIR/nginx.pid;
error_log $WORKDIR/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$BACKEND_PORT; location / { default_type text/plain; return 200 "ok\n"; } }
}
CONF
redis-server --port "$REDIS_PORT" --save '' --appendonly no >"$WORKDIR/redis.log" 2>&1 & pids+=($!)
taskset -c 0 nginx -c "$WORKDIR/nginx.conf" & pids+=($!)
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
for ((i = 0; i < REAL; i++)); do printf 'RPUSH frontend:r%04d.flood.local r%04d http://127.0.0.1:%d\n' "$i" "$i" "$BACKEND_PORT"; done | redis-cli -p "$REDIS_PORT" >/dev/null
log "loaded $REAL real frontends"

env ConnectionStrings__redis="127.0.0.1:$REDIS_PORT" Router__Urls__0="http://127.0.0.1:$ROUTER_PORT" \
  Router__ManagementAddress=127.0.0.1 Router__ManagementPort="$MANAGEMENT_PORT" $ROUTER_ENV \
  taskset -c 1 dotnet "$ROUTER_PUB/Router.dll" >"$WORKDIR/router.log" 2>&1 & pids+=($!)
router=$!
for _ in $(seq 100); do curl -fs -o /dev/null -H 'Host: r0000.flood.local' "http://127.0.0.1:$ROUTER_PORT/" && break; sleep 0.2; done
rss() { awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$router/status"; }
hwm() { awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$router/status"; }
health() { curl -fs "http://127.0.0.1:$MANAGEMENT_PORT/health" | python3 -c 'import json,sys; d=json.load(sys.stdin)["checks"]["route-cache"]["data"]; print(d["mode"], d["found"], d["notFound"])'; }

log "warm-up ${WARMUP}s over the real hosts"
taskset -c 0 wrk -t1 -c64 -d"${WARMUP}s" -s "$LUA" "http://127.0.0.1:$ROUTER_PORT/" -- "$REAL" 0 >"$WORKDIR/wrk-warmup.log"
log "after warm-up: RSS $(rss) MB, cache (mode found notFound): $(health)"

log "flood ${DURATION}s, $JUNK_PERCENT % unique junk hosts"
(while kill -0 "$router" 2>/dev/null; do echo "$(date +%s) $(rss)"; sleep 1; done) >"$WORKDIR/rss.log" & pids+=($!)
taskset -c 0 wrk -t1 -c64 -d"${DURATION}s" -s "$LUA" "http://127.0.0.1:$ROUTER_PORT/" -- "$REAL" "$JUNK_PERCENT" >"$WORKDIR/wrk-flood.log"
requests=$(awk '/requests in/ { print $1 }' "$WORKDIR/wrk-flood.log")
rps=$(awk '/^Requests\/sec/ { print $2 }' "$WORKDIR/wrk-flood.log")
junk=$(awk -v n="$requests" -v p="$JUNK_PERCENT" 'BEGIN { printf "%.0f", n * p / 100 }')
log "flood: $requests requests ($rps req/s), ~$junk distinct junk hosts; RSS now $(rss) MB, max during flood $(sort -k2 -n "$WORKDIR/rss.log" | tail -1 | cut -d' ' -f2) MB, VmHWM $(hwm) MB; cache: $(health)"

before=$(redis-cli -p "$REDIS_PORT" info commandstats | awk -F'[=,:]' '/cmdstat_lrange/ { print $3 }')
taskset -c 0 wrk -t1 -c64 -d"${REAL_SECONDS}s" -s "$LUA" "http://127.0.0.1:$ROUTER_PORT/" -- "$REAL" 0 >"$WORKDIR/wrk-real.log"
after=$(redis-cli -p "$REDIS_PORT" info commandstats | awk -F'[=,:]' '/cmdstat_lrange/ { print $3 }')
real_requests=$(awk '/requests in/ { print $1 }' "$WORKDIR/wrk-real.log")
non2xx=$(awk '/Non-2xx/ { print $4 }' "$WORKDIR/wrk-real.log")
log "real hosts only, ${REAL_SECONDS}s: $real_requests requests, ${non2xx:-0} non-2xx, $((after - before)) LRANGE calls in Redis (misses + refreshes)"
echo "results in $WORKDIR"
