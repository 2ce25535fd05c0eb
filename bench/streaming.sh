#!/usr/bin/env bash
# Streaming memory: a worker that returns a ReadableStream of MB mebibytes (examples/streaming),
# read by curl at full speed and then by a client limited to 20 MB/s. Prints the node's RSS
# before, its peak during each download, and the bytes received. A body buffered whole would
# raise the peak by about MB mebibytes.
#   bench/streaming.sh            # 100 MiB
#   MB=500 bench/streaming.sh
set -euo pipefail
MB=${MB:-100}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
"$root/scripts/setup.sh"
(cd "$root" && cargo build --release -q -p skiff-cli)
log=$(mktemp)
"$target/release/skiff" node --listen 127.0.0.1:0 --scripts "$root/examples" >"$log" 2>&1 &
node=$!
trap 'kill $node 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "listening on http" "$log" && break; sleep 0.1; done
port=$(grep -o 'http://[0-9.:]*' "$log" | head -1 | sed 's#.*:##')
url="http://127.0.0.1:$port/?mb=$MB"
curl -s -o /dev/null -H "Host: streaming.localhost" "http://127.0.0.1:$port/?mb=1"
rss() { awk -v k="$1" '$1==k":" {printf "%.1f", $2/1024}' "/proc/$node/status"; }
echo "bench: streaming $MB MiB from examples/streaming"
echo "  node RSS before:            $(rss VmRSS) MB"
bytes=$(curl -s -o /dev/null -w '%{size_download}' -H "Host: streaming.localhost" "$url")
echo "  full speed: $bytes bytes, node peak RSS $(rss VmHWM) MB"
bytes=$(curl -s -o /dev/null --limit-rate 20M -w '%{size_download}' -H "Host: streaming.localhost" "$url")
echo "  at 20 MB/s: $bytes bytes, node peak RSS $(rss VmHWM) MB, RSS now $(rss VmRSS) MB"
