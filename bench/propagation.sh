#!/usr/bin/env bash
# Config-sync propagation for issue #3: a control plane and NODES edge nodes (default 10) on
# loopback, DEPLOYS deploys (default 50) of a script whose answer names its version. For each
# deploy: the time from the upload's response to every node serving the new version, found by
# polling each node (bench/propagation.py). Prints p50 / p99 / max over the deploys.
# Deploys are INTERVAL seconds apart (default 1; 0 for back to back, see propagation.py).
#   bench/propagation.sh            NODES=10 DEPLOYS=50 INTERVAL=1
set -euo pipefail
NODES=${NODES:-10}
DEPLOYS=${DEPLOYS:-50}
INTERVAL=${INTERVAL:-1}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_LOGS:-}" ] && cp -r "$work" "$KEEP_LOGS"
  rm -rf "$work"
}
trap cleanup EXIT
"$root/scripts/setup.sh"
(cd "$root" && cargo build --release -q -p skiff-cli)
skiff="$target/release/skiff"

wait_for_port() { # log file -> port
  for _ in $(seq 300); do
    if grep -q "listening on http" "$1"; then
      grep -o 'listening on http://[0-9.:]*' "$1" | head -1 | sed 's#.*:##'
      return
    fi
    sleep 0.1
  done
  echo "no listening line in $1" >&2
  cat "$1" >&2
  exit 1
}

"$skiff" control --listen 127.0.0.1:0 --data-dir "$work/control" >"$work/control.log" 2>&1 &
pids+=($!)
control_port=$(wait_for_port "$work/control.log")
admin_token=$(cat "$work/control/admin.token")

ports=(); admins=()
for i in $(seq 1 "$NODES"); do
  "$skiff" node --listen 127.0.0.1:0 --threads 1 --data-dir "$work/node-$i" \
    --admin-listen 127.0.0.1:0 \
    --control "http://127.0.0.1:$control_port" --node-token-file "$work/control/node.token" >"$work/node-$i.log" 2>&1 &
  pids+=($!)
  ports+=("$(wait_for_port "$work/node-$i.log")")
  for _ in $(seq 100); do grep -q 'metrics on' "$work/node-$i.log" && break; sleep 0.05; done
  admins+=("$(grep -o 'http://[0-9.:]*/metrics' "$work/node-$i.log")")
done
# Deploys start once every node boots runtimes from the startup snapshot (made by the first
# start of this binary, then cached), as nodes that have been up for a while do.
for admin in "${admins[@]}"; do
  for _ in $(seq 600); do
    curl -s "$admin" | grep -q '^skiff_startup_snapshot_ready 1' && break
    sleep 0.1
  done
done

python3 "$root/bench/propagation.py" --control "http://127.0.0.1:$control_port" \
  --token "$admin_token" --deploys "$DEPLOYS" --interval "$INTERVAL" --nodes "${ports[@]}"
