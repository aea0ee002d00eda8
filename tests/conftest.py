"""Test set-up: StackStorm's classes (or the stand-in), and the pack's paths as st2 sets them."""

import os
import sys

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:  # StackStorm installed (e.g. st2 pack tests run inside st2's virtualenv)
    import st2common.runners.base_action  # noqa: F401
    import st2tests.base  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(PACK_DIR, "tests", "st2_standin"))

# StackStorm's python runner puts the action's folder on sys.path (so `lib.*` imports work); the
# sensor container puts the sensor's folder there, and the sensor adds `actions/` itself.
for sub in ("actions", "sensors"):
    path = os.path.join(PACK_DIR, sub)
    if path not in sys.path:
        sys.path.insert(0, path)

pytest_plugins = ["tests.stack_plugin"]
