#!/usr/bin/env bash
# Cache API hit path: requests/s of a worker that answers from `caches.default.match(request)`
# against the same node's worker answering a constant, side by side (alternating rounds on one
# node), with wrk. Prints the median requests/s and p50/p99 of each, their ratio, and the
# node's Cache API hit/miss counts (every measured request of the cached worker should hit).
#
#   bench/cache_api.sh                          # 3 rounds of 5 s each, 64 connections
#   ROUNDS=5 DURATION=10 CONNECTIONS=128 bench/cache_api.sh
#
# All traffic stays on 127.0.0.1.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${WRK_THREADS:-2}

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
pid=""
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "bench: wrk is needed (apt-get install wrk)" >&2; exit 1; }
"$root/scripts/setup.sh"
(cd "$root" && cargo build --release -q -p skiff-cli)
skiff="$target/release/skiff"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

mkdir -p "$work/scripts"
cat >"$work/scripts/constant.js" <<'EOF'
export default {
  fetch() {
    return new Response("Hello World\n", {
      headers: { "content-type": "text/plain", "cache-control": "max-age=3600" },
    });
  },
};
EOF
cat >"$work/scripts/cached.js" <<'EOF'
export default {
  async fetch(request, env, ctx) {
    const cache = caches.default;
    const hit = await cache.match(request);
    if (hit) return hit;
    const response = new Response("Hello World\n", {
      headers: { "content-type": "text/plain", "cache-control": "max-age=3600" },
    });
    ctx.waitUntil(cache.put(request, response.clone()));
    return response;
  },
};
EOF

port=$(free_port)
admin=$(free_port)
"$skiff" node --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
  --scripts "$work/scripts" >"$work/skiff.log" 2>&1 &
pid=$!

# The startup snapshot first (made once per binary), so the rounds measure serving.
for _ in $(seq 600); do
  curl -s "http://127.0.0.1:$admin/metrics" | grep -q '^skiff_startup_snapshot_ready 1' && break
  sleep 0.1
done
for host in constant cached; do
  for _ in $(seq 300); do
    curl -sf -o /dev/null -H "Host: $host.localhost" "http://127.0.0.1:$port/" && break
    sleep 0.1
  done
done
metric() { curl -s "http://127.0.0.1:$admin/metrics" | awk -v n="$1" '$1==n {print $2}'; }
# The first request of the cached worker stored its response; wait until a match hits.
for _ in $(seq 100); do
  curl -s -o /dev/null -H "Host: cached.localhost" "http://127.0.0.1:$port/"
  [ "$(metric skiff_cache_api_hits_total)" -ge 1 ] && break
  sleep 0.1
done
[ "$(metric skiff_cache_api_hits_total)" -ge 1 ] || { echo "bench: the cached worker never hit" >&2; exit 1; }

to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v*=1000 } printf "%.3f\n", v }'; }

measure() { # host -> appends "rps p50 p99" to $work/HOST.rounds
  local host=$1
  wrk -t"$THREADS" -c"$CONNECTIONS" -d1s -H "Host: $host.localhost" "http://127.0.0.1:$port/" >/dev/null
  local out; out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Host: $host.localhost" "http://127.0.0.1:$port/")
  if echo "$out" | grep -q "Non-2xx"; then echo "bench: $host answered errors" >&2; echo "$out" >&2; exit 1; fi
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_ms)
  p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_ms)
  echo "$rps $p50 $p99" >>"$work/$host.rounds"
  printf '  round: %-8s %10.0f req/s  p50 %6.2f ms  p99 %6.2f ms\n' "$host" "$rps" "$p50" "$p99"
}

median() { sort -g | awk '{ a[NR]=$1 } END { if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

misses_before=$(metric skiff_cache_api_misses_total)
echo "bench: Cache API hit path, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds, $(nproc) cores"
for _ in $(seq "$ROUNDS"); do
  measure constant
  measure cached
done

echo
printf '%-22s %12s %10s %10s\n' worker "req/s" "p50 ms" "p99 ms"
for host in constant cached; do
  label=$host
  [ "$host" = constant ] && label="constant response"
  [ "$host" = cached ] && label="caches.default.match"
  printf '%-22s %12.0f %10.2f %10.2f\n' "$label" \
    "$(cut -d' ' -f1 "$work/$host.rounds" | median)" \
    "$(cut -d' ' -f2 "$work/$host.rounds" | median)" \
    "$(cut -d' ' -f3 "$work/$host.rounds" | median)"
done
c=$(cut -d' ' -f1 "$work/constant.rounds" | median)
h=$(cut -d' ' -f1 "$work/cached.rounds" | median)
awk -v c="$c" -v h="$h" 'BEGIN { printf "cache hit / constant throughput ratio: %.2f\n", h/c }'
echo "Cache API: $(metric skiff_cache_api_hits_total) hits, $(( $(metric skiff_cache_api_misses_total) - misses_before )) misses while measuring"
