#!/usr/bin/env bash
# Sets up (libtorch, cached), builds in release and starts the server on 127.0.0.1:8000 with the bundled
# sample feed (EUR/USD + AUD/USD, replayed 10x, looped). Extra arguments go to `pinion serve`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cargo build --release --bin pinion
exec ./target/release/pinion serve "$@"
