#!/usr/bin/env bash
# Python interop checks: installs the pinned requirements into .venv (once,
# again when requirements.txt changes), generates the stubs from proto/ into
# gen/ (every run), starts server-svc and client-svc (../services.sh) and runs
# pytest against them. The exit status is pytest's.
#
#   tests/interop/python/run.sh [PYTEST_ARGS...]   # from any directory
#   tests/interop/python/run.sh --setup            # only .venv and gen/ (for the README's examples)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
VENV="$HERE/.venv"
PY="$VENV/bin/python"
export PYTHONDONTWRITEBYTECODE=1

say() { echo "python interop: $*" >&2; }

make_venv() {
  if [ -x "$PY" ] && "$PY" -m pip --version >/dev/null 2>&1; then
    return 0
  fi
  command -v python3 >/dev/null || { say "error: python3 is not installed"; exit 1; }
  rm -rf "$VENV"
  say "creating $VENV"
  local err
  if err=$(python3 -m venv "$VENV" 2>&1); then
    return 0
  fi
  rm -rf "$VENV"
  echo "$err" >&2
  # Debian/Ubuntu ship venv's ensurepip separately, in python3-venv.
  local ver
  ver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "python3 -m venv failed (no ensurepip): installing python3-venv with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$ver-venv"
    python3 -m venv "$VENV" || { rm -rf "$VENV"; say "error: python3 -m venv still fails"; exit 1; }
  else
    say "error: 'python3 -m venv' failed, most likely because ensurepip is missing."
    say "On Debian/Ubuntu install it as root: apt-get install python3-venv (or python$ver-venv), then rerun."
    exit 1
  fi
}

install_requirements() {
  local stamp="$VENV/.requirements.installed"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$HERE/requirements.txt"; then
    return 0
  fi
  say "installing the pinned requirements from PyPI"
  "$PY" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$stamp"
}

generate_stubs() {
  rm -rf "$HERE/gen"
  mkdir -p "$HERE/gen"
  "$PY" -m grpc_tools.protoc -I "$ROOT/proto" \
    --python_out="$HERE/gen" --grpc_python_out="$HERE/gen" \
    "$ROOT"/proto/handshake/v1/*.proto
}

make_venv
install_requirements
generate_stubs

if [ "${1:-}" = "--setup" ]; then
  say "ready: $PY, stubs in $HERE/gen"
  exit 0
fi

# shellcheck source=../services.sh
source "$HERE/../services.sh"
start_services
say "server-svc $SERVER_ADDR, client-svc $CLIENT_ADDR"

rc=0
(cd "$HERE" && "$PY" -m pytest "$@") || rc=$?
exit "$rc"
