#!/usr/bin/env bash
# Memory per znode: Corral and Apache ZooKeeper 3.8.0 holding the same N znodes.
#
#   bench/memory.sh [--znodes N] [--value-size B] [--zk-heap SIZE] [--systems corral,zookeeper]
#
# For each system: a fresh standalone server (the zoo.cfg of bench/compare.sh, snapshots
# off during the fill so that no background snapshot is in memory), filled by
# `corral bench --workload create --ops N` (32 sessions, each creating sequential nodes of
# B bytes under its own directory: /corral-bench/run-*/sI/nSEQ), then left idle for a few
# seconds (ZooKeeper also gets a full GC through jcmd) and its RSS read from
# /proc/PID/status. Prints RSS, bytes per znode, and the ratio Corral/ZooKeeper.
# ZooKeeper runs with -Xms=-Xmx=--zk-heap (default 1536m): report that figure with the
# result; a heap too small for N znodes fails the fill (the script says so).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ZNODES=1000000
VALUE_SIZE=100
ZK_HEAP=1536m
SYSTEMS=corral,zookeeper
while (($#)); do
  case "$1" in
    --znodes) ZNODES=$2; shift 2 ;;
    --value-size) VALUE_SIZE=$2; shift 2 ;;
    --zk-heap) ZK_HEAP=$2; shift 2 ;;
    --systems) SYSTEMS=$2; shift 2 ;;
    *) sed -n '2,14p' "$0" >&2; exit 2 ;;
  esac
done
ZK_JAR=${ZK_JAR:-/usr/share/java/zookeeper.jar}
[[ -f "$ZK_JAR" ]] || "$ROOT/scripts/install-deps.sh"
ZK_CP="/etc/zookeeper/conf:$ZK_JAR"
[[ -f /usr/share/java/slf4j-simple.jar ]] && ZK_CP="$ZK_CP:/usr/share/java/slf4j-simple.jar"
if [[ -z "${CORRAL_BIN:-}" ]]; then
  (cd "$ROOT" && cargo build -q --release -p corral-net --bin corral)
  CORRAL_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/corral
fi
TMP=$(mktemp -d /tmp/corral-memory.XXXXXX)
PID=
trap '[[ -n "$PID" ]] && kill -KILL "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

declare -A RESULT
IFS=, read -ra SYS <<<"$SYSTEMS"
for sys in "${SYS[@]}"; do
  dir=$TMP/$sys
  mkdir -p "$dir/data"
  p=$(port)
  cat >"$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$p
clientPortAddress=127.0.0.1
maxClientCnxns=0
snapCount=100000000
autopurge.purgeInterval=0
4lw.commands.whitelist=*
admin.enableServer=false
CFG
  if [[ $sys == corral ]]; then
    setsid "$CORRAL_BIN" server --config "$dir/zoo.cfg" >"$dir/log" 2>&1 </dev/null &
  else
    setsid "${JAVA:-java}" -Xms"$ZK_HEAP" -Xmx"$ZK_HEAP" -Dzookeeper.admin.enableServer=false \
      -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$ZK_CP" \
      org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" >"$dir/log" 2>&1 </dev/null &
  fi
  PID=$!
  for _ in $(seq 300); do serving "$p" && break; sleep 0.2; done
  idle=$(rss_kb "$PID")
  echo "memory.sh: $sys: filling $ZNODES znodes of $VALUE_SIZE bytes (idle RSS $((idle / 1024)) MiB)" >&2
  if ! "$CORRAL_BIN" bench --servers "127.0.0.1:$p" --workload create --ops "$ZNODES" --warmup 0 \
    --sessions 32 --pipeline 16 --value-size "$VALUE_SIZE" --quiet >"$dir/bench.txt" 2>&1; then
    echo "memory.sh: $sys: the fill failed (for ZooKeeper: heap $ZK_HEAP too small?):" >&2
    tail -5 "$dir/bench.txt" >&2
    kill -KILL "$PID"; PID=
    continue
  fi
  sleep 5
  if [[ $sys == zookeeper ]] && command -v jcmd >/dev/null; then
    jcmd "$PID" GC.run >/dev/null 2>&1 || true
    sleep 3
  fi
  rss=$(rss_kb "$PID")
  RESULT[$sys]=$rss
  printf '%-10s RSS %6d MiB  %6.0f bytes/znode (%d znodes of %d bytes%s)\n' "$sys" $((rss / 1024)) \
    "$(echo "$rss * 1024 / $ZNODES" | bc -l)" "$ZNODES" "$VALUE_SIZE" \
    "$([[ $sys == zookeeper ]] && echo ", -Xmx$ZK_HEAP")"
  kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=
done
if [[ -n "${RESULT[corral]:-}" && -n "${RESULT[zookeeper]:-}" ]]; then
  printf 'RSS Corral/ZooKeeper: %.3f\n' "$(echo "${RESULT[corral]} / ${RESULT[zookeeper]}" | bc -l)"
fi
