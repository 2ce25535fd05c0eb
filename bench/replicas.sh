#!/usr/bin/env bash
# The control plane on PostgreSQL against SQLite, in one run (issue #16):
# 1. Propagation (deploy answered -> every node serves it) to NODES nodes (default 10): a single
#    replica on SQLite against two replicas on PostgreSQL, ROUNDS rounds (default 3) of
#    DEPLOYS deploys (default 20) each, alternating; prints each round's p50 and the ratio of
#    the medians (target: PostgreSQL at most 1.5 times SQLite).
# 2. Failover: two replicas on PostgreSQL and NODES nodes dealt over them, each listing both;
#    KILLS times (default 10) the replica holding nodes is killed with SIGKILL, and the time
#    until every node is connected to the other replica and has acknowledged the latest
#    revision is measured (polling GET /v1/nodes every 20 ms; bench/failover.py); the killed
#    replica is restarted before the next round. Prints p50 / p99 / max (target: p99 <= 2 s).
#   bench/replicas.sh            NODES=10 ROUNDS=3 DEPLOYS=20 KILLS=10
set -euo pipefail
NODES=${NODES:-10}
ROUNDS=${ROUNDS:-3}
DEPLOYS=${DEPLOYS:-20}
KILLS=${KILLS:-10}
here=$(cd "$(dirname "$0")" && pwd)

sqlite=(); postgres=()
for round in $(seq 1 "$ROUNDS"); do
  for store in sqlite postgres; do
    out=$(STORE=$store NODES=$NODES DEPLOYS=$DEPLOYS INTERVAL=${INTERVAL:-1} "$here/propagation.sh")
    p50=$(echo "$out" | grep 'all nodes:' | sed 's/.*p50 \([0-9.]*\) ms.*/\1/')
    echo "round $round, $store: all nodes p50 $p50 ms"
    if [ "$store" = sqlite ]; then sqlite+=("$p50"); else postgres+=("$p50"); fi
  done
done
python3 - "${sqlite[*]}" "${postgres[*]}" <<'PY'
import statistics, sys
sqlite = [float(x) for x in sys.argv[1].split()]
postgres = [float(x) for x in sys.argv[2].split()]
a, b = statistics.median(sqlite), statistics.median(postgres)
print(f"propagation p50, median of rounds: SQLite (1 replica) {a:.1f} ms, "
      f"PostgreSQL (2 replicas) {b:.1f} ms, ratio {b / a:.2f}")
PY

. "$here/platform.sh"
start_postgres
start_platform "$NODES" 2 "$pg_url"
python3 "$here/failover.py" --kills "$KILLS" --work "$work" --skiff "$skiff" --store "$pg_url" \
  --token "$admin_token" --nodes "$NODES" --ports "${control_ports[@]}" --pids "${pids[0]}" "${pids[1]}"
