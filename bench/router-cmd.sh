#!/usr/bin/env bash
# ROUTER_CMD for ../shared/bench/bench.sh: runs the published router (Release) against the
# harness's Redis on the harness's port, management on $ROUTER_MANAGEMENT_PORT (default 21085). Publish first:
#   dotnet publish Router -c Release -o /tmp/router-pub
# then, from the repository root:
#   WARMUP=15 ROUTER_CMD="bash bench/router-cmd.sh" bash ../shared/bench/bench.sh direct nginx haproxy router
# With HIPACHE_CONFIG=1 the router is started as a Hipache user would start it: from a Hipache
# config.json (written here: http.port, the driver URL, accessLog to a file in the harness's work
# directory or $ACCESS_LOG), with only the management listener set beside it.
set -euo pipefail
pub=${ROUTER_PUB:-/tmp/router-pub}
if [[ ${HIPACHE_CONFIG:-0} == 1 ]]; then
  dir=$(mktemp -d /tmp/router-hipache.XXXXXX)
  access_log=${ACCESS_LOG:-$dir/access.log}
  cat >"$dir/config.json" <<JSON
{
  "server": { "accessLog": "$access_log", "debug": false, "workers": 1, "maxSockets": 100, "deadBackendTTL": 30, "tcpTimeout": 30, "retryOnError": 3 },
  "http": { "port": ${ROUTER_PORT:?}, "bind": ["${ROUTER_BIND:-127.0.0.1}"] },
  "driver": "redis://127.0.0.1:${REDIS_PORT:?}"
}
JSON
  echo "router-cmd: Hipache config $dir/config.json, access log $access_log" >&2
  exec env \
    Router__ManagementAddress=127.0.0.1 \
    Router__ManagementPort="${ROUTER_MANAGEMENT_PORT:-21085}" \
    dotnet "$pub/Router.dll" --config "$dir/config.json"
fi

exec env \
  ConnectionStrings__redis="127.0.0.1:${REDIS_PORT:?}" \
  Router__Urls__0="http://${ROUTER_BIND:-127.0.0.1}:${ROUTER_PORT:?}" \
  Router__ManagementAddress=127.0.0.1 \
  Router__ManagementPort="${ROUTER_MANAGEMENT_PORT:-21085}" \
  dotnet "$pub/Router.dll"
