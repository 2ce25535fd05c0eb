#!/usr/bin/env bash
# HTMLRewriter throughput: Skiff's edge node against Cloudflare's workerd, the same worker
# (bench/htmlrewriter/index.js) for both, alternating rounds in one run.
#
# Each round downloads a MIB MiB page REQUESTS times per mode, one request at a time, and takes
# the median MB/s (page bytes over curl's total time):
# - edit: handlers on every link, image and price (some 3,800 handler calls per MiB);
# - none: a selector that never matches (lol_html's parsing alone).
#
#   bench/htmlrewriter.sh                   # 3 rounds, 8 MiB pages, 5 requests per mode
#   ROUNDS=5 MIB=16 REQUESTS=9 bench/htmlrewriter.sh
#
# workerd comes from the npm registry (`npm install workerd` into bench/.peers); without npm
# the script measures Skiff alone. All traffic stays on 127.0.0.1.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
MIB=${MIB:-8}
REQUESTS=${REQUESTS:-5}

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
cp "$root/bench/htmlrewriter/index.js" "$work/scripts/page.js"
cp "$root/bench/htmlrewriter/index.js" "$work/index.js"

start_skiff() {
  local port; port=$(free_port)
  # Rewriting a page of several MiB takes longer than the default 50 ms of CPU.
  "$skiff" node --listen "127.0.0.1:$port" --scripts "$work/scripts" --cpu-ms 60000 >"$work/skiff.log" 2>&1 &
  pids+=($!); echo "$! $port"
}

start_workerd() {
  local port; port=$(free_port)
  cat >"$work/config.capnp" <<CAPNP
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .page) ],
  sockets = [ (name = "http", address = "127.0.0.1:$port", http = (), service = "main") ],
);
const page :Workerd.Worker = (
  modules = [ (name = "index.js", esModule = embed "index.js") ],
  compatibilityDate = "2024-09-23",
);
CAPNP
  "$workerd" serve "$work/config.capnp" >"$work/workerd.log" 2>&1 &
  pids+=($!); echo "$! $port"
}

median() { sort -g | awk '{ a[NR]=$1 } END { if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

mbps() { # port mode -> MB/s of one download (MB = 10^6 bytes)
  curl -s -o /dev/null -H "Host: page.localhost" -w '%{http_code} %{size_download} %{time_total}\n' \
    "http://127.0.0.1:$1/?mib=$MIB&handlers=$2" |
    awk '$1 != 200 { print "bench: status " $1 > "/dev/stderr"; exit 1 } { printf "%.2f\n", $2 / $3 / 1e6 }'
}

measure() { # name start_fn -> appends "edit_mbps none_mbps" to $work/NAME.rounds
  local name=$1 start=$2
  read -r pid port < <($start)
  wait_http "http://127.0.0.1:$port/?mib=0" page.localhost
  mbps "$port" edit >/dev/null # warm up
  local edit none
  edit=$(for _ in $(seq "$REQUESTS"); do mbps "$port" edit; done | median)
  none=$(for _ in $(seq "$REQUESTS"); do mbps "$port" none; done | median)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$edit $none" >>"$work/$name.rounds"
  printf '  round: %-8s edit %7.1f MB/s   none %7.1f MB/s\n' "$name" "$edit" "$none"
}

# A node makes its startup snapshot once and caches it for later starts of the same binary;
# make it now, so that no round shares the CPU with it.
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

echo "bench: HTMLRewriter, ${MIB} MiB pages, $REQUESTS requests per mode, $ROUNDS rounds, $(nproc) cores"
for _ in $(seq "$ROUNDS"); do
  measure skiff start_skiff
  [ -z "$workerd" ] || measure workerd start_workerd
done

echo
printf '%-8s %12s %12s\n' runtime "edit MB/s" "none MB/s"
for name in skiff workerd; do
  [ -f "$work/$name.rounds" ] || continue
  printf '%-8s %12.1f %12.1f\n' "$name" \
    "$(cut -d' ' -f1 "$work/$name.rounds" | median)" \
    "$(cut -d' ' -f2 "$work/$name.rounds" | median)"
done
if [ -f "$work/workerd.rounds" ]; then
  for col in 1 2; do
    s=$(cut -d' ' -f$col "$work/skiff.rounds" | median)
    w=$(cut -d' ' -f$col "$work/workerd.rounds" | median)
    mode=$([ "$col" = 1 ] && echo edit || echo none)
    awk -v s="$s" -v w="$w" -v m="$mode" 'BEGIN { printf "skiff/workerd %s ratio: %.2f\n", m, s/w }'
  done
fi
