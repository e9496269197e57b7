#!/usr/bin/env bash
# Run the Debian build of Apache ZooKeeper 3.8.0 as a standalone server on a loopback port.
#
#   zk-server.sh run   PORT DIR   write DIR/zoo.cfg and exec the JVM in the foreground
#                                 (used by the test fixtures: the child process IS the JVM,
#                                 so killing it, also with SIGKILL, kills the server)
#   zk-server.sh start PORT [DIR] run in the background, wait until it serves requests,
#                                 print DIR (default: a fresh temp dir)
#   zk-server.sh stop  PORT [DIR] stop a server started with `start` (TERM, then KILL);
#                                 a temp dir that `start` made itself is removed
#   zk-server.sh wait  PORT [SECS] wait until 127.0.0.1:PORT serves requests
#   zk-server.sh run-config DIR   exec the JVM on an existing DIR/zoo.cfg (quorum mode when
#                                 it has server.N lines; dataDir must hold myid)
#
# DIR keeps zoo.cfg, data/ (the dataDir, kept across runs so a restart on the same DIR
# recovers the old state), zk.pid and zk.log. Everything binds to 127.0.0.1 only.
# Environment: ZK_START_TIMEOUT (seconds, default 60), JAVA (default java),
# SERVER_JVMFLAGS (appended to the flags below).
set -euo pipefail

usage() { sed -n '2,16p' "$0" >&2; exit 2; }

cmd=${1:-}
port=${2:-}
if [[ "$cmd" != run-config ]]; then
  [[ -n "$cmd" && "$port" =~ ^[0-9]+$ ]] || usage
fi

# The Debian package's zkEnv.sh uses exactly this classpath: the jar's manifest names all
# of its dependencies under /usr/share/java. slf4j-simple is added so the server logs to
# stderr instead of the silent NOP logger.
ZK_JAR=${ZK_JAR:-/usr/share/java/zookeeper.jar}
CLASSPATH="/etc/zookeeper/conf:$ZK_JAR"
if [[ -f /usr/share/java/slf4j-simple.jar ]]; then
  CLASSPATH="$CLASSPATH:/usr/share/java/slf4j-simple.jar"
fi

# Extended types (TTL nodes) and a 1 s container/TTL reaper interval are JVM system
# properties in ZooKeeper, not zoo.cfg keys.
JVMFLAGS=(
  -Xmx512m
  -Dzookeeper.extendedTypesEnabled=true
  -Dznode.container.checkIntervalMs=1000
  -Dzookeeper.admin.enableServer=false
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn
  -Dorg.slf4j.simpleLogger.logFile=System.err
)

four_letter() {
  # One 4lw probe over bash's /dev/tcp; prints the answer, or nothing.
  local reply=""
  if exec 3<>"/dev/tcp/127.0.0.1/$1"; then
    printf '%s' "$2" >&3 || true
    reply=$(timeout 2 cat <&3 || true)
    exec 3<&- 3>&- || true
  fi 2>/dev/null
  printf '%s' "$reply"
}

serving() {
  # `ruok` answers as soon as the port is open, before the database is loaded; `srvr`
  # reports the mode only once the server accepts sessions.
  [[ "$(four_letter "$1" srvr)" == *"Mode: "* ]]
}

wait_ready() {
  local port=$1 secs=$2 pid=${3:-} deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    if serving "$port"; then return 0; fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      echo "zk-server.sh: ZooKeeper (pid $pid) exited before answering on port $port" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "zk-server.sh: ZooKeeper did not serve 127.0.0.1:$port within ${secs}s" >&2
  return 1
}

write_cfg() {
  local dir=$1
  mkdir -p "$dir/data"
  cat >"$dir/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.enableServer=false
maxClientCnxns=0
CFG
}

case "$cmd" in
  run-config)
    dir=${2:?run-config needs DIR}
    dir=$(cd "$dir" && pwd)
    [[ -f "$dir/zoo.cfg" ]] || { echo "zk-server.sh: no $dir/zoo.cfg" >&2; exit 2; }
    # shellcheck disable=SC2086 # SERVER_JVMFLAGS is a flag list, split on purpose
    exec "${JAVA:-java}" "${JVMFLAGS[@]}" ${SERVER_JVMFLAGS:-} -cp "$CLASSPATH" \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg"
    ;;
  run)
    dir=${3:?run needs DIR}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    write_cfg "$dir"
    # shellcheck disable=SC2086 # SERVER_JVMFLAGS is a flag list, split on purpose
    exec "${JAVA:-java}" "${JVMFLAGS[@]}" ${SERVER_JVMFLAGS:-} -cp "$CLASSPATH" \
      org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg"
    ;;
  start)
    if [[ -n "${3:-}" ]]; then
      dir=$3
      mkdir -p "$dir"
    else
      dir=$(mktemp -d "${TMPDIR:-/tmp}/corral-zk-$port.XXXXXX")
      touch "$dir/.remove-on-stop"
    fi
    dir=$(cd "$dir" && pwd)
    if [[ -n "$(four_letter "$port" ruok)" ]]; then
      echo "zk-server.sh: something already answers on 127.0.0.1:$port" >&2
      exit 1
    fi
    setsid "$0" run "$port" "$dir" >"$dir/zk.log" 2>&1 </dev/null &
    echo $! >"$dir/zk.pid"
    # Remember where the server of this port lives, for `stop PORT` without DIR.
    echo "$dir" >"${TMPDIR:-/tmp}/corral-zk-$port.dir"
    if ! wait_ready "$port" "${ZK_START_TIMEOUT:-60}" "$!"; then
      tail -n 30 "$dir/zk.log" >&2 || true
      kill -9 "$(cat "$dir/zk.pid")" 2>/dev/null || true
      exit 1
    fi
    echo "$dir"
    ;;
  stop)
    dir=${3:-$(cat "${TMPDIR:-/tmp}/corral-zk-$port.dir" 2>/dev/null || true)}
    [[ -n "$dir" && -f "$dir/zk.pid" ]] || { echo "zk-server.sh: no pid file for port $port" >&2; exit 1; }
    pid=$(cat "$dir/zk.pid")
    if kill -TERM "$pid" 2>/dev/null; then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/zk.pid" "${TMPDIR:-/tmp}/corral-zk-$port.dir"
    if [[ -f "$dir/.remove-on-stop" ]]; then rm -rf "$dir"; fi
    ;;
  wait)
    wait_ready "$port" "${3:-${ZK_START_TIMEOUT:-60}}"
    ;;
  *) usage ;;
esac
