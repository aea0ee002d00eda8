"""The workflow files themselves, run by StackStorm's real workflow engine, when it is importable.

StackStorm's `orquesta` is not installable from a registry here (PyPI's 1.2.0 does not import on
Python 3.10+), so in CI these tests are skipped; inside StackStorm's own virtualenv (or any with
a current orquesta) they run. They conduct actions/workflows/*.yaml with orquesta's
WorkflowConductor, run each task's action through the pack's python action class on the local
servers, and check that the engine takes the same path as lib/chain.py does for the scenario
(tests/fixtures/workflows/paths.yaml) and renders the same outputs.
"""

import os

import pytest

from lib import chain
from tests.test_chain_database import GROUP, PLURAL, VERSION, added, fire  # noqa: F401
from tests.test_chain_database import config, crd, databases, feed, rds  # noqa: F401
from tests.workflow_paths import PATHS, collapse

conducting = pytest.importorskip("orquesta.conducting")
from orquesta import events, statuses  # noqa: E402
from orquesta.specs import native  # noqa: E402

pytestmark = pytest.mark.integration

WORKFLOWS_DIR = os.path.join(chain.ACTIONS_DIR, "workflows")


def conduct(name, inputs, pack_config):
    """Run workflow ``name`` with orquesta; python actions run in-process, as lib.chain does."""
    with open(os.path.join(WORKFLOWS_DIR, name + ".yaml"), encoding="utf-8") as handle:
        spec = native.WorkflowSpec(handle.read())
    assert spec.inspect() == {}
    conductor = conducting.WorkflowConductor(spec, inputs=inputs)
    conductor.request_workflow_status(statuses.RUNNING)
    runner = chain._Run(name, pack_config, None, 0, 0, None, None, chain._LogCapture())
    steps = []
    while True:
        tasks = conductor.get_next_tasks()
        if not tasks:
            break
        for task in tasks:
            for action in task["actions"]:
                ref = action["action"]
                action_name = ref.split(".", 1)[1]
                meta = chain.action_metadata(action_name)
                conductor.update_task_state(task["id"], task["route"],
                                            events.ActionExecutionEvent(statuses.RUNNING))
                if meta["runner_type"] == "orquesta":
                    status, output, _ = conduct(action_name, action["input"], pack_config)
                    ok, raw = status == statuses.SUCCEEDED, {"output": output}
                else:
                    params = chain._parameters(action_name, meta, action["input"])
                    ok, raw = runner._run_python(action_name, params)
                steps.append({"task": task["id"], "action": ref, "attempt": 1})
                conductor.update_task_state(task["id"], task["route"], events.ActionExecutionEvent(
                    statuses.SUCCEEDED if ok else statuses.FAILED, result=raw))
    conductor.render_workflow_output()
    return conductor.get_workflow_status(), conductor.get_workflow_output(), steps


def test_create_update_delete_by_the_real_engine(databases, feed, config):  # noqa: F811
    sensor = feed()
    databases.apply("orq-db", instanceSize="small")
    (_, payload), _ = sensor.wait(added("orq-db"))

    status, output, steps = conduct("database_create", {"resource": payload}, config)
    assert (status, output["phase"], output["adoption"]) == ("succeeded", "Ready", "created")
    assert collapse(steps) == PATHS["database_create"]["created"]

    # The same trigger again: the engine and lib.chain both adopt, by the same path and outputs.
    status, output, steps = conduct("database_create", {"resource": payload}, config)
    local = chain.run_workflow("database_create", payload, config, poll_delay=0)
    assert collapse(steps) == collapse(local["steps"]) == PATHS["database_create"]["adopted"]
    assert output == local["output"]
    assert status == local["status"] == "succeeded"

    databases.patch_spec("orq-db", instanceSize="medium")
    (_, payload), _ = sensor.wait(lambda t, p: p["generation"] == 2)
    status, output, steps = conduct("database_update", {"resource": payload}, config)
    assert (status, output["phase"]) == ("succeeded", "Ready")
    assert output["modified"]["DBInstanceClass"] == "db.t3.medium"
    assert collapse(steps) == PATHS["database_update"]["modified"]

    databases.delete("orq-db")
    (_, payload), _ = sensor.wait(lambda t, p: p["deletion_requested"])
    status, output, steps = conduct("database_delete", {"resource": payload}, config)
    assert (status, output["phase"]) == ("succeeded", "Deleted")
    assert output["instance"] == "snapshot-deleted"
    assert collapse(steps) == PATHS["database_delete"]["snapshot"]
    assert databases.get("orq-db") is None


def test_invalid_spec_by_the_real_engine(databases, feed, config):  # noqa: F811
    sensor = feed()
    databases.apply("orq-bad", engineVersion="9.6")
    (_, payload), _ = sensor.wait(added("orq-bad"))
    status, output, steps = conduct("database_create", {"resource": payload}, config)
    local = chain.run_workflow("database_create", payload, config, poll_delay=0)
    assert status == local["status"] == "failed"
    assert collapse(steps) == collapse(local["steps"]) == PATHS["database_create"]["invalid"]
    assert output == local["output"]
    assert "spec.engineVersion" in output["error"]
