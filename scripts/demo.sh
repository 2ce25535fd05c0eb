#!/usr/bin/env bash
# The main job, end to end: install what is missing, build the `skiff` binary, start an edge
# node with the examples on loopback, answer a request for each example, then stop the node.
#   scripts/demo.sh            # leaves nothing running
#   KEEP=1 scripts/demo.sh     # keeps the node running until Ctrl-C
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
echo "demo: building skiff (the first build compiles the engine: about 15 minutes on 2 cores)"
cargo build --release -p skiff-cli
skiff="${CARGO_TARGET_DIR:-$root/target}/release/skiff"

log=$(mktemp)
"$skiff" node --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 --scripts examples >"$log" 2>&1 &
node=$!
trap 'kill $node 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "listening on https" "$log" && break; sleep 0.1; done
http=$(grep -o 'http://[0-9.:]*' "$log" | head -1 | sed 's#http://##')
https=$(grep -o 'https://[0-9.:]*' "$log" | head -1 | sed 's#https://##')
port=${http##*:}
tls_port=${https##*:}
echo "demo: node serving http://*.localhost:$port and https://*.localhost:$tls_port"

show() { echo; echo "\$ $*"; "$@"; echo; }
show curl -sS --resolve "hello.localhost:$port:127.0.0.1" "http://hello.localhost:$port/"
show curl -sS --resolve "service-worker.localhost:$port:127.0.0.1" "http://service-worker.localhost:$port/some/path"
show curl -sS --resolve "router.localhost:$port:127.0.0.1" -X POST -d '{"name":"first"}' "http://router.localhost:$port/items"
show curl -sS --resolve "router.localhost:$port:127.0.0.1" "http://router.localhost:$port/items"
show curl -sS -o /dev/null -w '%{size_download} bytes streamed\n' --resolve "streaming.localhost:$port:127.0.0.1" "http://streaming.localhost:$port/?mb=20"
show curl -sSk --http2 -w '(HTTP/%{http_version} over TLS)\n' --resolve "hello.localhost:$tls_port:127.0.0.1" "https://hello.localhost:$tls_port/"

if [ "${KEEP:-0}" = 1 ]; then
  echo "demo: node running (pid $node); Ctrl-C to stop"
  wait $node
fi
