#!/usr/bin/env bash
# WebSocket echo: Skiff's edge node against Cloudflare's workerd, the same worker
# (examples/websocket-echo) for both, alternating rounds in one run.
#
# Two figures per runtime (median over rounds):
# - round trips per second (and p50/p99 latency) with SOCKETS sockets each sending a message and
#   waiting for its echo, for DURATION seconds;
# - HOLD sockets open at once: how many opened and still answer, and the server's RSS with
#   them open, minus its RSS before (per socket, in KB).
#
#   bench/websocket.sh                      # 3 rounds, 32 sockets for 5 s, 1000 held
#   ROUNDS=5 SOCKETS=64 DURATION=10 HOLD=2000 bench/websocket.sh
#
# workerd comes from the npm registry (`npm install workerd` into bench/.peers); without npm
# the script measures Skiff alone. All traffic stays on 127.0.0.1.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
SOCKETS=${SOCKETS:-32}
HOLD=${HOLD:-1000}

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

"$root/scripts/setup.sh"
(cd "$root" && cargo build --release -q -p skiff-cli -p skiff-bench)
skiff="$target/release/skiff"
wsbench="$target/release/skiff-wsbench"

workerd=""
if command -v npm >/dev/null 2>&1; then
  peers="$root/bench/.peers"
  if [ ! -x "$peers/node_modules/.bin/workerd" ]; then
    mkdir -p "$peers"
    (cd "$peers" && npm install --silent --no-audit --no-fund workerd >/dev/null 2>&1) || true
  fi
  if [ -x "$peers/node_modules/.bin/workerd" ] && "$peers/node_modules/.bin/workerd" --version >/dev/null 2>&1; then
    workerd="$peers/node_modules/.bin/workerd"
  fi
fi
[ -n "$workerd" ] || echo "bench: workerd not available (npm install workerd failed); measuring Skiff alone"

# Held sockets need a file descriptor each, on both sides.
ulimit -n "$(( HOLD * 2 + 1024 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url host
  for _ in $(seq 300); do
    if curl -s -o /dev/null -H "Host: $2" "$1"; then return 0; fi
    sleep 0.1
  done
  echo "bench: $1 did not come up" >&2
  exit 1
}

mkdir -p "$work/scripts"
cp "$root/examples/websocket-echo/index.js" "$work/scripts/echo.js"
cp "$root/examples/websocket-echo/index.js" "$work/index.js"

start_skiff() {
  local port; port=$(free_port)
  "$skiff" node --listen "127.0.0.1:$port" --scripts "$work/scripts" >"$work/skiff.log" 2>&1 &
  pids+=($!); echo "$! $port"
}

start_workerd() {
  local port; port=$(free_port)
  cat >"$work/config.capnp" <<EOF
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .echo) ],
  sockets = [ (name = "http", address = "127.0.0.1:$port", http = (), service = "main") ],
);
const echo :Workerd.Worker = (
  modules = [ (name = "index.js", esModule = embed "index.js") ],
  compatibilityDate = "2024-09-23",
);
EOF
  "$workerd" serve "$work/config.capnp" >"$work/workerd.log" 2>&1 &
  pids+=($!); echo "$! $port"
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# Stops a server: TERM, then KILL if it has not gone within 5 s (workerd, asked to stop after
# holding a thousand sockets, kept draining them for good; a process substitution's child
# cannot be waited for, so its end is polled).
stop() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

measure() { # name start_fn -> appends "rtps p50_us p99_us held answering kb_per_socket" to $work/NAME.rounds
  local name=$1 start=$2
  read -r pid port < <($start)
  wait_http "http://127.0.0.1:$port/" echo.localhost
  "$wsbench" --addr "127.0.0.1:$port" --sockets "$SOCKETS" --secs 1 >/dev/null # warm up
  local trips; trips=$("$wsbench" --addr "127.0.0.1:$port" --sockets "$SOCKETS" --secs "$DURATION")
  if [ "$(field "$trips" errors)" != 0 ]; then echo "bench: $name: $trips" >&2; exit 1; fi
  local before; before=$(rss_kb "$pid")
  "$wsbench" --addr "127.0.0.1:$port" --hold "$HOLD" --hold-secs 3 >"$work/hold.json" &
  local bench=$!
  for _ in $(seq 600); do [ -s "$work/hold.json" ] && break; sleep 0.1; done
  local after; after=$(rss_kb "$pid")
  wait "$bench"
  local held; held=$(cat "$work/hold.json")
  stop "$pid"
  local rtps p50 p99 open answering per
  rtps=$(field "$trips" round_trips_per_sec); p50=$(field "$trips" p50_us); p99=$(field "$trips" p99_us)
  open=$(field "$held" open); answering=$(field "$held" answering)
  per=$(awk -v a="$after" -v b="$before" -v n="$open" 'BEGIN { if (n > 0) printf "%.1f", (a-b)/n; else print 0 }')
  echo "$rtps $p50 $p99 $open $answering $per" >>"$work/$name.rounds"
  printf '  round: %-8s %9.0f round trips/s  p50 %5d us  p99 %6d us  held %5d/%d (answering %d)  %6.1f KB/socket\n' \
    "$name" "$rtps" "$p50" "$p99" "$open" "$HOLD" "$answering" "$per"
}

median() { sort -g | awk '{ a[NR]=$1 } END { if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

# A node makes its startup snapshot once and caches it for later starts of the same binary;
# make it now, so that the rounds measure serving.
snapshot_ready() {
  local admin_port; admin_port=$(free_port)
  "$skiff" node --listen 127.0.0.1:0 --admin-listen "127.0.0.1:$admin_port" --scripts "$work/scripts" >"$work/snapshot.log" 2>&1 &
  local pid=$!
  for _ in $(seq 600); do
    curl -s "http://127.0.0.1:$admin_port/metrics" | grep -q '^skiff_startup_snapshot_ready 1' && break
    sleep 0.1
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
snapshot_ready

echo "bench: WebSocket echo, $SOCKETS sockets for ${DURATION}s, $HOLD held, $ROUNDS rounds, $(nproc) cores"
for _ in $(seq "$ROUNDS"); do
  measure skiff start_skiff
  [ -z "$workerd" ] || measure workerd start_workerd
done

echo
printf '%-8s %14s %8s %8s %8s %12s\n' runtime "round trips/s" "p50 us" "p99 us" "held" "KB/socket"
for name in skiff workerd; do
  [ -f "$work/$name.rounds" ] || continue
  printf '%-8s %14.0f %8.0f %8.0f %8.0f %12.1f\n' "$name" \
    "$(cut -d' ' -f1 "$work/$name.rounds" | median)" \
    "$(cut -d' ' -f2 "$work/$name.rounds" | median)" \
    "$(cut -d' ' -f3 "$work/$name.rounds" | median)" \
    "$(cut -d' ' -f5 "$work/$name.rounds" | median)" \
    "$(cut -d' ' -f6 "$work/$name.rounds" | median)"
done
if [ -f "$work/workerd.rounds" ]; then
  s=$(cut -d' ' -f1 "$work/skiff.rounds" | median)
  w=$(cut -d' ' -f1 "$work/workerd.rounds" | median)
  awk -v s="$s" -v w="$w" 'BEGIN { printf "skiff/workerd round-trip ratio: %.2f\n", s/w }'
fi
