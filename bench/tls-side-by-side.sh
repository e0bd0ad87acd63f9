#!/usr/bin/env bash
# bench/tls-side-by-side.sh - TLS termination, router against haproxy, same certificate, same run.
# Layout as ../shared/bench: the proxy on core 1, nginx (the backend, 100-byte answers) and the
# load generators on core 0; each proxy gets WARMUP s of the same load before each measurement.
#   T1  HTTP/1.1 over TLS, keep-alive, 64 connections (wrk)            -> req/s, p50/p99, CPU us/req
#   T2  a new connection and TLS handshake per request (wrk, Connection: close) -> handshakes/s
#   T3  HTTP/2 over TLS, 16 connections x 8 streams (h2load)          -> req/s, CPU us/req
# The router runs as published (ROUTER_PUB), its TLS listener from PEM files (the certificate
# store is measured by bench/tls-certs.sh); haproxy 'bind ... ssl crt ... alpn h2,http/1.1'.
#   dotnet publish Router -c Release -o /tmp/router-pub
#   flock /tmp/hipache-cpu.lock bash bench/tls-side-by-side.sh
set -euo pipefail
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-15}
ROUTER_PUB=${ROUTER_PUB:-/tmp/router-pub}
WORKDIR=${WORKDIR:-$(mktemp -d /tmp/tls-sbs.XXXXXX)}
REDIS_PORT=${REDIS_PORT:-21579}
BACKEND_PORT=${BACKEND_PORT:-21501}
HAPROXY_PORT=${HAPROXY_PORT:-21543}
ROUTER_PORT=${ROUTER_PORT:-21580}
ROUTER_TLS_PORT=${ROUTER_TLS_PORT:-21583}
MANAGEMENT_PORT=${MANAGEMENT_PORT:-21585}
HOST=s1.bench.local
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# One certificate for both: ECDSA P-256, what a modern CA issues by default.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=$HOST" \
  -addext "subjectAltName=DNS:$HOST" -keyout "$WORKDIR/key.pem" -out "$WORKDIR/cert.pem" 2>/dev/null
cat "$WORKDIR/cert.pem" "$WORKDIR/key.pem" >"$WORKDIR/haproxy.pem"

body=$(printf 'hipache-bench-backend:%078d' 0)
cat >"$WORKDIR/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORKDIR/nginx.pid;
error_log $WORKDIR/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$BACKEND_PORT; location / { default_type text/plain; return 200 "$body"; } }
}
CONF
cat >"$WORKDIR/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn 4000
defaults
    mode http
    maxconn 4000
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 65s
    option http-keep-alive
    option forwardfor
    http-reuse safe
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT ssl crt $WORKDIR/haproxy.pem alpn h2,http/1.1
    default_backend be
backend be
    server b 127.0.0.1:$BACKEND_PORT
CONF

taskset -c 0 nginx -c "$WORKDIR/nginx.conf" & pids+=($!)
taskset -c 1 redis-server --port "$REDIS_PORT" --save '' --appendonly no >"$WORKDIR/redis.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" rpush "frontend:$HOST" s1 "http://127.0.0.1:$BACKEND_PORT" >/dev/null

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# measure <name> <pid> <url> : warm-up then T1, T2, T3 against one proxy
measure() {
  local name=$1 pid=$2 url=$3 before after out rps
  log "$name: warm-up ${WARMUP}s"
  taskset -c 0 wrk -t1 -c64 -d"${WARMUP}s" -H "Host: $HOST" "$url/" >/dev/null
  before=$(cpu_ticks "$pid")
  out=$(taskset -c 0 wrk -t1 -c64 -d"${DURATION}s" --latency -H "Host: $HOST" "$url/")
  after=$(cpu_ticks "$pid")
  rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
  printf '%s T1 %s req/s p50 %s p99 %s cpu_us_per_req %s\n' "$name" "$rps" \
    "$(awk '$1 == "50%" { print $2 }' <<<"$out")" "$(awk '$1 == "99%" { print $2 }' <<<"$out")" \
    "$(awk -v t=$((after - before)) -v hz="$hz" -v r="$rps" -v d="$DURATION" 'BEGIN { printf "%.1f", t / hz * 1e6 / (r * d) }')"

  before=$(cpu_ticks "$pid")
  out=$(taskset -c 0 wrk -t1 -c16 -d"${DURATION}s" --latency -H "Host: $HOST" -H "Connection: close" "$url/")
  after=$(cpu_ticks "$pid")
  rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
  printf '%s T2 %s handshakes/s p50 %s p99 %s cpu_us_per_handshake %s errors %s\n' "$name" "$rps" \
    "$(awk '$1 == "50%" { print $2 }' <<<"$out")" "$(awk '$1 == "99%" { print $2 }' <<<"$out")" \
    "$(awk -v t=$((after - before)) -v hz="$hz" -v r="$rps" -v d="$DURATION" 'BEGIN { printf "%.1f", t / hz * 1e6 / (r * d) }')" \
    "$(grep 'Socket errors' <<<"$out" | tr -s ' ' || echo none)"

  before=$(cpu_ticks "$pid")
  out=$(taskset -c 0 h2load -D "$DURATION" -c 16 -m 8 -t 1 -H ":authority: $HOST" "$url/" 2>&1)
  after=$(cpu_ticks "$pid")
  rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' <<<"$out")
  printf '%s T3 %s req/s (h2) cpu_us_per_req %s status %s\n' "$name" "$rps" \
    "$(awk -v t=$((after - before)) -v hz="$hz" -v r="$rps" -v d="$DURATION" 'BEGIN { if (r > 0) printf "%.1f", t / hz * 1e6 / (r * d); else print "-" }')" \
    "$(awk '/^status codes:/ { print $3, $4, $5, $6 }' <<<"$out")"
}

taskset -c 1 haproxy -db -f "$WORKDIR/haproxy.cfg" >"$WORKDIR/haproxy.log" 2>&1 & pids+=($!)
haproxy_pid=$!
for _ in $(seq 50); do curl -ksf -o /dev/null -H "Host: $HOST" "https://127.0.0.1:$HAPROXY_PORT/" && break; sleep 0.1; done
measure haproxy "$haproxy_pid" "https://127.0.0.1:$HAPROXY_PORT"
kill "$haproxy_pid"

env ConnectionStrings__redis="127.0.0.1:$REDIS_PORT" Router__Urls__0="http://127.0.0.1:$ROUTER_PORT" \
  Router__Tls__0__Address=127.0.0.1 Router__Tls__0__Port="$ROUTER_TLS_PORT" \
  Router__Tls__0__Cert="$WORKDIR/cert.pem" Router__Tls__0__Key="$WORKDIR/key.pem" \
  Router__ManagementAddress=127.0.0.1 Router__ManagementPort="$MANAGEMENT_PORT" \
  taskset -c 1 dotnet "$ROUTER_PUB/Router.dll" >"$WORKDIR/router.log" 2>&1 & pids+=($!)
router_pid=$!
for _ in $(seq 100); do curl -ksf -o /dev/null -H "Host: $HOST" "https://127.0.0.1:$ROUTER_TLS_PORT/" && break; sleep 0.2; done
measure router "$router_pid" "https://127.0.0.1:$ROUTER_TLS_PORT"
