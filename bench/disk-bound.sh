#!/usr/bin/env bash
# Does disk use stay bounded with purge on? Runs Corral (snapCount=SNAP, purge after each
# snapshot, 3 kept) under a steady create+setData load for SECONDS and prints the data
# directory's size every 5 s.
#   bench/disk-bound.sh [SECONDS] [SNAP]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-60}
SNAP=${2:-10000}
PORT=${DISK_PORT:-21894}
cd "$ROOT"
cargo build --release -q -p corral-net --bin corral
T=${CARGO_TARGET_DIR:-$ROOT/target}/release
WORK=$(mktemp -d "${TMPDIR:-/tmp}/corral-disk.XXXXXX")
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
printf 'tickTime=2000\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nsnapCount=%s\nautopurge.purgeInterval=1\nautopurge.snapRetainCount=3\n' \
  "$WORK/data" "$PORT" "$SNAP" > "$WORK/zoo.cfg"
RUST_LOG=info "$T/corral" server --config "$WORK/zoo.cfg" > "$WORK/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q "serving on" "$WORK/server.log" && break; sleep 0.1; done
"$T/corral" bench --servers "127.0.0.1:$PORT" --workload set --sessions 16 --pipeline 8 \
  --keys 2000 --duration "$SECS" --warmup 0 --quiet > "$WORK/bench.txt" &
PIDS+=($!)
for t in $(seq 5 5 "$SECS"); do
  sleep 5
  printf '%4ss  %6s KiB  snapshots %s  log segments %s\n' "$t" \
    "$(du -sk "$WORK/data" | cut -f1)" \
    "$(ls "$WORK/data/version-2" | grep -c '^snapshot\.' || true)" \
    "$(ls "$WORK/data/version-2" | grep -c '^log\.' || true)"
done
wait "${PIDS[1]}" || true
grep -E "ops/s|set" "$WORK/bench.txt" | head -5
echo "snapshots written: $(grep -c 'wrote snapshot' "$WORK/server.log"), files purged: $(grep -c 'purged' "$WORK/server.log")"
