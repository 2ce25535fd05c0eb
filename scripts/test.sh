#!/usr/bin/env bash
# The test suite: install what is missing, check formatting and lints, run every test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
cargo fmt --all --check
cargo clippy --release --workspace --all-targets -q -- -D warnings
cargo test --release --workspace --no-fail-fast
