"""Every package the pack, its tests, benches and scripts import comes from a requirements file.

A package that is only there because something else pulled it in (moto's [server] extra once
brought Jinja2) vanishes with that something, and a clean checkout then fails to import its tests
while the developers' long-lived virtualenvs still pass. So each third-party module imported
anywhere must belong to a distribution that requirements*.txt name, or that one of those needs
(per the installed packages' metadata). StackStorm's own modules are not on a registry: tests
that need them skip where they are absent.
"""

import ast
import glob
import importlib.metadata
import os
import re
import sys

from packaging.markers import default_environment
from packaging.requirements import Requirement

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# StackStorm itself and what only its virtualenv has (opt-in tests skip without them).
STACKSTORM = {"st2common", "st2tests", "st2reactor", "st2actions", "st2api", "st2auth",
              "st2stream", "st2client", "st2rbac_backend", "st2auth_ldap", "orquesta",
              "mongomock", "mongoengine", "webtest", "oslo_config", "ldap",
              # StackStorm's python runner and what its virtualenv holds for st2tests (mock)
              # and st2auth's htpasswd backend (bcrypt): tests/st2_install runs in that venv
              "python_runner", "mock", "bcrypt",
              # ../shared/st2check's own module, on the path of the checks that run through it
              "mongomock_plugin"}
FOLDERS = ("actions", "sensors", "tests", "bench", "scripts", "st2")
# Folders whose modules their scripts put on sys.path (imported by plain name there).
PATH_FOLDERS = ("actions/lib", "tests/st2_standin", "tests/st2_install", "tests/st2_e2e")


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _own_modules():
    names = {"tests", "lib"}
    for folder in FOLDERS + PATH_FOLDERS:
        for path in glob.glob(os.path.join(PACK_DIR, folder, "*")):
            base = os.path.basename(path)
            if base.endswith(".py"):
                names.add(base[:-3])
            elif os.path.isdir(path):
                names.add(base)
    return names


def imported_modules():
    """Top-level modules imported by the pack's Python files: {module: first file}."""
    found = {}
    for folder in FOLDERS:
        for path in glob.glob(os.path.join(PACK_DIR, folder, "**", "*.py"), recursive=True):
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], os.path.relpath(path, PACK_DIR))
    return found


def declared():
    names = set()
    for path in glob.glob(os.path.join(PACK_DIR, "requirements*.txt")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.split("#", 1)[0].strip()
                if line and not line.startswith("-"):
                    names.add(_norm(Requirement(line).name))
    return names


def closure(names):
    """``names`` and everything they require (installed metadata, markers evaluated)."""
    env = default_environment()
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(dict(env, extra="")):
                continue
            todo.append(_norm(requirement.name))
    return seen


def test_every_imported_package_is_declared_or_required_by_a_declared_one():
    providers = importlib.metadata.packages_distributions()
    allowed = closure(declared())
    own = _own_modules()
    missing = {}
    for module, where in sorted(imported_modules().items()):
        if module in sys.stdlib_module_names or module in own or module in STACKSTORM:
            continue
        dists = {_norm(d) for d in providers.get(module, [])}
        if not dists & allowed:
            missing[module] = "%s (installed from %s)" % (where, sorted(dists) or "nowhere")
    assert missing == {}, "imported but in no requirements file: %s" % missing


def _direct_requires(name):
    """The distributions ``name``'s installed metadata requires (markers evaluated)."""
    env = dict(default_environment(), extra="")
    try:
        requirements = [Requirement(text) for text in importlib.metadata.requires(name) or []]
    except importlib.metadata.PackageNotFoundError:
        return set()
    return {_norm(r.name) for r in requirements if not r.marker or r.marker.evaluate(env)}


def test_the_check_sees_a_missing_requirement():
    """Jinja2 is the case that broke a clean checkout: it must count only while declared, or
    while a declared package requires it. Whether one does is a fact of the installed versions
    (moto 5.0 required Jinja2, later moto 5 releases do not), so it is read from their
    metadata here, not assumed."""
    assert "jinja2" in imported_modules()
    assert "jinja2" in closure(declared())
    rest = closure(declared() - {"jinja2"})
    pulled_in_by = sorted(name for name in rest if "jinja2" in _direct_requires(name))
    assert ("jinja2" in rest) == bool(pulled_in_by), pulled_in_by


def test_the_check_sees_each_requirement_nothing_else_brings():
    """Each declared distribution that no other declared one requires leaves the closure when
    it is left out of the requirements (at least one always does: kubernetes, hvac, ...)."""
    names = declared()
    alone = [name for name in sorted(names)
             if not any(name in _direct_requires(other) for other in closure(names - {name}))]
    assert alone
    for name in alone:
        assert name in closure(names) and name not in closure(names - {name}), name
