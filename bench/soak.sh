#!/usr/bin/env bash
# Soak test of the Release-published router: SOAK_SECONDS (default 600) of mixed traffic over
# several hosts while routes churn, backends are killed and restarted and Redis is restarted
# once; samples the router's RSS, file descriptors and sockets every 10 s and prints a report
# (bench/soak_tool.py). Run it alone on the machine, from the repository root:
#   flock /tmp/hipache-build.lock bash bench/soak.sh
# Publishes the router to $ROUTER_PUB first when Router.dll is not there (or SOAK_PUBLISH=1).
# Needs redis-server, redis-cli, nginx, wrk, curl and python3 (stdlib only).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_DIR=${SOAK_DIR:-/tmp/soak}
ROUTER_PUB=${ROUTER_PUB:-/tmp/soak-pub}
GET_CONNECTIONS=${SOAK_GET_CONNECTIONS:-12}
POST_CONNECTIONS=${SOAK_POST_CONNECTIONS:-4}
DELAY_MS=${SOAK_DELAY_MS:-4}          # pause per connection between requests (wrk delay())
KILL_EVERY=${SOAK_KILL_EVERY:-30}     # one of b1..b3 is killed (SIGKILL) this often ...
KILL_DOWN=${SOAK_KILL_DOWN:-8}        # ... and restarted after this many seconds
SOLO_DOWN=${SOAK_SOLO_DOWN:-15}       # solo.soak's only backend is down this long, twice
REDIS_DOWN=${SOAK_REDIS_DOWN:-5}      # Redis is killed at half time and restarted after this
CHURN_PAUSE=${SOAK_CHURN_PAUSE:-0.15} # pause between two route changes
TRAFFIC_HOSTS=8

if [ ! -f "$ROUTER_PUB/Router.dll" ] || [ "${SOAK_PUBLISH:-0}" = 1 ]; then
  echo "== publishing the router (Release) to $ROUTER_PUB"
  dotnet publish "$root/Router" -c Release -o "$ROUTER_PUB" >/dev/null
fi

rm -rf "$SOAK_DIR"
mkdir -p "$SOAK_DIR"/{pids,redis,nginx}
events="$SOAK_DIR/events.log"
: >"$events"
t0=$(date +%s)
event() { echo "$(date +%s) $*" >>"$events"; }

read -r P_REDIS P_ROUTER P_MGMT P_B1 P_B2 P_B3 P_SOLO < <(python3 "$here/soak_tool.py" ports 7)
declare -A PORT=([b1]=$P_B1 [b2]=$P_B2 [b3]=$P_B3 [solo]=$P_SOLO)
rcli() { redis-cli -p "$P_REDIS" "$@"; }

# Only the processes this script started are stopped, by their pid files.
cleanup() {
  set +e
  for f in "$SOAK_DIR"/pids/*; do
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
  done
  wait 2>/dev/null
}
trap cleanup EXIT

wait_port() { # port what
  local deadline=$(( $(date +%s) + 30 ))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "$2 did not listen on $1" >&2; exit 1; }
    sleep 0.1
  done
}

# A backend is one nginx process (no master: SIGKILL takes it down whole) answering 200.
start_backend() { # name
  local name=$1 port=${PORT[$1]} dir="$SOAK_DIR/nginx/$1"
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port;
    location / { return 200 "backend=$name\n"; }
  }
}
EOF
  nginx -p "$dir" -c "$dir/nginx.conf" &
  echo $! >"$SOAK_DIR/pids/nginx-$name"
  wait_port "$port" "backend $name"
}

kill_backend() { # name
  local f="$SOAK_DIR/pids/nginx-$1"
  kill -9 "$(cat "$f")"
  while kill -0 "$(cat "$f")" 2>/dev/null; do sleep 0.05; done
  rm -f "$f"
}

# Every write is fsynced: a SIGKILL loses nothing, and the restarted server has the same data.
start_redis() {
  redis-server --port "$P_REDIS" --bind 127.0.0.1 --protected-mode no --dir "$SOAK_DIR/redis" \
    --appendonly yes --appendfsync always --save "" >>"$SOAK_DIR/redis.log" 2>&1 &
  echo $! >"$SOAK_DIR/pids/redis"
  wait_port "$P_REDIS" redis
}

echo "== $(date -u +%FT%TZ) soak for ${SOAK_SECONDS}s in $SOAK_DIR, router from $ROUTER_PUB"
start_redis
for b in b1 b2 b3 solo; do start_backend "$b"; done

all="http://127.0.0.1:$P_B1 http://127.0.0.1:$P_B2 http://127.0.0.1:$P_B3"
hosts=""
for i in $(seq 1 "$TRAFFIC_HOSTS"); do
  rcli RPUSH "frontend:h$i.soak" "app$i" $all >/dev/null
  hosts="$hosts${hosts:+,}h$i.soak"
done
rcli RPUSH frontend:solo.soak solo "http://127.0.0.1:$P_SOLO" >/dev/null

env ConnectionStrings__redis="127.0.0.1:$P_REDIS" \
  Router__Urls__0="http://127.0.0.1:$P_ROUTER" \
  Router__ManagementAddress=127.0.0.1 Router__ManagementPort="$P_MGMT" \
  dotnet "$ROUTER_PUB/Router.dll" >"$SOAK_DIR/router.log" 2>&1 &
router=$!
echo $router >"$SOAK_DIR/pids/router"
wait_port "$P_ROUTER" router
for i in $(seq 1 "$TRAFFIC_HOSTS") solo; do
  host=$([ "$i" = solo ] && echo solo.soak || echo "h$i.soak")
  curl -sf -o /dev/null -H "Host: $host" "http://127.0.0.1:$P_ROUTER/" || { echo "router does not serve $host" >&2; exit 1; }
done
git -C "$root" rev-parse HEAD >"$SOAK_DIR/commit" 2>/dev/null || true
event start

# Resources of the router process every 10 s: RSS (kB), threads, open fds, of which sockets.
sampler() {
  while kill -0 "$router" 2>/dev/null; do
    local rss threads fds sockets
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$router/status" 2>/dev/null) || break
    threads=$(awk '/^Threads/ {print $2}' "/proc/$router/status" 2>/dev/null) || break
    # An fd closed between listing and lstat makes find fail: under set -e and pipefail that
    # ended the sampler (it happened), so a failed count is kept, not fatal.
    fds=$(ls "/proc/$router/fd" 2>/dev/null | wc -l) || true
    sockets=$(find "/proc/$router/fd" -mindepth 1 -maxdepth 1 -lname 'socket:*' 2>/dev/null | wc -l) || true
    echo "$(( $(date +%s) - t0 )) $rss $threads $fds $sockets" >>"$SOAK_DIR/samples.txt"
    sleep 10
  done
}

# Route churn, plain redis-cli writes as Hipache tooling does, several a second:
#  - a new frontend (unique host) is created, requested once through the router (must be 200),
#    then deleted;
#  - a backend of a traffic host is removed and appended again (order and indexes change);
#  - a traffic host's identifier is rewritten.
# A traffic host never loses more than one backend at a time this way.
churn() {
  local n=0 ok=0 bad=0
  while true; do
    n=$((n + 1))
    local h=$(( RANDOM % TRAFFIC_HOSTS + 1 ))
    case $(( n % 3 )) in
      0)
        local host="churn$n.soak"
        rcli RPUSH "frontend:$host" churn $all >/dev/null 2>&1 || true
        local code
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Host: $host" "http://127.0.0.1:$P_ROUTER/") || true
        if [ "$code" = 200 ]; then ok=$((ok + 1)); else bad=$((bad + 1)); echo "$(date +%s) churn host $host answered $code" >>"$SOAK_DIR/churn.log"; fi
        rcli DEL "frontend:$host" >/dev/null 2>&1 || true
        ;;
      1)
        local b="http://127.0.0.1:${PORT[b$(( RANDOM % 3 + 1 ))]}"
        printf 'LREM frontend:h%s.soak 0 %s\nRPUSH frontend:h%s.soak %s\n' "$h" "$b" "$h" "$b" | rcli >/dev/null 2>&1 || true
        ;;
      2)
        rcli LSET "frontend:h$h.soak" 0 "app$h-$n" >/dev/null 2>&1 || true
        ;;
    esac
    echo "$n $ok $bad" >"$SOAK_DIR/churn.count"
    sleep "$CHURN_PAUSE"
  done
}

# One of b1..b3 at a time is killed and restarted: every traffic host keeps two live backends
# (one, while the churn has just removed another).
killer() {
  sleep "$KILL_EVERY"
  while [ $(( $(date +%s) - t0 + KILL_EVERY )) -lt $(( SOAK_SECONDS * 9 / 10 )) ]; do
    local b="b$(( RANDOM % 3 + 1 ))"
    kill_backend "$b"; event "kill $b"
    sleep "$KILL_DOWN"
    start_backend "$b"; event "start $b"
    sleep $(( KILL_EVERY - KILL_DOWN ))
  done
}

# solo.soak has one backend, down twice on purpose: its failures then are the expected ones.
# Redis is killed at half time and started again on the same port with the same data.
at() { # percent of SOAK_SECONDS since the start
  local s=$(( t0 + SOAK_SECONDS * $1 / 100 - $(date +%s) ))
  if [ "$s" -gt 0 ]; then sleep "$s"; fi
}
timeline() {
  at 30
  kill_backend solo; event "kill solo"
  sleep "$SOLO_DOWN"; start_backend solo; event "start solo"
  at 50
  kill -9 "$(cat "$SOAK_DIR/pids/redis")"; event "kill redis"
  sleep "$REDIS_DOWN"; start_redis; event "start redis"
  at 75
  kill_backend solo; event "kill solo"
  sleep "$SOLO_DOWN"; start_backend solo; event "start solo"
}

sampler & echo $! >"$SOAK_DIR/pids/sampler"
churn & echo $! >"$SOAK_DIR/pids/churn"
killer & echo $! >"$SOAK_DIR/pids/killer"
timeline & echo $! >"$SOAK_DIR/pids/timeline"

url="http://127.0.0.1:$P_ROUTER/"
common=(-t1 -d "${SOAK_SECONDS}s" --timeout 10s -s "$here/soak.lua" "$url")
wrk -c "$GET_CONNECTIONS" "${common[@]}" -- get "$hosts" "$DELAY_MS" >"$SOAK_DIR/wrk-get.txt" 2>&1 & echo $! >"$SOAK_DIR/pids/wrk-get"
wrk -c "$POST_CONNECTIONS" "${common[@]}" -- post "$hosts" "$DELAY_MS" >"$SOAK_DIR/wrk-post.txt" 2>&1 & echo $! >"$SOAK_DIR/pids/wrk-post"
wrk -c 2 "${common[@]}" -- get solo.soak "$DELAY_MS" >"$SOAK_DIR/wrk-solo.txt" 2>&1 & echo $! >"$SOAK_DIR/pids/wrk-solo"
for w in wrk-get wrk-post wrk-solo; do wait "$(cat "$SOAK_DIR/pids/$w")"; rm -f "$SOAK_DIR/pids/$w"; done
event "traffic done"

for loop in churn killer timeline sampler; do
  kill "$(cat "$SOAK_DIR/pids/$loop")" 2>/dev/null || true
  rm -f "$SOAK_DIR/pids/$loop"
done
# Loops stopped mid-kill may have left a backend down; the report only needs the router now.
t=$(( $(date +%s) - t0 ))
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$router/status"); threads=$(awk '/^Threads/ {print $2}' "/proc/$router/status")
echo "$t $rss $threads $(ls "/proc/$router/fd" | wc -l) $(find "/proc/$router/fd" -mindepth 1 -maxdepth 1 -lname 'socket:*' 2>/dev/null | wc -l)" >>"$SOAK_DIR/samples.txt"

# The end of a soak is a SIGTERM: the router must drain and exit 0.
stop_started=$(date +%s%N)
kill -TERM "$router"
set +e
wait "$router"; echo "$? $(( ($(date +%s%N) - stop_started) / 1000000 ))" >"$SOAK_DIR/router.exit"
set -e
rm -f "$SOAK_DIR/pids/router"

python3 "$here/soak_tool.py" report "$SOAK_DIR" | tee "$SOAK_DIR/report.txt"
