#!/usr/bin/env bash
# The one test command: sets up a virtualenv, starts the local servers, lints, runs every test.
# Usage: scripts/test.sh [pytest args...]      (README: `make test`; CI: .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

say() { printf '\n==> %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv $VENV"
  python3 -m venv "$VENV"
fi
stamp="$VENV/.requirements.sha"
want=$(cat requirements.txt requirements-tests.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python requirements into $VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r requirements-tests.txt
  echo "$want" > "$stamp"
fi

say "starting the local servers (scripts/stack.sh up)"
scripts/stack.sh up

say "lint: flake8"
"$VENV/bin/flake8" actions sensors tests bench scripts
say "lint: pylint -E"
"$VENV/bin/pylint" -E --rcfile=.pylintrc actions sensors

say "docs: README tables match the metadata (scripts/gen_docs.py --check)"
"$VENV/bin/python" scripts/gen_docs.py --check

say "tests"
"$VENV/bin/python" -m pytest "$@"
