#!/usr/bin/env bash
# bench/scale-out.sh - several routers on one Redis with N frontends, under random-Host traffic,
# while the admin API churns backends: how soon every router serves each change.
#
# Starts a backend (nginx), a fresh Redis, loads N frontends (BenchTools load), starts ROUTERS
# published routers (ports from FIRST_ROUTER_PORT up, management ports beside them) and the published
# Admin.Api, then:
#   traffic  one wrk per router, LOAD_CONNS connections each, a random Host over all N hosts,
#            for the whole run (the routers' caches fill as they would in production)
#   warm-up  WARMUP s of admin churn with the check (JIT of everything)
#   churn    DURATION s of BenchTools admin-churn at RATE calls/s from CLIENTS clients, each call
#            followed by polling every router until all of them reflect it: the propagation delay
#            of a call is the time until the LAST router serves it
#   routers  GET /v1/routers at the end: every router's change lag (a fence round trip)
#   dead     DEADMARK_TRIALS dead marks made as a router makes them (BenchTools dead-marks), each
#            timed until every router honours it (routers run with Router:Debug=true for this)
# and the processes' CPU over the churn phase.
#
# Publish first (the whole run must hold the machine's build lock):
#   dotnet publish Router -c Release -o /tmp/scale-pub/router
#   dotnet publish Admin.Api -c Release -o /tmp/scale-pub/admin
#   dotnet publish bench/BenchTools -c Release -o /tmp/scale-pub/tools
#   flock /tmp/hipache-build.lock bash bench/scale-out.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROUTERS=${ROUTERS:-4}
N=${N:-1000000}
RATE=${RATE:-500}
CLIENTS=${CLIENTS:-16}
WARMUP=${WARMUP:-15}
DURATION=${DURATION:-30}
LOAD_CONNS=${LOAD_CONNS:-8}
DEADMARK_TRIALS=${DEADMARK_TRIALS:-200}
ADMIN_KEY=${ADMIN_KEY:-bench-admin-key-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}
export ADMIN_KEY
LUA=$REPO/bench/lib
FIRST_ROUTER_PORT=${FIRST_ROUTER_PORT:-21300}   # router r: routed port +2r, management +2r+1 (apart from the admin API's 21190)

need wrk; need nginx; need redis-server; need redis-cli; need taskset; need curl
for f in "$PUB/router/Router.dll" "$PUB/admin/Admin.Api.dll" "$PUB/tools/BenchTools.dll"; do
  [[ -f $f ]] || die "$f is missing: publish first (see the top of this file)"
done
log "work directory $WORKDIR; commit $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD || echo ' (+ uncommitted changes)')"
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

start_backend
start_redis
t0=$(date +%s.%N)
taskset -c "$CPU_CLIENT" dotnet "$PUB/tools/BenchTools.dll" load --redis "127.0.0.1:$REDIS_PORT" --count "$N" \
  --backends "http://127.0.0.1:${BACKEND_PORTS[0]},http://127.0.0.1:${BACKEND_PORTS[1]}" >"$WORKDIR/load.log" 2>&1 || { cat "$WORKDIR/load.log" >&2; die "load failed"; }
log "$N frontends loaded in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"

ROUTER_PIDS=()
ROUTER_URLS=()
for ((r = 0; r < ROUTERS; r++)); do
  port=$((FIRST_ROUTER_PORT + 2 * r)) management=$((FIRST_ROUTER_PORT + 2 * r + 1))
  port_free "$port" && port_free "$management" || die "port $port or $management is in use"
  start_bg "router-$r" "$CPU_PROXY" env ROUTER_PUB="$PUB/router" ROUTER_PORT="$port" ROUTER_BIND=127.0.0.1 Router__Debug=true \
    REDIS_PORT="$REDIS_PORT" ROUTER_MANAGEMENT_PORT="$management" bash "$REPO/bench/router-cmd.sh"
  ROUTER_PIDS+=("$LAST_PID")
  ROUTER_URLS+=("http://127.0.0.1:$port/")
done
for ((r = 0; r < ROUTERS; r++)); do
  wait_port $((FIRST_ROUTER_PORT + 2 * r)) 600 "${ROUTER_PIDS[r]}" || { tail -20 "$WORKDIR/router-$r.log" >&2; die "router $r did not listen"; }
done
port_free "$ADMIN_PORT" || die "port $ADMIN_PORT is in use"
start_bg admin "$CPU_PROXY" env -C "$PUB/admin" ASPNETCORE_ENVIRONMENT=Production ConnectionStrings__redis="127.0.0.1:$REDIS_PORT" \
  Admin__ApiKeys__0="$ADMIN_KEY" dotnet "$PUB/admin/Admin.Api.dll" --urls "http://127.0.0.1:$ADMIN_PORT"
ADMIN_PID=$LAST_PID
wait_port "$ADMIN_PORT" 600 "$ADMIN_PID" || { tail -20 "$WORKDIR/admin.log" >&2; die "admin API did not listen"; }
for ((i = 0; i < 300; i++)); do
  live=$(curl -s -H "Authorization: Bearer $ADMIN_KEY" "http://127.0.0.1:$ADMIN_PORT/v1/routers" | grep -o '"id"' | wc -l || true)
  ((live == ROUTERS)) && break
  sleep 0.2
done
((live == ROUTERS)) || die "only $live of $ROUTERS routers in the registry"
log "$ROUTERS routers on $FIRST_ROUTER_PORT.. (cpu $CPU_PROXY), admin API on $ADMIN_PORT, registry lists all"

# Background traffic for the whole run: random Hosts over all N, one wrk per router.
total=$((WARMUP + DURATION + 20 + (DEADMARK_TRIALS + 9) / 10))
WRK_PIDS=()
for ((r = 0; r < ROUTERS; r++)); do
  taskset -c "$CPU_CLIENT" wrk -t1 -c"$LOAD_CONNS" -d"${total}s" --timeout 5s -s "$LUA/scale-random.lua" "${ROUTER_URLS[r]}" -- 0 "$N" \
    >"$WORKDIR/wrk-$r.log" 2>&1 &
  WRK_PIDS+=("$!"); PIDS+=("$!")
done
sleep 3

churn() { # PHASE SECONDS -> the tool's RESULT line in $WORKDIR/churn-PHASE.log
  local phase=$1 seconds=$2 urls
  urls=$(IFS=,; echo "${ROUTER_URLS[*]}")
  taskset -c "$CPU_CLIENT" dotnet "$PUB/tools/BenchTools.dll" admin-churn --admin "http://127.0.0.1:$ADMIN_PORT" \
    --router "$urls" --backend "http://127.0.0.1:${BACKEND_PORTS[0]}" --clients "$CLIENTS" --rate "$RATE" \
    --duration "$seconds" >"$WORKDIR/churn-$phase.log" 2>&1 || true
  grep '^RESULT ' "$WORKDIR/churn-$phase.log" || { cat "$WORKDIR/churn-$phase.log" >&2; die "admin-churn failed in $phase"; }
}

churn warmup "$WARMUP" >/dev/null
declare -A c0
for p in "${ROUTER_PIDS[@]}" "$ADMIN_PID" "$REDIS_PID"; do c0[$p]=$(cpu_ticks "$p"); done
s0=$(date +%s%N)
result=$(churn churn "$DURATION")
s1=$(date +%s%N)
cpu=""
for ((r = 0; r < ROUTERS; r++)); do
  p=${ROUTER_PIDS[r]}
  cpu+=$(awk -v a="${c0[$p]}" -v b="$(cpu_ticks "$p")" -v hz="$CLK_TCK" -v w=$(((s1 - s0) / 1000000)) -v r="$r" 'BEGIN { printf " router%d_cpu_pct=%.0f", r, 100 * (b - a) / hz / (w / 1000) }')
done
cpu+=$(awk -v a="${c0[$ADMIN_PID]}" -v b="$(cpu_ticks "$ADMIN_PID")" -v d0="${c0[$REDIS_PID]}" -v d1="$(cpu_ticks "$REDIS_PID")" -v hz="$CLK_TCK" -v w=$(((s1 - s0) / 1000000)) \
  'BEGIN { printf " admin_cpu_pct=%.0f redis_cpu_pct=%.0f", 100 * (b - a) / hz / (w / 1000), 100 * (d1 - d0) / hz / (w / 1000) }')
curl -s -H "Authorization: Bearer $ADMIN_KEY" "http://127.0.0.1:$ADMIN_PORT/v1/routers" >"$WORKDIR/routers.json"

deadmarks="dead marks: not measured (DEADMARK_TRIALS=0)"
if ((DEADMARK_TRIALS > 0)); then
  taskset -c "$CPU_CLIENT" dotnet "$PUB/tools/BenchTools.dll" dead-marks --redis "127.0.0.1:$REDIS_PORT" \
    --router "$(IFS=,; echo "${ROUTER_URLS[*]}")" --backends "http://127.0.0.1:${BACKEND_PORTS[0]},http://127.0.0.1:${BACKEND_PORTS[1]}" \
    --trials "$DEADMARK_TRIALS" >"$WORKDIR/deadmarks.log" 2>&1 || true
  deadmarks=$(grep '^RESULT ' "$WORKDIR/deadmarks.log" || { tail -5 "$WORKDIR/deadmarks.log"; echo "dead-marks failed"; })
fi

log "waiting for the traffic to end (wrk prints its summary at the end of its duration)"
for p in "${WRK_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
traffic=""
for ((r = 0; r < ROUTERS; r++)); do
  traffic+=" router$r:$(grep '^BENCH ' "$WORKDIR/wrk-$r.log" | tail -1 | sed 's/^BENCH //' || echo 'no summary')"
done

log "done; raw files in $WORKDIR"
echo "$result$cpu"
echo "traffic over the whole run (warm-up and churn):$traffic"
echo "registry: $(tr -d '\n' <"$WORKDIR/routers.json" | grep -o '"changeLagMs":[^,}]*' | tr '\n' ' ')"
echo "$deadmarks"
grep -h 'not served\|served after\|did not reflect' "$WORKDIR"/churn-churn.log | head -20 || true
