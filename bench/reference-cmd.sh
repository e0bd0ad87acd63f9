#!/usr/bin/env bash
# ROUTER_CMD for ../shared/bench/bench.sh that runs one of the reference floors (bench/Reference)
# in the router's place, so that a run shows router vs floor vs haproxy side by side:
#   REFERENCE=kestrel    Kestrel answering 100 bytes itself (no forwarding)
#   REFERENCE=forwarder  Kestrel + IHttpForwarder + HttpTransformer.Empty, routes read once from Redis
#   REFERENCE=raw        Kestrel's socket transport, no HTTP layer: the head relayed as it came to a
#                        pooled backend connection (bench requests only), with the router's runtime settings
#   REFERENCE=epoll      the raw relay's work on one thread that waits on epoll before every read (P/Invoke,
#                        no .NET socket engine, no Kestrel): is the rest of the gap the engine's or the runtime's?
#   REFERENCE=kestrel-inline  "kestrel" with the router's transport settings (inline continuations)
#   REFERENCE=kestrel-epoll   "kestrel" on a transport that reads only what epoll says is ready
# Publish first:
#   dotnet publish bench/Reference -c Release -o /tmp/reference-pub
# then, from the repository root (one bench invocation per floor; the table's "router" row is the floor):
#   WARMUP=15 SCENARIOS="S1 S2 S5" REFERENCE=forwarder ROUTER_CMD="bash bench/reference-cmd.sh" bash ../shared/bench/bench.sh haproxy router
# S3 and S4 mean nothing for them (routes are read once and never change).
if [[ ${REFERENCE:-} == raw || ${REFERENCE:-} == epoll || ${REFERENCE:-} == kestrel-* ]]; then
  # The router's runtime settings (Router.csproj, RuntimeTuning), so that only the HTTP layer differs.
  export DOTNET_TC_CallCountingDelayMs=0 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 DOTNET_gcConcurrent=0 DOTNET_gcServer=0
fi
exec dotnet "${REFERENCE_PUB:-/tmp/reference-pub}/Reference.dll" "${REFERENCE:?kestrel, kestrel-inline, kestrel-epoll, forwarder, raw or epoll}"
