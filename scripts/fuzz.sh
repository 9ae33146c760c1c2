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
for target in $TARGETS; do
  mkdir -p "corpus/$target"
  # Work on a copy of the committed seeds so the run leaves the tree clean.
  work=$(mktemp -d)
  cp "corpus/$target"/* "$work"/
  printf '%-20s ' "$target"
  log="target/fuzz-$target.log"
  if ! timeout $((SECONDS_EACH + 120)) cargo fuzz run -s none -O "$target" "$work" -- \
      -max_total_time="$SECONDS_EACH" -max_len=65536 >"$log" 2>&1; then
    echo "FAILED"; tail -30 "$log"; exit 1
  fi
  grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1
  rm -rf "$work"
done
