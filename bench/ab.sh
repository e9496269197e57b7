#!/usr/bin/env bash
# Two Corral binaries side by side: is a change faster or slower?
#
#   bench/ab.sh BASE_BIN NEW_BIN [--rounds 3] [--workloads create,get,set] [--duration 8]
#               [--prefill 0]
#
# Per round and binary (alternating, so the ratio holds while the machine's speed drifts):
# a fresh standalone server (fsync on, snapCount 100000), optionally filled with
# --prefill znodes of 100 bytes, then each workload for --duration seconds (32 sessions x 16
# pipelined, 1 s warm-up) driven by NEW_BIN's `corral bench`. Prints ops/s and the
# server's CPU time per op per round, and the ratios new/base of the medians (CPU per op
# is the steadier of the two on a shared machine). Build the base with e.g.
#   git worktree add /tmp/base REV && (cd /tmp/base && CARGO_TARGET_DIR=/tmp/base-target \
#     cargo build --release -p corral-net --bin corral)
set -euo pipefail
(($# >= 2)) || { sed -n '2,13p' "$0" >&2; exit 2; }
BASE=$1 NEW=$2
shift 2
ROUNDS=3 WORKLOADS=create,get,set DURATION=8 PREFILL=0
while (($#)); do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --workloads) WORKLOADS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --prefill) PREFILL=$2; shift 2 ;;
    *) sed -n '2,13p' "$0" >&2; exit 2 ;;
  esac
done
TMP=$(mktemp -d /tmp/corral-ab.XXXXXX)
PID=""
trap '[[ -n "$PID" ]] && kill -KILL "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
IFS=, read -ra WL <<<"$WORKLOADS"
for ((r = 1; r <= ROUNDS; r++)); do
  for which in base new; do
    bin=$BASE; [[ $which == new ]] && bin=$NEW
    dir=$TMP/$which-$r p=$(port)
    mkdir -p "$dir/data"
    printf 'tickTime=2000\ndataDir=%s/data\nclientPort=%s\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\nforceSync=yes\nsnapCount=100000\n4lw.commands.whitelist=*\n' \
      "$dir" "$p" >"$dir/zoo.cfg"
    setsid "$bin" server --config "$dir/zoo.cfg" >"$dir/log" 2>&1 </dev/null &
    PID=$!
    for _ in $(seq 100); do serving "$p" && break; sleep 0.1; done
    if ((PREFILL > 0)); then
      "$NEW" bench --servers "127.0.0.1:$p" --workload create --ops "$PREFILL" --quiet >/dev/null
    fi
    for w in "${WL[@]}"; do
      c0=$(cpu_ticks "$PID")
      json=$("$NEW" bench --servers "127.0.0.1:$p" --workload "$w" --duration "$DURATION" \
        --warmup 1 --json --quiet)
      c1=$(cpu_ticks "$PID")
      # ops/s, and server CPU µs per op (ticks over warm-up and measurement, per measured
      # op: a slight overestimate, the same for both binaries).
      read -r ops us < <(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); t=int(sys.argv[2])*1e6/int(sys.argv[3]); print(round(j["ops_per_s"]), round(t/j["ops"], 2))' \
        "$json" "$((c1 - c0))" "$(getconf CLK_TCK)")
      echo "$r $which $w $ops $us" | tee -a "$TMP/results"
    done
    kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    rm -rf "$dir"
  done
done
python3 - "$TMP/results" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
for w in dict.fromkeys(r[2] for r in rows):
    med = {k: statistics.median(int(r[3]) for r in rows if r[1] == k and r[2] == w) for k in ("base", "new")}
    cpu = {k: statistics.median(float(r[4]) for r in rows if r[1] == k and r[2] == w) for k in ("base", "new")}
    print(f"{w:8} ops/s base {med['base']:>8.0f} new {med['new']:>8.0f} new/base {med['new'] / med['base']:.2f}"
          f"   server CPU µs/op base {cpu['base']:.2f} new {cpu['new']:.2f} new/base {cpu['new'] / cpu['base']:.2f}")
PY
