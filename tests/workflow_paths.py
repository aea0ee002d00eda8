"""The workflows' task paths, shared by the static workflow checks and the chain tests: each
workflow's YAML, the expected paths of tests/fixtures/workflows/paths.yaml, and
``assert_run_follows`` to hold a lib.chain run to one of them."""

import glob
import os

import yaml

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOW_FILES = sorted(glob.glob(os.path.join(PACK_DIR, "actions", "workflows", "*.yaml")))
FIXTURES = os.path.join(PACK_DIR, "tests", "fixtures", "workflows")


def load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def collapse(steps):
    """The task path of a chain run: its steps' task names, a retried task counted once, the
    items of a with-items task once."""
    path = []
    for step in steps:
        if step["attempt"] == 1 and not step.get("item"):
            path.append(step["task"])
    return path


def assert_run_follows(run, scenario):
    """Assert a lib.chain run took the scenario's path of tests/fixtures/workflows/paths.yaml,
    with each task running the action the YAML gives it."""
    name = run["workflow"]
    assert collapse(run["steps"]) == PATHS[name][scenario], (
        "%s run took %s, expected scenario %s" % (name, collapse(run["steps"]), scenario))
    tasks = WORKFLOWS[name]["tasks"]
    for step in run["steps"]:
        assert step["action"] == tasks[step["task"]]["action"], step["task"]
        if step["attempt"] > 1:
            assert "retry" in tasks[step["task"]], step["task"]


WORKFLOWS = {os.path.basename(p)[:-5]: load_yaml(p) for p in WORKFLOW_FILES}
PATHS = load_yaml(os.path.join(FIXTURES, "paths.yaml"))
