#!/usr/bin/env bash
# bench/faults.sh - failed requests while backends fail under load, for each way of detecting it.
#
# One frontend, four backends (BenchTools backend, 100-byte answers): b1 stays healthy, b2 is
# killed (SIGKILL) at KILL_AT s, b3 paused (SIGSTOP: the kernel still accepts connections, nothing
# answers) at PAUSE_AT s, b4 answers every request 2 s late from SLOW_AT s on. wrk drives
# CONNS connections for DURATION s (--timeout 3 s, so a request stuck on the paused backend counts
# as a timeout). Each mode starts everything afresh:
#   hipache   Router:Compatibility=Hipache: passive detection as Hipache (first failure ejects)
#   passive   Safe mode, passive detection only (failures in a row, refused connections)
#   checked   Safe mode + the active health checker (Http probes every CHECK_INTERVAL, timeout
#             CHECK_TIMEOUT, fall 2, rise 2) and least-requests balancing
# Reported per mode: requests, 5xx answers, wrk socket errors, seconds stalled (answers under a
# tenth of the run's best per-second rate: connections stuck on the paused backend), the
# slowest second, p50/p99 of completed requests (bench/lib/faults.lua counts per second).
#
# Publish first and hold the machine's build lock for the whole run:
#   dotnet publish Router -c Release -o /tmp/scale-pub/router
#   dotnet publish bench/BenchTools -c Release -o /tmp/scale-pub/tools
#   flock /tmp/hipache-build.lock bash bench/faults.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

MODES=${MODES:-"hipache passive checked"}
CONNS=${CONNS:-32}
DURATION=${DURATION:-40}
WARMUP=${WARMUP:-10}
KILL_AT=${KILL_AT:-8}
PAUSE_AT=${PAUSE_AT:-16}
SLOW_AT=${SLOW_AT:-24}
CHECK_INTERVAL=${CHECK_INTERVAL:-00:00:01}
CHECK_TIMEOUT=${CHECK_TIMEOUT:-00:00:00.500}
FAULT_PORTS=(21801 21802 21803 21804)
HOST=faults.bench.local

need redis-server; need redis-cli; need wrk; need taskset
for f in "$PUB/router/Router.dll" "$PUB/tools/BenchTools.dll"; do
  [[ -f $f ]] || die "$f is missing: publish first (see the top of this file)"
done
log "work directory $WORKDIR; commit $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD || echo ' (+ uncommitted changes)')"
OUT=$WORKDIR/results.tsv
printf 'mode\trequests\t5xx\tsocket_errors\tstalled_s\tmin_per_s\tp50\tp99\n' >"$OUT"

run_mode() {
  local mode=$1 settings=()
  case $mode in
    hipache) settings=(Router__Compatibility=Hipache) ;;
    passive) settings=(Router__Compatibility=Safe) ;;
    checked) settings=(Router__Compatibility=Safe Router__HealthCheck__Enabled=true Router__HealthCheck__Interval="$CHECK_INTERVAL"
                       Router__HealthCheck__Timeout="$CHECK_TIMEOUT" Router__HealthCheck__Fall=2 Router__HealthCheck__Rise=2
                       Router__HealthCheck__TableRefresh=00:00:02) ;;
    *) die "unknown mode $mode" ;;
  esac

  start_bg "redis-$mode" "$CPU_PROXY" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no
  local redis_pid=$LAST_PID
  wait_port "$REDIS_PORT" 100 "$redis_pid" || die "redis did not start"
  redis-cli -p "$REDIS_PORT" rpush "frontend:$HOST" faults $(for p in "${FAULT_PORTS[@]}"; do printf 'http://127.0.0.1:%s ' "$p"; done) >/dev/null
  if [[ $mode == checked ]]; then
    redis-cli -p "$REDIS_PORT" hset "hipache-aspire:balance:$HOST" policy least-requests >/dev/null
  fi

  local backend_pids=() i
  for i in 0 1 2 3; do
    local extra=()
    [[ $i == 3 ]] && extra=(--slow-after $((WARMUP + SLOW_AT)) --delay-ms 2000)
    start_bg "backend$((i + 1))-$mode" "$CPU_CLIENT" dotnet "$PUB/tools/BenchTools.dll" backend --port "${FAULT_PORTS[i]}" "${extra[@]}"
    backend_pids+=("$LAST_PID")
  done
  for i in 0 1 2 3; do wait_port "${FAULT_PORTS[i]}" 100 "${backend_pids[i]}" || die "backend $((i + 1)) did not start"; done

  start_bg "router-$mode" "$CPU_PROXY" env ConnectionStrings__redis="127.0.0.1:$REDIS_PORT" \
    Router__Urls__0="http://127.0.0.1:$ROUTER_PORT" Router__ManagementAddress=127.0.0.1 Router__ManagementPort="$ROUTER_MANAGEMENT_PORT" \
    "${settings[@]}" dotnet "$PUB/router/Router.dll"
  local router_pid=$LAST_PID
  wait_port "$ROUTER_PORT" 200 "$router_pid" || die "router did not start"

  log "$mode: warm-up ${WARMUP}s"
  taskset -c "$CPU_CLIENT" wrk -t1 -c"$CONNS" -d"${WARMUP}s" -H "Host: $HOST" "http://127.0.0.1:$ROUTER_PORT/" >/dev/null
  log "$mode: ${DURATION}s under load; b2 killed at ${KILL_AT}s, b3 paused at ${PAUSE_AT}s, b4 slow from ${SLOW_AT}s"
  taskset -c "$CPU_CLIENT" wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 3s --latency -s "$REPO/bench/lib/faults.lua" \
    -H "Host: $HOST" "http://127.0.0.1:$ROUTER_PORT/" >"$WORKDIR/wrk-$mode.txt" &
  local wrk_pid=$!
  sleep "$KILL_AT"; kill -KILL "${backend_pids[1]}"
  sleep $((PAUSE_AT - KILL_AT)); kill -STOP "${backend_pids[2]}"
  wait "$wrk_pid" || true
  kill -CONT "${backend_pids[2]}" 2>/dev/null || true

  local w=$WORKDIR/wrk-$mode.txt requests errors line stalled slowest five p50 p99
  requests=$(awk '/requests in/ { print $1 }' "$w")
  errors=$(awk '/Socket errors/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$w"); errors=${errors:-0}
  line=$(grep '^FAULTS ' "$w")
  stalled=$(sed -n 's/.* stalled_s=\([0-9]*\).*/\1/p' <<<"$line")
  slowest=$(sed -n 's/.* min_per_s=\([0-9]*\).*/\1/p' <<<"$line")
  five=$(sed -n 's/.* 5xx=\([0-9]*\).*/\1/p' <<<"$line")
  p50=$(awk '$1 == "50%" { print $2 }' "$w"); p99=$(awk '$1 == "99%" { print $2 }' "$w")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$requests" "$five" "$errors" "$stalled" "$slowest" "$p50" "$p99" >>"$OUT"
  log "$mode: $requests requests, $five 5xx, $errors socket errors, $stalled s stalled (under a tenth of the best second), slowest second $slowest, p50 $p50, p99 $p99"
  log "$mode: answers per second: $(sed -n 's/.*per_second=\([^ ]*\).*/\1/p' <<<"$line")"

  stop_pid "$router_pid"
  for i in 0 1 2 3; do stop_pid "${backend_pids[i]}"; done   # b2's is gone already: stop_pid returns
  stop_pid "$redis_pid"
}

for mode in $MODES; do run_mode "$mode"; done
log "results: $OUT"
column -t -s $'\t' "$OUT"
