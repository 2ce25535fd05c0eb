#!/usr/bin/env bash
# Real workloads (issue #17): Skiff's edge node against Cloudflare's workerd, each worker file
# given unchanged to both, in one run.
#
# Throughput of six workers (bench/workloads/*.js, and examples/hello for reference): wrk on
# loopback against a fresh process per round (after a 2 s warm-up), Skiff and workerd in
# alternating rounds. Per runtime: the median requests/s, p50 and p99 latency and peak RSS over
# the rounds, the errors summed (any response that is not 2xx, any socket error), and the
# Skiff/workerd ratio of requests/s.
#
# Cold starts of two bundles of npm packages (bench/workloads/hono: a Hono app;
# bench/workloads/api: about 800 KB of itty-router, zod, jose, marked, date-fns, yaml and
# fast-xml-parser), each bundled once by `skiff deploy --dry-run` into one file both runtimes
# load:
#   Skiff, new isolate    a running node (--no-warm) with COPIES copies of the bundle under
#                         distinct hostnames; each copy's first request, one after another: p50/p99,
#                         compiled (a node over an empty data dir) and cached (a new node over the
#                         same data dir, reading the bytecode the first one kept);
#   process start         both runtimes: from starting the process, serving that one bundle, to
#                         its first response (median of STARTS). workerd compiles its workers
#                         when it starts, so this is its cold start; the same with hello world
#                         shows how much of it is the process itself.
#
#   bench/workloads.sh                          # 3 rounds of 10 s, 32 connections
#   ROUNDS=1 DURATION=3 bench/workloads.sh      # a quick look
#   WORKLOADS="json ssr" COLD=0 bench/workloads.sh
#   SKIFF=/path/to/skiff bench/workloads.sh     # that binary, without a cargo build
#   SKIFF_FLAGS="--threads 1" WORKLOADS=ssr COLD=0 bench/workloads.sh   # flags for Skiff's
#                                               # node in the throughput rounds
#
# Writes its tables, with the date, machine and versions, to RESULTS (bench/RESULTS.md). workerd
# and the bundles' packages come from the npm registry; all other traffic stays on 127.0.0.1.
set -euo pipefail
set -E # the ERR trap below in functions too

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${WRK_THREADS:-2}
WORKLOADS=${WORKLOADS:-hello json proxy hmac ssr stream}
COLD=${COLD:-1}
COPIES=${COPIES:-50}
STARTS=${STARTS:-5}
COMPAT_DATE=2024-09-23

root=$(cd "$(dirname "$0")/.." && pwd)
results=${RESULTS:-$root/bench/RESULTS.md}
lua="$root/bench/workloads.lua"
work=$(mktemp -d)
server="" # the one server process running at a time
cleanup() {
  [ -z "$server" ] || kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "bench: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

fail() { echo "bench: $*" >&2; exit 1; }

"$root/scripts/setup.sh"
if [ -n "${SKIFF:-}" ]; then
  skiff=$SKIFF
  skiff_build="$(basename "$skiff") (given by SKIFF, path not recorded; the tree is at $(git -C "$root" rev-parse --short HEAD))"
else
  (cd "$root" && cargo build --release -q -p skiff-cli)
  skiff="${CARGO_TARGET_DIR:-$root/target}/release/skiff"
  skiff_build="built from $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD || echo ' with uncommitted changes')"
fi
[ -x "$skiff" ] || fail "no skiff binary at $skiff"

workerd=""
peers="$root/bench/.peers"
if command -v npm >/dev/null 2>&1; then
  if [ ! -x "$peers/node_modules/.bin/workerd" ]; then
    mkdir -p "$peers"
    (cd "$peers" && npm install --silent --no-audit --no-fund workerd >/dev/null 2>&1) || true
  fi
  if "$peers/node_modules/.bin/workerd" --version >/dev/null 2>&1; then
    workerd="$peers/node_modules/.bin/workerd"
  fi
fi
[ -n "$workerd" ] || echo "bench: workerd not available (npm install workerd failed); measuring Skiff alone"
runtimes=(skiff)
[ -z "$workerd" ] || runtimes+=(workerd)

# What each workload's wrk rounds ask for, in turn (the first path is also the sanity check's).
declare -A PATHS=(
  [hello]="/"
  [json]="/?tag=red&page=1 /?tag=blue&page=2 /?tag=amber&page=3"
  [proxy]="/api/v1/users/42 /api/v1/orders/981/items/7 /api/v2/search?q=shoes /static/css/site.css"
  [hmac]="/v1/orders/42 /v1/users/7?ts=1767225600"
  [ssr]="/?seed=1 /?seed=2"
  [stream]="/"
  [hono]="/"
  [api]="/"
)

mkdir -p "$work/workers" "$work/rounds" "$work/check"
cp "$root/examples/hello/index.js" "$work/workers/hello.js"
for name in $WORKLOADS; do
  [ "$name" = hello ] || cp "$root/bench/workloads/$name.js" "$work/workers/" 2>/dev/null \
    || fail "no workload $name (bench/workloads/$name.js)"
done

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits (30 s at most) until PATTERN appears in FILE, written by the server; prints the match.
wait_log() { # pattern file
  local deadline=$((SECONDS + 30))
  until grep -o -m1 "$1" "$2" 2>/dev/null; do
    kill -0 "$server" 2>/dev/null || fail "the server exited: $(tail -5 "$2")"
    [ "$SECONDS" -lt "$deadline" ] || fail "no '$1' in $2 after 30 s"
    sleep 0.05
  done
}

# Waits (30 s at most) until the server on $port answers HTTP for HOST, whatever the status.
wait_http() { # host log
  local deadline=$((SECONDS + 30))
  until curl -s -o /dev/null -H "Host: $1" "http://127.0.0.1:$port/"; do
    kill -0 "$server" 2>/dev/null || fail "the server exited: $(tail -5 "$2")"
    [ "$SECONDS" -lt "$deadline" ] || fail "the server on port $port did not answer within 30 s"
    sleep 0.05
  done
}

metric() { curl -s "$admin" | awk -v m="$1" '$1 == m { print $2 }'; }

# Starts Skiff's node on $port with FLAGS and an admin listener; sets server and admin (the
# node's metrics URL).
run_skiff() { # flags...
  : >"$work/skiff.log" # emptied now: the new process truncates it only once it runs
  "$skiff" node --listen "127.0.0.1:$port" --admin-listen 127.0.0.1:0 "$@" >"$work/skiff.log" 2>&1 &
  server=$!
  admin=$(wait_log 'http://[0-9.:]*/metrics' "$work/skiff.log")
}

# Skiff's node with its defaults (plus the admin listener, for its metrics) over a scripts
# folder holding the one worker NAME.js, which answers for NAME.localhost.
start_skiff() { # name
  rm -rf "$work/scripts" && mkdir -p "$work/scripts"
  cp "$work/workers/$1.js" "$work/scripts/$1.js"
  port=$(free_port)
  # shellcheck disable=SC2086 # SKIFF_FLAGS is a list of flags
  run_skiff --scripts "$work/scripts" ${SKIFF_FLAGS:-}
  wait_http "$1.localhost" "$work/skiff.log"
}

# workerd's configuration for one worker on PORT: one service, one socket.
workerd_config() { # name port
  cat >"$work/workerd.capnp" <<EOF
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:$2", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ (name = "$1.js", esModule = embed "workers/$1.js") ],
  compatibilityDate = "$COMPAT_DATE",
);
EOF
}

start_workerd() { # name
  port=$(free_port)
  workerd_config "$1" "$port"
  : >"$work/workerd.log"
  "$workerd" serve "$work/workerd.capnp" >"$work/workerd.log" 2>&1 &
  server=$!
  wait_http "$1.localhost" "$work/workerd.log"
}

stop_server() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
}

# One request per path of each worker on each runtime before anything is timed: every status
# must be 200 and both runtimes' bodies alike, or the figures would compare different work.
sanity_check() { # name
  local runtime path i status paths
  read -ra paths <<<"${PATHS[$1]}"
  for runtime in "${runtimes[@]}"; do
    "start_$runtime" "$1"
    i=0
    for path in "${paths[@]}"; do
      i=$((i + 1))
      status=$(curl -s -o "$work/check/$runtime-$1-$i" -w '%{http_code}' -H "Host: $1.localhost" \
        "http://127.0.0.1:$port$path")
      [ "$status" = 200 ] ||
        fail "$1 on $runtime: GET $path answered $status, not 200: $(head -c 300 "$work/check/$runtime-$1-$i")"
    done
    stop_server
  done
  [ -n "$workerd" ] || return 0
  for i in $(seq "${#paths[@]}"); do
    cmp -s "$work/check/skiff-$1-$i" "$work/check/workerd-$1-$i" ||
      fail "$1: Skiff and workerd answer GET ${paths[i - 1]} with different bodies:" \
        "$(cmp "$work/check/skiff-$1-$i" "$work/check/workerd-$1-$i" 2>&1 | head -1)"
  done
}

# wrk's latency lines are like "50%    1.62ms"; prints milliseconds.
to_ms() {
  awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) }
         else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.3f\n", v }'
}

# Errors in a wrk output: responses that were not 2xx (counted by workloads.lua) and socket errors.
wrk_errors() { # file
  awk '/^non-2xx:/ { n += $2 } /Socket errors:/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$1"
}

# One round: a fresh server, a 2 s warm-up, DURATION s measured. Appends
# "req/s p50 p99 peak-RSS-MiB errors requests warm-up-errors moves extra-isolates" to
# $work/rounds/NAME.RUNTIME.
round() { # runtime name
  local runtime=$1 name=$2 out="$work/wrk.out" log="$work/$1.log"
  "start_$runtime" "$name"
  WRK_PATHS=${PATHS[$name]} wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$lua" \
    -H "Host: $name.localhost" "http://127.0.0.1:$port/" >"$work/warmup.out"
  WRK_PATHS=${PATHS[$name]} wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$lua" \
    -H "Host: $name.localhost" "http://127.0.0.1:$port/" >"$out"
  kill -0 "$server" 2>/dev/null || fail "$runtime exited during the $name round: $(tail -5 "$log")"
  local rps p50 p99 rss errors requests warm_errors moves="-" extras="-"
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  p50=$(awk '$1 == "50%" { print $2 }' "$out" | to_ms)
  p99=$(awk '$1 == "99%" { print $2 }' "$out" | to_ms)
  requests=$(awk '/requests in/ { print $1 }' "$out")
  errors=$(wrk_errors "$out")
  warm_errors=$(wrk_errors "$work/warmup.out")
  rss=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$server/status")
  if [ "$runtime" = skiff ]; then
    moves=$(metric skiff_isolates_moved_to_dedicated_total)
    extras=$(metric skiff_isolates_scaled_out_total)
  fi
  stop_server
  if [ -z "$rps" ] || [ -z "$p99" ]; then fail "no figures from wrk for $name on $runtime: $(cat "$out")"; fi
  echo "$rps $p50 $p99 $rss $errors $requests $warm_errors $moves $extras" >>"$work/rounds/$name.$runtime"
  printf '  %-7s %-7s %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  peak RSS %6.1f MiB  errors %s (warm-up %s)%s\n' \
    "$name" "$runtime" "$rps" "$p50" "$p99" "$rss" "$errors" "$warm_errors" \
    "$([ "$moves" = - ] || echo "  moved to a dedicated thread: $moves, extra isolates: $extras")"
  if [ "$errors" != 0 ] || [ "$warm_errors" != 0 ]; then
    grep -h '^first non-2xx: ' "$work/warmup.out" "$out" | cut -d' ' -f3- >>"$work/rounds/$name.$runtime.errors" || true
    grep -E '^non-2xx|^first non-2xx|Socket errors' "$work/warmup.out" "$out" | sed "s#^$work/##; s/^/    /"
  fi
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
pct() { sort -g | awk -v p="$1" '{ a[NR] = $1 } END { i = int((NR - 1) * p / 100) + 1; print a[i] }'; }
column_of() { cut -d' ' -f"$2" "$work/rounds/$1"; } # rounds-file column
sum() { awk '{ n += $1 } END { print n + 0 }'; }

# A node makes its startup snapshot once per binary and caches it (SKIFF_CACHE_DIR, as a
# production node restarting would find it); make it now, so that rounds measure serving.
snapshot_ready() {
  port=$(free_port)
  run_skiff --scripts "$work/workers" --no-warm
  local deadline=$((SECONDS + 120))
  until [ "$(metric skiff_startup_snapshot_ready)" = 1 ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "no startup snapshot after 120 s"
    sleep 0.1
  done
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
rustc_start=$(pgrep -c -x rustc || true)
snapshot_ready
stop_server

# The bundles: npm ci from the committed lockfile, then Skiff's bundler, once for both runtimes.
bundles=()
if [ "$COLD" = 1 ]; then
  cp -r "$root/bench/workloads" "$work/workloads"
  rm -rf "$work/workloads/node_modules"
  (cd "$work/workloads" && npm ci --silent --no-audit --no-fund >/dev/null) || fail "npm ci failed in bench/workloads"
  for name in hono api; do
    (cd "$work/workloads/$name" && "$skiff" deploy --dry-run --outdir "$work/bundles/$name" >/dev/null)
    files=("$work/bundles/$name"/*.js)
    [ "${#files[@]}" = 1 ] || fail "the $name bundle is ${#files[@]} modules; this benchmark loads one file"
    cp "${files[0]}" "$work/workers/$name.js"
    bundles+=("$name")
  done
fi

echo "bench: sanity check (every path answers 200 with the same body on each runtime)"
for name in $WORKLOADS "${bundles[@]}"; do sanity_check "$name"; done

echo "bench: throughput, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s after a 2 s warm-up, ROUNDS=$ROUNDS, $(nproc) cores"
for name in $WORKLOADS; do
  for _ in $(seq "$ROUNDS"); do
    for runtime in "${runtimes[@]}"; do round "$runtime" "$name"; done
  done
done

# Skiff: each of COPIES copies of a bundle loaded by its first request, back to back, in one node,
# twice: a node over an empty data dir, which compiles each copy (pass "compiled"), then a new node
# over the same data dir, which reads the bytecode the first one kept (pass "cached"). Writes
# "p50-ms p99-ms warm-runtimes-taken bytecode-loads-from-disk" to $work/rounds/cold-NAME.PASS.
skiff_cold_starts() { # name
  rm -rf "$work/scripts" "$work/data" && mkdir -p "$work/scripts"
  local i pass
  for i in $(seq "$COPIES"); do cp "$work/workers/$1.js" "$work/scripts/$1$i.js"; done
  for pass in compiled cached; do
    port=$(free_port)
    run_skiff --no-warm --scripts "$work/scripts" --data-dir "$work/data"
    local deadline=$((SECONDS + 60))
    until [ "$(metric skiff_startup_snapshot_ready)" = 1 ]; do
      [ "$SECONDS" -lt "$deadline" ] || fail "no startup snapshot after 60 s"
      sleep 0.1
    done
    wait_http "nothing.localhost" "$work/skiff.log"
    local before; before=$(metric skiff_warm_starts_total)
    for i in $(seq "$COPIES"); do
      curl -s -o /dev/null -m 30 -w '%{http_code} %{time_total}\n' -H "Host: $1$i.localhost" "http://127.0.0.1:$port/"
    done >"$work/cold.txt"
    local warm; warm=$(($(metric skiff_warm_starts_total) - before))
    local disk; disk=$(metric 'skiff_bytecode_cache_loads_total{from="disk"}')
    stop_server
    awk '$1 != 200 { bad++ } END { exit bad > 0 }' "$work/cold.txt" ||
      fail "cold starts of $1 on Skiff answered: $(cut -d' ' -f1 "$work/cold.txt" | sort | uniq -c | tr '\n' ' ')"
    echo "$(cut -d' ' -f2 "$work/cold.txt" | pct 50 | awk '{ printf "%.1f", $1 * 1000 }')" \
      "$(cut -d' ' -f2 "$work/cold.txt" | pct 99 | awk '{ printf "%.1f", $1 * 1000 }')" "$warm" "$disk" \
      >"$work/rounds/cold-$1.$pass"
    read -r p50 p99 warm disk <"$work/rounds/cold-$1.$pass"
    printf '  %-7s skiff   new isolate, %s, %d copies: p50 %.1f ms, p99 %.1f ms (%d from a pre-booted runtime, %d bytecode loads from disk)\n' \
      "$1" "$pass" "$COPIES" "$p50" "$p99" "$warm" "$disk"
  done
}

# From starting the process (serving the one worker NAME) to its first response, in ms; appended
# to $work/rounds/start-NAME.RUNTIME.
process_start() { # runtime name
  local command
  port=$(free_port)
  if [ "$1" = skiff ]; then
    rm -rf "$work/scripts" && mkdir -p "$work/scripts"
    cp "$work/workers/$2.js" "$work/scripts/$2.js"
    command=("$skiff" node --listen "127.0.0.1:$port" --scripts "$work/scripts")
  else
    workerd_config "$2" "$port"
    command=("$workerd" serve "$work/workerd.capnp")
  fi
  python3 "$root/bench/firstresponse.py" --port "$port" --host "$2.localhost" --log "$work/$1.log" \
    -- "${command[@]}" >"$work/first.txt" &
  server=$!
  wait "$server" || fail "$2 on $1 did not answer after its process started: $(tail -5 "$work/$1.log")"
  server=""
  local ms status
  read -r ms status <"$work/first.txt"
  [ "$status" = 200 ] || fail "$2 on $1 answered its first request with $status"
  echo "$ms" >>"$work/rounds/start-$2.$1"
  printf '  %-7s %-7s process start to first response %s ms\n' "$2" "$1" "$ms"
}

if [ "$COLD" = 1 ]; then
  echo "bench: cold starts"
  for name in "${bundles[@]}"; do skiff_cold_starts "$name"; done
  for _ in $(seq "$STARTS"); do
    for name in hello "${bundles[@]}"; do
      for runtime in "${runtimes[@]}"; do process_start "$runtime" "$name"; done
    done
  done
fi

# The report, in Markdown: printed, and written to $results.
# Both pass "-" (no figure) through.
thousands() {
  awk '$1 == "-" { print; next } { s = sprintf("%.0f", $1); r = ""
         while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
         print s r }'
}
fmt() { awk -v f="$1" '$1 == "-" { print; next } { printf f "\n", $1 }'; }
figure() { # name runtime column format: the median over rounds, or "-" without rounds
  if [ -f "$work/rounds/$1.$2" ]; then column_of "$1.$2" "$3" | median | fmt "$4"; else echo "-"; fi
}
errors_of() { # name runtime
  if [ -f "$work/rounds/$1.$2" ]; then
    echo "$(column_of "$1.$2" 5 | sum) of $(column_of "$1.$2" 6 | sum | thousands)"
  else echo "-"; fi
}
report() {
  local cpu workerd_version
  cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  workerd_version="not available"
  [ -z "$workerd" ] || workerd_version="$("$workerd" --version) (npm workerd $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$peers/node_modules/workerd/package.json"))"
  echo "# Real workloads: Skiff against workerd"
  echo
  echo "\`bench/workloads.sh\` (issue #17), $started. Every worker is the same file for both runtimes."
  echo
  echo "- Machine: $(nproc) cores, $cpu; load average $load_start at the start and"
  echo "  $(cut -d' ' -f1-3 /proc/loadavg) at the end (the run itself keeps both cores busy); $rustc_start rustc processes"
  echo "  running at the start."
  echo "- Skiff: \`$("$skiff" --version)\`, $skiff_build; \`skiff node\` with $([ -z "${SKIFF_FLAGS:-}" ] && echo "its defaults" || echo "\`$SKIFF_FLAGS\`")."
  echo "- workerd: $workerd_version, one process, compatibility date $COMPAT_DATE."
  echo
  echo "## Throughput"
  echo
  echo "wrk -t$THREADS -c$CONNECTIONS on 127.0.0.1, rounds of ${DURATION} s (ROUNDS=$ROUNDS per runtime), Skiff and workerd"
  echo "alternating, each round on a fresh process after a 2 s warm-up; medians over the rounds."
  echo "Errors: responses that were not 2xx plus socket errors, of all requests in the measured"
  echo "rounds (the warm-ups' are listed below the table). Peak RSS: the process's VmHWM."
  echo
  echo "| workload | Skiff req/s | workerd req/s | Skiff/workerd | p50 ms (Skiff, workerd) | p99 ms (Skiff, workerd) | errors, Skiff | errors, workerd | peak RSS MiB (Skiff, workerd) |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  local name s w ratio
  for name in $WORKLOADS; do
    s=$(figure "$name" skiff 1 %.0f); w=$(figure "$name" workerd 1 %.0f); ratio="-"
    [ "$w" = - ] || ratio=$(awk -v s="$s" -v w="$w" 'BEGIN { printf "%.2f", s / w }')
    echo "| $name | $(echo "$s" | thousands) | $(echo "$w" | thousands) | $ratio" \
      "| $(figure "$name" skiff 2 %.2f), $(figure "$name" workerd 2 %.2f)" \
      "| $(figure "$name" skiff 3 %.2f), $(figure "$name" workerd 3 %.2f)" \
      "| $(errors_of "$name" skiff) | $(errors_of "$name" workerd)" \
      "| $(figure "$name" skiff 4 %.1f), $(figure "$name" workerd 4 %.1f) |"
  done
  echo
  echo "Requests/s of each round, and what else the rounds saw:"
  echo
  local runtime
  for name in $WORKLOADS; do
    for runtime in "${runtimes[@]}"; do
      echo "- $name, $runtime: $(column_of "$name.$runtime" 1 | thousands | paste -sd' ')$(
        warm=$(column_of "$name.$runtime" 7 | sum); [ "$warm" = 0 ] || echo "; $warm errors in the warm-ups")$(
        [ "$runtime" != skiff ] || echo "; the isolate moved to a dedicated thread in $(column_of "$name.$runtime" 8 | awk '$1 > 0' | wc -l) of $ROUNDS rounds, and the script got extra isolates in $(column_of "$name.$runtime" 9 | awk '$1 > 0' | wc -l)")$(
        [ ! -f "$work/rounds/$name.$runtime.errors" ] || echo "; non-2xx answers: $(sort -u "$work/rounds/$name.$runtime.errors" | paste -sd'|' | sed 's/|/; /g')")"
    done
  done
  [ "$COLD" = 1 ] || return 0
  echo
  echo "## Cold starts"
  echo
  echo "Each bundle is one file made by \`skiff deploy --dry-run\` from bench/workloads/NAME and loaded"
  echo "unchanged by both runtimes. **Skiff, new isolate**: a running node (\`--no-warm\`) holding"
  echo "$COPIES copies of the bundle under distinct hostnames; the first request of each, one after"
  echo "another (curl's total time, a new connection each): the time to load the bundle into an isolate"
  echo "(from a pre-booted runtime when one is ready) and answer. *Compiled*: a node over an empty data"
  echo "dir, which compiles each copy and keeps its bytecode; *cached*: a new node over the same data"
  echo "dir, which reads that bytecode instead (as every later isolate of a version does, also after a"
  echo "restart). **Process start**: from starting the"
  echo "process with that one worker to its first response (a request tried every millisecond until"
  echo "one is answered), median of $STARTS. workerd compiles its workers when it starts and loads none"
  echo "later, so its process start is its cold start; the hello-world row shows the part that is the"
  echo "process itself, and \"+\" the part the bundle adds."
  echo
  echo "| bundle | size | Skiff, new isolate, compiled: p50, p99 | Skiff, new isolate, cached: p50, p99 | Skiff, process start | workerd, process start |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  local size hello_s hello_w start_s start_w
  hello_s=$(median <"$work/rounds/start-hello.skiff")
  hello_w="-"; [ -z "$workerd" ] || hello_w=$(median <"$work/rounds/start-hello.workerd")
  echo "| hello world (examples/hello) | $(stat -c %s "$work/workers/hello.js") B | - | - | $(fmt '%.1f ms' <<<"$hello_s")" \
    "| $(fmt '%.1f ms' <<<"$hello_w") |"
  for name in "${bundles[@]}"; do
    size=$(stat -c %s "$work/workers/$name.js" | awk '{ printf "%.1f KiB", $1 / 1024 }')
    read -r p50 p99 warm _ <"$work/rounds/cold-$name.compiled"
    read -r cached_p50 cached_p99 _ <"$work/rounds/cold-$name.cached"
    start_s=$(median <"$work/rounds/start-$name.skiff")
    start_w="-"
    if [ -n "$workerd" ]; then
      start_w=$(median <"$work/rounds/start-$name.workerd")
      start_w=$(awk -v v="$start_w" -v h="$hello_w" 'BEGIN { printf "%.1f ms (%+.1f)", v, v - h }')
    fi
    echo "| $name | $size | $p50 ms, $p99 ms ($warm of $COPIES from a pre-booted runtime)" \
      "| $cached_p50 ms, $cached_p99 ms" \
      "| $(awk -v v="$start_s" -v h="$hello_s" 'BEGIN { printf "%.1f ms (%+.1f)", v, v - h }') | $start_w |"
  done
}

echo
report | tee "$work/report.md"
cp "$work/report.md" "$results"
echo
echo "bench: written to $results"
