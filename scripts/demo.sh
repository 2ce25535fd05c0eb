#!/usr/bin/env bash
# The platform, end to end on loopback: install what is missing, build `skiff`, start a control
# plane and two edge nodes syncing from it, deploy examples/hello with the CLI and show the same
# answer from both nodes; then deploy the other examples and exercise them, HTTPS included.
#   scripts/demo.sh            # leaves nothing running
#   KEEP=1 scripts/demo.sh     # keeps the control plane and the nodes running until Ctrl-C
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
echo "demo: building skiff (the first build compiles the engine: about 15 minutes on 2 cores)"
cargo build --release -p skiff-cli
skiff="${CARGO_TARGET_DIR:-$root/target}/release/skiff"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
wait_for() { # log file, pattern
  for _ in $(seq 300); do grep -q "$2" "$1" && return; sleep 0.1; done
  echo "demo: no \"$2\" in $1:" >&2
  cat "$1" >&2
  exit 1
}
port_of() { grep -o "listening on $2://[0-9.:]*" "$1" | head -1 | sed 's#.*:##'; }

"$skiff" control --listen 127.0.0.1:0 --data-dir "$work/control" >"$work/control.log" 2>&1 &
pids+=($!)
wait_for "$work/control.log" "listening on http"
export SKIFF_CONTROL_URL="http://127.0.0.1:$(port_of "$work/control.log" http)"
export SKIFF_API_TOKEN
SKIFF_API_TOKEN=$(cat "$work/control/admin.token")
echo "demo: control plane on $SKIFF_CONTROL_URL (tokens in $work/control)"

ports=() tls_ports=()
for n in 1 2; do
  "$skiff" node --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 --data-dir "$work/node-$n" \
    --control "$SKIFF_CONTROL_URL" --node-token-file "$work/control/node.token" \
    >"$work/node-$n.log" 2>&1 &
  pids+=($!)
  wait_for "$work/node-$n.log" "listening on https"
  ports+=("$(port_of "$work/node-$n.log" http)")
  tls_ports+=("$(port_of "$work/node-$n.log" https)")
  echo "demo: edge node $n on http://*.localhost:${ports[-1]} and https://*.localhost:${tls_ports[-1]}"
done

show() { echo; echo "\$ $*"; "$@"; }
show "$skiff" deploy --project examples/hello
for port in "${ports[@]}"; do
  show curl -sS --resolve "hello.localhost:$port:127.0.0.1" "http://hello.localhost:$port/"
done

for example in service-worker router streaming; do
  show "$skiff" deploy --project "examples/$example"
done
port=${ports[1]}
show curl -sS --resolve "service-worker.localhost:$port:127.0.0.1" "http://service-worker.localhost:$port/some/path"
show curl -sS --resolve "router.localhost:$port:127.0.0.1" -X POST -d '{"name":"first"}' "http://router.localhost:$port/items"
show curl -sS --resolve "router.localhost:$port:127.0.0.1" "http://router.localhost:$port/items"
show curl -sS -o /dev/null -w '%{size_download} bytes streamed\n' --resolve "streaming.localhost:$port:127.0.0.1" "http://streaming.localhost:$port/?mb=20"
tls_port=${tls_ports[0]}
show curl -sSk --http2 -w '(HTTP/%{http_version} over TLS)\n' --resolve "hello.localhost:$tls_port:127.0.0.1" "https://hello.localhost:$tls_port/"
show "$skiff" versions list --name hello

if [ "${KEEP:-0}" = 1 ]; then
  echo
  echo "demo: running; SKIFF_CONTROL_URL=$SKIFF_CONTROL_URL SKIFF_API_TOKEN=\$(cat $work/control/admin.token). Ctrl-C stops."
  wait
fi
