#!/usr/bin/env bash
# Does a snapshot stall writes? Starts Corral on a data directory holding 1,000,000 znodes
# of 100 bytes (made by the storage_bench example), drives setData at a moderate closed-loop
# load with `corral bench`, and compares write latency with snapshots off (snapCount huge)
# against snapshots running back to back (snapCount small), alternating ROUNDS times.
#   bench/snapshot-stall.sh [NODES] [ROUNDS] [SECONDS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODES=${1:-1000000}
ROUNDS=${2:-2}
SECS=${3:-20}
PORT=${STALL_PORT:-21893}
cd "$ROOT"
cargo build --release -q -p corral-net --bin corral --example storage_bench
T=${CARGO_TARGET_DIR:-$ROOT/target}/release
WORK=$(mktemp -d "${TMPDIR:-/tmp}/corral-stall.XXXXXX")
PID=
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

echo "making $NODES znodes..."
KEEP_SNAPSHOT=1 "$T/examples/storage_bench" "$NODES" "$WORK/seed" | sed 's/^/  /'

run() { # snapCount label
  rm -rf "$WORK/data" && cp -r "$WORK/seed" "$WORK/data"
  printf 'tickTime=2000\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nsnapCount=%s\nautopurge.purgeInterval=1\n' \
    "$WORK/data" "$PORT" "$1" > "$WORK/zoo.cfg"
  RUST_LOG=info "$T/corral" server --config "$WORK/zoo.cfg" > "$WORK/server-$2.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do grep -q "serving on" "$WORK/server-$2.log" && break; sleep 0.1; done
  "$T/corral" bench --servers "127.0.0.1:$PORT" --workload set --sessions 4 --pipeline 1 \
    --duration "$SECS" --warmup 2 --json --quiet > "$WORK/$2.json"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  local snaps; snaps=$(grep -c "wrote snapshot" "$WORK/server-$2.log" || true)
  python3 - "$WORK/$2.json" "$2" "$snaps" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"  {sys.argv[2]:>9}: {r['ops_per_s']:8.0f} ops/s  p50 {r['p50_us']:7.0f} us  p99 {r['p99_us']:7.0f} us  "
      f"p99.9 {r['p999_us']:7.0f} us  max {r['max_us']:7.0f} us  errors {r['errors']}  (snapshots written: {sys.argv[3]})")
PY
}
for r in $(seq "$ROUNDS"); do
  echo "round $r"
  run 1000000000 no-snap
  run 20000 snapshots
done
