#!/usr/bin/env bash
# bench/failover.sh - a Redis failover under load: ROUTERS published routers and the admin API
# on a primary + replica + 3 Sentinels (TOPOLOGY=sentinel, the default: real redis-server
# processes, down-after DOWN_AFTER_MS) or on a Redis Cluster of 3 primaries with a replica each
# (TOPOLOGY=cluster, cluster-node-timeout DOWN_AFTER_MS),
# wrk on every router over N cached hosts, the admin API churning backends (BenchTools
# admin-churn, each call checked on every router); the primary is killed (SIGKILL) halfway.
# Reports the requests that failed on cached routes (wrk: non-2xx, socket errors), the admin
# calls that failed, and when a new primary was elected (Sentinel) or the cluster was whole again.
#   dotnet publish Router -c Release -o /tmp/scale-pub/router
#   dotnet publish Admin.Api -c Release -o /tmp/scale-pub/admin
#   dotnet publish bench/BenchTools -c Release -o /tmp/scale-pub/tools
#   flock /tmp/hipache-build.lock bash bench/failover.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROUTERS=${ROUTERS:-2}
N=${N:-1000}
RATE=${RATE:-50}
CLIENTS=${CLIENTS:-4}
WARMUP=${WARMUP:-15}
DURATION=${DURATION:-30}
LOAD_CONNS=${LOAD_CONNS:-4}
DOWN_AFTER_MS=${DOWN_AFTER_MS:-1000}
TOPOLOGY=${TOPOLOGY:-sentinel}
PRIMARY_PORT=21601 REPLICA_PORT=21602 SENTINEL_PORTS=(21611 21612 21613)
CLUSTER_PORTS=(21631 21632 21633 21634 21635 21636)
FIRST_ROUTER_PORT=21620
ADMIN_KEY=bench-admin-key-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
LUA=$REPO/bench/lib
need wrk; need nginx; need redis-server; need redis-cli; need taskset; need curl
start_backend
if [[ $TOPOLOGY == sentinel ]]; then
  CONNECTION="$(printf '127.0.0.1:%s,' "${SENTINEL_PORTS[@]}")serviceName=hipache"
  for port in "$PRIMARY_PORT" "$REPLICA_PORT"; do
    mkdir -p "$WORKDIR/redis-$port"
    extra=()
    [[ $port == "$REPLICA_PORT" ]] && extra=(--replicaof 127.0.0.1 "$PRIMARY_PORT")
    start_bg "redis-$port" "$CPU_PROXY" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORKDIR/redis-$port" "${extra[@]}"
    [[ $port == "$PRIMARY_PORT" ]] && PRIMARY_PID=$LAST_PID
    wait_port "$port" 100 "$LAST_PID" || die "redis on $port did not start"
  done
  for port in "${SENTINEL_PORTS[@]}"; do
    cat >"$WORKDIR/sentinel-$port.conf" <<CONF
port $port
bind 127.0.0.1
sentinel monitor hipache 127.0.0.1 $PRIMARY_PORT 2
sentinel down-after-milliseconds hipache $DOWN_AFTER_MS
sentinel failover-timeout hipache 10000
CONF
    start_bg "sentinel-$port" "$CPU_PROXY" redis-server "$WORKDIR/sentinel-$port.conf" --sentinel
    wait_port "$port" 100 "$LAST_PID" || die "sentinel on $port did not start"
  done
  for ((i = 0; i < 100; i++)); do
    [[ $(redis-cli -p "$REPLICA_PORT" info replication | tr -d '\r' | awk -F: '$1 == "master_link_status" { print $2 }') == up ]] && break
    sleep 0.1
  done
  log "primary $PRIMARY_PORT, replica $REPLICA_PORT, sentinels ${SENTINEL_PORTS[*]}"
elif [[ $TOPOLOGY == cluster ]]; then
  CONNECTION="$(printf '127.0.0.1:%s,' "${CLUSTER_PORTS[@]:0:3}")"
  CONNECTION=${CONNECTION%,}
  declare -A NODE_PID
  for port in "${CLUSTER_PORTS[@]}"; do
    mkdir -p "$WORKDIR/redis-$port"
    start_bg "redis-$port" "$CPU_PROXY" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORKDIR/redis-$port" \
      --cluster-enabled yes --cluster-config-file "$WORKDIR/redis-$port/nodes.conf" --cluster-node-timeout "$DOWN_AFTER_MS"
    NODE_PID[$port]=$LAST_PID
    wait_port "$port" 100 "$LAST_PID" || die "redis on $port did not start"
  done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${CLUSTER_PORTS[@]}") --cluster-replicas 1 --cluster-yes >"$WORKDIR/cluster-create.log" 2>&1 \
    || { cat "$WORKDIR/cluster-create.log" >&2; die "cluster create failed"; }
  for ((i = 0; i < 200; i++)); do
    [[ $(redis-cli -p "${CLUSTER_PORTS[0]}" cluster info | tr -d '\r' | awk -F: '$1 == "cluster_state" { print $2 }') == ok ]] && break
    sleep 0.1
  done
  # The primary to kill: the one serving slot 0 (some frontends live there).
  PRIMARY_PORT=$(redis-cli -p "${CLUSTER_PORTS[0]}" cluster slots | tr -d '\r' | awk 'NR == 1 && $1 == 0 { getline; getline; getline; print; exit }')
  PRIMARY_PORT=${PRIMARY_PORT:-${CLUSTER_PORTS[0]}}
  PRIMARY_PID=${NODE_PID[$PRIMARY_PORT]}
  log "cluster of ${#CLUSTER_PORTS[@]} nodes (3 primaries, a replica each) ok; the primary of slot 0 is $PRIMARY_PORT"
else
  die "TOPOLOGY is sentinel or cluster"
fi

taskset -c "$CPU_CLIENT" dotnet "$PUB/tools/BenchTools.dll" load --redis "$CONNECTION" --count "$N" \
  --backends "http://127.0.0.1:${BACKEND_PORTS[0]},http://127.0.0.1:${BACKEND_PORTS[1]}" >"$WORKDIR/load.log" 2>&1 || { cat "$WORKDIR/load.log" >&2; die "load failed"; }

ROUTER_URLS=()
ROUTER_PIDS=()
for ((r = 0; r < ROUTERS; r++)); do
  port=$((FIRST_ROUTER_PORT + 2 * r))
  start_bg "router-$r" "$CPU_PROXY" env ConnectionStrings__redis="$CONNECTION" Router__Urls__0="http://127.0.0.1:$port" \
    Router__ManagementAddress=127.0.0.1 Router__ManagementPort=$((port + 1)) dotnet "$PUB/router/Router.dll"
  ROUTER_PIDS+=("$LAST_PID")
  ROUTER_URLS+=("http://127.0.0.1:$port/")
  wait_port "$port" 600 "$LAST_PID" || { tail -20 "$WORKDIR/router-$r.log" >&2; die "router $r did not listen"; }
done
start_bg admin "$CPU_PROXY" env -C "$PUB/admin" ASPNETCORE_ENVIRONMENT=Production ConnectionStrings__redis="$CONNECTION" \
  Admin__ApiKeys__0="$ADMIN_KEY" dotnet "$PUB/admin/Admin.Api.dll" --urls "http://127.0.0.1:$ADMIN_PORT"
wait_port "$ADMIN_PORT" 600 "$LAST_PID" || { tail -20 "$WORKDIR/admin.log" >&2; die "admin API did not listen"; }

log "warm-up ${WARMUP}s: every host cached by every router"
warm=()
for ((r = 0; r < ROUTERS; r++)); do
  taskset -c "$CPU_CLIENT" wrk -t1 -c"$LOAD_CONNS" -d"${WARMUP}s" -s "$LUA/scale-random.lua" "${ROUTER_URLS[r]}" -- 0 "$N" >/dev/null 2>&1 &
  warm+=("$!")
done
# Only these: a bare 'wait' would wait for Redis, the routers and the admin API too.
for p in "${warm[@]}"; do wait "$p" 2>/dev/null || true; done

WRK_PIDS=()
for ((r = 0; r < ROUTERS; r++)); do
  taskset -c "$CPU_CLIENT" wrk -t1 -c"$LOAD_CONNS" -d"${DURATION}s" --timeout 5s -s "$LUA/scale-random.lua" "${ROUTER_URLS[r]}" -- 0 "$N" \
    >"$WORKDIR/wrk-$r.log" 2>&1 &
  WRK_PIDS+=("$!")
done
urls=$(IFS=,; echo "${ROUTER_URLS[*]}")
taskset -c "$CPU_CLIENT" dotnet "$PUB/tools/BenchTools.dll" admin-churn --admin "http://127.0.0.1:$ADMIN_PORT" --key "$ADMIN_KEY" \
  --router "$urls" --backend "http://127.0.0.1:${BACKEND_PORTS[0]}" --clients "$CLIENTS" --rate "$RATE" \
  --duration "$DURATION" --keep-going true >"$WORKDIR/churn.log" 2>&1 &
CHURN_PID=$!

sleep $((DURATION / 2))
killed_at=$(date +%s%N)
kill -KILL "$PRIMARY_PID"
log "primary $PRIMARY_PORT killed"
elected=""
for ((i = 0; i < 300; i++)); do
  if [[ $TOPOLOGY == sentinel ]]; then
    now=$(redis-cli -p "${SENTINEL_PORTS[0]}" sentinel get-master-addr-by-name hipache 2>/dev/null | sed -n 2p)
    [[ $now == "$REPLICA_PORT" ]] && done_now=1 || done_now=0
  else
    probe=${CLUSTER_PORTS[0]}
    [[ $probe == "$PRIMARY_PORT" ]] && probe=${CLUSTER_PORTS[1]}
    [[ $(redis-cli -p "$probe" cluster info 2>/dev/null | tr -d '\r' | awk -F: '$1 == "cluster_state" { print $2 }') == ok ]] \
      && [[ $(redis-cli -p "$probe" cluster nodes 2>/dev/null | grep -c 'master' ) -ge 4 ]] && done_now=1 || done_now=0
  fi
  if ((done_now)); then
    elected=$(awk -v a="$killed_at" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
    break
  fi
  sleep 0.05
done
log "new primary: ${elected:-none within 15 s} s after the kill"

for p in "${WRK_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
wait "$CHURN_PID" 2>/dev/null || true
echo "failover ($TOPOLOGY): primary $PRIMARY_PORT killed at $((DURATION / 2)) s of $DURATION s; new primary in place ${elected:-never} s after the kill (down-after / node timeout $DOWN_AFTER_MS ms)"
for ((r = 0; r < ROUTERS; r++)); do
  echo "router$r cached-route traffic: $(grep '^BENCH ' "$WORKDIR/wrk-$r.log" | tail -1 | sed 's/^BENCH //' || echo 'no summary')"
done
echo "admin churn: $(grep '^RESULT ' "$WORKDIR/churn.log" || tail -3 "$WORKDIR/churn.log")"
echo "failed admin calls by answer: $(grep -o 'answered [0-9]*' "$WORKDIR/churn.log" | sort | uniq -c | tr -s ' ' | tr '\n' ';' || true)"
