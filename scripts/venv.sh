# Sourced by scripts/test.sh, scripts/demo.sh and scripts/lock.sh: makes $VENV and installs the
# pack's, its tests' and the linters' requirements, again only when what it installs changes.
#   PACK_DEPS=lock    (default) exactly requirements.lock: pinned versions with their hashes, so a
#                     fresh machine tests what CI tested (refresh with `make lock`)
#   PACK_DEPS=newest  the newest versions the ranges in requirements*.txt allow (`make test-newest`,
#                     in .venv-newest): a new release that breaks the pack is seen on purpose
VENV=${VENV:-.venv}
PACK_DEPS=${PACK_DEPS:-lock}
LOCK_PYTHON=3.11  # the lock is made for this Python and newer (Debian 12's python3)
if [ ! -x "$VENV/bin/python" ]; then
  printf '\n==> creating virtualenv %s\n' "$VENV"
  python3 -m venv "$VENV"
fi
if [ "$PACK_DEPS" = lock ] && ! "$VENV/bin/python" -c \
    "import sys; sys.exit(sys.version_info < tuple(map(int, '$LOCK_PYTHON'.split('.'))))"; then
  printf '\n==> WARNING: %s is Python %s; requirements.lock is made for %s and newer:\n' \
    "$VENV" "$("$VENV/bin/python" -c 'import platform; print(platform.python_version())')" "$LOCK_PYTHON"
  printf '    installing the ranges of requirements*.txt instead (not the versions CI tests)\n'
  PACK_DEPS=ranges
fi
if [ "$PACK_DEPS" = lock ] && [ ! -f requirements.lock ]; then
  printf '\n==> WARNING: no requirements.lock (make lock): installing the ranges instead\n'
  PACK_DEPS=ranges
fi
case $PACK_DEPS in
  lock) _venv_files=(requirements.lock) ;;
  newest|ranges) _venv_files=(requirements.txt requirements-tests.txt requirements-lint.txt) ;;
  *) printf 'PACK_DEPS=%s: expected lock or newest\n' "$PACK_DEPS" >&2; exit 2 ;;
esac
_venv_stamp="$VENV/.requirements.sha"
_venv_want="$PACK_DEPS $(cat "${_venv_files[@]}" | sha256sum | cut -d' ' -f1)"
# newest: ask the index again once a day
[ "$PACK_DEPS" = newest ] && _venv_want="$_venv_want $(date -u +%F)"
if [ "$(cat "$_venv_stamp" 2>/dev/null)" != "$_venv_want" ]; then
  printf '\n==> installing Python requirements (%s) into %s (about a minute)\n' "$PACK_DEPS" "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  if [ "$PACK_DEPS" = lock ]; then
    # the lock names every package with its hashes: nothing else is resolved or downloaded
    "$VENV/bin/pip" install -q --require-hashes --no-deps -r requirements.lock
  else
    "$VENV/bin/pip" install -q --upgrade --upgrade-strategy eager \
      -r requirements-tests.txt -r requirements-lint.txt
  fi
  echo "$_venv_want" > "$_venv_stamp"
fi
if [ "$PACK_DEPS" = newest ]; then
  printf '\n==> newest versions the ranges allow: %s\n' "$("$VENV/bin/pip" freeze 2>/dev/null \
    | grep -iE '^(boto3|botocore|kubernetes|hvac|py-consul|pyyaml|moto|pytest|hypothesis)==' \
    | tr '\n' ' ')"
fi
