#!/usr/bin/env bash
# Isolate figures for issue #4, on one node over loopback:
#   cold start  time to first response for N scripts whose isolates are not loaded (--no-warm),
#               p50 and p99 (curl's time_total per script, one at a time);
#   density     node RSS with the N scripts loaded, minus the idle node's, divided by N;
#   neighbour   hello-world p99 (wrk) alone, then with a second tenant burning ~40 ms of CPU per
#               request under load on the same node; the ratio of the two p99s.
#   N=200 bench/isolates.sh      (N=1000 for the density target; boots take ~60 ms each)
set -euo pipefail
N=${N:-200}
DURATION=${DURATION:-10}
# Seconds between cold starts (0: back to back). The warm pool refills a thread only after it
# has been quiet for 100 ms, so back-to-back cold starts mostly boot cold.
PACE=${PACE:-0}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
node=""
trap '[ -n "$node" ] && kill $node 2>/dev/null; rm -rf "$work"' EXIT
"$root/scripts/setup.sh"
(cd "$root" && cargo build --release -q -p skiff-cli)
skiff="$target/release/skiff"

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

start_node --no-warm
idle=$(rss_kb)
for i in $(seq 1 "$N"); do
  curl -s -o /dev/null -w '%{time_total}\n' -H "Host: s$i.localhost" "http://127.0.0.1:$port/"
  sleep "$PACE"
done >"$work/cold.txt"
loaded=$(rss_kb)
p50=$(pct 50 <"$work/cold.txt"); p99=$(pct 99 <"$work/cold.txt")
warm=$(curl -s -o /dev/null -w '%{time_total}' -H "Host: s1.localhost" "http://127.0.0.1:$port/")
echo "cold start over $N scripts, $PACE s apart: p50 $(awk -v v="$p50" 'BEGIN{printf "%.1f", v*1000}') ms, p99 $(awk -v v="$p99" 'BEGIN{printf "%.1f", v*1000}') ms (a warm request: $(awk -v v="$warm" 'BEGIN{printf "%.1f", v*1000}') ms)"
echo "density: idle node $((idle / 1024)) MB, with $N isolates $((loaded / 1024)) MB: $(awk -v a="$idle" -v b="$loaded" -v n="$N" 'BEGIN{printf "%.2f", (b-a)/1024/n}') MB per isolate"
kill $node; wait $node 2>/dev/null || true

start_node --no-warm --cpu-ms 100
curl -s -o /dev/null -H "Host: s1.localhost" "http://127.0.0.1:$port/"
curl -s -o /dev/null -H "Host: burner.localhost" "http://127.0.0.1:$port/"
p99_of() { awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000} print v}'; }
alone=$(wrk -t1 -c8 -d"${DURATION}s" --latency -H "Host: s1.localhost" "http://127.0.0.1:$port/" | p99_of)
wrk -t1 -c2 -d"$((DURATION + 2))s" -H "Host: burner.localhost" "http://127.0.0.1:$port/" >/dev/null &
burner=$!
sleep 1
busy=$(wrk -t1 -c8 -d"${DURATION}s" --latency -H "Host: s1.localhost" "http://127.0.0.1:$port/" | p99_of)
wait $burner || true
echo "noisy neighbour: tenant A p99 alone $alone ms, beside a CPU-burning tenant B $busy ms: ratio $(awk -v a="$alone" -v b="$busy" 'BEGIN{printf "%.1f", b/a}')"
