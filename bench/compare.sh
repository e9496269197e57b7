#!/usr/bin/env bash
# Side-by-side benchmark of Corral and Apache ZooKeeper 3.8.0 on this machine, in one run.
#
#   bench/compare.sh [options]
#
#   --mode standalone|ensemble  standalone (default): one server of each.
#                               ensemble: each system as a 3-server ensemble on loopback
#                               (the same zoo.cfg with server.N lines, myid files), the
#                               sessions spread over the three; RSS and CPU are summed
#                               over the three processes.
#   --rounds R                  rounds (default 3); the order of the systems alternates
#                               every round so that drift of the machine hits both
#   --duration S                measured seconds per workload (default 10)
#   --warmup S                  warm-up seconds per workload (default 2)
#   --workloads LIST            comma separated (default
#                               create,set,get,exists,mixed,multi,watch,ephemeral-churn)
#   --sessions N --pipeline D --value-size B --keys K --read-pct P
#                               passed to `corral bench` (defaults 32, 16, 100, 64, 90)
#   --rate R                    offered load in ops/s (open loop, `corral bench --rate`):
#                               latency at a fixed load instead of maximum throughput
#   --zk-heap SIZE              ZooKeeper's -Xmx and -Xms (default 1g)
#   --out FILE                  JSON results (default bench-results-<time>.json)
#   --keep                      keep the temp dir (data dirs, logs, raw results)
#
# Both systems get the same zoo.cfg (tickTime 2000, forceSync yes, snapCount 100000,
# preAllocSize 64 MiB, no connection limit), fresh data dirs under one temp dir (same
# disk), a fresh server per system per round, and the same client: the release `corral
# bench`, which verifies every reply. While each workload runs, the server's RSS (VmRSS
# of /proc/PID/status) and CPU time (utime+stime of /proc/PID/stat) are sampled.
# Prints per workload the medians over rounds and the ratios Corral/ZooKeeper, and writes
# everything (every sample of every round too) to the JSON file.
#
# Environment: CORRAL_BIN (default: build target/release/corral), JAVA (default java),
# BENCH_TMP (where the temp dir goes, default /tmp), ZK_JAR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=standalone
ROUNDS=3
DURATION=10
WARMUP=2
WORKLOADS=create,set,get,exists,mixed,multi,watch,ephemeral-churn
SESSIONS=32
PIPELINE=16
VALUE_SIZE=100
KEYS=64
READ_PCT=90
RATE=
ZK_HEAP=1g
OUT=bench-results-$(date +%Y%m%d-%H%M%S).json
KEEP=0

usage() { sed -n '2,33p' "$0" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --mode) MODE=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --workloads) WORKLOADS=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    --pipeline) PIPELINE=$2; shift 2 ;;
    --value-size) VALUE_SIZE=$2; shift 2 ;;
    --keys) KEYS=$2; shift 2 ;;
    --read-pct) READ_PCT=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --zk-heap) ZK_HEAP=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage ;;
    *) echo "compare.sh: unknown option $1" >&2; usage ;;
  esac
done
case "$MODE" in standalone | ensemble) ;; *) echo "compare.sh: --mode standalone|ensemble" >&2; exit 2 ;; esac
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --rounds must be a positive integer" >&2; exit 2; }

PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)

# ---- prerequisites --------------------------------------------------------------------
ZK_JAR=${ZK_JAR:-/usr/share/java/zookeeper.jar}
if [[ ! -f "$ZK_JAR" ]]; then
  echo "compare.sh: ZooKeeper not installed; running scripts/install-deps.sh" >&2
  "$ROOT/scripts/install-deps.sh"
fi
ZK_CP="/etc/zookeeper/conf:$ZK_JAR"
[[ -f /usr/share/java/slf4j-simple.jar ]] && ZK_CP="$ZK_CP:/usr/share/java/slf4j-simple.jar"
ZK_VERSION=$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || echo unknown)

if [[ -z "${CORRAL_BIN:-}" ]]; then
  echo "compare.sh: building corral (release)" >&2
  (cd "$ROOT" && cargo build -q --release -p corral-net --bin corral)
  CORRAL_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/corral
fi
[[ -x "$CORRAL_BIN" ]] || { echo "compare.sh: no corral binary at $CORRAL_BIN" >&2; exit 1; }

TMP=$(mktemp -d "${BENCH_TMP:-/tmp}/corral-compare.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if ((KEEP)); then echo "compare.sh: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
RAW=$TMP/raw.jsonl
: >"$RAW"
CLK_TCK=$(getconf CLK_TCK)

# ---- servers --------------------------------------------------------------------------
four_letter() {
  local reply=""
  if exec 3<>"/dev/tcp/127.0.0.1/$1"; then
    printf '%s' "$2" >&3 || true
    reply=$(timeout 2 cat <&3 || true)
    exec 3<&- 3>&- || true
  fi 2>/dev/null
  printf '%s' "$reply"
}

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# zoo.cfg shared by both systems. $1 dir, $2 client port, $3 optional "server.N" lines.
write_cfg() {
  mkdir -p "$1/data"
  cat >"$1/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$1/data
clientPort=$2
clientPortAddress=127.0.0.1
maxClientCnxns=0
forceSync=yes
snapCount=100000
preAllocSize=65536
autopurge.purgeInterval=0
4lw.commands.whitelist=*
admin.enableServer=false
${3:-}
CFG
}

wait_serving() { # port pid
  local deadline=$((SECONDS + 90))
  while ((SECONDS < deadline)); do
    [[ "$(four_letter "$1" srvr)" == *"Mode: "* ]] && return 0
    kill -0 "$2" 2>/dev/null || { echo "compare.sh: server (pid $2) died" >&2; return 1; }
    sleep 0.2
  done
  echo "compare.sh: no server on port $1 after 90 s" >&2
  return 1
}

# Start one system; sets SERVER_PIDS and SERVER_ADDRS (comma separated).
start_system() { # system dir
  local sys=$1 dir=$2 n port
  SERVER_PIDS=()
  SERVER_ADDRS=""
  if [[ "$sys" == corral && "$MODE" == standalone ]]; then
    port=$(free_port)
    write_cfg "$dir" "$port"
    setsid "$CORRAL_BIN" server --config "$dir/zoo.cfg" >"$dir/server.log" 2>&1 </dev/null &
    SERVER_PIDS=($!)
    SERVER_ADDRS=127.0.0.1:$port
  elif [[ "$MODE" == standalone ]]; then
    port=$(free_port)
    write_cfg "$dir" "$port"
    setsid "${JAVA:-java}" -Xms"$ZK_HEAP" -Xmx"$ZK_HEAP" -Dzookeeper.admin.enableServer=false \
      -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$ZK_CP" \
      org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
      >"$dir/server.log" 2>&1 </dev/null &
    SERVER_PIDS=($!)
    SERVER_ADDRS=127.0.0.1:$port
  else
    local ports=() peers=() lines=""
    for n in 1 2 3; do
      ports+=("$(free_port)")
      peers+=("$(free_port):$(free_port)")
      lines+="server.$n=127.0.0.1:${peers[$((n - 1))]}"$'\n'
    done
    for n in 1 2 3; do
      write_cfg "$dir/s$n" "${ports[$((n - 1))]}" "$lines"
      echo "$n" >"$dir/s$n/data/myid"
      if [[ "$sys" == corral ]]; then
        setsid "$CORRAL_BIN" server --config "$dir/s$n/zoo.cfg" >"$dir/s$n/server.log" 2>&1 </dev/null &
      else
        setsid "${JAVA:-java}" -Xms"$ZK_HEAP" -Xmx"$ZK_HEAP" -Dzookeeper.admin.enableServer=false \
          -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$ZK_CP" \
          org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/s$n/zoo.cfg" \
          >"$dir/s$n/server.log" 2>&1 </dev/null &
      fi
      SERVER_PIDS+=($!)
      SERVER_ADDRS+="${SERVER_ADDRS:+,}127.0.0.1:${ports[$((n - 1))]}"
    done
  fi
  PIDS+=("${SERVER_PIDS[@]}")
  local a i=0
  IFS=, read -ra addrs <<<"$SERVER_ADDRS"
  for a in "${addrs[@]}"; do
    wait_serving "${a##*:}" "${SERVER_PIDS[$i]}" || return 1
    i=$((i + 1))
  done
}

stop_system() {
  local p
  for p in "${SERVER_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${SERVER_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
}

# Sum of utime+stime ticks and of VmRSS kB over the server pids.
cpu_ticks() {
  local p t=0 v
  for p in "${SERVER_PIDS[@]}"; do
    # Fields after the ")" that closes comm: utime and stime are the 12th and 13th.
    v=$(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}') || v=0
    t=$((t + v))
  done
  echo "$t"
}
rss_kb() {
  local p t=0 v
  for p in "${SERVER_PIDS[@]}"; do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# Run one workload against the running system; append a JSON line to $RAW.
run_workload() { # system round workload
  local sys=$1 round=$2 w=$3 out=$TMP/$1-r$2-$3.json err=$TMP/$1-r$2-$3.err
  local t0 t1 c0 c1 rss_max=0 r start end rc=0
  c0=$(cpu_ticks)
  start=$(date +%s.%N)
  "$CORRAL_BIN" bench --servers "$SERVER_ADDRS" --workload "$w" --sessions "$SESSIONS" \
    --pipeline "$PIPELINE" --value-size "$VALUE_SIZE" --keys "$KEYS" --read-pct "$READ_PCT" \
    --duration "$DURATION" --warmup "$WARMUP" ${RATE:+--rate "$RATE"} --json --quiet >"$out" 2>"$err" &
  local bench=$!
  while kill -0 "$bench" 2>/dev/null; do
    r=$(rss_kb)
    ((r > rss_max)) && rss_max=$r
    sleep 0.5
  done
  wait "$bench" || rc=$?
  end=$(date +%s.%N)
  c1=$(cpu_ticks)
  r=$(rss_kb)
  ((r > rss_max)) && rss_max=$r
  if [[ ! -s "$out" ]]; then
    echo "compare.sh: $sys $w round $round: bench failed (exit $rc): $(tail -n 3 "$err")" >&2
    echo '{}' >"$out"
  elif ((rc != 0)); then
    echo "compare.sh: $sys $w round $round: bench reported errors (exit $rc)" >&2
  fi
  "$PY" - "$out" "$sys" "$round" "$w" "$rss_max" "$((c1 - c0))" "$CLK_TCK" "$start" "$end" "$rc" >>"$RAW" <<'PY'
import json, sys
out, sys_, rnd, w, rss, ticks, tck, start, end, rc = sys.argv[1:]
rep = json.load(open(out))
rep.update(system=sys_, round=int(rnd), workload=w, rss_max_kb=int(rss),
           server_cpu_s=int(ticks) / int(tck), wall_s=float(end) - float(start),
           bench_exit=int(rc))
print(json.dumps(rep))
PY
  echo "  $sys $w: $("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.0f ops/s, p99 %.2f ms, errors %s" % (r.get("ops_per_s",0), r.get("p99_us",0)/1000, r.get("errors","?")))' "$out"), RSS $((rss_max / 1024)) MiB" >&2
}

# ---- rounds ---------------------------------------------------------------------------
IFS=, read -ra WL <<<"$WORKLOADS"
echo "compare.sh: mode $MODE, $ROUNDS rounds, ${DURATION}s per workload (+${WARMUP}s warm-up), $SESSIONS sessions x $PIPELINE, temp dir $TMP" >&2
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2)); then order=(corral zookeeper); else order=(zookeeper corral); fi
  for sys in "${order[@]}"; do
    dir=$TMP/$sys-r$round
    mkdir -p "$dir"
    echo "compare.sh: round $round: $sys" >&2
    start_system "$sys" "$dir"
    for w in "${WL[@]}"; do run_workload "$sys" "$round" "$w"; done
    stop_system
  done
done

# ---- summary --------------------------------------------------------------------------
"$PY" - "$RAW" "$OUT" "$MODE" "$ROUNDS" "$DURATION" "$WARMUP" "$SESSIONS" "$PIPELINE" \
  "$VALUE_SIZE" "$ZK_HEAP" "$ZK_VERSION" "$WORKLOADS" <<'PY'
import json, os, platform, statistics, sys
raw, out, mode, rounds, dur, warm, sess, pipe, vsize, heap, zkver, wls = sys.argv[1:]
runs = [json.loads(l) for l in open(raw) if l.strip()]
def med(sys_, w, key):
    v = [r[key] for r in runs if r["system"] == sys_ and r["workload"] == w and key in r]
    return statistics.median(v) if v else None
def ratio(a, b):
    return a / b if a is not None and b else None
def f(x, fmt):
    return "n/a" if x is None else fmt % x
rows = []
for w in wls.split(","):
    row = {"workload": w}
    for s in ("corral", "zookeeper"):
        row[s] = {k: med(s, w, k) for k in ("ops_per_s", "p50_us", "p99_us", "p999_us",
                                            "rss_max_kb", "server_cpu_s", "ops")}
        errs = [r.get("errors", 1) + (r["bench_exit"] != 0 and r.get("errors", 0) == 0)
                for r in runs if r["system"] == s and r["workload"] == w]
        row[s]["errors"] = sum(errs) if errs else None
        c, o = row[s]["server_cpu_s"], row[s]["ops"]
        row[s]["server_cpu_us_per_op"] = c * 1e6 / o if c is not None and o else None
    row["ratio_throughput"] = ratio(row["corral"]["ops_per_s"], row["zookeeper"]["ops_per_s"])
    row["ratio_p99"] = ratio(row["corral"]["p99_us"], row["zookeeper"]["p99_us"])
    row["ratio_rss"] = ratio(row["corral"]["rss_max_kb"], row["zookeeper"]["rss_max_kb"])
    rows.append(row)
hdr = ("workload", "ZK ops/s", "Corral ops/s", "thr C/Z", "ZK p99 ms", "Corral p99", "p99 C/Z",
       "ZK RSS MiB", "Corral RSS", "ZK cpu us/op", "Corral cpu", "errors Z/C")
print(f"# mode {mode}, {rounds} rounds, medians; {sess} sessions x {pipe} pipelined, "
      f"{vsize}-byte values, {dur}s (+{warm}s warm-up) per workload; ZooKeeper {zkver} -Xmx{heap}")
print(("{:<16}" + " {:>12}" * (len(hdr) - 1)).format(*hdr))
for r in rows:
    c, z = r["corral"], r["zookeeper"]
    mib = lambda kb: None if kb is None else kb / 1024
    ms = lambda us: None if us is None else us / 1000
    print(("{:<16}" + " {:>12}" * (len(hdr) - 1)).format(
        r["workload"], f(z["ops_per_s"], "%.0f"), f(c["ops_per_s"], "%.0f"),
        f(r["ratio_throughput"], "%.2f"), f(ms(z["p99_us"]), "%.2f"), f(ms(c["p99_us"]), "%.2f"),
        f(r["ratio_p99"], "%.2f"), f(mib(z["rss_max_kb"]), "%.0f"), f(mib(c["rss_max_kb"]), "%.0f"),
        f(z["server_cpu_us_per_op"], "%.1f"), f(c["server_cpu_us_per_op"], "%.1f"),
        f"{z['errors'] if z['errors'] is not None else 'n/a'}/{c['errors'] if c['errors'] is not None else 'n/a'}"))
doc = {"mode": mode, "rounds": int(rounds), "duration_s": float(dur), "warmup_s": float(warm),
       "sessions": int(sess), "pipeline": int(pipe), "value_size": int(vsize),
       "zookeeper_version": zkver, "zookeeper_heap": heap,
       "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                   "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                                if l.startswith("model name")), "unknown")},
       "summary": rows, "runs": runs}
json.dump(doc, open(out, "w"), indent=1)
print(f"# JSON: {out}")
PY
