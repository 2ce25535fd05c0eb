#!/usr/bin/env bash
# Isolate figures for issue #4, on one node over loopback:
#   cold start  time to first response for N scripts whose isolates are not loaded (--no-warm),
#               p50 and p99 (curl's time_total per script, one at a time);
#   density     node RSS with the N scripts loaded, minus the idle node's, divided by N;
#   neighbour   hello-world p99 alone, then with a second tenant burning ~40 ms of CPU per
#               request under load, both starting on the node's one isolate thread; the ratio
#               of the two p99s, and whether B was moved to a dedicated thread. Measured twice:
#               with wrk (a closed loop that saturates the node, so its p99 is mostly queueing
#               and moves with any CPU the machine loses), and at a steady RATE (skiff-paced,
#               an open loop: p99 counted from each request's due time when it ran late).
#   N=200 bench/isolates.sh      (N=1000 for the density target; boots take ~60 ms each)
#   SKIFF=path/to/skiff          measures another binary (a build before a change) instead
#   NEIGHBOUR=0                  cold start and density only
set -euo pipefail
N=${N:-200}
DURATION=${DURATION:-10}
# Seconds between cold starts (0: back to back). Back to back, the warm pool refills as soon as
# a thread is idle (a burst of loads); spaced out, each cold start finds a warm runtime.
PACE=${PACE:-0}
# Rounds of the noisy-neighbour measurement.
ROUNDS=${ROUNDS:-3}
# Tenant A's request rate in the steady-rate noisy-neighbour measurement (about a tenth of what
# one isolate serves here at saturation).
RATE=${RATE:-2000}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
node=""
trap '[ -n "$node" ] && kill $node 2>/dev/null; rm -rf "$work"' EXIT
"$root/scripts/setup.sh"
(cd "$root" && cargo build --release -q -p skiff-cli -p skiff-bench)
skiff=${SKIFF:-$target/release/skiff}
paced="$target/release/skiff-paced"

mkdir -p "$work/scripts"
for i in $(seq 1 "$N"); do
  printf 'export default { fetch() { return new Response("hello %s\\n"); } };\n' "$i" >"$work/scripts/s$i.js"
done
cat >"$work/scripts/burner.js" <<'JS'
export default { fetch() { const end = Date.now() + 40; while (Date.now() < end) {} return new Response("burnt\n"); } };
JS

start_node() { # extra flags...
  "$skiff" node --listen 127.0.0.1:0 --scripts "$work/scripts" "$@" >"$work/node.log" 2>&1 &
  node=$!
  for _ in $(seq 300); do grep -q "listening on http" "$work/node.log" && break; sleep 0.1; done
  port=$(grep -o 'http://[0-9.:]*' "$work/node.log" | head -1 | sed 's#.*:##')
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$node/status"; }
pct() { sort -g | awk -v p="$1" '{ a[NR]=$1 } END { i=int((NR-1)*p/100)+1; print a[i] }'; }

# Cold starts boot from the startup snapshot, which the node makes in the background at start.
# The isolate cache gets room for all N isolates (16 MiB of engine heap each; its default 4 GiB
# holds fewer than 1,000), so that density divides by isolates still loaded.
start_node --no-warm --admin-listen 127.0.0.1:0 --cache-memory-mib $((N * 16))
admin=$(grep -o 'http://[0-9.:]*/metrics' "$work/node.log")
metric() { curl -s "$admin" | awk -v m="$1" '$1==m {print $2}'; }
for _ in $(seq 600); do [ "$(metric skiff_startup_snapshot_ready)" = 1 ] && break; sleep 0.1; done
idle=$(rss_kb)
for i in $(seq 1 "$N"); do
  curl -s -o /dev/null -w '%{time_total}\n' -H "Host: s$i.localhost" "http://127.0.0.1:$port/"
  sleep "$PACE"
done >"$work/cold.txt"
loaded=$(rss_kb)
p50=$(pct 50 <"$work/cold.txt"); p99=$(pct 99 <"$work/cold.txt")
warm=$(curl -s -o /dev/null -w '%{time_total}' -H "Host: s1.localhost" "http://127.0.0.1:$port/")
echo "cold start over $N scripts, $PACE s apart: p50 $(awk -v v="$p50" 'BEGIN{printf "%.1f", v*1000}') ms, p99 $(awk -v v="$p99" 'BEGIN{printf "%.1f", v*1000}') ms (a warm request: $(awk -v v="$warm" 'BEGIN{printf "%.1f", v*1000}') ms)"
echo "density: idle node $((idle / 1024)) MB, with $N isolates $((loaded / 1024)) MB: $(awk -v a="$idle" -v b="$loaded" -v n="$N" 'BEGIN{printf "%.2f", (b-a)/1024/n}') MB per isolate ($(metric skiff_evictions_total) evicted)"
kill $node; wait $node 2>/dev/null || true

# Both tenants start on one isolate thread (the worst case: they take turns there) with the
# default limits; the node moves B to a dedicated thread once its long computations make it hot.
# Each measurement starts a node of its own, so each sees B start on the shared thread.
p99_of() { awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000} print v}'; }
wrk_p99() { wrk -t1 -c8 -d"${DURATION}s" --latency -H "Host: s1.localhost" "http://127.0.0.1:$port/" | p99_of; }
# skiff-paced prints "requests N errors E p50 X ms p99 Y ms max Z ms"; failed requests fail the run.
paced_p99() {
  "$paced" --host s1.localhost --rate "$RATE" --duration "$DURATION" "http://127.0.0.1:$port/" |
    awk '$4 != 0 { print "skiff-paced: " $4 " failed requests" > "/dev/stderr"; exit 1 } { print $9 }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR]=$1 } END { print a[int((NR+1)/2)] }'; }
# ROUNDS of A alone then A beside B; each figure is the median of its rounds' p99s.
neighbour() { # label, the command that prints A's p99
  local alones=() busies=() burner
  start_node --no-warm --threads 1 --admin-listen 127.0.0.1:0
  admin=$(grep -o 'http://[0-9.:]*/metrics' "$work/node.log")
  : >"$work/burner.txt"
  curl -s -o /dev/null -H "Host: s1.localhost" "http://127.0.0.1:$port/"
  curl -s -o /dev/null -H "Host: burner.localhost" "http://127.0.0.1:$port/"
  for _ in $(seq "$ROUNDS"); do
    alones+=("$($2)")
    wrk -t1 -c2 -d"$((DURATION + 2))s" -H "Host: burner.localhost" "http://127.0.0.1:$port/" >>"$work/burner.txt" &
    burner=$!
    sleep 1
    busies+=("$($2)")
    wait $burner || true
  done
  local alone busy
  alone=$(median "${alones[@]}"); busy=$(median "${busies[@]}")
  echo "noisy neighbour, $1 (median of $ROUNDS rounds; alone ${alones[*]}, beside B ${busies[*]}): tenant A p99 alone $alone ms, beside a CPU-burning tenant B $busy ms: ratio $(awk -v a="$alone" -v b="$busy" 'BEGIN{printf "%.1f", b/a}')"
  echo "  B: $(awk '/Requests\/sec/ {print $2}' "$work/burner.txt" | tr '\n' ' ')req/s, $(grep -o 'Non-2xx or 3xx responses: [0-9]*' "$work/burner.txt" || echo 'no failed requests'); moved to a dedicated thread: $(metric skiff_isolates_moved_to_dedicated_total); CPU kills: $(metric 'skiff_limit_kills_total{kind="cpu"}')"
  kill $node; wait $node 2>/dev/null || true
  node=""
}
[ "${NEIGHBOUR:-1}" = 0 ] && exit 0
neighbour "wrk -c8, saturating" wrk_p99
neighbour "$RATE req/s steady" paced_p99
