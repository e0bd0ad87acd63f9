#!/usr/bin/env bash
# bench/scale.sh - the router with N frontends (default 1,000,000) and random-Host traffic.
#
# Starts a backend (nginx), a fresh Redis, loads N frontends into it with BenchTools (through
# RouteStore's RouteWriter), then for each route cache bound in CACHE_SIZES starts the published
# router and measures:
#   warm-up  WARMUP s of random Hosts over the first N-COLD_HOSTS hosts (JIT, cache filled to its bound);
#            WARMUP_ORDER=sequential requests those hosts in order instead, so that every one of
#            them is cached once WARMUP is long enough (~N / miss rate seconds)
#   hot      HOT_SECONDS s, one connection, always the same host: the floor (a cache hit)
#   cold     COLD_SECONDS s, one connection, each request a host never requested before (the last
#            COLD_HOSTS hosts, in order): the first-request latency of a cold host
#   fill     with WARMUP_ORDER=sequential only: FILL_SECONDS s, CONNS connections, the cold hosts in
#            order, so that the random phase runs on a fully warm table of all N hosts
#   one-host ONE_HOST_SECONDS s (default DURATION), CONNS connections, always the same host: the one-vhost figure of this run
#   random   DURATION s, CONNS connections, a random Host over all N hosts: req/s, latency, cache
#            hit rate (dotnet-counters on the meter Hipache.Aspire.Router), CPU per request
# and the router's RSS once a second (VmRSS) and its peak (VmHWM).
#
# Publish first (the whole run must hold the machine's build lock):
#   dotnet publish Router -c Release -o /tmp/scale-pub/router
#   dotnet publish bench/BenchTools -c Release -o /tmp/scale-pub/tools
#   flock /tmp/hipache-build.lock bash bench/scale.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

N=${N:-1000000}
COLD_HOSTS=${COLD_HOSTS:-50000}
CACHE_SIZES=${CACHE_SIZES:-"100000 10000"}
WARMUP=${WARMUP:-30}
WARMUP_ORDER=${WARMUP_ORDER:-random}
FILL_SECONDS=${FILL_SECONDS:-10}
HOT_SECONDS=${HOT_SECONDS:-5}
COLD_SECONDS=${COLD_SECONDS:-5}
COLD_CONNS=${COLD_CONNS:-1}
DURATION=${DURATION:-40}
ONE_HOST_SECONDS=${ONE_HOST_SECONDS:-$DURATION}
CONNS=${CONNS:-64}
ROUTER_ENV=${ROUTER_ENV:-}          # extra VAR=value settings for every router, e.g. Router__RouteCacheTtl=00:01:00
COUNTERS=${COUNTERS:-$HOME/.dotnet/tools/dotnet-counters}
OUT=$WORKDIR/results.tsv
LUA=$REPO/bench/lib

need wrk; need nginx; need redis-server; need redis-cli; need taskset; need curl
[[ -x $COUNTERS ]] || die "dotnet-counters not found at $COUNTERS (dotnet tool install -g dotnet-counters)"
[[ -f $PUB/router/Router.dll && -f $PUB/tools/BenchTools.dll ]] || die "publish the router and BenchTools to $PUB first (see the top of this file)"
((COLD_HOSTS < N)) || die "COLD_HOSTS must be smaller than N"
log "work directory $WORKDIR; commit $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD || echo ' (+ uncommitted changes)')"

CLK_TCK=$(getconf CLK_TCK)
hms() { printf '%02d:%02d:%02d' $(($1 / 3600)) $(($1 % 3600 / 60)) $(($1 % 60)); }   # dotnet-counters --duration
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }  # utime + stime

# run_wrk LABEL CONNS SECONDS LUA-SCRIPT LO HI -> W_* (from the script's BENCH line)
run_wrk() {
  local label=$1 c=$2 d=$3 script=$4 lo=$5 hi=$6 logf=$WORKDIR/wrk-$1.log
  timeout --foreground $((d + 30)) taskset -c "$CPU_CLIENT" wrk -t1 -c"$c" -d"${d}s" --timeout 5s \
    -s "$LUA/$script" "http://127.0.0.1:$ROUTER_PORT/" -- "$lo" "$hi" >"$logf" 2>&1 || true
  local line
  line=$(grep '^BENCH ' "$logf" | tail -1) || die "wrk gave no summary for $label (see $logf)"
  eval "$(awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); printf "W_%s=%s\n", kv[1], kv[2] } }' <<<"$line")"
  W_RPS=$(awk -v r="$W_requests" -v s="$W_err_status" -v d="$W_duration_us" 'BEGIN { printf "%.0f", (r - s) / (d / 1e6) }')
  W_P50=$(awk -v v="$W_p50_us" 'BEGIN { printf "%.3f", v / 1000 }')
  W_P99=$(awk -v v="$W_p99_us" 'BEGIN { printf "%.3f", v / 1000 }')
  W_P999=$(awk -v v="$W_p999_us" 'BEGIN { printf "%.3f", v / 1000 }')
  W_MAX=$(awk -v v="$W_max_us" 'BEGIN { printf "%.3f", v / 1000 }')
  W_SOCKERR=$((W_err_connect + W_err_read + W_err_write + W_err_timeout))
}

# sum of a counter's increments in a dotnet-counters csv (Timestamp,Provider,Counter Name,Counter Type,Mean/Increment)
counter_sum() { [[ -s $1 ]] || { echo "-"; return; }; awk -F, -v name="$2" 'index($3, name) == 1 && $4 ~ /Rate/ { s += $5 } END { printf "%.0f", s }' "$1"; }

printf 'cache_size\tphase\treq_s\tp50_ms\tp99_ms\tp999_ms\tmax_ms\tnon2xx\tsock_err\thits\tmisses\thit_pct\tevictions\trouter_cpu_pct\tredis_cpu_pct\tcpu_us_req\trss_mb_start\trss_mb_end\trss_mb_max\thwm_mb\n' >"$OUT"

start_backend
start_redis

log "loading $N frontends"
taskset -c "$CPU_CLIENT" dotnet "$PUB/tools/BenchTools.dll" load --redis "127.0.0.1:$REDIS_PORT" --count "$N" \
  --backends "http://127.0.0.1:${BACKEND_PORTS[0]},http://127.0.0.1:${BACKEND_PORTS[1]}" | tee "$WORKDIR/load.log"
LOAD_LINE=$(grep '^RESULT ' "$WORKDIR/load.log")
REDIS_MEM=$(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory_human/ { gsub(/\r/, "", $2); print $2 }')
KEYS=$(redis-cli -p "$REDIS_PORT" dbsize)
log "loaded: $LOAD_LINE; redis dbsize $KEYS, used_memory $REDIS_MEM"

# measured PHASE LABEL LO HI SECONDS: SECONDS s of CONNS connections, random Host in [LO, HI), with the
# router's counters, CPU and RSS; one row of $OUT.
measured() {
  local phase=$1 label=$2 lo=$3 hi=$4 seconds=$5
  echo "$phase" >"$PHASE_FILE"
  local csv=$WORKDIR/counters-$phase-$SIZE.csv
  local rss0 r0 d0 t0 r1 d1 t1 rss1 hits misses evict hwm rssmax counters_pid
  rss0=$(rss_kb "$ROUTER_PID" VmRSS)
  taskset -c "$CPU_CLIENT" "$COUNTERS" collect -p "$ROUTER_PID" --counters Hipache.Aspire.Router,System.Runtime --refresh-interval 1 \
    --format csv -o "$csv" --duration "$(hms $((seconds + 1)))" >"$WORKDIR/counters-$phase-$SIZE.log" 2>&1 &
  counters_pid=$!; PIDS+=("$counters_pid")
  sleep 1   # the session must be up before the measured load starts
  r0=$(cpu_ticks "$ROUTER_PID"); d0=$(cpu_ticks "$REDIS_PID"); t0=$(date +%s%N)
  run_wrk "$phase-$SIZE" "$CONNS" "$seconds" scale-random.lua "$lo" "$hi"
  r1=$(cpu_ticks "$ROUTER_PID"); d1=$(cpu_ticks "$REDIS_PID"); t1=$(date +%s%N)
  rss1=$(rss_kb "$ROUTER_PID" VmRSS)
  wait "$counters_pid" 2>/dev/null || true
  hits=$(counter_sum "$csv" hipache.router.route_cache.hits)
  misses=$(counter_sum "$csv" hipache.router.route_cache.misses)
  evict=$(counter_sum "$csv" hipache.router.route_cache.evictions)
  hwm=$(rss_kb "$ROUTER_PID" VmHWM)
  rssmax=$(awk -F'\t' -v p="$phase" '$2 == p && $3 > m { m = $3 } END { print m + 0 }' "$RSS_LOG")
  awk -v s="$SIZE" -v label="$label" -v rps="$W_RPS" -v p50="$W_P50" -v p99="$W_P99" -v p999="$W_P999" -v mx="$W_MAX" -v st="$W_err_status" \
      -v se="$W_SOCKERR" -v h="$hits" -v m="$misses" -v ev="$evict" -v r0="$r0" -v r1="$r1" -v d0="$d0" -v d1="$d1" \
      -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" -v n="$W_requests" -v a="$rss0" -v b="$rss1" -v mxr="$rssmax" -v hwm="$hwm" 'BEGIN {
    wall = (t1 - t0) / 1e9; rc = (r1 - r0) / hz; dc = (d1 - d0) / hz
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\t%.0f\t%.0f\t%.1f\t%.0f\t%.0f\t%.0f\t%.0f\n",
      s, label, rps, p50, p99, p999, mx, st, se, h, m, (h + m > 0 ? 100 * h / (h + m) : 0), ev,
      100 * rc / wall, 100 * dc / wall, 1e6 * (rc + dc) / n, a / 1024, b / 1024, mxr / 1024, hwm / 1024 }' >>"$OUT"
}

for SIZE in $CACHE_SIZES; do
  log "router with Router:RouteCacheSize=$SIZE"
  read -r -a extra <<<"$ROUTER_ENV"
  start_router "router-$SIZE" Router__RouteCacheSize="$SIZE" "${extra[@]}"
  for ((i = 0; i < 600; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' -H 'Host: s0000000.scale.local' "http://127.0.0.1:$ROUTER_PORT/") == 200 ]] && break
    sleep 0.1
  done
  ((i < 600)) || die "router does not serve s0000000.scale.local"

  RSS_LOG=$WORKDIR/rss-$SIZE.tsv
  PHASE_FILE=$WORKDIR/phase
  echo start >"$PHASE_FILE"
  ( t0=$(date +%s); while kill -0 "$ROUTER_PID" 2>/dev/null; do
      printf '%s\t%s\t%s\n' $(($(date +%s) - t0)) "$(cat "$PHASE_FILE")" "$(rss_kb "$ROUTER_PID" VmRSS)"; sleep 1
    done ) >"$RSS_LOG" 2>/dev/null &
  SAMPLER=$!; PIDS+=("$SAMPLER")

  echo warmup >"$PHASE_FILE"
  case $WARMUP_ORDER in
    random) run_wrk "warmup-$SIZE" "$CONNS" "$WARMUP" scale-random.lua 0 $((N - COLD_HOSTS)) ;;
    sequential) run_wrk "warmup-$SIZE" "$CONNS" "$WARMUP" scale-cold.lua 0 $((N - COLD_HOSTS)) ;;
    *) die "WARMUP_ORDER is random or sequential" ;;
  esac
  printf '%s\twarmup\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\t\t\t\t\t\t\t\t\t\t\n' "$SIZE" "$W_RPS" "$W_P50" "$W_P99" "$W_P999" "$W_MAX" "$W_err_status" "$W_SOCKERR" >>"$OUT"

  # GC activity over the two low-concurrency phases, to tell a GC pause from the miss path in their
  # tails. The session itself (EventPipe, once a second) lengthens those tails: HOTCOLD_COUNTERS=0
  # measures without it.
  GC_PID=
  if [[ ${HOTCOLD_COUNTERS:-1} == 1 ]]; then
    taskset -c "$CPU_CLIENT" "$COUNTERS" collect -p "$ROUTER_PID" --counters System.Runtime --refresh-interval 1 \
      --format csv -o "$WORKDIR/gc-hotcold-$SIZE.csv" --duration "$(hms $((HOT_SECONDS + COLD_SECONDS + 4)))" >/dev/null 2>&1 &
    GC_PID=$!; PIDS+=("$GC_PID"); sleep 1
  fi
  echo hot >"$PHASE_FILE"
  run_wrk "hot-$SIZE" 1 "$HOT_SECONDS" scale-random.lua 0 1
  printf '%s\thot (1 conn, 1 host)\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\t\t\t\t\t\t\t\t\t\t\n' "$SIZE" "$W_RPS" "$W_P50" "$W_P99" "$W_P999" "$W_MAX" "$W_err_status" "$W_SOCKERR" >>"$OUT"

  echo cold >"$PHASE_FILE"
  run_wrk "cold-$SIZE" "$COLD_CONNS" "$COLD_SECONDS" scale-cold.lua $((N - COLD_HOSTS)) "$N"
  ((W_requests <= COLD_HOSTS)) || die "cold phase sent $W_requests requests for $COLD_HOSTS cold hosts: raise COLD_HOSTS"
  printf '%s\tcold (%s conn, new host each)\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\t\t\t\t\t\t\t\t\t\t\n' "$SIZE" "$COLD_CONNS" "$W_RPS" "$W_P50" "$W_P99" "$W_P999" "$W_MAX" "$W_err_status" "$W_SOCKERR" >>"$OUT"

  [[ -z $GC_PID ]] || wait "$GC_PID" 2>/dev/null || true
  if [[ $WARMUP_ORDER == sequential ]]; then
    echo fill >"$PHASE_FILE"
    run_wrk "fill-$SIZE" "$CONNS" "$FILL_SECONDS" scale-cold.lua $((N - COLD_HOSTS)) "$N"
    printf '%s\tfill (cold hosts in order)\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\t\t\t\t\t\t\t\t\t\t\n' "$SIZE" "$W_RPS" "$W_P50" "$W_P99" "$W_P999" "$W_MAX" "$W_err_status" "$W_SOCKERR" >>"$OUT"
  fi

  # The same load on one host, then on all N: the cost of a table of N against a table of one,
  # in the same run (issue 12: random over all >= 0.8 x one host).
  measured one-host "one host, $CONNS conns" 0 1 "$ONE_HOST_SECONDS"
  measured random "random ($N hosts)" 0 "$N" "$DURATION"

  stop_pid "$ROUTER_PID"
  stop_pid "$SAMPLER" 2>/dev/null || true
done

# GC per phase: collections by generation and pause time, as the runtime's meter reports them
for f in "$WORKDIR"/gc-hotcold-*.csv "$WORKDIR"/counters-*-*.csv; do
  [[ -f $f ]] || continue
  echo "# $(basename "$f"): $(awk -F, 'tolower($3) ~ /gc/ && $4 ~ /Rate/ { n = $3; sub(/ \(.*\)/, "", n); s[n] += $5 } END { for (k in s) printf "%s=%.4g ", k, s[k] }' "$f")"
done >"$WORKDIR/gc.txt"
log "done; raw files in $WORKDIR"
cat "$WORKDIR/gc.txt"
echo "# $LOAD_LINE redis_keys=$KEYS redis_used_memory=$REDIS_MEM"
column -t -s $'\t' "$OUT"
