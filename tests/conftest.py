"""Test set-up: StackStorm's classes (or the stand-in), and the pack's paths as st2 sets them."""

import os
import sys

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:  # StackStorm installed (e.g. st2 pack tests run inside st2's virtualenv)
    import st2common.runners.base_action  # noqa: F401
    import st2tests.base  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(PACK_DIR, "tests", "st2_standin"))

# The module search path of st2-run-pack-tests (st2common/bin/st2-run-pack-tests: PYTHONPATH is
# sensors/, actions/, actions/lib/, ahead of site-packages), which is also how StackStorm's
# python runner ranks actions/lib ahead of StackStorm's own virtualenv
# (st2common/util/sandboxing.py get_sandbox_python_path_for_python_action). A module in
# actions/lib named like an installed package shadows it here as it does there.
for sub in ("actions/lib", "actions", "sensors"):
    path = os.path.join(PACK_DIR, sub)
    if path not in sys.path:
        sys.path.insert(0, path)

pytest_plugins = ["tests.stack_plugin", "tests.database_chain"]
