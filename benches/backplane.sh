#!/usr/bin/env bash
# Rooms across nodes through Redis for docs/performance.md: two nodes (hubs with their
# own RedisBackplane) with MEMBERS members each in one room, MESSAGES messages of 64 B
# published on node A. Prints cross-node deliveries per second, publish-to-delivery
# latency on node B (p50, p99), and the CPU time redis-server spent.
#
# Usage: benches/backplane.sh [MEMBERS=1000] [MESSAGES=2000] [WINDOW=100]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
MEMBERS=${1:-1000} MESSAGES=${2:-2000} WINDOW=${3:-100}
cargo build --quiet --release -p wsock --features redis --example backplane_bench
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

port=$(free_port)
taskset -c 1 redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
redis=$!
trap 'kill $redis 2>/dev/null || true' EXIT
wait_for_port "$port"
before=$(cpu_ticks "$redis")
start_ns=$(date +%s%N)
taskset -c 0 target/release/examples/backplane_bench "redis://127.0.0.1:$port" "$MEMBERS" "$MESSAGES" "$WINDOW"
end_ns=$(date +%s%N)
after=$(cpu_ticks "$redis")
hz=$(getconf CLK_TCK)
echo "redis-server: $(( (after - before) * 1000 / hz )) ms of CPU over $(( (end_ns - start_ns) / 1000000 )) ms," \
  "$(( (after - before) * 1000000 / hz / MESSAGES )) µs per message"
