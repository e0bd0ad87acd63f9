#!/usr/bin/env bash
# bench/admin-throughput.sh - admin API write throughput and how soon the router serves each write.
#
# Starts a backend (nginx), a fresh Redis, the published router and the published Admin.Api, then
# runs BenchTools admin-churn: CLIENTS clients, each owning one frontend that starts with no
# backend, alternate POST /v1/frontends/<host>/backends (the router must turn from 502 to 200)
# and DELETE .../backends?url= (back to 502). Phases:
#   warm-up  WARMUP s with the router check (JIT of admin API, router and tool)
#   check    DURATION s: calls/s, admin call latency, and after every call the time from the admin
#            API's answer to the router's first changed answer (polled on a keep-alive connection)
#   raw      DURATION s without the router check: the admin API's throughput alone
# with the CPU each process used and the Redis commands per call.
#
# Publish first (the whole run must hold the machine's build lock):
#   dotnet publish Router -c Release -o /tmp/scale-pub/router
#   dotnet publish Admin.Api -c Release -o /tmp/scale-pub/admin
#   dotnet publish bench/BenchTools -c Release -o /tmp/scale-pub/tools
#   flock /tmp/hipache-build.lock bash bench/admin-throughput.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CLIENTS=${CLIENTS:-16}
WARMUP=${WARMUP:-15}
DURATION=${DURATION:-20}
CPU_ADMIN=${CPU_ADMIN:-$CPU_PROXY}   # the admin API shares the proxy core with Redis and the router
ADMIN_KEY=${ADMIN_KEY:-bench-admin-key-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}
export ADMIN_KEY
OUT=$WORKDIR/results.tsv
COUNTERS=${COUNTERS:-$HOME/.dotnet/tools/dotnet-counters}

need nginx; need redis-server; need redis-cli; need taskset; need curl
for f in "$PUB/router/Router.dll" "$PUB/admin/Admin.Api.dll" "$PUB/tools/BenchTools.dll"; do
  [[ -f $f ]] || die "$f is missing: publish first (see the top of this file)"
done
log "work directory $WORKDIR; commit $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD || echo ' (+ uncommitted changes)')"

CLK_TCK=$(getconf CLK_TCK)
hms() { printf '%02d:%02d:%02d' $(($1 / 3600)) $(($1 % 3600 / 60)) $(($1 % 60)); }   # dotnet-counters --duration
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
redis_calls() { redis-cli -p "$REDIS_PORT" info commandstats | awk -F'[:=,]' '/^cmdstat_/ { s += $3 } END { print s + 0 }'; }

start_backend
start_redis
start_router router
port_free "$ADMIN_PORT" || die "port $ADMIN_PORT is in use"
# From its own directory, as a deployed app runs: Admin.Api takes appsettings.json (log levels)
# from the working directory; from elsewhere it would log every request at Information.
start_bg admin "$CPU_ADMIN" env -C "$PUB/admin" ASPNETCORE_ENVIRONMENT=Production ConnectionStrings__redis="127.0.0.1:$REDIS_PORT" \
  Admin__ApiKeys__0="$ADMIN_KEY" dotnet "$PUB/admin/Admin.Api.dll" --urls "http://127.0.0.1:$ADMIN_PORT"
ADMIN_PID=$LAST_PID
wait_port "$ADMIN_PORT" 600 "$ADMIN_PID" || { tail -20 "$WORKDIR/admin.log" >&2; die "admin API did not listen"; }
for ((i = 0; i < 300; i++)); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/health") == 200 ]] && break
  sleep 0.1
done
log "router on $ROUTER_PORT, admin API on $ADMIN_PORT (cpu $CPU_ADMIN), $CLIENTS clients"

# churn PHASE SECONDS CHECK -> appends a row; the tool's RESULT line has every figure
churn() {
  local phase=$1 seconds=$2 check=$3 r0 a0 d0 c0 t0 r1 a1 d1 c1 t1 line
  "$COUNTERS" collect -p "$ROUTER_PID" --counters Hipache.Aspire.Router --refresh-interval 1 --format csv \
    -o "$WORKDIR/counters-$phase.csv" --duration "$(hms $((seconds + 3)))" >/dev/null 2>&1 &
  local counters=$!; PIDS+=("$counters"); sleep 1
  r0=$(cpu_ticks "$ROUTER_PID"); a0=$(cpu_ticks "$ADMIN_PID"); d0=$(cpu_ticks "$REDIS_PID"); c0=$(redis_calls); t0=$(date +%s%N)
  taskset -c "$CPU_CLIENT" dotnet "$PUB/tools/BenchTools.dll" admin-churn --admin "http://127.0.0.1:$ADMIN_PORT" \
    --router "http://127.0.0.1:$ROUTER_PORT" --backend "http://127.0.0.1:${BACKEND_PORTS[0]}" \
    --clients "$CLIENTS" --duration "$seconds" --check "$check" >"$WORKDIR/churn-$phase.log" 2>&1 || true
  r1=$(cpu_ticks "$ROUTER_PID"); a1=$(cpu_ticks "$ADMIN_PID"); d1=$(cpu_ticks "$REDIS_PID"); c1=$(redis_calls); t1=$(date +%s%N)
  wait "$counters" 2>/dev/null || true
  printf '%s router meter:' "$phase" >>"$WORKDIR/router-meter.txt"
  for c in hits misses invalidations stale_served; do
    printf ' %s=%s' "$c" "$(awk -F, -v n="hipache.router.route_cache.$c" 'index($3, n) == 1 && $4 ~ /Rate/ { s += $5 } END { printf "%.0f", s }' "$WORKDIR/counters-$phase.csv")" >>"$WORKDIR/router-meter.txt"
  done
  echo >>"$WORKDIR/router-meter.txt"
  line=$(grep '^RESULT ' "$WORKDIR/churn-$phase.log") || { cat "$WORKDIR/churn-$phase.log" >&2; die "admin-churn failed in $phase"; }
  echo "$phase $line" >>"$WORKDIR/results.raw"
  eval "$(awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); printf "R_%s=%s\n", kv[1], kv[2] } }' <<<"$line")"
  # CPU over the process's whole life of the phase, tool start-up included: a slight over-estimate per call
  awk -v p="$phase" -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" -v r0="$r0" -v r1="$r1" -v a0="$a0" -v a1="$a1" -v d0="$d0" -v d1="$d1" \
      -v c0="$c0" -v c1="$c1" -v calls="$R_calls" -v rate="$R_calls_per_s" -v err="$R_errors" -v ap50="$R_admin_p50_ms" -v ap99="$R_admin_p99_ms" \
      -v pp50="${R_prop_p50_ms:--}" -v pp99="${R_prop_p99_ms:--}" -v pmax="${R_prop_max_ms:--}" -v pin="${R_prop_within_5ms_pct:--}" \
      -v pto="${R_prop_over_100ms:--}" -v p1s="${R_prop_over_1s:--}" -v first="${R_seen_on_first_poll:--}" 'BEGIN {
    w = (t1 - t0) / 1e9
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%.0f\t%.1f\n", p, calls, rate, err, ap50, ap99, pp50, pp99, pmax, pin, pto, p1s, first,
      100 * (a1 - a0) / hz / w, 100 * (r1 - r0) / hz / w, 100 * (d1 - d0) / hz / w, (calls > 0 ? (c1 - c0) / calls : 0) }' >>"$OUT"
  unset R_prop_p50_ms R_prop_p99_ms R_prop_max_ms R_prop_within_5ms_pct R_prop_over_100ms R_prop_over_1s R_seen_on_first_poll
}

printf 'phase\tcalls\tcalls_per_s\terrors\tadmin_p50_ms\tadmin_p99_ms\tprop_p50_ms\tprop_p99_ms\tprop_max_ms\tprop_within_5ms_pct\tprop_over_100ms\tprop_over_1s\tseen_on_first_poll\tadmin_cpu_pct\trouter_cpu_pct\tredis_cpu_pct\tredis_cmds_per_call\n' >"$OUT"
churn warmup "$WARMUP" true
churn check "$DURATION" true
redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
churn raw "$DURATION" false
# Which Redis commands one call costs (commands run inside scripts are counted too).
redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' | awk -F'[:=,]' -v n="$R_calls" '/^cmdstat_/ { printf "%s\t%.2f per call\n", substr($1, 9), $3 / n }' \
  | sort -t$'\t' -k2 -rn >"$WORKDIR/commands-per-call.txt"

log "done; raw files in $WORKDIR"
cat "$WORKDIR/results.raw"
cat "$WORKDIR/router-meter.txt"; grep -h 'not served\|served after' "$WORKDIR"/churn-*.log || true
echo "# Redis commands per call in the raw phase:"; cat "$WORKDIR/commands-per-call.txt"
column -t -s $'\t' "$OUT"
