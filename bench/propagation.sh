#!/usr/bin/env bash
# Config-sync propagation for issue #3: a control plane and NODES edge nodes (default 10) on
# loopback, DEPLOYS deploys (default 50) of a script whose answer names its version. For each
# deploy: the time from the upload's response to every node serving the new version, found by
# polling each node (bench/propagation.py). Prints p50 / p99 / max over the deploys.
# Deploys are INTERVAL seconds apart (default 1; 0 for back to back, see propagation.py).
# STORE=postgres runs REPLICAS control planes (default 2) on a throwaway PostgreSQL, the nodes
# dealt over them; the deploys go to the first replica. bench/replicas.sh compares the two.
#   bench/propagation.sh            NODES=10 DEPLOYS=50 INTERVAL=1 STORE=sqlite
set -euo pipefail
NODES=${NODES:-10}
DEPLOYS=${DEPLOYS:-50}
INTERVAL=${INTERVAL:-1}
STORE=${STORE:-sqlite}
. "$(dirname "$0")/platform.sh"
if [ "$STORE" = postgres ]; then
  start_postgres
  start_platform "$NODES" "${REPLICAS:-2}" "$pg_url"
else
  start_platform "$NODES"
fi
echo "store: $STORE, control-plane replicas: ${#control_ports[@]}"

python3 "$root/bench/propagation.py" --control "http://127.0.0.1:$control_port" \
  --token "$admin_token" --deploys "$DEPLOYS" --interval "$INTERVAL" --nodes "${ports[@]}"
