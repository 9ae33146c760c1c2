#!/usr/bin/env bash
# Fan-out through a broadcast::Hub room for docs/performance.md: one sender, RECEIVERS
# receivers on loopback, MESSAGES messages of SIZE bytes. The server runs on core 0
# and the clients on core 1; prints deliveries per second, the server's CPU time, and
# its memory with the receivers idle and at its peak.
#
# Usage: benches/fanout.sh [RECEIVERS=1000] [MESSAGES=2000] [SIZE=64]
#   DEFLATE=deflate (defaults, context kept) or DEFLATE=deflate-shared (no context:
#   a broadcast compressed once) makes every receiver a permessage-deflate member.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
RECEIVERS=${1:-1000} MESSAGES=${2:-2000} SIZE=${3:-64}
cargo build --quiet --release --example fanout_bench
BIN=target/release/examples/fanout_bench
ulimit -n "$(( RECEIVERS * 2 + 1024 ))" 2>/dev/null || true

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
status_kib() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }

port=$(free_port)
taskset -c 0 "$BIN" server "127.0.0.1:$port" "${DEFLATE:-plain}" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
wait_for_port "$port"
base_kib=$(status_kib "$server" VmRSS)
ticks_before=$(cpu_ticks "$server")
offer=""
[ -n "${DEFLATE:-}" ] && offer="32 deflate"
# shellcheck disable=SC2086
result=$(taskset -c 1 "$BIN" client "ws://127.0.0.1:$port/fanout" "$RECEIVERS" "$MESSAGES" "$SIZE" $offer)
ticks_after=$(cpu_ticks "$server")
peak_kib=$(status_kib "$server" VmHWM)
hz=$(getconf CLK_TCK)
echo "$result"
echo "server: $(( (ticks_after - ticks_before) * 1000 / hz )) ms of CPU;" \
  "RSS before clients ${base_kib} KiB, peak ${peak_kib} KiB," \
  "$(( (peak_kib - base_kib) / RECEIVERS )) KiB per receiver at the peak"
