"""spec.parameters end to end (lib.chain against Kubernetes, OpenBao, Consul and moto): the
pack's DB parameter group created with the instance, changed with only what differs, repaired
by the resync, refused by the plan naming the field, deleted after the instance."""

import datetime

import pytest

import lib.database.parameter_groups
from lib.chain import run_workflow
from lib.kube.api import ADDED, to_payload
from lib.database.rds_params import TAG_UID, db_instance_identifier
from tests.database_world import instances_of
from tests.fixtures.database.support import all_steps
from tests.database_chain import RESOURCE, modify_calls, provision, quiet, resync, update
from tests.workflow_paths import assert_run_follows

pytestmark = pytest.mark.integration


def _group(rds, name):
    """{name: (value, ApplyMethod)} set in the group, or None when it is gone."""
    try:
        found = rds.describe_db_parameters(DBParameterGroupName=name)["Parameters"]
    except rds.exceptions.DBParameterGroupNotFoundFault:
        return None
    return {p["ParameterName"]: (p["ParameterValue"], p.get("ApplyMethod")) for p in found}


def _group_names(rds):
    return [g["DBParameterGroupName"]
            for g in rds.describe_db_parameter_groups()["DBParameterGroups"]]


def _ensure_step(run):
    (step,) = [s for s in all_steps(run) if s["task"] == "ensure_parameter_group"]
    return step


def test_parameters_are_created_changed_alone_repaired_and_deleted_with_the_instance(
        databases, config, aws, monkeypatch):
    run = provision(databases, "params-db", config, deletionPolicy="Delete",
                    parameters={"work_mem": "64MB", "max_connections": 200})
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "created_parameters")
    ident = run["output"]["db_instance_identifier"]
    group = ident + "-postgres15"
    rds = aws("rds")
    (instance,) = instances_of(rds, ident)
    assert [g["DBParameterGroupName"] for g in instance["DBParameterGroups"]] == [group]
    # static max_connections is set pending-reboot (RDS takes nothing else), dynamic work_mem
    # immediate; the instance created with the group starts with both
    assert _group(rds, group) == {"work_mem": ("64MB", "immediate"),
                                  "max_connections": ("200", "pending-reboot")}
    arn = rds.describe_db_parameter_groups(
        DBParameterGroupName=group)["DBParameterGroups"][0]["DBParameterGroupArn"]
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn)["TagList"]}
    assert tags[TAG_UID] == databases.get("params-db")["metadata"]["uid"]
    status = databases.get("params-db")["status"]
    assert status["phase"] == "Ready" and not status.get("warnings"), status
    quiet(resync(databases, config))

    # changed in the spec: that parameter alone, no modify_db_instance
    run = update(databases, "params-db", config,
                 parameters={"work_mem": "128MB", "max_connections": 200})
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "parameters_kept")
    assert _ensure_step(run)["result"]["result"]["changed"] == ["work_mem"]
    assert modify_calls(run) == []
    assert _group(rds, group)["work_mem"] == ("128MB", "immediate")
    quiet(resync(databases, config))

    # changed out of band: the resync names it and sets it back
    rds.modify_db_parameter_group(DBParameterGroupName=group, Parameters=[
        {"ParameterName": "work_mem", "ParameterValue": "1MB", "ApplyMethod": "immediate"}])
    run = resync(databases, config)
    assert run["output"]["causes"] == ["%s/params-db update: drift: parameters.work_mem 1MB -> "
                                       "128MB" % databases.namespace]
    assert _group(rds, group)["work_mem"][0] == "128MB"
    quiet(resync(databases, config))

    # applyChanges NextMaintenanceWindow: a dynamic parameter waits for the reboot too, which
    # the pack makes inside the instance's window (moto's wed:06:38-wed:07:08; the clock is a
    # Monday)
    monkeypatch.setattr(lib.database.parameter_groups, "utc_now", lambda: datetime.datetime(
        2026, 12, 7, 12, 0, tzinfo=datetime.timezone.utc))
    run = update(databases, "params-db", config, applyChanges="NextMaintenanceWindow",
                 parameters={"work_mem": "32MB", "max_connections": 200})
    assert run["status"] == "succeeded", run["output"]
    assert _group(rds, group)["work_mem"] == ("32MB", "pending-reboot")
    assert any("work_mem" in w for w in databases.get("params-db")["status"]["warnings"])

    # deleted: the instance first, then the group
    databases.delete("params-db")
    run = run_workflow("database_delete", to_payload("MODIFIED", databases.get("params-db"),
                                                     RESOURCE), config, poll_delay=0)
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "delete")
    assert instances_of(rds, ident) == [] and _group(rds, group) is None
    assert databases.get("params-db") is None


def test_the_group_is_deleted_with_the_instance_after_parameters_left_the_spec(
        databases, config, aws):
    run = provision(databases, "dropped-params", config, deletionPolicy="Delete",
                    parameters={"work_mem": "16MB"})
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "created_parameters")
    ident = run["output"]["db_instance_identifier"]
    group = ident + "-postgres15"
    rds = aws("rds")
    assert _group(rds, group) == {"work_mem": ("16MB", "immediate")}

    # parameters removed from the spec (a merge patch's null deletes the field): the instance
    # stays on the pack's group, which is left on RDS
    run = update(databases, "dropped-params", config, parameters=None)
    assert run["status"] == "succeeded", run["output"]
    assert "parameters" not in databases.get("dropped-params")["spec"]
    assert group in _group_names(rds)

    # deleted: the instance, then the pack's group all the same (nothing else owns it)
    databases.delete("dropped-params")
    run = run_workflow("database_delete", to_payload(
        "MODIFIED", databases.get("dropped-params"), RESOURCE), config, poll_delay=0)
    assert run["status"] == "succeeded", run["output"]
    assert instances_of(rds, ident) == []
    assert _group(rds, group) is None and group not in _group_names(rds)
    assert_run_follows(run, "delete")
    (step,) = [s for s in all_steps(run) if s["task"] == "delete_parameter_group"]
    assert step["result"]["result"] == {"deleted": [group], "kept": []}
    assert databases.get("dropped-params") is None


def test_a_spec_change_to_a_new_instance_group_modifies_only_the_group(databases, config, aws):
    run = provision(databases, "late-params-db", config)
    assert run["status"] == "succeeded", run["output"]
    ident = run["output"]["db_instance_identifier"]
    run = update(databases, "late-params-db", config, parameters={"work_mem": "8MB"})
    assert run["status"] == "succeeded", run["output"]
    # the instance takes a group switched to at a reboot (tests/test_chain_parameter_reboot.py)
    assert_run_follows(run, "parameters_modified_rebooted")
    assert run["output"]["modified"] == {"DBInstanceIdentifier": ident, "ApplyImmediately": True,
                                         "DBParameterGroupName": ident + "-postgres15"}
    assert _group(aws("rds"), ident + "-postgres15") == {"work_mem": ("8MB", "immediate")}
    quiet(resync(databases, config))


@pytest.mark.parametrize("parameters,message", [
    ({"work mem": "8MB"}, "spec.parameters: 'work mem' is no engine parameter name"),
    ({"work_mem": "8MB\t"}, "spec.parameters.work_mem: expected 1 to 4096 printable characters"),
], ids=["name", "unprintable"])
def test_invalid_parameters_are_refused_by_the_plan_naming_the_field_changing_nothing(
        databases, config, aws, parameters, message):
    rds = aws("rds")
    groups = _group_names(rds)
    databases.apply("refused-params", parameters=parameters)
    run = run_workflow("database_create", to_payload(ADDED, databases.get("refused-params"),
                                                     RESOURCE), config, poll_delay=0)
    assert run["status"] == "failed"
    assert_run_follows(run, "invalid")
    status = databases.get("refused-params")["status"]
    assert status["phase"] == "Failed" and message in status["message"]
    assert instances_of(rds, run["output"]["db_instance_identifier"]) == []
    # on a Ready Database with parameters: refused the same way, the group left as it is
    created = provision(databases, "kept-params", config, parameters={"work_mem": "8MB"})
    assert created["status"] == "succeeded", created["output"]
    group = created["output"]["db_instance_identifier"] + "-postgres15"
    run = update(databases, "kept-params", config, parameters=parameters)
    assert_run_follows(run, "invalid")
    assert message in databases.get("kept-params")["status"]["message"]
    assert _group(rds, group) == {"work_mem": ("8MB", "immediate")}
    assert sorted(_group_names(rds)) == sorted(groups + [group])


def test_a_group_another_database_owns_is_never_used_or_deleted(databases, config, aws):
    databases.apply("taken-params", parameters={"work_mem": "8MB"}, deletionPolicy="Delete")
    payload = to_payload(ADDED, databases.get("taken-params"), RESOURCE)
    rds = aws("rds")
    group = db_instance_identifier(databases.namespace, "taken-params") + "-postgres15"
    rds.create_db_parameter_group(DBParameterGroupName=group, DBParameterGroupFamily="postgres15",
                                  Description="someone else's",
                                  Tags=[{"Key": TAG_UID, "Value": "another-uid"}])
    run = run_workflow("database_create", payload, config, poll_delay=0)
    assert run["status"] == "failed"
    assert_run_follows(run, "parameters_failed")
    status = databases.get("taken-params")["status"]
    assert "DB parameter group %s exists and belongs to Database uid another-uid" % group \
        in status["message"], status
    assert instances_of(rds, run["output"]["db_instance_identifier"]) == []
    # deleted: the other's group stays
    databases.delete("taken-params")
    run = run_workflow("database_delete", to_payload("MODIFIED", databases.get("taken-params"),
                                                     RESOURCE), config, poll_delay=0)
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "absent")
    assert group in _group_names(rds)
    rds.delete_db_parameter_group(DBParameterGroupName=group)

    # a Database without parameters: its delete looks for groups all the same, and keeps those
    # named from its identifier that another uid (or nobody) owns
    ident = db_instance_identifier(databases.namespace, "bare-params")
    theirs, nobodys = ident + "-postgres15", ident + "-mysql8-0"
    rds.create_db_parameter_group(DBParameterGroupName=theirs, DBParameterGroupFamily="postgres15",
                                  Description="someone else's",
                                  Tags=[{"Key": TAG_UID, "Value": "another-uid"}])
    rds.create_db_parameter_group(DBParameterGroupName=nobodys, DBParameterGroupFamily="mysql8.0",
                                  Description="nobody's")
    run = provision(databases, "bare-params", config, deletionPolicy="Delete")
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "created")
    assert run["output"]["db_instance_identifier"] == ident
    databases.delete("bare-params")
    run = run_workflow("database_delete", to_payload("MODIFIED", databases.get("bare-params"),
                                                     RESOURCE), config, poll_delay=0)
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "delete")
    (step,) = [s for s in all_steps(run) if s["task"] == "delete_parameter_group"]
    assert step["result"]["result"]["deleted"] == []
    assert sorted(step["result"]["result"]["kept"]) == sorted([theirs, nobodys])
    assert theirs in _group_names(rds) and nobodys in _group_names(rds)
    assert databases.get("bare-params") is None
    for name in (theirs, nobodys):
        rds.delete_db_parameter_group(DBParameterGroupName=name)
