"""lib/chain.py on its own (no servers): how it runs and records actions. A ``call_hook``
stands in for the actions that would reach a server; database_plan runs for real (no I/O)."""

import copy
import json
import os

import pytest

from lib import chain
from lib.chain import MASK, run_workflow
from tests.workflow_paths import assert_run_follows

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "workflows")
CREDENTIALS = {"aws_access_key_id": "ASIAFAKE", "aws_secret_access_key": "s3cr3t-key",
               "aws_session_token": "t0ken", "expiration": "2030-01-01T00:00:00+00:00"}


def payload(**changes):
    with open(os.path.join(FIXTURES, "trigger_added.json"), encoding="utf-8") as handle:
        data = json.load(handle)
    data.update(changes)
    return data


def ok(result):
    return True, {"exit_code": 0, "result": result, "stderr": "", "stdout": ""}


class FakeServers:
    """Answers for every action that would talk to a server; records what it was asked."""

    def __init__(self, statuses=("available",)):
        self.calls = []
        self.statuses = list(statuses)

    def __call__(self, task, ref, params, call):
        self.calls.append((task, ref, params))
        if ref == "aws.database_plan":
            return call()
        if ref == "aws.database_set_status":
            return ok({"patched": True, "phase": params["phase"]})
        if ref == "aws.database_finalizer":
            return ok({"finalizers": [params["finalizer"]], "changed": True})
        if ref == "aws.assume_role":
            return ok({"credentials": dict(CREDENTIALS), "assumed_role_user": {},
                       "expiration": CREDENTIALS["expiration"]})
        if ref == "aws.boto3action" and params["action_name"] == "describe_db_instances":
            if task == "find_instance":
                return ok({"DBInstances": []})
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return ok({"DBInstances": [{
                "DBInstanceIdentifier": "x", "DBInstanceStatus": status, "Engine": "postgres",
                "DBName": "orders", "Endpoint": {"Address": "x.example", "Port": 5432}}]})
        if ref == "aws.boto3action":
            return ok({"DBInstance": {}})
        if ref == "aws.database_store_credentials":
            return ok({"vault_path": params["vault_path"], "vault_mount": "secret",
                       "version": 1})
        if ref == "aws.database_publish_config":
            return ok({"consul_key": params["consul_key"], "modify_index": 7})
        if ref == "aws.database_check_locations":
            return ok({"vault": "absent", "consul": "absent", "problems": []})
        raise AssertionError("unexpected action %s" % ref)


def test_create_happy_path_records_masked_steps():
    servers = FakeServers(statuses=["creating", "available"])
    seen = []
    sleeps = []
    run = run_workflow("database_create", payload(), {"region": "eu-west-1"}, on_step=seen.append,
                       call_hook=servers, sleep=sleeps.append)
    assert run["status"] == "succeeded"
    assert_run_follows(run, "created")
    assert seen == run["steps"]
    assert sleeps == [chain.POLL_DELAY]
    assert run["output"] == {
        "phase": "Ready", "db_instance_identifier": run["steps"][0]["result"]["result"][
            "db_instance_identifier"],
        "adoption": "created", "endpoint": "x.example", "port": 5432,
        "vault_path": "team-a/orders-db", "consul_key": "team-a/orders-db/config", "error": None}
    assume = run["steps"][4]
    assert assume["result"]["result"]["credentials"] == MASK
    for step in run["steps"]:
        if step["action"] in ("aws.boto3action", "aws.database_store_credentials"):
            assert step["parameters"]["credentials"] == MASK
    # The hook got the real credentials; the records never do.
    store = [c for c in servers.calls if c[0] == "store_credentials"][0]
    assert store[2]["credentials"] == CREDENTIALS
    assert "s3cr3t-key" not in json.dumps(run)
    # Parameters are recorded with st2's defaults filled in; input lists what the task gave.
    first = run["steps"][0]
    assert first["input"] == ["resource"]
    assert first["parameters"] == {"resource": payload()}
    finalizer = run["steps"][2]
    assert finalizer["parameters"]["finalizer"] == "dbaas.stackstorm.com/rds-protection"
    ready = run["steps"][-1]
    assert ready["parameters"] == {
        "namespace": "team-a", "name": "orders-db", "phase": "Ready",
        "message": "RDS instance %s is available (created)" % run["output"][
            "db_instance_identifier"],
        "observed_generation": 1,
        "fields": {"dbInstanceIdentifier": run["output"]["db_instance_identifier"],
                   "endpoint": "x.example", "port": 5432, "vaultPath": "team-a/orders-db",
                   "consulKey": "team-a/orders-db/config"},
        "warnings": [], "outcome": "", "event_reason": "", "event_message": "",
        "group": "dbaas.stackstorm.com", "version": "v1alpha1", "plural": "databases"}


def test_a_raising_action_fails_the_run_like_the_python_runner():
    """The plan never raises on a payload; a pack config it cannot use makes it raise, and the
    run reports that on the resource (report_failure) before it fails."""
    servers = FakeServers()
    run = run_workflow("database_create", payload(), {"vault_path_prefix": "shared/"},
                       call_hook=servers)
    assert run["status"] == "failed"
    assert_run_follows(run, "plan_failed")
    result = run["steps"][0]["result"]
    assert result["exit_code"] == 1 and result["result"] == "None"
    assert result["stderr"].startswith("Traceback (most recent call last):")
    last = result["stderr"].strip().splitlines()[-1]
    assert run["output"]["error"] == "planning failed: " + last
    assert 'pack config key "vault_path_prefix"' in last
    status = servers.calls[-1][2]
    assert (status["phase"], status["message"]) == ("Failed", run["output"]["error"])


def test_a_status_that_cannot_be_written_is_said_in_the_run_error():
    def status_refused(task, ref, params, call):
        if ref == "aws.database_set_status":
            return False, {"exit_code": 1, "result": "None", "stdout": "",
                           "stderr": "Traceback ...\nKubeError: answered 422"}
        return call()

    run = run_workflow("database_create", payload(spec={"engine": "oracle"}), {},
                       call_hook=status_refused)
    assert run["status"] == "failed"
    assert_run_follows(run, "invalid")
    assert run["output"]["phase"] == "Failed"
    assert run["output"]["error"] == (
        "invalid spec: spec.engine: expected one of postgres, mysql, mariadb, got 'oracle'; "
        "setting status Failed failed too: KubeError: answered 422")


def test_a_payload_without_identity_is_invalid_not_a_crash():
    bad = payload()
    del bad["namespace"]
    servers = FakeServers()
    run = run_workflow("database_create", bad, {}, call_hook=servers)
    assert run["status"] == "failed"
    assert_run_follows(run, "invalid")
    assert run["output"]["error"].startswith(
        "invalid spec: resource.namespace: expected a Kubernetes namespace name in the trigger "
        "payload, got None")


def test_invalid_spec_stops_before_any_aws_call():
    servers = FakeServers()
    run = run_workflow("database_create", payload(spec=dict(payload()["spec"], storageGB=10)),
                       {}, call_hook=servers)
    assert run["status"] == "failed"
    assert_run_follows(run, "invalid")
    assert [c[1] for c in servers.calls] == ["aws.database_plan", "aws.database_set_status"]
    status = servers.calls[-1][2]
    assert status["phase"] == "Failed"
    assert status["message"].startswith("invalid spec: spec.storageGB: ")
    assert status["message"].endswith(" (fix the spec and apply it again)")


def test_poll_is_bounded_by_poll_count():
    servers = FakeServers(statuses=["creating"])
    run = run_workflow("database_create", payload(), {}, call_hook=servers, poll_count=2,
                       sleep=lambda s: None)
    assert run["status"] == "failed"
    assert [s["attempt"] for s in run["steps"] if s["task"] == "wait_available"] == [1, 2, 3]
    assert run["steps"][-1]["task"] == "report_failure"


def test_runner_parameters_are_recorded_but_not_passed_to_run():
    seen = {}

    def hook(task, ref, params, call):
        seen[task] = copy.deepcopy(params)
        return FakeServers()(task, ref, params, call)

    run_workflow("database_create", payload(), {}, call_hook=hook, sleep=lambda s: None)
    assert seen["find_instance"]["timeout"] == 600  # boto3action's metadata default
    assert chain.PYTHON_RUNNER_PARAMETERS[0] == "timeout"


def test_bad_calls_are_refused():
    with pytest.raises(ValueError, match="unknown workflow 'nope'"):
        run_workflow("nope", payload(), {})
    with pytest.raises(ValueError, match="resource: expected the trigger payload"):
        run_workflow("database_create", "orders-db", {})
    run = chain._Run("t", {}, None, 1, 0, None, None, None)  # pylint: disable=protected-access
    with pytest.raises(ValueError, match=r"aws.database_plan has no parameter\(s\) bogus"):
        run.step("plan", "aws.database_plan", resource={}, bogus=1)
    with pytest.raises(ValueError, match="required parameter resource not given"):
        run.step("plan", "aws.database_plan")
