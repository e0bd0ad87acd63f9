#!/usr/bin/env bash
# ROUTER_CMD for ../shared/bench/bench.sh: runs the published router (Release) against the
# harness's Redis on the harness's port, management on $ROUTER_MANAGEMENT_PORT (default 21085). Publish first:
#   dotnet publish Router -c Release -o /tmp/router-pub
# then, from the repository root:
#   WARMUP=15 ROUTER_CMD="bash bench/router-cmd.sh" bash ../shared/bench/bench.sh direct nginx haproxy router
exec env \
  ConnectionStrings__redis="127.0.0.1:${REDIS_PORT:?}" \
  Router__Urls__0="http://${ROUTER_BIND:-127.0.0.1}:${ROUTER_PORT:?}" \
  Router__ManagementAddress=127.0.0.1 \
  Router__ManagementPort="${ROUTER_MANAGEMENT_PORT:-21085}" \
  dotnet "${ROUTER_PUB:-/tmp/router-pub}/Router.dll"
