#!/usr/bin/env bash
# The resync (rules database_resync and database_retry -> aws.database_resync) end to end in real
# StackStorm code: tests/st2_e2e/test_resync_e2e.py on the plumbing of the shared harness
# ../shared/st2check/test_aws_e2e_inprocess.py, prepared the way ../shared/st2check/e2e prepares
# its own run, in a folder of its own ($ST2CHECK/e2e-resync) so that the two do not clobber each
# other. StackStorm must be installed (../shared/st2check/install.sh; scripts/st2check.sh does it).
# usage: tests/st2_e2e/run.sh   (any directory; STACK_DIR: the local servers, default the main
#        set <repo>/.stack, started with scripts/stack.sh up)    About 2-4 minutes.
# Results: $ST2CHECK/e2e-resync/result.json and run.log; the last line says pass or FAIL.
set -u
S=${ST2CHECK:-$HOME/.cache/st2check}
root=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd); cd "$root" || exit 2
here=${ST2CHECK_TOOLS:-$(cd "$root/.." && pwd)/shared/st2check}
fail() { echo "$*"; echo "real StackStorm resync end to end: FAIL"; exit "${rc:-1}"; }
[ -x "$S/venv/bin/python" ] || { rc=2; fail "no StackStorm in $S: run $here/install.sh first"; }
[ -f "$here/test_aws_e2e_inprocess.py" ] || { rc=2; fail "no shared e2e harness in $here"; }
E=${E2E_RESYNC_DIR:-$S/e2e-resync}; rm -rf "$E"; mkdir -p "$E/packs/aws" "$E/base"
# the working tree as it is, committed or not (untracked files left out as git would)
git ls-files -co --exclude-standard -z | tar --null -T - -c | tar -x -C "$E/packs/aws"
sed -e "s#@ST2CHECK@#$S#g" -e "s#@BASE@#$E/base#g" -e "s#@PACKS@#$E/packs#g" "$here/st2.conf.in" > "$E/st2.conf"
export STACK_DIR=${STACK_DIR:-$root/.stack}
scripts/stack.sh up >"$E/stack.log" 2>&1 || fail "scripts/stack.sh up failed (see $E/stack.log)"
"$S/venv/bin/python" "$here/setup_pack_venv.py" "$E/st2.conf" aws >"$E/venv-setup.log" 2>&1 \
  || fail "st2 could not make the pack virtualenv: $(tail -1 "$E/venv-setup.log")"
# the sensor runs inside this process (st2's SensorWrapper) and the test reads the servers: the
# pack's requirements in st2's virtualenv too, under st2's own pins, as ../shared/st2check/check
# puts them there (its pyOpenSSL needs an older cryptography)
grep -iE '^(cryptography|cffi|pyOpenSSL|eventlet|greenlet)[=<>]' "$S/src/st2/requirements.txt" > "$E/st2-pins.txt"
"$S/venv/bin/pip" install -q -c "$E/st2-pins.txt" -r "$E/packs/aws/requirements.txt" >"$E/st2-venv-reqs.log" 2>&1 \
  || fail "requirements.txt does not install into st2's virtualenv (see $E/st2-venv-reqs.log)"
# as on a stock StackStorm: the pack's requirements in its own virtualenv
"$E/base/virtualenvs/aws/bin/pip" install -q --ignore-installed -r "$E/packs/aws/requirements.txt" >"$E/venv-reqs.log" 2>&1 \
  || fail "requirements.txt does not install into the pack virtualenv (see $E/venv-reqs.log)"
# -c /dev/null and --confcutdir: neither the repository's setup.cfg nor tests/conftest.py (the
# stand-in's set-up) is loaded; only st2's own code and the shared harness
( cd "$here" && PYTHONPATH=$here:$root/tests/st2_e2e ST2CHECK=$S ST2CHECK_TOOLS=$here E2E_DIR=$E \
  E2E_RESYNC=1 ST2TESTS_SYSTEM_USER=root timeout 1500 "$S/venv/bin/python" -m pytest \
  -p mongomock_plugin -p no:cacheprovider -c /dev/null --rootdir "$here" \
  --confcutdir "$root/tests/st2_e2e" -s -q "$root/tests/st2_e2e/test_resync_e2e.py" ) >"$E/run.log" 2>&1
rc=$?
grep -E '^RESYNC|^(FAILED|ERROR|SKIPPED)|[0-9]+ (passed|failed|skipped|error)' "$E/run.log" | cut -c1-300 | tail -40
if [ $rc -ne 0 ] || ! grep -qE '[0-9]+ passed' "$E/run.log"; then  # a skip is no pass
  [ $rc -ne 0 ] || rc=1; fail "(rc $rc; $E/run.log)"
fi
echo "real StackStorm resync end to end: pass"
