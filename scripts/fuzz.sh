#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 30 s each; longer by hand:
# `scripts/fuzz.sh 600`). Installs cargo-fuzz if needed. Works on the stable toolchain
# with `-s none` (libFuzzer's coverage guidance without a sanitizer). A crash stops the
# script with the failing input under fuzz/artifacts/TARGET/: turn it into a
# regression test, then fix.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-30}
TARGETS="frame_decoder handshake_request handshake_response deflate_decoder connection connect_response extension_params relay_envelope"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
cd fuzz
cargo fuzz build -s none -O
# fuzz_one TARGET: runs one target on a copy of its committed seeds (so the run leaves
# the tree clean); prints its run count, or its log's end and fails.
fuzz_one() {
  local target=$1 work log
  mkdir -p "corpus/$target"
  work=$(mktemp -d)
  cp "corpus/$target"/* "$work"/
  log="target/fuzz-$target.log"
  if ! timeout $((SECONDS_EACH + 120)) cargo fuzz run -s none -O "$target" "$work" -- \
      -max_total_time="$SECONDS_EACH" -max_len=65536 >"$log" 2>&1; then
    printf '%-20s FAILED\n' "$target"; tail -30 "$log"; return 1
  fi
  printf '%-20s %s\n' "$target" "$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1)"
  rm -rf "$work"
}

# Two targets at a time, one per core: each fuzzes as long, the step takes half as long.
set -- $TARGETS
while [ $# -gt 0 ]; do
  fuzz_one "$1" & first=$!
  second=
  if [ $# -gt 1 ]; then fuzz_one "$2" & second=$!; fi
  wait "$first" || exit 1
  if [ -n "$second" ]; then wait "$second" || exit 1; fi
  shift; if [ $# -gt 0 ]; then shift; fi
done
