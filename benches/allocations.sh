#!/usr/bin/env bash
# The allocator's calls per message (or per handshake) in a wsock echo server, for
# docs/performance.md: an exact count where timings on a shared machine are not. The
# server runs on core 0, `wsock bench` on core 1; uprobes on glibc's malloc and realloc
# (perf probe; needs root and perf) count the server's calls and their sizes.
#
# Usage: benches/allocations.sh CONNECTIONS SIZE IN_FLIGHT [bench flags...]
#        benches/allocations.sh storm [CONNECTIONS=2000]
# e.g.   benches/allocations.sh 10 65536 64 --rate 15000
# Prints calls per message and the sizes that make up most of them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
cargo build --quiet --release -p wsock-cli
WSOCK=${WSOCK:-target/release/wsock}
libc=$(ldd "$WSOCK" | awk '/libc.so.6/ { print $3 }')
perf probe -q -x "$libc" -a 'wsock_malloc=malloc bytes=%di:u64' 2>/dev/null || true
perf probe -q -x "$libc" -a 'wsock_realloc=realloc bytes=%si:u64' 2>/dev/null || true
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

port=$(free_port)
RUST_LOG=warn taskset -c 0 "$WSOCK" echo --threads 1 --no-deflate --path / \
  --listen "127.0.0.1:$port" >/dev/null 2>&1 &
server=$!
wait_for_port "$port"
perf record -q -e 'probe_libc:wsock_*' -p "$server" -o "$out/perf.data" 2>/dev/null &
recorder=$!
sleep 0.5 # perf attaches asynchronously; what it misses is not counted
if [ "${1:-}" = storm ]; then
  count=${2:-2000}
  ulimit -n "$(( count * 2 + 1024 ))" 2>/dev/null || true
  taskset -c 1 "$WSOCK" bench "ws://127.0.0.1:$port/" --connect-only -c "$count" \
    --concurrency 64 --json >"$out/bench.json"
  unit=handshake
else
  taskset -c 1 "$WSOCK" bench "ws://127.0.0.1:$port/" -c "$1" -s "$2" -p "$3" -d 3 \
    "${@:4}" --json >"$out/bench.json"
  count=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["messages"])' "$out/bench.json")
  unit=message
fi
kill -INT "$recorder"
wait "$recorder" || true
kill "$server"
wait "$server" 2>/dev/null || true
perf script -i "$out/perf.data" -F event,trace 2>/dev/null | python3 -c '
import collections, sys
count, unit = int(sys.argv[1]), sys.argv[2]
calls = collections.Counter()
for line in sys.stdin:
    kind = "realloc" if "realloc" in line else "malloc"
    size = line.split("bytes=")[-1].split()[0]
    calls[(kind, int(size, 16) if size.startswith("0x") else int(size))] += 1
print(f"{sum(calls.values()) / count:.2f} allocator calls per {unit}")
for (kind, size), n in sorted(calls.items(), key=lambda item: -item[1])[:10]:
    if n / count >= 0.01:
        print(f"  {n / count:5.2f} x {kind}({size})")
' "$count" "$unit"
