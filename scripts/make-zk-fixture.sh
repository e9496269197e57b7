#!/usr/bin/env bash
# Record a real Apache ZooKeeper 3.8.0 data directory for the import tests
# (net/src/storage/zk_import).
#
#   make-zk-fixture.sh [OUT]     OUT defaults to tests/fixtures/zk-3.8.0
#
# Starts the Debian ZooKeeper 3.8.0 (scripts/install-deps.sh) on a loopback port in a
# private temp dir with snapCount=50 and 16 KB log preallocation, drives it with kazoo from
# the repo's .venv (or $VENV) so that the data dir holds snapshot.0, a later snapshot and
# log records after it, dumps every node through kazoo to OUT/expected.json, stops the
# server while one session (with ephemerals) is still open, and copies the dataDir to
# OUT/data. Environment: ZK_FIXTURE_PORT (default 21891), VENV, ZK_SNAPSHOT_COMPRESSION
# (gz or snappy: zookeeper.snapshot.compression.method; default: plain snapshots).
#
# Every run records different zxids, times and session ids; the tests in
# net/src/storage/zk_import/tests.rs name the files of the committed recording.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/tests/fixtures/zk-3.8.0}
PORT=${ZK_FIXTURE_PORT:-21891}
VENV=${VENV:-$ROOT/.venv}
[[ -x "$VENV/bin/python" ]] || { echo "make-zk-fixture: no venv at $VENV (run scripts/install-deps.sh)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/corral-zk-fixture.XXXXXX")
cleanup() {
  "$ROOT/scripts/zk-server.sh" stop "$PORT" "$WORK" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# snapCount 50: a snapshot (and a log roll) after 26..50 txns. preAllocSize is in KB; the
# default 64 MiB would make every log file that big.
export SERVER_JVMFLAGS="-Dzookeeper.snapCount=50 -Dzookeeper.preAllocSize=16"
if [[ -n "${ZK_SNAPSHOT_COMPRESSION:-}" ]]; then
  SERVER_JVMFLAGS+=" -Dzookeeper.snapshot.compression.method=$ZK_SNAPSHOT_COMPRESSION"
fi
"$ROOT/scripts/zk-server.sh" start "$PORT" "$WORK" >/dev/null

ZK_FIXTURE_DIR="$WORK/data/version-2" ZK_STOP="$ROOT/scripts/zk-server.sh stop $PORT $WORK" \
PYTHONPATH="$ROOT/tests/python" "$VENV/bin/python" - "$PORT" "$WORK/expected.json" <<'PY'
import base64, json, os, subprocess, sys, time

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError, BadVersionError
from kazoo.protocol.serialization import Create
from kazoo.security import OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, make_acl, make_digest_acl

from zkhelpers import create_container, create_ttl, raw_call

port, out = sys.argv[1], sys.argv[2]
vdir = os.environ["ZK_FIXTURE_DIR"]
hosts = f"127.0.0.1:{port}"


def snapshots():
    return sorted(int(n.split(".")[1], 16) for n in os.listdir(vdir) if n.startswith("snapshot."))


def connect():
    c = KazooClient(hosts=hosts, timeout=30)
    c.start(timeout=30)
    return c


live = connect()        # stays open across the stop: its ephemerals stay in the data
other = connect()       # closed in phase 2: a closeSession that deletes ephemerals
digest_acl = make_digest_acl("alice", "secret", all=True)

# --- Phase 1: goes into the snapshot -------------------------------------------------------
live.create("/app", b"hello")
live.create("/app/binary", bytes([0, 1, 2, 0xFF, 0xFE, 0x80]))
live.create("/app/empty", b"")
raw_call(live, Create("/app/null", None, list(OPEN_ACL_UNSAFE), 0))   # null data
live.create("/app/a/b/c/d", b"deep", makepath=True)
live.create("/readonly", b"ro", acl=READ_ACL_UNSAFE)
live.create("/secret", b"for alice", acl=[digest_acl])
for i in range(3):
    live.create("/queue/item-", str(i).encode(), sequence=True, makepath=True)
live.create("/live/e1", b"ephemeral", ephemeral=True, makepath=True)
live.create("/live/eseq-", b"", ephemeral=True, sequence=True)
other.create("/live/other", b"goes away", ephemeral=True)
create_container(live, "/box")
live.create("/box/item", b"x")
create_ttl(live, "/ttl", b"ttl node", 3_600_000)
live.set("/app", b"hello v1")
live.set("/app", b"hello v2")
live.set_acls("/app/a", [make_acl("world", "anyone", read=True, admin=True)])
try:
    live.create("/app", b"dup")           # an error txn (NodeExists)
except NodeExistsError:
    pass

# Filler writes until ZooKeeper has taken a snapshot after snapshot.0.
live.create("/filler", b"")
n = 0
deadline = time.monotonic() + 60
while len([z for z in snapshots() if z > 0]) == 0:
    if time.monotonic() > deadline:
        sys.exit("make-zk-fixture: no snapshot after 60 s of writes")
    live.set("/filler", str(n).encode())
    n += 1
    time.sleep(0.02)   # the snapshot is written on a background thread
time.sleep(0.5)

# --- Phase 2: only in the log after the snapshot ---------------------------------------------
live.delete("/app/a/b/c/d")
live.create("/app/a/b/c/new", b"after snapshot")
live.set("/app/binary", bytes(range(256)))
live.create("/queue/item-", b"3", sequence=True)
live.delete("/queue/item-0000000000")
t = live.transaction()
t.create("/multi", b"from multi")
t.check("/app", 2)
t.set_data("/app/empty", b"now full")
t.delete("/queue/item-0000000001")
assert all(not isinstance(r, Exception) for r in t.commit())
t = live.transaction()                     # a failed multi: logged as error txns
t.create("/multi-failed", b"")
t.check("/app", 99)
assert any(isinstance(r, Exception) for r in t.commit())
live.delete("/box/item")                   # the empty container is reaped (op 20)
deadline = time.monotonic() + 30
while live.exists("/box"):
    if time.monotonic() > deadline:
        sys.exit("make-zk-fixture: container /box was not reaped")
    time.sleep(0.1)
other.stop()                               # closeSession deletes /live/other
other.close()
live.set_acls("/app/empty", [digest_acl] + list(READ_ACL_UNSAFE))
try:
    live.set("/app", b"stale", version=0)  # an error txn (BadVersion)
except BadVersionError:
    pass
live.set("/app", b"")

# --- Dump through kazoo ----------------------------------------------------------------------
live.add_auth("digest", "alice:secret")
nodes = {}


def walk(path):
    data, stat = live.get(path)
    acl, _ = live.get_acls(path)
    nodes[path] = {
        "data": None if data is None else base64.b64encode(data).decode(),
        "stat": {f: getattr(stat, f) for f in (
            "czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
            "ephemeralOwner", "dataLength", "numChildren", "pzxid")},
        "acl": [{"perms": a.perms, "scheme": a.id.scheme, "id": a.id.id} for a in acl],
    }
    for child in sorted(live.get_children(path)):
        walk(path.rstrip("/") + "/" + child)


walk("/")
sessions = {"live": live.client_id[0]}
with open(out, "w") as f:
    json.dump({"sessions": sessions, "nodes": nodes}, f, indent=1, sort_keys=True)
    f.write("\n")

# Stop the server with `live` still connected: its session and ephemerals stay on disk.
subprocess.run(os.environ["ZK_STOP"].split(), check=True)
os._exit(0)
PY

rm -rf "$OUT"
mkdir -p "$OUT"
cp -r "$WORK/data" "$OUT/data"
cp "$WORK/expected.json" "$OUT/expected.json"
ls -la "$OUT/data/version-2"
du -sh "$OUT"
