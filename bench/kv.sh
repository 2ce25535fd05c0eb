#!/usr/bin/env bash
# Workers KV figures (issue 15): a control plane and NODES edge nodes (default 10) on loopback.
#  1. write -> visible: WRITES writes (default 200) through a worker on the first node, each
#     timed until every node reads it (bench/kv.py); p50/p99/max.
#  2. hot get: wrk against one node, a worker that reads one KV key per request beside the
#     same worker answering a constant, alternating ROUNDS rounds (default 3) of DURATION s;
#     median requests/s and the ratio.
#   bench/kv.sh            NODES=10 WRITES=200 ROUNDS=3 DURATION=10 CONNECTIONS=32
set -euo pipefail
NODES=${NODES:-10}
WRITES=${WRITES:-200}
INTERVAL=${INTERVAL:-0.2}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
. "$(dirname "$0")/platform.sh"
start_platform "$NODES"
export SKIFF_CONTROL_URL="http://127.0.0.1:$control_port"
export SKIFF_API_TOKEN="$admin_token"

namespace=$("$skiff" kv namespace create bench | sed -n 's/^id = "\(.*\)"$/\1/p')
project() { # name source
  mkdir -p "$work/$1/src"
  printf 'name = "%s"\nmain = "src/index.js"\n\n[[kv_namespaces]]\nbinding = "CONFIG"\nid = "%s"\n' \
    "$1" "$namespace" >"$work/$1/skiff.toml"
  printf '%s\n' "$2" >"$work/$1/src/index.js"
  (cd "$work/$1" && "$skiff" deploy >/dev/null)
}
project kvbench 'export default { async fetch(request, env) {
  const url = new URL(request.url);
  const key = url.searchParams.get("key");
  if (url.pathname === "/put") { await env.CONFIG.put(key, url.searchParams.get("value")); return new Response("ok"); }
  return new Response(await env.CONFIG.get(key));
} };'
project kvget 'export default { async fetch(request, env) { return new Response(await env.CONFIG.get("greeting")); } };'
project constant 'export default { async fetch(request, env) { return new Response("hello from KV"); } };'
"$skiff" kv key put greeting "hello from KV" --namespace-id "$namespace" >/dev/null

echo "bench: KV, $NODES nodes, $(nproc) cores"
python3 "$root/bench/kv.py" --writes "$WRITES" --interval "$INTERVAL" --nodes "${ports[@]}"

port=${ports[0]}
median() { sort -g | awk '{ a[NR]=$1 } END { if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
for name in kvget constant; do
  body=$(curl -s -H "Host: $name.localhost" "http://127.0.0.1:$port/")
  [ "$body" = "hello from KV" ] || { echo "$name answered: $body" >&2; exit 1; }
done
for round in $(seq "$ROUNDS"); do
  for name in kvget constant; do
    wrk -t2 -c"$CONNECTIONS" -d2s -H "Host: $name.localhost" "http://127.0.0.1:$port/" >/dev/null
    rps=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -H "Host: $name.localhost" "http://127.0.0.1:$port/" |
      awk '/Requests\/sec/ { print $2 }')
    echo "$rps" >>"$work/$name.rounds"
    printf '  round %d: %-8s %10.0f req/s\n' "$round" "$name" "$rps"
  done
done
get=$(median <"$work/kvget.rounds")
constant=$(median <"$work/constant.rounds")
printf 'hot KV get: %.0f req/s, constant answer: %.0f req/s, ratio %.3f (wrk -c%d, %d rounds of %d s, one node)\n' \
  "$get" "$constant" "$(awk -v a="$get" -v b="$constant" 'BEGIN { print a / b }')" "$CONNECTIONS" "$ROUNDS" "$DURATION"
