#!/usr/bin/env bash
# Instructions per message executed by an echo server in user space, for
# docs/performance.md: an exact figure where timings on a shared machine move by 10%
# from one run to the next. The server runs under valgrind's callgrind twice, for
# MESSAGES and for 3 × MESSAGES echoes from `wsock bench -m`; the difference, divided by
# 2 × MESSAGES, leaves out start-up and shutdown. The kernel's work (most of a large
# message's cost) is not counted, and valgrind has no AVX-512, so masking runs its
# AVX2 version in every server.
#
# Usage: benches/instructions.sh SERVER MESSAGES CONNECTIONS SIZE IN_FLIGHT [bench flags...]
#   SERVER: wsock, a path to a wsock binary, or a peer of benches/compare/ by its binary's
#   name (tokio_websockets_echo, fastwebsockets_echo, ...); TOP=N also lists the N
#   functions that execute the most per message.
# e.g.   benches/instructions.sh wsock 600 10 65536 64 --rate 300
#        benches/instructions.sh tokio_websockets_echo 600 10 65536 64 --rate 300
# Needs valgrind. Under callgrind a server is some 50 times slower, so a paced cell
# needs a rate it keeps up with (a few hundred 64 KiB messages per second).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
SERVER=$1 MESSAGES=$2
shift 2
cargo build --quiet --release -p wsock-cli
WSOCK=target/release/wsock
case $SERVER in
  wsock) command=("$WSOCK" echo --threads 1 --no-deflate --path / --listen) ;;
  */*) command=("$SERVER" echo --threads 1 --no-deflate --path / --listen) ;;
  *)
    CARGO_TARGET_DIR=target/compare cargo build --quiet --release \
      --manifest-path benches/compare/Cargo.toml
    command=("target/compare/release/$SERVER")
    ;;
esac
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

BENCH_ARGS=("$@")
profile() { # messages -> callgrind output in $out/<messages>
  local port server
  port=$(free_port)
  RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out/$1" \
    "${command[@]}" "127.0.0.1:$port" >/dev/null 2>"$out/$1.log" &
  server=$!
  wait_for_port "$port"
  "$WSOCK" bench "ws://127.0.0.1:$port/" -c "${BENCH_ARGS[0]}" -s "${BENCH_ARGS[1]}" \
    -p "${BENCH_ARGS[2]}" "${BENCH_ARGS[@]:3}" -m "$1" --json >"$out/$1.json"
  # Valgrind writes the counts when a signal ends the program.
  kill "$server"
  wait "$server" 2>/dev/null || true
}
profile "$MESSAGES"
profile "$(( MESSAGES * 3 ))"
python3 - "$out/$MESSAGES" "$out/$(( MESSAGES * 3 ))" "$(( MESSAGES * 2 ))" "${TOP:-0}" <<'EOF'
import collections, re, subprocess, sys

def self_cost(path):
    """Instructions executed in each function, its callees excluded."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", path],
                          capture_output=True, text=True, check=True).stdout
    costs = collections.Counter()
    for line in text.splitlines():
        match = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", line)
        if match and "PROGRAM TOTALS" not in line:
            name = re.sub(r" \[.*\]$", "", match.group(2)).split(":", 1)[-1]
            costs[name] += int(match.group(1).replace(",", ""))
    return costs

short, long_, messages, top = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
before, after = self_cost(short), self_cost(long_)
per_message = {name: (after[name] - before[name]) / messages for name in before | after}
print(f"{sum(per_message.values()):.0f} instructions per message")
for name, cost in sorted(per_message.items(), key=lambda item: -item[1])[:top]:
    print(f"  {cost:7.0f}  {name[:140]}")
EOF
