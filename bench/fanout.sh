#!/usr/bin/env bash
# Config-sync fan-out: `skiff control` and NODES (default 1000) simulated edge nodes on loopback
# (skiff-syncsim: each enrolls, holds a sync stream and acks every revision it is sent, without
# isolates or bundle fetches), then DEPLOYS (default 20) uploads through the admin API, one at a
# time. Per deploy: the time from the upload's answer until the last node received the event,
# and until the last node's ack returned; p50 / p99 / max, the simulator's connections and RSS,
# and the control plane's peak RSS. CHANGE=secret deploys a secret change instead of an upload.
#   bench/fanout.sh            NODES=1000 DEPLOYS=20 CHANGE=upload STORE=sqlite|postgres
set -euo pipefail
NODES=${NODES:-1000}
DEPLOYS=${DEPLOYS:-20}
CHANGE=${CHANGE:-upload}

# STORE=postgres runs REPLICAS control planes (default 2) on a throwaway PostgreSQL; the
# simulated nodes are dealt round-robin over them and the deploys go to the first.
STORE=${STORE:-sqlite}
if [ "$STORE" = postgres ]; then REPLICAS=${REPLICAS:-2}; else REPLICAS=1; fi
. "$(dirname "$0")/platform.sh"
(cd "$root" && cargo build --release -q -p skiff-bench --bin skiff-syncsim)
store_args=()
if [ "$STORE" = postgres ]; then
  start_postgres
  store_args=(--store "$pg_url")
fi

# Every node holds two connections, as an HTTP/1.1 edge node does (its sync stream, and a
# keep-alive connection for its acks), so the defaults (--max-connections 1024, --max-nodes
# 1000) are raised to fit, and so is this shell's open-files limit, which the processes inherit.
ulimit -n "$(ulimit -Hn)"
controls=(); control_pids=()
for i in $(seq 1 "$REPLICAS"); do
  "$skiff" control --listen 127.0.0.1:0 --data-dir "$work/control-$i" "${store_args[@]}" \
    --max-connections $((2 * NODES + 64)) --max-nodes "$NODES" >"$work/control-$i.log" 2>&1 &
  pids+=($!); control_pids+=($!)
  controls+=("http://127.0.0.1:$(wait_for_port "$work/control-$i.log")")
done
# The first replica made the tokens (the others accept them from the store).
tokens="$work/control-1"

"$target/release/skiff-syncsim" --control "$(IFS=,; echo "${controls[*]}")" \
  --nodes "$NODES" --deploys "$DEPLOYS" --change "$CHANGE" \
  --node-token-file "$tokens/node.token" --admin-token-file "$tokens/admin.token"
for i in "${!control_pids[@]}"; do
  peak=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/${control_pids[$i]}/status")
  echo "control plane $((i + 1)) peak RSS $peak MiB"
done
