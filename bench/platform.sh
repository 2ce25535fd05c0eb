# Sourced by the benchmarks that run a whole platform on loopback (propagation.sh, kv.sh):
# builds skiff, then `start_platform N` starts `skiff control` and N edge nodes syncing from
# it, each with one isolate thread and its metrics port, and returns once every node boots
# runtimes from the startup snapshot (made by the first start of a binary, then cached), as
# nodes that have been up for a while do. It sets control_port, admin_token, ports (the nodes'
# HTTP ports) and admins (their metrics URLs). `start_postgres` starts a throwaway PostgreSQL
# (Debian's package, which setup.sh installs) on a free port and sets pg_url; with it,
# `start_platform N R "$pg_url"` starts R control-plane replicas on that store (control_ports)
# and deals the nodes round-robin over them, each node listing its own replica first.
# Everything started is stopped on exit; KEEP_LOGS=DIR keeps the processes' logs.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
pids=()
pg_dir=
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$pg_dir" ]; then
    as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" stop -m immediate >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
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

# Runs a PostgreSQL program as the `postgres` user when we are root (it refuses root).
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() { # -> pg_url
  pg_bin=$(dirname "$(readlink -f "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")")
  pg_dir=$(mktemp -d)
  [ "$(id -u)" -eq 0 ] && chown postgres: "$pg_dir"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -U skiff --auth=trust >"$work/initdb.log" 2>&1
  as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w start \
    -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=300" >/dev/null
  as_postgres "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U skiff skiff
  pg_url="postgres://skiff@127.0.0.1:$port/skiff"
}

start_platform() { # nodes [replicas store]
  local replicas=${2:-1} store_args=()
  [ -n "${3:-}" ] && store_args=(--store "$3")
  control_ports=()
  for r in $(seq 1 "$replicas"); do
    "$skiff" control --listen 127.0.0.1:0 --data-dir "$work/control-$r" "${store_args[@]}" \
      >"$work/control-$r.log" 2>&1 &
    pids+=($!)
    control_ports+=("$(wait_for_port "$work/control-$r.log")")
  done
  control_port=${control_ports[0]}
  admin_token=$(cat "$work/control-1/admin.token")
  ports=(); admins=()
  for i in $(seq 1 "$1"); do
    # This node's replica first, then the others.
    local first=$(( (i - 1) % replicas )) controls=()
    for k in $(seq 0 $((replicas - 1))); do
      controls+=("http://127.0.0.1:${control_ports[$(( (first + k) % replicas ))]}")
    done
    "$skiff" node --listen 127.0.0.1:0 --threads 1 --data-dir "$work/node-$i" \
      --admin-listen 127.0.0.1:0 --control "$(IFS=,; echo "${controls[*]}")" \
      --node-token-file "$work/control-1/node.token" >"$work/node-$i.log" 2>&1 &
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
