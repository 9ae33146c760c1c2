#!/usr/bin/env bash
# Every test of the project, from a fresh machine: installs the Python peers in .venv,
# and Node's ws, checks formatting and lints, runs the Rust tests, the Autobahn
# conformance cases as server and client, the interop tests against Python
# websockets and Node ws, the multi-node chat through Redis, and the chat page in
# headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "Python venv with the test peers (kosoku, websockets, pytest)"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt

step "Debian packages: Node.js, redis-server, microsocks and Chromium for the peers"
missing=()
command -v npm >/dev/null || missing+=(nodejs npm)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v microsocks >/dev/null || missing+=(microsocks)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "Node's ws and playwright-core for the interop and browser tests"
npm ci --prefix tests/interop/node --no-audit --no-fund --loglevel=error
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo doc: rustdoc warnings (broken intra-doc links too) fail, and the library's page is the one that opens"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps 2>&1 | tee target/doc.log
if grep -q "collision" target/doc.log; then echo "cargo doc: two crates write the same page"; exit 1; fi
grep -q "a WebSocket (RFC 6455) server and client for tokio" target/doc/wsock/index.html

step "cargo test (sans-I/O unit tests, doctests, socket tests on 127.0.0.1)"
cargo test --workspace --all-features

step "fuzzing: every cargo-fuzz target for 30 s"
scripts/fuzz.sh 30

step "release build of the CLI and the test agents; the comparison servers build"
cargo build --release --workspace --bins --examples
# benches/compare.sh is run by hand, but its servers must keep compiling.
CARGO_TARGET_DIR=target/compare cargo check --quiet --manifest-path benches/compare/Cargo.toml --bins

step "Autobahn conformance through kosoku, wsock as server and as client"
scripts/autobahn.sh both

step "interop with Python websockets and Node ws; broadcast nodes through Redis"
.venv/bin/python -m pytest -q tests/interop

step "the chat page of wsock broadcast in headless Chromium"
node --test tests/browser/
