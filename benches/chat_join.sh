#!/usr/bin/env bash
# MEMBERS members joining one room of `wsock broadcast`, for docs/performance.md: the
# server on core 0, the clients on core 1; prints the join rate and the server's CPU
# time for all the joins (presence bookkeeping, welcomes, and the join events every
# member receives, which alone are MEMBERS²/2 deliveries).
#
# Usage: benches/chat_join.sh [MEMBERS=5000] [WSOCK=target/release/wsock]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
MEMBERS=${1:-5000}
WSOCK=${2:-target/release/wsock}
[ "$WSOCK" != target/release/wsock ] || cargo build --quiet --release -p wsock-cli
[ -n "${JOIN_BENCH:-}" ] || cargo build --quiet --release --example chat_join_bench
ulimit -n "$(( MEMBERS * 2 + 1024 ))" 2>/dev/null || true

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
port=$(free_port)
RUST_LOG=warn taskset -c 0 "$WSOCK" broadcast --listen "127.0.0.1:$port" --no-deflate &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
wait_for_port "$port"
before=$(cpu_ticks "$server")
taskset -c 1 "${JOIN_BENCH:-target/release/examples/chat_join_bench}" "ws://127.0.0.1:$port/ws?room=bench" "$MEMBERS"
after=$(cpu_ticks "$server")
hz=$(getconf CLK_TCK)
echo "server: $(( (after - before) * 1000 / hz )) ms of CPU for $MEMBERS joins"
