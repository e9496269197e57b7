#!/usr/bin/env bash
# Install what the end-to-end tests need, only where it is missing:
#   - Debian packages zookeeper (server, zkCli.sh, Java) and zookeeper-bin (the C client
#     cli_mt), the oracle that Corral is compared with;
#   - a Python venv at .venv (repo root) with kazoo and pytest.
# Idempotent and quiet when everything is already there. Run as root on Debian 12.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
# Pinned so that every machine runs the same client code.
PY_PACKAGES=(kazoo==2.10.0 pytest==8.3.5 pytest-timeout==2.3.1)
export DEBIAN_FRONTEND=noninteractive

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  ((${#missing[@]})) || return 0
  echo "install-deps: installing ${missing[*]}" >&2
  if ((apt_updated == 0)); then
    apt-get update -qq
    apt_updated=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_install zookeeper zookeeper-bin

# Debian's python3 needs python3-venv for `-m venv` (ensurepip); prefer it over any other
# python3 on PATH so the venv does not depend on a user-local interpreter.
PY=${PYTHON:-}
if [[ -z "$PY" ]]; then
  if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=$(command -v python3 || true); fi
fi
if [[ -z "$PY" ]]; then
  apt_install python3 python3-venv
  PY=/usr/bin/python3
fi

venv_ok() {
  [[ -x "$VENV/bin/python" ]] &&
    "$VENV/bin/python" - "${PY_PACKAGES[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    if version(name) != want:
        sys.exit(1)
PY
}

if ! venv_ok; then
  echo "install-deps: creating $VENV with ${PY_PACKAGES[*]}" >&2
  if ! "$PY" -m venv --clear "$VENV" >/dev/null 2>&1; then
    apt_install python3-venv
    "$PY" -m venv --clear "$VENV" >/dev/null
  fi
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
  venv_ok || { echo "install-deps: venv check failed after install" >&2; exit 1; }
fi
