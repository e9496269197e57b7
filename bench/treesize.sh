#!/usr/bin/env bash
# Does throughput hold as the tree grows? Runs the same workloads on a small tree and on a
# large one, per system, and prints the ratio large/small.
#
#   bench/treesize.sh [--mode standalone|ensemble] [--small 10000] [--large 1000000]
#                     [--workloads set,get] [--duration 10] [--systems corral,zookeeper]
#                     [--zk-heap 2g]
#
# For each system and tree size: a fresh server (or 3-server ensemble), filled with N
# znodes of 100 bytes by `corral bench --workload create --ops N` (32 sessions), then each
# workload for --duration seconds (32 sessions x 16 pipelined, on each session's own 64
# keys, created by the bench beside the filler nodes). The issue's target: throughput at 1M
# znodes at least 80% of that at 10k.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=standalone
SMALL=10000
LARGE=1000000
WORKLOADS=set,get
DURATION=10
SYSTEMS=corral,zookeeper
ZK_HEAP=2g
while (($#)); do
  case "$1" in
    --mode) MODE=$2; shift 2 ;;
    --small) SMALL=$2; shift 2 ;;
    --large) LARGE=$2; shift 2 ;;
    --workloads) WORKLOADS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --systems) SYSTEMS=$2; shift 2 ;;
    --zk-heap) ZK_HEAP=$2; shift 2 ;;
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
TMP=$(mktemp -d /tmp/corral-treesize.XXXXXX)
PIDS=()
# KEEP=1 keeps the data dirs and server logs (printed at the end).
trap 'for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; if [[ -n "${KEEP:-}" ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi' EXIT
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cfg() { # dir port [server lines]
  mkdir -p "$1/data"
  cat >"$1/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$1/data
clientPort=$2
clientPortAddress=127.0.0.1
maxClientCnxns=0
snapCount=${SNAPCOUNT:-100000}
autopurge.purgeInterval=1
4lw.commands.whitelist=*
admin.enableServer=false
${3:-}
CFG
}
launch() { # system dir
  if [[ $1 == corral ]]; then
    setsid "$CORRAL_BIN" server --config "$2/zoo.cfg" >"$2/log" 2>&1 </dev/null &
  elif [[ $MODE == standalone ]]; then
    setsid "${JAVA:-java}" -Xms"$ZK_HEAP" -Xmx"$ZK_HEAP" -cp "$ZK_CP" -Dzookeeper.admin.enableServer=false \
      org.apache.zookeeper.server.ZooKeeperServerMain "$2/zoo.cfg" >"$2/log" 2>&1 </dev/null &
  else
    setsid "${JAVA:-java}" -Xms"$ZK_HEAP" -Xmx"$ZK_HEAP" -cp "$ZK_CP" -Dzookeeper.admin.enableServer=false \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$2/zoo.cfg" >"$2/log" 2>&1 </dev/null &
  fi
  PIDS+=($!)
}
start() { # system dir -> sets ADDRS
  local sys=$1 dir=$2 n lines="" ports=()
  ADDRS=""
  if [[ $MODE == standalone ]]; then
    ports=("$(port)")
    cfg "$dir" "${ports[0]}"
    launch "$sys" "$dir"
  else
    for n in 1 2 3; do ports+=("$(port)"); lines+="server.$n=127.0.0.1:$(port):$(port)"$'\n'; done
    for n in 1 2 3; do
      cfg "$dir/s$n" "${ports[$((n - 1))]}" "$lines"
      echo "$n" >"$dir/s$n/data/myid"
      launch "$sys" "$dir/s$n"
    done
  fi
  for p in "${ports[@]}"; do
    for _ in $(seq 450); do serving "$p" && break; sleep 0.2; done
    ADDRS+="${ADDRS:+,}127.0.0.1:$p"
  done
}
stop_all() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 2
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  PIDS=()
}

IFS=, read -ra SYS <<<"$SYSTEMS"
IFS=, read -ra WL <<<"$WORKLOADS"
declare -A OPS
for sys in "${SYS[@]}"; do
  for n in "$SMALL" "$LARGE"; do
    dir=$TMP/$sys-$n
    mkdir -p "$dir"
    start "$sys" "$dir"
    echo "treesize.sh: $sys ($MODE): filling $n znodes" >&2
    "$CORRAL_BIN" bench --servers "$ADDRS" --workload create --ops "$n" --warmup 0 --quiet >"$dir/fill.txt" 2>&1 ||
      { echo "treesize.sh: $sys: fill failed: $(tail -2 "$dir/fill.txt")" >&2; stop_all; continue; }
    for w in "${WL[@]}"; do
      r=$("$CORRAL_BIN" bench --servers "$ADDRS" --workload "$w" --duration "$DURATION" --warmup 2 --json --quiet)
      ops=$(python3 -c 'import json,sys; print(int(json.loads(sys.argv[1])["ops_per_s"]))' "$r")
      OPS[$sys,$n,$w]=$ops
      echo "  $sys $w at $n znodes: $ops ops/s" >&2
    done
    stop_all
  done
done
printf '%-10s %-8s %14s %14s %10s\n' system workload "ops/s@$SMALL" "ops/s@$LARGE" large/small
for sys in "${SYS[@]}"; do
  for w in "${WL[@]}"; do
    s=${OPS[$sys,$SMALL,$w]:-}; l=${OPS[$sys,$LARGE,$w]:-}
    if [[ -n $s && -n $l ]]; then
      printf '%-10s %-8s %14s %14s %10.2f\n' "$sys" "$w" "$s" "$l" "$(echo "$l / $s" | bc -l)"
    fi
  done
done
