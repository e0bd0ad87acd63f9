#!/usr/bin/env bash
# bench/checker-scale.sh - the active health checker against BACKENDS distinct backend URLs.
#
# Loads BACKENDS frontends into a fresh Redis, each with one backend URL of its own
# (http://127.a.b.c:PORT: every 127/8 address reaches one nginx listening on 0.0.0.0:PORT, so
# the URLs are distinct and all answer), then for ROUTERS = 1 and 2 starts that many published
# routers with Router:HealthCheck on (HTTP probes, INTERVAL) and measures for MEASURE s: probes
# answered by nginx per second (its access log), each router's CPU and Redis's, and how the
# probes were shared (leases). A router does not serve traffic here: this is the checker's cost.
#
#   dotnet publish Router -c Release -o /tmp/scale-pub/router
#   flock /tmp/hipache-build.lock bash bench/checker-scale.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

BACKENDS=${BACKENDS:-100000}
INTERVAL=${INTERVAL:-00:00:05}
MEASURE=${MEASURE:-30}
SETTLE=${SETTLE:-20}
PROBE_PORT=${PROBE_PORT:-21301}
ROUTER_COUNTS=${ROUTER_COUNTS:-"1 2"}

need nginx; need redis-server; need redis-cli; need taskset
[[ -f $PUB/router/Router.dll ]] || die "$PUB/router/Router.dll is missing: publish first"
log "work directory $WORKDIR; commit $(git -C "$REPO" rev-parse --short HEAD)"
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

d=$WORKDIR/probe-nginx; mkdir -p "$d/tmp"
cat >"$d/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 16384; }
http {
    log_format probe '\$msec';
    access_log $d/access.log probe buffer=256k flush=1s;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    server { listen 0.0.0.0:$PROBE_PORT backlog=8192; location / { return 200 "ok"; } }
}
CONF
start_bg probe-nginx "$CPU_CLIENT" nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf"
wait_port "$PROBE_PORT" 100 "$LAST_PID" || die "nginx did not listen"
start_redis

log "loading $BACKENDS frontends, one backend URL each"
python3 - "$BACKENDS" "$PROBE_PORT" <<'PY' | redis-cli -p "$REDIS_PORT" --pipe >/dev/null
import sys
n, port = int(sys.argv[1]), sys.argv[2]
out = sys.stdout
for i in range(n):
    a, b, c = 1 + (i >> 16), (i >> 8) & 255, i & 255
    key, ident, url = f"frontend:c{i:07d}.checker.local", "checker", f"http://127.{a}.{b}.{c}:{port}"
    out.write(f"*4\r\n$5\r\nRPUSH\r\n${len(key)}\r\n{key}\r\n${len(ident)}\r\n{ident}\r\n${len(url)}\r\n{url}\r\n")
PY
log "$(redis-cli -p "$REDIS_PORT" dbsize) keys"

printf 'routers\tprobes_per_s\tcycle_s\trouter_cpu_pct_each\tredis_cpu_pct\tleases_by_router\n' >"$WORKDIR/results.tsv"
for count in $ROUTER_COUNTS; do
  pids=()
  for ((r = 0; r < count; r++)); do
    start_bg "router$count-$r" "$CPU_PROXY" env ConnectionStrings__redis="127.0.0.1:$REDIS_PORT" \
      Router__Urls__0="http://127.0.0.1:$((ROUTER_PORT + 10 * r))" Router__ManagementAddress=127.0.0.1 \
      Router__ManagementPort="$((ROUTER_MANAGEMENT_PORT + 10 * r))" Router__HealthCheck__Enabled=true \
      Router__HealthCheck__Interval="$INTERVAL" Router__HealthCheck__TableRefresh=00:05:00 \
      dotnet "$PUB/router/Router.dll"
    pids+=("$LAST_PID")
  done
  log "$count router(s): settling ${SETTLE}s (first table scan, leases)"
  sleep "$SETTLE"
  before=$(wc -l <"$d/access.log")
  redis_before=$(cpu_ticks "$REDIS_PID")
  declare -A router_before=()
  for p in "${pids[@]}"; do router_before[$p]=$(cpu_ticks "$p"); done
  sleep "$MEASURE"
  sleep 1.2   # nginx flushes its log buffer every second
  after=$(wc -l <"$d/access.log")
  rate=$(( (after - before) / MEASURE ))
  redis_cpu=$(( ($(cpu_ticks "$REDIS_PID") - redis_before) * 100 / CLK_TCK / MEASURE ))
  each=""
  for p in "${pids[@]}"; do each+="$(( ($(cpu_ticks "$p") - router_before[$p]) * 100 / CLK_TCK / MEASURE )) "; done
  # A sample of the leases, counted by holder (head closes the scan early: not a failure).
  leases=$( (redis-cli -p "$REDIS_PORT" --scan --pattern 'hipache-aspire:check:*' | head -20000 | xargs -r -n 500 redis-cli -p "$REDIS_PORT" mget \
    | sort | uniq -c | awk '{ printf "%s ", $1 }') 2>/dev/null || true)
  cycle=$(awk -v n="$BACKENDS" -v r="$rate" 'BEGIN { printf "%.1f", (r > 0 ? n / r : 0) }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$count" "$rate" "$cycle" "$each" "$redis_cpu" "$leases" >>"$WORKDIR/results.tsv"
  log "$count router(s): $rate probes/s (a full round every $cycle s), router CPU % each: $each, Redis $redis_cpu %, leases by holder (of 20,000 sampled): $leases"
  for p in "${pids[@]}"; do stop_pid "$p"; done
  sleep 12   # leases (two intervals) expire before the next round
done
column -t -s $'\t' "$WORKDIR/results.tsv"
