#!/usr/bin/env bash
# permessage-deflate figures for docs/performance.md: codec throughput and ratio on
# JSON-like text (criterion), then memory per idle connection on `wsock echo`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p wsock-proto --bench deflate -- --warm-up-time 1 --measurement-time 3 \
  | grep -E '^json |^json_message|time:|thrpt:'
cargo build --release --workspace --bins --examples
target/release/examples/deflate_memory "${1:-1000}"
