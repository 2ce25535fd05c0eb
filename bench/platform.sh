# Sourced by the benchmarks that run a whole platform on loopback (propagation.sh, kv.sh):
# builds skiff, then `start_platform N` starts `skiff control` and N edge nodes syncing from
# it, each with one isolate thread and its metrics port, and returns once every node boots
# runtimes from the startup snapshot (made by the first start of a binary, then cached), as
# nodes that have been up for a while do. It sets control_port, admin_token, ports (the nodes'
# HTTP ports) and admins (their metrics URLs). Everything started is killed on exit;
# KEEP_LOGS=DIR keeps the processes' logs.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
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

start_platform() { # nodes
  "$skiff" control --listen 127.0.0.1:0 --data-dir "$work/control" >"$work/control.log" 2>&1 &
  pids+=($!)
  control_port=$(wait_for_port "$work/control.log")
  admin_token=$(cat "$work/control/admin.token")
  ports=(); admins=()
  for i in $(seq 1 "$1"); do
    "$skiff" node --listen 127.0.0.1:0 --threads 1 --data-dir "$work/node-$i" \
      --admin-listen 127.0.0.1:0 \
      --control "http://127.0.0.1:$control_port" --node-token-file "$work/control/node.token" >"$work/node-$i.log" 2>&1 &
    pids+=($!)
    ports+=("$(wait_for_port "$work/node-$i.log")")
    for _ in $(seq 100); do grep -q 'metrics on' "$work/node-$i.log" && break; sleep 0.05; done
    admins+=("$(grep -o 'http://[0-9.:]*/metrics' "$work/node-$i.log")")
  done
  for admin in "${admins[@]}"; do
    for _ in $(seq 600); do
      curl -s "$admin" | grep -q '^skiff_startup_snapshot_ready 1' && break
      sleep 0.1
    done
  done
}
