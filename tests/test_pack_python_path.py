"""No module of the pack shadows a package it needs.

StackStorm puts the pack's folders ahead of installed packages: st2-run-pack-tests sets
PYTHONPATH to sensors/, actions/ and actions/lib/ (st2common/bin/st2-run-pack-tests), and the
python runner ranks actions/lib ahead of StackStorm's own virtualenv
(st2common/st2common/util/sandboxing.py, get_sandbox_python_path_for_python_action). A file
``actions/lib/consul.py`` therefore hides py-consul's ``consul`` wherever py-consul comes from
StackStorm's virtualenv, and in every pack test run. tests/conftest.py builds the same order, and
these tests check each name and each requirement in a fresh interpreter with that PYTHONPATH.
"""

import json
import os
import re
import subprocess
import sys

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The order st2-run-pack-tests uses; the python runner has actions/lib in the same place
# relative to StackStorm's virtualenv.
PACK_PATHS = [os.path.join(PACK_DIR, sub) for sub in ("sensors", "actions", "actions/lib")]


def _pack_module_names():
    """Top-level names the pack's folders provide: modules and packages."""
    names = {}
    for folder in PACK_PATHS:
        for entry in sorted(os.listdir(folder)):
            path = os.path.join(folder, entry)
            if entry.endswith(".py") and entry != "__init__.py":
                names[entry[:-3]] = os.path.relpath(path, PACK_DIR)
            elif os.path.isfile(os.path.join(path, "__init__.py")):
                names[entry] = os.path.relpath(path, PACK_DIR)
    return names


def _requirement_names():
    names = []
    with open(os.path.join(PACK_DIR, "requirements.txt"), encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                names.append(re.split(r"[<>=!~;\[ ]", line, 1)[0])
    return names


def _run(code, pythonpath, cwd):
    """``code``'s JSON output, in a fresh interpreter with PYTHONPATH ``pythonpath``, started in
    the empty folder ``cwd`` (python -c also searches the current folder)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, cwd=str(cwd), check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


_FIND_INSTALLED = r"""
import importlib.util, json, sys
names = json.loads(%r)
taken = {}
for name in names:
    if name in sys.stdlib_module_names:
        taken[name] = "the standard library"
        continue
    spec = importlib.util.find_spec(name)
    if spec is not None:
        taken[name] = spec.origin or list(spec.submodule_search_locations or [])
print(json.dumps(taken))
"""


def test_no_pack_module_is_named_like_an_installed_module(tmp_path):
    names = _pack_module_names()
    assert "chain" in names and "custom_resource_sensor" in names  # the folders were read
    # Without the pack's folders: which of its names does something installed provide?
    taken = _run(_FIND_INSTALLED % json.dumps(sorted(names)), [], tmp_path)
    assert {names[name]: where for name, where in taken.items()} == {}


_IMPORT_REQUIREMENTS = r"""
import importlib, importlib.metadata, json
dists = json.loads(%r)
top_level = importlib.metadata.packages_distributions()
found = {}
for dist in dists:
    modules = sorted(m for m, owners in top_level.items()
                     if dist.lower().replace("_", "-") in
                     [o.lower().replace("_", "-") for o in owners]
                     and m.isidentifier() and not m.startswith("_"))
    for module in modules:
        found[module] = getattr(importlib.import_module(module), "__file__", None)
print(json.dumps(found))
"""


def test_requirements_import_from_installed_packages_with_the_pack_paths_first(tmp_path):
    requirements = _requirement_names()
    assert {"boto3", "kubernetes", "hvac", "py-consul", "PyYAML"} <= set(requirements)
    found = _run(_IMPORT_REQUIREMENTS % json.dumps(requirements), PACK_PATHS, tmp_path)
    assert {"boto3", "kubernetes", "hvac", "consul", "yaml"} <= set(found), found
    from_pack = {module: path for module, path in found.items()
                 if path and os.path.realpath(path).startswith(os.path.realpath(PACK_DIR) + os.sep)
                 and "site-packages" not in path}
    assert from_pack == {}


def test_no_module_name_is_in_two_of_the_pack_folders():
    """sensors/, actions/ and actions/lib/ share one module search path: a name in two of them
    (an action consul_sync.py and a lib/consul_sync.py, or an action kube.py and the package
    lib/kube/) is one module or the other depending on the order StackStorm puts them in."""
    seen = {}
    for folder in PACK_PATHS:
        for entry in sorted(os.listdir(folder)):
            if entry.endswith(".py") and entry != "__init__.py":
                seen.setdefault(entry[:-3], []).append(os.path.relpath(folder, PACK_DIR))
            elif os.path.isfile(os.path.join(folder, entry, "__init__.py")):
                seen.setdefault(entry, []).append(os.path.relpath(folder, PACK_DIR))
    assert {name: where for name, where in seen.items() if len(where) > 1} == {}
