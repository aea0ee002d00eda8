#!/usr/bin/env bash
# `make lock`: refresh the lock files from the ranges, with uv's pip-compile (hashes, every
# platform, Python >= 3.11). The tests and the demo install the locks (scripts/venv.sh,
# scripts/stack.sh); StackStorm installs requirements.txt, the ranges, into the pack's virtualenv.
#   requirements.lock        <- requirements-tests.txt + requirements-lint.txt (+ requirements.txt)
#   requirements-stack.lock  <- requirements-stack.txt (moto's server, OpenBao)
# Usage: scripts/lock.sh [--upgrade-package NAME ...]   (default: newest versions the ranges allow)
# Add a line to CHANGES.md when a lock moves.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/venv.sh
. scripts/venv.sh
[ -x "$VENV/bin/uv" ] || "$VENV/bin/pip" install -q 'uv>=0.5,<1'
compile() { # OUT IN...
  local out=$1; shift
  UV_CUSTOM_COMPILE_COMMAND="make lock" "$VENV/bin/uv" pip compile -q --universal \
    --python-version "$LOCK_PYTHON" --generate-hashes --no-strip-extras \
    "${UPGRADE[@]}" "$@" -o "$out"
  printf '==> %s: %s pinned\n' "$out" "$(grep -cE '^[A-Za-z0-9]' "$out")"
}
# no arguments: everything to the newest the ranges allow; else only what is named
if [ $# -eq 0 ]; then UPGRADE=(--upgrade); else UPGRADE=("$@"); fi
compile requirements.lock requirements-tests.txt requirements-lint.txt
compile requirements-stack.lock requirements-stack.txt
git --no-pager diff --stat -- requirements.lock requirements-stack.lock || true
