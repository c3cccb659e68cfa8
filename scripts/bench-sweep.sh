#!/usr/bin/env bash
# Sweep throughput figures for BENCHMARKS.md: a 64-run ema_cross sweep (8 fast x 8 slow spans) over the
# 100,000-tick AUD/USD file as a memory-mapped .pinticks, with 1 and 2 local jobs, then with 1, 2 and 3
# local `pinion worker` processes over a nats-server on this machine. Each figure is the median of
# REPEAT runs; peak RSS comes from /usr/bin/time -v. Usage: scripts/bench-sweep.sh [REPEAT] (default 5).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPEAT="${1:-5}"
BIN="${PINION_BIN:-target-dev/release/pinion}"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$BIN" import --quiet -o "$WORK/audusd.pinticks" ../shared/data/audusd_truefx_20200130-31_quotes.csv.gz >/dev/null
GRID='{"fast":[2,3,4,5,6,7,8,9],"slow":[20,30,40,50,60,70,80,90]}'
sweep() { "$BIN" sweep --quiet --data "$WORK/audusd.pinticks" --strategy ema_cross --grid "$GRID" \
  --capital 1000000 --commission-rate 0.00002 --out "$WORK/out" "$@"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])['$1'])"; }

for jobs in 1 2; do
  walls=(); rss=()
  for _ in $(seq "$REPEAT"); do
    /usr/bin/time -v -o "$WORK/time" bash -c "$(declare -f sweep); BIN=$BIN WORK=$WORK GRID='$GRID'; sweep --jobs $jobs" > "$WORK/line"
    walls+=("$(field wall_seconds < "$WORK/line")")
    rss+=("$(awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}' "$WORK/time")")
  done
  w=$(printf '%s\n' "${walls[@]}" | median); r=$(printf '%s\n' "${rss[@]}" | median)
  echo "local jobs=$jobs: median wall ${w}s, $(python3 -c "print(round(64/$w,1))") runs/s, peak RSS ${r} KiB (walls: ${walls[*]})"
done

NATS_BIN="$(command -v nats-server)"
for workers in 1 2 3; do
  walls=()
  for i in $(seq "$REPEAT"); do
    PORT=$((24222 + workers * 10 + i))
    "$NATS_BIN" -js -sd "$WORK/js-$workers-$i" -a 127.0.0.1 -p "$PORT" >/dev/null 2>&1 &
    NATS_PID=$!
    for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
    PIDS=()
    for w in $(seq "$workers"); do
      "$BIN" worker --nats "nats://127.0.0.1:$PORT" --cache "$WORK/cache-$w" --idle-exit 2 >/dev/null 2>&1 &
      PIDS+=($!)
    done
    sweep --nats "nats://127.0.0.1:$PORT" > "$WORK/line"
    walls+=("$(field wall_seconds < "$WORK/line")")
    wait "${PIDS[@]}" || true
    kill "$NATS_PID"; wait "$NATS_PID" 2>/dev/null || true
  done
  w=$(printf '%s\n' "${walls[@]}" | median)
  echo "nats workers=$workers: median wall ${w}s, $(python3 -c "print(round(64/$w,1))") runs/s (walls: ${walls[*]})"
done
