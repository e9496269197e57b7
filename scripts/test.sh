#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
#   1. install what the tests need (Debian ZooKeeper tools, a Python venv with kazoo);
#   2. lint: cargo fmt --check, cargo clippy -D warnings;
#   3. build the `corral` binary the end-to-end tests start;
#   4. cargo test for the whole workspace (unit, property, conformance vectors against a
#      fresh `corral`, zookeeper-client/zkCli.sh/cli_mt end to end, fuzz corpora);
#   5. the Python (kazoo) end-to-end suite against a fresh `corral`;
#   6. `corral data import-zookeeper` of a data directory a real ZooKeeper 3.8.0 just wrote;
#   7. kazoo's own test suite against `corral`, compared with the ZooKeeper 3.8.0 baseline.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
bash scripts/install-deps.sh

step "format and lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build"
cargo build --workspace --locked

step "cargo test"
cargo test --workspace --locked

step "end-to-end: kazoo (the Rust e2e suites ran inside cargo test)"
E2E_SKIP_RUST=1 bash scripts/e2e.sh

step "import of a real ZooKeeper 3.8.0 data directory"
bash scripts/import-test.sh

step "kazoo's own test suite against corral (must pass whatever passes on ZooKeeper 3.8.0)"
bash scripts/kazoo-suite.sh corral
