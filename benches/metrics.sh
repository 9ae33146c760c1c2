#!/usr/bin/env bash
# What counting costs: `wsock echo --threads 1` without and with `--metrics` (a
# Prometheus recorder installed, so every read and write adds to shared counters),
# both on core 0, loaded in turn by `wsock bench` on core 1, ROUNDS times per cell.
# Prints the medians of messages per server-CPU second and their ratio.
#
# Usage: benches/metrics.sh [SECS=5] [ROUNDS=3]   (not run by CI)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
SECS=${1:-5} ROUNDS=${2:-3}

cargo build --quiet --release -p wsock-cli
WSOCK=target/release/wsock
export RUST_LOG=warn
OUT=target/metrics-bench.jsonl
: >"$OUT"

declare -A PORTS PIDS
for mode in plain counted; do
  PORTS[$mode]=$(free_port)
  extra=()
  [ "$mode" = counted ] && extra=(--metrics "127.0.0.1:$(free_port)")
  taskset -c 0 "$WSOCK" echo --threads 1 --no-deflate --listen "127.0.0.1:${PORTS[$mode]}" \
    "${extra[@]}" >/dev/null 2>&1 &
  PIDS[$mode]=$!
  wait_for_port "${PORTS[$mode]}"
done
trap 'kill ${PIDS[plain]} ${PIDS[counted]} 2>/dev/null' EXIT

for round in $(seq "$ROUNDS"); do
  echo "round $round" >&2
  for size in 16 1024; do
    for mode in plain counted; do
      bench_row "$OUT" "${PIDS[$mode]}" "\"mode\": \"$mode\", \"size\": $size" \
        "ws://127.0.0.1:${PORTS[$mode]}/echo" -c 100 -s "$size" -p 8 -d "$SECS"
    done
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print("| cell | without --metrics | with --metrics | ratio |")
print("|---|---|---|---|")
for size in (16, 1024):
    per_cpu = {}
    for mode in ("plain", "counted"):
        cell = [r for r in rows if r["size"] == size and r["mode"] == mode and r["bench"]]
        per_cpu[mode] = statistics.median(r["bench"]["messages"] / r["server_cpu_s"] for r in cell)
    ratio = per_cpu["counted"] / per_cpu["plain"]
    print(f"| 100 x {size} B, 8 in flight, msgs per server-CPU-s | {per_cpu['plain']:,.0f} | {per_cpu['counted']:,.0f} | {ratio:.2f} |")
PY
