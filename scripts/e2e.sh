#!/usr/bin/env bash
# Run the end-to-end suites with real third-party clients against one server kind:
#   CORRAL_E2E_SERVER=corral    (default) the `corral` binary (built here unless CORRAL_BIN
#                               is set)
#   CORRAL_E2E_SERVER=zookeeper Apache ZooKeeper 3.8.0 from Debian, the reference
# Suites: kazoo (tests/python, pytest) and the Rust zookeeper-client, zkCli.sh and cli_mt
# tests (tests/tests/{zookeeper_client,cli_tools}.rs). Exits non-zero if any suite fails or
# runs no test. Every server binds 127.0.0.1 only and is stopped by its test fixture.
# Extra arguments go to pytest (e.g. -k acl -x).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CORRAL_E2E_SERVER=${CORRAL_E2E_SERVER:-corral}
case "$CORRAL_E2E_SERVER" in
  corral | zookeeper) ;;
  *) echo "e2e.sh: CORRAL_E2E_SERVER must be corral or zookeeper" >&2; exit 2 ;;
esac
# Bounds: a suite that hangs fails instead of eating the CI budget.
PYTEST_TIMEOUT=${E2E_PYTEST_TIMEOUT:-600}
CARGO_TIMEOUT=${E2E_CARGO_TIMEOUT:-1500}

scripts/install-deps.sh || { echo "e2e.sh: installing dependencies failed" >&2; exit 1; }

if [[ "$CORRAL_E2E_SERVER" == corral && -z "${CORRAL_BIN:-}" ]]; then
  echo "e2e.sh: building the corral binary" >&2
  timeout "$CARGO_TIMEOUT" cargo build -q -p corral-net --bin corral || {
    echo "e2e.sh: building corral failed" >&2
    exit 1
  }
fi

failed=()

echo "=== kazoo suite (tests/python) against $CORRAL_E2E_SERVER"
timeout -k 10 "$PYTEST_TIMEOUT" .venv/bin/pytest tests/python -q "$@"
rc=$?
# pytest exit 5 means no test was collected: that is a failure here.
if ((rc != 0)); then
  echo "e2e.sh: kazoo suite failed (pytest exit $rc)" >&2
  failed+=(kazoo)
fi

# scripts/test.sh runs these inside `cargo test --workspace` already and sets E2E_SKIP_RUST.
if [[ -z "${E2E_SKIP_RUST:-}" ]]; then
  echo "=== Rust suites (zookeeper-client, zkCli.sh, cli_mt) against $CORRAL_E2E_SERVER"
  timeout -k 10 "$CARGO_TIMEOUT" cargo test -p corral-tests --test zookeeper_client --test ensemble_client --test cli_tools
  rc=$?
  if ((rc != 0)); then
    echo "e2e.sh: Rust e2e suites failed (cargo exit $rc)" >&2
    failed+=(rust)
  fi
fi

if ((${#failed[@]})); then
  echo "e2e.sh: FAILED against $CORRAL_E2E_SERVER: ${failed[*]}" >&2
  exit 1
fi
echo "e2e.sh: all e2e suites passed against $CORRAL_E2E_SERVER"
