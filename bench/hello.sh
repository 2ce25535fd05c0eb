#!/usr/bin/env bash
# Hello-world throughput: Skiff's edge node against Cloudflare's workerd, same script, same wrk
# settings, alternating rounds in one run. Prints requests/s, p50/p99 latency and peak RSS per
# runtime (median over rounds) and the Skiff/workerd ratio.
#
#   bench/hello.sh                 # 3 rounds of 10 s each, 64 connections
#   ROUNDS=5 DURATION=20 CONNECTIONS=128 bench/hello.sh
#   BASELINE=/path/to/an/older/skiff bench/hello.sh   # before/after: that binary in the same rounds
#
# workerd comes from the npm registry (`npm install workerd` into bench/.peers); without npm
# the script measures Skiff alone. All traffic stays on 127.0.0.1.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${WRK_THREADS:-2}

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
(cd "$root" && cargo build --release -q -p skiff-cli)
skiff="$target/release/skiff"
baseline=${BASELINE:-}

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
cp "$root/examples/hello/index.js" "$work/scripts/hello.js"
cp "$root/examples/hello/index.js" "$work/index.js"

start_skiff() {
  local port; port=$(free_port)
  "$skiff" node --listen "127.0.0.1:$port" --scripts "$work/scripts" >"$work/skiff.log" 2>&1 &
  pids+=($!); echo "$! $port hello.localhost"
}

start_baseline() {
  local port; port=$(free_port)
  "$baseline" node --listen "127.0.0.1:$port" --scripts "$work/scripts" >"$work/baseline.log" 2>&1 &
  pids+=($!); echo "$! $port hello.localhost"
}

start_workerd() {
  local port; port=$(free_port)
  cat >"$work/config.capnp" <<EOF
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .hello) ],
  sockets = [ (name = "http", address = "127.0.0.1:$port", http = (), service = "main") ],
);
const hello :Workerd.Worker = (
  modules = [ (name = "index.js", esModule = embed "index.js") ],
  compatibilityDate = "2024-09-23",
);
EOF
  "$workerd" serve "$work/config.capnp" >"$work/workerd.log" 2>&1 &
  pids+=($!); echo "$! $port hello.localhost"
}

# wrk's latency lines are like "50%    1.62ms"; print them in milliseconds.
to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v*=1000 } printf "%.3f\n", v }'; }

measure() { # name start_fn -> appends "rps p50 p99 rss_mb" lines to $work/NAME.rounds
  local name=$1 start=$2
  read -r pid port host < <($start)
  wait_http "http://127.0.0.1:$port/" "$host"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -H "Host: $host" "http://127.0.0.1:$port/" >/dev/null
  local out; out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Host: $host" "http://127.0.0.1:$port/")
  if echo "$out" | grep -q "Non-2xx"; then echo "bench: $name answered errors" >&2; echo "$out" >&2; exit 1; fi
  local rps p50 p99 rss
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_ms)
  p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_ms)
  rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$rps $p50 $p99 $rss" >>"$work/$name.rounds"
  printf '  round: %-8s %10.0f req/s  p50 %6.2f ms  p99 %6.2f ms  peak RSS %6.1f MB\n' "$name" "$rps" "$p50" "$p99" "$rss"
}

median() { sort -g | awk '{ a[NR]=$1 } END { if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

# A node makes its startup snapshot once (about 3.5 s of CPU and a few hundred MB at its peak)
# and caches it for later starts of the same binary, as a production node restarting would find
# it. Make it now, so the rounds measure serving.
snapshot_ready() { # binary
  local admin_port; admin_port=$(free_port)
  "$1" node --listen 127.0.0.1:0 --admin-listen "127.0.0.1:$admin_port" --scripts "$work/scripts" >"$work/snapshot.log" 2>&1 &
  local pid=$!
  for _ in $(seq 600); do
    curl -s "http://127.0.0.1:$admin_port/metrics" | grep -q '^skiff_startup_snapshot_ready 1' && break
    sleep 0.1
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
snapshot_ready "$skiff"
[ -z "$baseline" ] || snapshot_ready "$baseline"

echo "bench: hello world, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds, $(nproc) cores"
for _ in $(seq "$ROUNDS"); do
  measure skiff start_skiff
  [ -z "$baseline" ] || measure baseline start_baseline
  [ -z "$workerd" ] || measure workerd start_workerd
done

echo
printf '%-8s %12s %10s %10s %14s\n' runtime "req/s" "p50 ms" "p99 ms" "peak RSS MB"
for name in skiff baseline workerd; do
  [ -f "$work/$name.rounds" ] || continue
  printf '%-8s %12.0f %10.2f %10.2f %14.1f\n' "$name" \
    "$(cut -d' ' -f1 "$work/$name.rounds" | median)" \
    "$(cut -d' ' -f2 "$work/$name.rounds" | median)" \
    "$(cut -d' ' -f3 "$work/$name.rounds" | median)" \
    "$(cut -d' ' -f4 "$work/$name.rounds" | median)"
done
if [ -f "$work/workerd.rounds" ]; then
  s=$(cut -d' ' -f1 "$work/skiff.rounds" | median)
  w=$(cut -d' ' -f1 "$work/workerd.rounds" | median)
  awk -v s="$s" -v w="$w" 'BEGIN { printf "skiff/workerd throughput ratio: %.2f\n", s/w }'
fi
if [ -f "$work/baseline.rounds" ]; then
  s=$(cut -d' ' -f1 "$work/skiff.rounds" | median)
  b=$(cut -d' ' -f1 "$work/baseline.rounds" | median)
  awk -v s="$s" -v b="$b" 'BEGIN { printf "skiff/baseline throughput ratio: %.3f\n", s/b }'
fi
