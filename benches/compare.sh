#!/usr/bin/env bash
# wsock against the fastest Rust WebSocket servers and a plain epoll ceiling, for
# docs/performance.md. Each server runs on core 0 and `wsock bench` on core 1
# (taskset); after one discarded warm-up run, every cell runs SECS seconds per
# server, the servers interleaved ROUNDS times in a balanced order (see `ordered`
# below); then each server holds 10,000 idle connections
# for the memory figure, and meets a connection storm (STORM connections opened as
# fast as `wsock bench --connect-only` can, 64 at a time, ROUNDS times interleaved).
# Raw results go to target/compare/results.jsonl and the
# summary (medians, min-max, ratios) to stdout.
#
# The last cell is an open loop (`wsock bench --rate`): 15,000 messages of 64 KiB per
# second, which every server carries, so its p99 compares latency under the same load
# rather than the queue in front of whichever side is slower.
#
# Usage: benches/compare.sh [SECS=5] [ROUNDS=3] [IDLE=10000] [STORM=10000]
#   CELLS="100 16 8;1 1048576 1" picks cells (connections size in-flight [bench flags]); IDLE=0 skips
#   the memory figure and STORM=0 the storm; SERVERS="wsock wsock-baseline" picks servers, where
#   wsock-again is wsock a second time (an A/A control: the run's noise floor), and
#   wsock-baseline is the binary at $WSOCK_BASELINE (an earlier build, for an A/B run;
#   wsock-baseline-deflate the same with its default deflate, for the deflate cell).
#   DEFLATE_SERVERS picks the servers of the deflate cell (default: wsock in both modes,
#   yawc, and Node's ws and Python's websockets from benches/peers/, which need npm ci
#   in tests/interop/node and the .venv that scripts/test.sh makes).
# Not run by CI (it takes minutes and wants a quiet machine); CI builds the servers.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
SECS=${1:-5} ROUNDS=${2:-3} IDLE=${3:-10000} STORM=${4:-10000}
# The storm's connections, and the idle ones, on both sides.
ulimit -n "$(( (STORM > IDLE ? STORM : IDLE) * 2 + 1024 ))" 2>/dev/null || true
CELLS_SET=${CELLS:-}

cargo build --quiet --release -p wsock-cli
CARGO_TARGET_DIR=target/compare cargo build --quiet --release --manifest-path benches/compare/Cargo.toml
WSOCK=target/release/wsock
PEERS=target/compare/release
OUT=target/compare/results.jsonl
: >"$OUT"
export RUST_LOG=warn

# sockudo-ws twice: with send() per reply as its Quick Start, and with the feed() loop
# its README recommends for batching (benches/compare/src/lib.rs).
read -r -a ORDER <<<"${SERVERS:-wsock tokio-tungstenite fastwebsockets tokio-websockets yawc sockudo-ws sockudo-ws-feed ceiling}"
server_command() {
  case $1 in
    wsock) echo "$WSOCK echo --threads 1 --no-deflate --path / --listen" ;;
    wsock-deflate) echo "$WSOCK echo --threads 1 --path / --listen" ;;
    wsock-deflate-shared) echo "$WSOCK echo --threads 1 --deflate-shared --path / --listen" ;;
    ws-deflate) echo "node benches/peers/ws_deflate_echo.mjs" ;;
    yawc-deflate) echo "$PEERS/yawc_deflate_echo" ;;
    websockets-deflate) echo ".venv/bin/python benches/peers/websockets_echo.py" ;;
    # The same binary under a second name: its figures against wsock's are the run's
    # noise floor (an A/A comparison).
    wsock-again) echo "$WSOCK echo --threads 1 --no-deflate --path / --listen" ;;
    wsock-baseline) echo "${WSOCK_BASELINE:?set WSOCK_BASELINE} echo --threads 1 --no-deflate --path / --listen" ;;
    wsock-baseline-deflate) echo "${WSOCK_BASELINE:?set WSOCK_BASELINE} echo --threads 1 --path / --listen" ;;
    tokio-tungstenite) echo "$PEERS/tungstenite_echo" ;;
    fastwebsockets) echo "$PEERS/fastwebsockets_echo" ;;
    tokio-websockets) echo "$PEERS/tokio_websockets_echo" ;;
    yawc) echo "$PEERS/yawc_echo" ;;
    sockudo-ws) echo "$PEERS/sockudo_echo" ;;
    sockudo-ws-feed) echo "$PEERS/sockudo_feed_echo" ;;
    ceiling) echo "$PEERS/ceiling_echo" ;;
    # Not in the default set: the same minimal echo over io_uring (no readiness, one
    # io_uring_enter per turn of the loop), to see whether anything passes the epoll
    # ceiling; it keeps a receive buffer per connection, so its idle figure is no peer's.
    ceiling-uring) echo "$PEERS/ceiling_uring_echo" ;;
  esac
}
# connections size pipeline [bench flags]
IFS=';' read -r -a CELLS <<<"${CELLS:-1 16 1;100 16 8;100 1024 8;10 65536 4;10 65536 8;1 1048576 1;10 65536 64 --rate 15000}"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Nanoseconds on a CPU over the process's threads: a storm lasts a fraction of a second,
# where ticks of 10 ms would be too coarse.
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s }'; }
rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }

start_server() { # name -> sets PORT and PID
  PORT=$(free_port)
  # shellcheck disable=SC2046
  taskset -c 0 $(server_command "$1") "127.0.0.1:$PORT" >/dev/null 2>&1 &
  PID=$!
  wait_for_port "$PORT"
}

stop_server() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
}

run_cell() { # server conns size pipeline [flags...]
  local server=$1 conns=$2 size=$3 pipeline=$4
  shift 4
  start_server "$server"
  local before after result
  before=$(cpu_ticks "$PID")
  result=$(taskset -c 1 "$WSOCK" bench "ws://127.0.0.1:$PORT/" -c "$conns" -s "$size" -p "$pipeline" \
    -d "$SECS" --json "$@" 2>/dev/null) || result=null
  after=$(cpu_ticks "$PID")
  stop_server
  echo "{\"server\": \"$server\", \"cell\": \"$conns x $size, $pipeline in flight${1:+ $*}\", \"server_cpu_s\": $(( after - before ))e-2, \"bench\": $result}" >>"$OUT"
  echo "  $server: $(echo "$result" | head -c 160)" >&2
}

# The servers in the order of round $1, a Williams design: over as many rounds as there
# are servers (twice as many for an odd number), every server runs in every position
# once and right after every other server once. A server's figure depends on the one
# before it (a plain rotation, A B C, B C A, ..., always runs B right after A: in an
# A/A run on 2026-12-01 the copy that always followed the other lost 10 of 12 rounds).
ordered() {
  local n=${#ORDER[@]}
  local r=$(( ($1 - 1) % (2 * n) )) low=1 high=$(( n - 1 )) base=(0) order=() b
  while [ ${#base[@]} -lt "$n" ]; do
    base+=("$low")
    low=$((low + 1))
    if [ ${#base[@]} -lt "$n" ]; then
      base+=("$high")
      high=$((high - 1))
    fi
  done
  for b in "${base[@]}"; do
    # An odd number of servers needs the sequences backwards too.
    if [ $((n % 2)) = 1 ] && [ "$r" -ge "$n" ]; then
      order=("${ORDER[$(( (b + r) % n ))]}" "${order[@]}")
    else
      order+=("${ORDER[$(( (b + r) % n ))]}")
    fi
  done
  echo "${order[@]}"
}

# A warm-up run, discarded: the first run after the build is slower for every server.
OUT=/dev/null run_cell "${ORDER[0]}" 100 16 8 2>/dev/null

for round in $(seq "$ROUNDS"); do
  for cell in "${CELLS[@]}"; do
    echo "round $round, cell $cell" >&2
    for server in $(ordered "$round"); do
      # shellcheck disable=SC2086
      run_cell "$server" $cell
    done
  done
  if [ -z "${CELLS_SET:-}" ]; then
    echo "round $round, cell 100 1024 8 --text --deflate" >&2
    # Of the Rust peers only yawc implements permessage-deflate; Node's ws and Python's
    # websockets do too.
    for server in ${DEFLATE_SERVERS:-wsock-deflate wsock-deflate-shared yawc-deflate ws-deflate websockets-deflate}; do
      run_cell "$server" 100 1024 8 --text --deflate
    done
  fi
done

echo "memory with $IDLE idle connections" >&2
for server in "${ORDER[@]}"; do
  [ "$IDLE" -gt 0 ] || break
  start_server "$server"
  base=$(rss_kib "$PID")
  coproc CLIENTS { taskset -c 1 "$PEERS/idle_clients" "127.0.0.1:$PORT" "$IDLE"; }
  read -r ready <&"${CLIENTS[0]}"
  loaded=$(rss_kib "$PID")
  exec {CLIENTS[1]}>&-
  wait "$CLIENTS_PID" 2>/dev/null || true
  stop_server
  echo "{\"server\": \"$server\", \"idle\": $IDLE, \"ready\": \"$ready\", \"rss_before_kib\": $base, \"rss_idle_kib\": $loaded}" >>"$OUT"
  echo "  $server: $base -> $loaded KiB" >&2
done

if [ "$STORM" -gt 0 ]; then
  for round in $(seq "$ROUNDS"); do
    echo "round $round, a storm of $STORM connections" >&2
    for server in $(ordered "$round"); do
      start_server "$server"
      before=$(cpu_ns "$PID")
      result=$(taskset -c 1 "$WSOCK" bench "ws://127.0.0.1:$PORT/" --connect-only -c "$STORM" \
        --concurrency 64 --json 2>/dev/null) || result=null
      after=$(cpu_ns "$PID")
      stop_server
      echo "{\"server\": \"$server\", \"storm\": $STORM, \"server_cpu_s\": $(( after - before ))e-9, \"bench\": $result}" >>"$OUT"
      echo "  $server: $(echo "$result" | head -c 120)" >&2
    done
  done
fi

python3 benches/compare_report.py "$OUT"
