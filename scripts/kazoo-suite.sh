#!/usr/bin/env bash
# Run kazoo's own test suite (the pinned kazoo release) against one standalone server.
#
#   scripts/kazoo-suite.sh zookeeper [pytest args]   # Debian's ZooKeeper 3.8.0
#   scripts/kazoo-suite.sh corral    [pytest args]   # the corral binary (CORRAL_BIN, or built)
#
# Writes `nodeid outcome` lines to $KAZOO_SUITE_RESULTS (default
# target/kazoo-suite/<target>-results.txt; for corral, the servers' logs go beside it in
# <name>-server.log). For corral, a full run (no pytest args) then compares them with the
# recorded ZooKeeper baseline (tests/kazoo_suite/zookeeper-3.8.0-results.txt) and fails
# if a test that passes on ZooKeeper does not pass on Corral. The tests listed in
# tests/kazoo_suite/exclusions.txt (SASL, TLS, reconfig, multi-server) are deselected.
#
# Environment: KAZOO_VENV (default .venv-kazoo), CORRAL_BIN, ZOOKEEPER_CLASSPATH
# (default: Debian's jars), ZOOKEEPER_PORT_OFFSET (default 20000: client
# port 20000), KAZOO_SUITE_TIMEOUT (whole run, seconds, default 1800), KAZOO_SUITE_CI=1
# (kazoo's CI mode).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
suite=$root/tests/kazoo_suite

target=${1:-}
case "$target" in
corral | zookeeper) shift ;;
*)
    echo "usage: $0 corral|zookeeper [pytest args]" >&2
    exit 2
    ;;
esac

# --- the venv: our own, pinned to what this suite was recorded with.
venv=${KAZOO_VENV:-$root/.venv-kazoo}
stamp=$venv/.kazoo-suite-requirements
if ! cmp -s "$suite/requirements.txt" "$stamp" 2>/dev/null; then
    echo "kazoo-suite: preparing $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$suite/requirements.txt"
    cp "$suite/requirements.txt" "$stamp"
fi
py=$venv/bin/python
site=$("$py" -c 'import kazoo, os; print(os.path.dirname(os.path.dirname(kazoo.__file__)))')

# --- the server.
export KAZOO_SUITE_TARGET=$target
export ZOOKEEPER_CLUSTER_SIZE=1
export ZOOKEEPER_VERSION=3.8.0
unset ZOOKEEPER_PATH ZOOKEEPER_JAAS_AUTH ZOOKEEPER_LOCAL_SESSION_RO ZOOKEEPER_OBSERVER_START_ID
# kazoo's tests change behaviour when CI is set (fixed 15 s sleeps, version taken from
# the environment instead of asked from the server, test_build runs): run them the same
# way everywhere, unless KAZOO_SUITE_CI=1 asks for kazoo's CI mode.
if [[ ${KAZOO_SUITE_CI:-} == 1 ]]; then
    export CI=true
else
    unset CI
fi
if [[ $target == zookeeper ]]; then
    # Debian's zookeeper.jar manifest lists its dependencies but not netty-codec and
    # netty-resolver, which kazoo's NettyServerCnxnFactory setting needs; log4j makes
    # the server write the zookeeper.log that kazoo's harness reads.
    j=/usr/share/java
    export ZOOKEEPER_CLASSPATH=${ZOOKEEPER_CLASSPATH:-$j/zookeeper.jar:$j/netty-codec.jar:$j/netty-resolver.jar:$j/slf4j-log4j12.jar:$j/log4j-1.2.jar}
    if ! command -v java >/dev/null || [[ ! -e ${ZOOKEEPER_CLASSPATH%%:*} ]]; then
        echo "kazoo-suite: needs java and ZooKeeper 3.8.0 (apt-get install zookeeper)" >&2
        exit 2
    fi
else
    # kazoo's harness insists on one of these; Corral ignores it.
    export ZOOKEEPER_CLASSPATH=${ZOOKEEPER_CLASSPATH:-corral}
    if [[ -z ${CORRAL_BIN:-} ]]; then
        cargo build --quiet -p corral-net --bin corral
        CORRAL_BIN=${CARGO_TARGET_DIR:-$root/target}/debug/corral
    fi
    CORRAL_BIN=$(realpath "$CORRAL_BIN")
    export CORRAL_BIN
fi

out=${KAZOO_SUITE_RESULTS:-$root/target/kazoo-suite/$target-results.txt}
mkdir -p "$(dirname "$out")"
out=$(realpath -m "$out")
rm -f "$out"
export KAZOO_SUITE_RESULTS=$out
if [[ $target == corral ]]; then
    export KAZOO_SUITE_SERVER_LOG=${out%.txt}-server.log
    rm -f "$KAZOO_SUITE_SERVER_LOG"
fi
export KAZOO_SUITE_EXCLUDE=${KAZOO_SUITE_EXCLUDE:-$suite/exclusions.txt}
export PYTHONPATH=$suite${PYTHONPATH:+:$PYTHONPATH}

# Test selection: kazoo/tests unless the arguments name tests (kazoo/tests/...::...).
tests=(kazoo/tests)
for a in "$@"; do
    if [[ $a == kazoo/* ]]; then
        tests=()
        break
    fi
done

# pytest runs in a session of its own, so that whatever it started (java, corral) can be
# stopped as one process group, even after a timeout.
start=$(date +%s)
(
    cd "$site"
    exec setsid -w timeout -k 30 "${KAZOO_SUITE_TIMEOUT:-1800}" \
        "$py" -m pytest -c "$suite/pytest.ini" --rootdir "$site" \
        -p kazoo_suite_plugin "${tests[@]}" "$@"
) &
group=$!
cleanup() { kill -TERM -- "-$group" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
status=0
wait "$group" || status=$?
cleanup
trap - EXIT INT TERM
echo "kazoo-suite: $target: pytest exit $status after $(($(date +%s) - start)) s; results in $out" >&2

if [[ ! -s $out ]]; then
    echo "kazoo-suite: no results written" >&2
    exit 1
fi
# pytest exits 1 when some test failed: expected here, some fail on ZooKeeper too.
if ((status > 1)); then
    exit "$status"
fi
if [[ $target == corral ]]; then
    if (($# > 0)); then
        echo "kazoo-suite: a selection was run: not compared with the ZooKeeper baseline" >&2
    else
        "$py" "$suite/compare.py" "$suite/zookeeper-3.8.0-results.txt" "$out"
    fi
fi
