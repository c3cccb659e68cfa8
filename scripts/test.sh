#!/usr/bin/env bash
# Sets up (libtorch, cached) and runs every check CI runs: formatting, clippy with warnings as errors,
# and the whole test suite (unit, integration and end-to-end, the dashboard's in headless Chromium) in
# release mode.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
bash scripts/setup-browser.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --release --workspace
