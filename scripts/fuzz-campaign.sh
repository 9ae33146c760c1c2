#!/usr/bin/env bash
# A long fuzzing campaign, run by hand (docs/security.md records the last one): each
# cargo-fuzz target for RUNS executions (default 10^8), starting from the committed
# corpus, then the corpus minimized back into fuzz/corpus/TARGET/ (seeds kept).
# Prints one line per target: executions, seconds, corpus size before and after, and
# whether it crashed (a crash stops the script with the input under fuzz/artifacts/).
#
# Usage: [MAX_LEN=65536] scripts/fuzz-campaign.sh [RUNS=100000000] [TARGET...]
#   (header-sized targets run much faster with MAX_LEN=4096)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-100000000}
MAX_LEN=${MAX_LEN:-65536}
shift || true
TARGETS=${*:-$(sed -n 's/^TARGETS="\(.*\)"$/\1/p' scripts/fuzz.sh)}

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
cd fuzz
cargo fuzz build -s none -O
bin=target/x86_64-unknown-linux-gnu/release
for target in $TARGETS; do
  work=$(mktemp -d)
  cp "corpus/$target"/* "$work"/
  before=$(ls "$work" | wc -l)
  mkdir -p "artifacts/$target"
  log="target/campaign-$target.log"
  started=$(date +%s)
  if ! "$bin/$target" "$work" -runs="$RUNS" -max_len="$MAX_LEN" -print_final_stats=1 \
      -artifact_prefix="artifacts/$target/" >"$log" 2>&1; then
    echo "$target CRASHED after $(( $(date +%s) - started )) s"; tail -30 "$log"; exit 1
  fi
  seconds=$(( $(date +%s) - started ))
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$')
  minimized=$(mktemp -d)
  "$bin/$target" -merge=1 "$minimized" "$work" >/dev/null 2>&1
  find "corpus/$target" -type f ! -name 'seed-*' -delete
  cp "$minimized"/* "corpus/$target"/ 2>/dev/null || true
  echo "$target: $runs executions (inputs up to $MAX_LEN bytes) in $seconds s, corpus $before -> $(ls "$work" | wc -l), minimized to $(ls "$minimized" | wc -l) files, no crash"
  rm -rf "$work" "$minimized"
done
