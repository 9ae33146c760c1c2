#!/usr/bin/env bash
# 100 WebSockets as streams of one HTTP/2 connection against 100 HTTP/1.1 connections,
# both over TLS, for docs/performance.md. `wsock echo --threads 1` with a certificate
# made for the run serves both on core 0; `wsock bench` (with and without --http2)
# runs on core 1; the two transports alternate, ROUNDS times per cell. Prints the
# medians of messages per second and per server-CPU second.
#
# Usage: benches/http2.sh [SECS=5] [ROUNDS=3]   (needs .venv with trustme, as
# scripts/test.sh makes; not run by CI)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
SECS=${1:-5} ROUNDS=${2:-3}

cargo build --quiet --release -p wsock-cli
WSOCK=target/release/wsock
PKI=$(mktemp -d)
trap 'rm -rf "$PKI"' EXIT
.venv/bin/python - "$PKI" <<'PY'
import sys, trustme
ca = trustme.CA()
cert = ca.issue_cert("localhost")
ca.cert_pem.write_to_path(sys.argv[1] + "/ca.pem")
with open(sys.argv[1] + "/cert.pem", "wb") as chain:
    for blob in cert.cert_chain_pems:
        chain.write(blob.bytes())
cert.private_key_pem.write_to_path(sys.argv[1] + "/key.pem")
PY
export RUST_LOG=warn
OUT=target/http2-bench.jsonl
: >"$OUT"

PORT=$(free_port)
taskset -c 0 "$WSOCK" echo --threads 1 --no-deflate --path / --listen "127.0.0.1:$PORT" \
  --tls-cert "$PKI/cert.pem" --tls-key "$PKI/key.pem" >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$PKI"' EXIT
wait_for_port "$PORT"
for round in $(seq "$ROUNDS"); do
  echo "round $round" >&2
  for size in 16 1024; do
    for transport in http1 http2; do
      flag=()
      [ "$transport" = http2 ] && flag=(--http2)
      bench_row "$OUT" "$PID" "\"transport\": \"$transport\", \"size\": $size" \
        "wss://localhost:$PORT/" --ca "$PKI/ca.pem" "${flag[@]}" -c 100 -s "$size" -p 8 -d "$SECS"
    done
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print("| cell | transport | msgs/s (median) | msgs per server-CPU-s (median) | p99 µs |")
print("|---|---|---|---|---|")
for size in (16, 1024):
    for transport in ("http1", "http2"):
        cell = [r for r in rows if r["size"] == size and r["transport"] == transport and r["bench"]]
        rate = statistics.median(r["bench"]["messages_per_second"] for r in cell)
        per_cpu = statistics.median(r["bench"]["messages"] / r["server_cpu_s"] for r in cell)
        p99 = statistics.median(r["bench"]["latency_us"]["p99"] for r in cell)
        label = "100 HTTP/1.1 connections" if transport == "http1" else "100 streams, 1 HTTP/2 connection"
        print(f"| 100 x {size} B, 8 in flight | {label} | {rate:,.0f} | {per_cpu:,.0f} | {p99:,.0f} |")
PY
