# Sourced by scripts/test.sh and scripts/demo.sh: makes $VENV and installs the requirements once
# (again only when requirements*.txt change): the pack's, its tests' and the linters'.
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  printf '\n==> creating virtualenv %s\n' "$VENV"
  python3 -m venv "$VENV"
fi
_venv_stamp="$VENV/.requirements.sha"
_venv_want=$(cat requirements.txt requirements-tests.txt requirements-lint.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$_venv_stamp" 2>/dev/null)" != "$_venv_want" ]; then
  printf '\n==> installing Python requirements into %s (about a minute)\n' "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r requirements-tests.txt -r requirements-lint.txt
  echo "$_venv_want" > "$_venv_stamp"
fi
