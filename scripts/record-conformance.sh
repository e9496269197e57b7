#!/usr/bin/env bash
# Record the conformance vectors against real ZooKeeper 3.8.0 (Debian package), then replay
# them against a second, fresh ZooKeeper to prove the normalisation is stable.
#
#   scripts/record-conformance.sh            record into tests/conformance/vectors, then check
#   scripts/record-conformance.sh --check    only check the committed vectors against ZooKeeper
#   scripts/record-conformance.sh --record   only record
#
# Environment: ZK_PORT (first port to try, default 22181), VECTORS (output directory).
# Every server runs on 127.0.0.1 with a fresh temporary dataDir and is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VECTORS=${VECTORS:-$ROOT/tests/conformance/vectors}
# A random base port makes collisions with other local test servers unlikely; the port is
# still checked for being free and for being owned by the server we started.
PORT_BASE=${ZK_PORT:-$((21000 + RANDOM % 20000))}
MODE=${1:-all}
case "$MODE" in all | --check | --record) ;; *)
  echo "usage: $0 [--check|--record]" >&2
  exit 2
  ;;
esac

ZK_JAR=/usr/share/java/zookeeper.jar
if [ ! -f "$ZK_JAR" ]; then
  echo "installing ZooKeeper (Debian zookeeper, zookeeper-bin)" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get install -y zookeeper zookeeper-bin
fi
command -v java >/dev/null || { echo "java not found" >&2; exit 1; }

ZK_PID=""
ZK_DIR=""
stop_zk() {
  if [ -n "$ZK_PID" ] && kill -0 "$ZK_PID" 2>/dev/null; then
    kill "$ZK_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$ZK_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$ZK_PID" 2>/dev/null || true
    wait "$ZK_PID" 2>/dev/null || true
  fi
  ZK_PID=""
  if [ -n "$ZK_DIR" ]; then
    cp "$ZK_DIR/server.log" /tmp/corral-zk-conformance-last.log 2>/dev/null || true
    rm -rf "$ZK_DIR"
  fi
  ZK_DIR=""
}
trap stop_zk EXIT INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Send a four-letter word, print the answer (empty if the server is not up).
four_letter() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
    printf '%s' "$2" >&3
    timeout 2 cat <&3 || true
  ) 2>/dev/null
}

# Start a standalone ZooKeeper on a free loopback port; sets ZK_PID, ZK_DIR, ZK_PORT.
start_zk() {
  ZK_PORT=$PORT_BASE
  while port_in_use "$ZK_PORT"; do
    ZK_PORT=$((ZK_PORT + 1))
    [ "$ZK_PORT" -gt $((PORT_BASE + 50)) ] && { echo "no free port near $PORT_BASE" >&2; exit 1; }
  done
  ZK_DIR=$(mktemp -d /tmp/corral-zk-conformance.XXXXXX)
  mkdir -p "$ZK_DIR/data"
  cat >"$ZK_DIR/zoo.cfg" <<EOF
tickTime=2000
dataDir=$ZK_DIR/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.enableServer=false
maxClientCnxns=0
EOF
  # The jar's manifest Class-Path pulls in its Debian dependencies (see zkEnv.sh for the
  # packaged launcher, which runs QuorumPeerMain the same way).
  java -Xmx256m \
    -Dzookeeper.extendedTypesEnabled=true \
    -Dznode.container.checkIntervalMs=1000 \
    -Dzookeeper.admin.enableServer=false \
    -Dzookeeper.root.logger=INFO,CONSOLE \
    -cp "/etc/zookeeper/conf:$ZK_JAR:/usr/share/java/slf4j-simple.jar" \
    org.apache.zookeeper.server.ZooKeeperServerMain "$ZK_DIR/zoo.cfg" \
    >"$ZK_DIR/server.log" 2>&1 &
  ZK_PID=$!
  for _ in $(seq 1 150); do
    # ruok answers before the server accepts sessions; srvr reports a zxid only when serving.
    if four_letter "$ZK_PORT" srvr | grep -q '^Zxid:'; then
      # Make sure the answer came from our server, not from someone else's on that port.
      sleep 0.5
      kill -0 "$ZK_PID" 2>/dev/null || { echo "port $ZK_PORT taken by another process" >&2; exit 1; }
      if command -v ss >/dev/null && ! ss -ltnp 2>/dev/null | grep ":$ZK_PORT " | grep -q "pid=$ZK_PID,"; then
        echo "port $ZK_PORT is not served by our ZooKeeper (pid $ZK_PID)" >&2
        exit 1
      fi
      echo "ZooKeeper up on 127.0.0.1:$ZK_PORT (pid $ZK_PID)" >&2
      return
    fi
    kill -0 "$ZK_PID" 2>/dev/null || { cat "$ZK_DIR/server.log" >&2; echo "ZooKeeper exited" >&2; exit 1; }
    sleep 0.2
  done
  echo "ZooKeeper was not serving within 30 s" >&2
  exit 1
}

cd "$ROOT"
cargo build -q -p corral-tests --bin conformance
BIN=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/conformance

if [ "$MODE" != --check ]; then
  start_zk
  four_letter "$ZK_PORT" srvr | head -1 >"$ROOT/tests/conformance/RECORDED_WITH"
  dpkg-query -W -f='Debian package: ${Package} ${Version}\n' zookeeper >>"$ROOT/tests/conformance/RECORDED_WITH" 2>/dev/null || true
  "$BIN" record --server "127.0.0.1:$ZK_PORT" --out "$VECTORS"
  kill -0 "$ZK_PID" 2>/dev/null || { echo "ZooKeeper died during recording" >&2; exit 1; }
  stop_zk
fi

if [ "$MODE" != --record ]; then
  start_zk
  "$BIN" check --server "127.0.0.1:$ZK_PORT" --vectors "$VECTORS" --target zookeeper
  kill -0 "$ZK_PID" 2>/dev/null || { echo "ZooKeeper died during the check" >&2; exit 1; }
  stop_zk
fi
