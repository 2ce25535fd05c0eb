#!/usr/bin/env bash
# Bundle time: `skiff deploy --dry-run` (a cold process: start, read the configuration, bundle
# with rolldown, exit) against esbuild, the bundler wrangler uses, on the same projects with the
# same Workers resolve conditions, alternating runs in one sitting. Two projects: the hono
# example (its packages from npm by its lockfile) and a generated TypeScript project of 40
# files and 2,000 lines. Prints the median wall time of each, the Skiff/esbuild ratio, and the
# size of the stripped `skiff` binary.
#
#   bench/bundle.sh            # 5 runs of each
#   RUNS=11 bench/bundle.sh
#
# esbuild comes from the npm registry (`npm install esbuild` into bench/.peers); without it the
# script times Skiff alone. Nothing here touches the network but npm.
set -euo pipefail

RUNS=${RUNS:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$root/scripts/setup.sh"
(cd "$root" && cargo build --release -q -p skiff-cli)
skiff="$target/release/skiff"

esbuild=""
peers="$root/bench/.peers"
if [ ! -x "$peers/node_modules/.bin/esbuild" ]; then
  mkdir -p "$peers"
  (cd "$peers" && npm install --silent --no-audit --no-fund esbuild >/dev/null 2>&1) || true
fi
if [ -x "$peers/node_modules/.bin/esbuild" ]; then
  esbuild="$peers/node_modules/.bin/esbuild"
else
  echo "bench: esbuild not available (npm install esbuild failed); timing Skiff alone"
fi

# The hono example with its packages.
mkdir -p "$work/hono"
cp -r "$root/examples/hono-ts/." "$work/hono/"
rm -rf "$work/hono/node_modules"
(cd "$work/hono" && npm ci --silent --no-audit --no-fund >/dev/null)

# 40 TypeScript files of 50 lines each; the entry imports them all.
gen="$work/generated"
mkdir -p "$gen/src"
printf 'name = "generated"\nmain = "src/index.ts"\n' >"$gen/wrangler.toml"
{
  for i in $(seq 1 40); do echo "import { handle$i } from \"./part$i\";"; done
  echo "const handlers = ["
  for i in $(seq 1 40); do echo "  handle$i,"; done
  echo "];"
  echo "export default {"
  echo "  fetch(request: Request): Response {"
  echo "    const n = new URL(request.url).pathname.length % handlers.length;"
  echo "    return new Response(String(handlers[n]({ id: n, name: \"x\", tags: [] })));"
  echo "  },"
  echo "};"
} >"$gen/src/index.ts"
for i in $(seq 1 40); do
  {
    echo "export interface Record$i { id: number; name: string; tags: string[] }"
    echo "export enum Kind$i { A = \"a$i\", B = \"b$i\", C = \"c$i\" }"
    echo "type Mapper$i<T> = (value: T, index: number) => T;"
    echo "function apply$i<T>(values: T[], map: Mapper$i<T>): T[] {"
    echo "  return values.map(map);"
    echo "}"
    for j in $(seq 1 10); do
      echo "export function step${i}_$j(record: Record$i): number {"
      echo "  const scaled = apply$i([record.id, $j, $i], (v, k) => v * (k + 1));"
      echo "  return scaled.reduce((a, b) => a + b, 0) + record.name.length + Kind$i.A.length;"
      echo "}"
    done
    echo "export function handle$i(record: Record$i): number {"
    echo "  let total = 0;"
    for j in $(seq 1 3); do echo "  total += step${i}_$j(record);"; done
    echo "  return total;"
    echo "}"
  } >"$gen/src/part$i.ts"
done
lines=$(cat "$gen"/src/*.ts | wc -l)

now_ms() { echo $(( $(date +%s%N) / 1000000 )); } # (mawk's printf %d stops at 2^31)
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

bench_project() { # name dir entry
  local name=$1 dir=$2 entry=$3 skiff_times="" esbuild_times=""
  for _ in $(seq 0 "$RUNS"); do # the first run of each warms the page cache and is dropped
    local start end
    start=$(now_ms)
    (cd "$dir" && "$skiff" deploy --dry-run >/dev/null)
    end=$(now_ms)
    skiff_times+="$((end - start))"$'\n'
    if [ -n "$esbuild" ]; then
      start=$(now_ms)
      (cd "$dir" && "$esbuild" "$entry" --bundle --format=esm --platform=browser \
        --conditions=workerd,worker,browser --outfile="$work/esbuild-out.js" --log-level=error)
      end=$(now_ms)
      esbuild_times+="$((end - start))"$'\n'
    fi
  done
  local s e
  s=$(printf '%s' "$skiff_times" | tail -n +2 | median)
  if [ -n "$esbuild" ]; then
    e=$(printf '%s' "$esbuild_times" | tail -n +2 | median)
    printf '%-34s skiff %5d ms   esbuild %5d ms   skiff/esbuild %s\n' "$name" "$s" "$e" \
      "$(awk -v a="$s" -v b="$e" 'BEGIN { printf "%.2f", a / b }')"
  else
    printf '%-34s skiff %5d ms\n' "$name" "$s"
  fi
}

echo "median of $RUNS cold runs each (wall time of the whole process)"
bench_project "hono example" "$work/hono" src/index.ts
bench_project "generated: 40 files, $lines lines" "$gen" src/index.ts
cp "$skiff" "$work/skiff-stripped" && strip "$work/skiff-stripped"
echo "skiff binary, stripped: $(( $(stat -c %s "$work/skiff-stripped") / 1048576 )) MiB"
