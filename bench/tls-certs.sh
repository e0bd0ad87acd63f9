#!/usr/bin/env bash
# bench/tls-certs.sh - the certificate store at scale: N certificates in Redis, the first
# handshake of each name (cold: one Redis round trip, decrypt, build) and a second one (warm),
# one at a time, and the router's memory with them all held.
#   dotnet publish Router -c Release -o /tmp/router-pub
#   dotnet publish bench/BenchTools -c Release -o /tmp/benchtools-pub
#   flock /tmp/hipache-cpu.lock bash bench/tls-certs.sh
# The router runs on core 1 with Redis; the handshaking client on core 0.
set -euo pipefail
N=${N:-10000}
ROUTER_PUB=${ROUTER_PUB:-/tmp/router-pub}
TOOLS_PUB=${TOOLS_PUB:-/tmp/benchtools-pub}
WORKDIR=${WORKDIR:-$(mktemp -d /tmp/tls-certs.XXXXXX)}
REDIS_PORT=${REDIS_PORT:-21479}
ROUTER_PORT=${ROUTER_PORT:-21480}
TLS_PORT=${TLS_PORT:-21483}
MANAGEMENT_PORT=${MANAGEMENT_PORT:-21485}
KEY=$(head -c 32 /dev/urandom | base64)
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

taskset -c 1 redis-server --port "$REDIS_PORT" --save '' --appendonly no >"$WORKDIR/redis.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
taskset -c 0 dotnet "$TOOLS_PUB/BenchTools.dll" certs --redis "127.0.0.1:$REDIS_PORT" --key "$KEY" --count "$N"
log "redis used_memory: $(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory_human/ { print $2 }' | tr -d '\r')"

# start_router <log>: a published router with a store-only TLS listener; sets $router
start_router() {
  env ConnectionStrings__redis="127.0.0.1:$REDIS_PORT" Router__Urls__0="http://127.0.0.1:$ROUTER_PORT" \
    Router__Tls__0__Address=127.0.0.1 Router__Tls__0__Port="$TLS_PORT" CertificateStore__Keys__bench="$KEY" \
    Router__ManagementAddress=127.0.0.1 Router__ManagementPort="$MANAGEMENT_PORT" \
    taskset -c 1 dotnet "$ROUTER_PUB/Router.dll" >"$WORKDIR/$1" 2>&1 &
  router=$!
  pids+=("$router")
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$MANAGEMENT_PORT/health" && break; sleep 0.2; done
}
start_router router.log
rss() { awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$router/status"; }
log "router RSS before: $(rss) MB"
taskset -c 0 python3 "$(dirname "$0")/lib/handshakes.py" "$TLS_PORT" "$N" | tee "$WORKDIR/handshakes.log"
log "router RSS with $N certificates held: $(rss) MB (VmHWM $(awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$router/status") MB)"
# Again with .NET's client (its own chain building on top), after a restart of the router: cold again.
kill "$router"; wait "$router" 2>/dev/null || true
start_router router2.log
taskset -c 0 dotnet "$TOOLS_PUB/BenchTools.dll" handshakes --port "$TLS_PORT" --count "$N" | tee -a "$WORKDIR/handshakes.log"
