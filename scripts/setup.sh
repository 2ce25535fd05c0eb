#!/usr/bin/env bash
# Installs what building Skiff needs on Debian 12 when it is missing: cmake (v8x builds
# QuickJS-ng and WAMR with it), libsimde-dev (WAMR's SIMD headers, which its build would
# otherwise clone with git), C and C++ compilers (QuickJS-ng, WAMR, and ada, the URL parser,
# which is C++20), wrk for the benchmark, Node.js with npm for the tests' npm packages, and
# PostgreSQL for the control plane's store tests. Needs root or sudo for apt-get.
set -euo pipefail

need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
[ -f /usr/include/simde/x86/sse2.h ] || need+=(libsimde-dev)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
{ command -v cc && command -v c++; } >/dev/null 2>&1 || need+=(build-essential)
command -v curl >/dev/null 2>&1 || need+=(curl)
# Node.js and npm: the tests install real npm packages (`npm ci` against committed lockfiles)
# and the benchmarks fetch workerd from the npm registry. Skiff itself never needs them.
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
# PostgreSQL: the store tests initdb a throwaway cluster (control-plane/tests/common/postgres.rs
# finds initdb on PATH or in /usr/lib/postgresql/*/bin, where Debian puts it). The package also
# starts a default cluster of its own; the tests don't use it.
{ command -v initdb || compgen -G '/usr/lib/postgresql/*/bin/initdb'; } >/dev/null 2>&1 \
  || need+=(postgresql)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) first" >&2
  exit 1
fi
