"""spec.parameters that apply only at a reboot, end to end (lib.chain against Kubernetes,
OpenBao, Consul and moto): the pack reboots the instance when spec.applyChanges says (at once,
or inside the maintenance window), says so in the status and an Event first, and a reboot a run
did not make (it failed, or the run died) is made by the resync.

moto never reports a group waiting for a reboot (its ParameterApplyStatus is always in-sync,
docs/stack.md), so ``rds_reboots`` models that one field as RDS keeps it, around moto's real
answers: a group changed with ApplyMethod pending-reboot, or an instance switched to another
group, is ``applying`` on the instance for the next describe (RDS takes the change in for a
while), then ``pending-reboot`` until reboot_db_instance.
"""

import datetime

import botocore.client
import pytest

import lib.database.parameter_groups
import lib.database.resync
from lib.database.spec import DAYS
from tests.database_chain import provision, quiet, resync, update
from tests.database_world import instances_of
from tests.fixtures.database.support import all_steps
from tests.test_chain_parameters import _group
from tests.test_lib_k8s_events import events_of
from tests.workflow_paths import assert_run_follows

pytestmark = pytest.mark.integration


class RebootModel:
    """ParameterApplyStatus as RDS keeps it (see the module doc); ``fail_reboots`` makes the
    next reboot_db_instance calls fail as RDS does for an instance it is busy with."""

    def __init__(self):
        self.pending = set()  # instance identifiers
        self.applying = set()  # of those, the ones the next describe shows "applying"
        self.fail_reboots = 0
        self.reboots = []

    def before(self, client, operation, params):
        if operation == "RebootDBInstance" and self.fail_reboots:
            self.fail_reboots -= 1
            raise client.exceptions.InvalidDBInstanceStateFault(
                {"Error": {"Code": "InvalidDBInstanceState",
                           "Message": "Instance is not available (modelled)."}}, operation)

    def after(self, client, operation, params, answer):
        if operation == "ModifyDBParameterGroup" and any(
                p.get("ApplyMethod") == "pending-reboot" for p in params["Parameters"]):
            found = client.describe_db_instances()["DBInstances"]
            using = {i["DBInstanceIdentifier"] for i in found
                     if params["DBParameterGroupName"] in
                     [g["DBParameterGroupName"] for g in i["DBParameterGroups"]]}
            self.pending |= using
            self.applying |= using
        elif operation == "ModifyDBInstance" and "DBParameterGroupName" in params:
            self.pending.add(params["DBInstanceIdentifier"])
            self.applying.add(params["DBInstanceIdentifier"])
        elif operation == "RebootDBInstance":
            self.pending.discard(params["DBInstanceIdentifier"])
            self.applying.discard(params["DBInstanceIdentifier"])
            self.reboots.append(params["DBInstanceIdentifier"])
        elif operation == "DescribeDBInstances":
            for instance in answer.get("DBInstances", []):
                ident = instance["DBInstanceIdentifier"]
                if ident in self.pending:
                    for group in instance.get("DBParameterGroups", []):
                        group["ParameterApplyStatus"] = \
                            "applying" if ident in self.applying else "pending-reboot"
                    self.applying.discard(ident)
        return answer


@pytest.fixture
def rds_reboots(monkeypatch):
    model = RebootModel()
    real = botocore.client.BaseClient._make_api_call  # pylint: disable=protected-access

    def call(client, operation, params):
        if client.meta.service_model.service_name != "rds":
            return real(client, operation, params)
        model.before(client, operation, params)
        return model.after(client, operation, params, real(client, operation, params))
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    return model


def _clock(monkeypatch, moment):
    """Both clocks that look at the maintenance window (the plan's, the resync's) at
    ``moment``."""
    monkeypatch.setattr(lib.database.parameter_groups, "utc_now", lambda: moment)
    monkeypatch.setattr(lib.database.resync, "utc_now", lambda: moment)


def _window_ahead(days):
    """A one-hour maintenance window starting ``days`` from now (so the test's clock never
    falls in it by the calendar), and a moment half an hour into it."""
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)) \
        .replace(second=0, microsecond=0)
    end = start + datetime.timedelta(hours=1)

    def text(moment):
        return "%s:%02d:%02d" % (DAYS[moment.weekday()], moment.hour, moment.minute)
    return "%s-%s" % (text(start), text(end)), start + datetime.timedelta(minutes=30)


def _tasks(run, name):
    return [s for s in all_steps(run) if s["task"] == name]


def _rebooting_events(api, databases, name):
    return [(e["reason"], e["message"]) for e in events_of(api, databases.namespace, name)
            if e["reason"] == "Rebooting"]


def test_a_static_parameter_is_applied_by_one_reboot_said_first(
        databases, config, aws, rds_reboots, monkeypatch, kube_api_client):
    _clock(monkeypatch, datetime.datetime.now(datetime.timezone.utc))
    run = provision(databases, "boot-db", config,
                    parameters={"work_mem": "64MB", "max_connections": 200})
    assert run["status"] == "succeeded", run["output"]
    # created with the group: it starts with these values, nothing waits, nothing is rebooted
    assert_run_follows(run, "created_parameters")
    assert rds_reboots.reboots == [] and rds_reboots.pending == set()
    ident = run["output"]["db_instance_identifier"]
    status = databases.get("boot-db")["status"]
    assert status["phase"] == "Ready" and not status.get("warnings"), status
    quiet(resync(databases, config))

    # a dynamic parameter changed: at once, no reboot
    run = update(databases, "boot-db", config,
                 parameters={"work_mem": "128MB", "max_connections": 200})
    assert_run_follows(run, "parameters_kept")
    assert rds_reboots.reboots == []

    # a static one (applyChanges unset: at once, as every modification): one reboot
    run = update(databases, "boot-db", config,
                 parameters={"work_mem": "128MB", "max_connections": 300})
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "parameters_rebooted")
    # the first look saw the group "applying": the reboot waited for RDS to take it in
    assert [s["result"]["result"]["DBInstances"][0]["DBParameterGroups"][0]
            ["ParameterApplyStatus"] for s in _tasks(run, "wait_available")] == [
        "applying", "pending-reboot"]
    (reboot,) = _tasks(run, "reboot_instance")
    assert reboot["parameters"]["action_name"] == "reboot_db_instance"
    assert reboot["parameters"]["params"] == {"DBInstanceIdentifier": ident}
    (said,) = _tasks(run, "set_rebooting")
    assert said["parameters"]["message"] == (
        "rebooting RDS instance %s to apply spec.parameters: max_connections" % ident)
    assert _rebooting_events(kube_api_client, databases, "boot-db") == [
        ("Rebooting", "rebooting RDS instance %s to apply spec.parameters: max_connections"
         % ident)]
    assert rds_reboots.reboots == [ident] and rds_reboots.pending == set()
    assert _group(aws("rds"), ident + "-postgres15")["max_connections"][0] == "300"
    status = databases.get("boot-db")["status"]
    assert status["phase"] == "Ready" and not status.get("warnings"), status
    # the level holds: nothing more to do
    quiet(resync(databases, config))
    assert rds_reboots.reboots == [ident]


def test_next_maintenance_window_waits_and_the_resync_reboots_inside_the_window(
        databases, config, aws, rds_reboots, monkeypatch, kube_api_client):
    window, inside = _window_ahead(3)
    outside = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10)
    _clock(monkeypatch, outside)
    run = provision(databases, "window-db", config, applyChanges="NextMaintenanceWindow",
                    maintenanceWindow=window, parameters={"max_connections": 200})
    assert run["status"] == "succeeded", run["output"]
    ident = run["output"]["db_instance_identifier"]
    (instance,) = instances_of(aws("rds"), ident)
    assert instance["PreferredMaintenanceWindow"] == window

    # outside the window: set, named as pending with the window, no reboot
    run = update(databases, "window-db", config, parameters={"max_connections": 300})
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "parameters_kept")
    assert rds_reboots.reboots == [] and rds_reboots.pending == {ident}
    status = databases.get("window-db")["status"]
    assert status["phase"] == "Ready"
    assert status["warnings"] == [
        "spec.parameters: pending until the instance's next reboot, which the pack makes "
        "inside the instance's maintenance window %s UTC (spec.applyChanges "
        "NextMaintenanceWindow): max_connections" % window]
    quiet(resync(databases, config))  # still outside: nothing to do

    # inside the window: the resync starts the run that reboots it, once
    _clock(monkeypatch, inside)
    run = resync(databases, config)
    assert run["output"]["causes"] == [
        "%s/window-db update: parameters pending-reboot (maintenance window %s open)"
        % (databases.namespace, window)]
    assert rds_reboots.reboots == [ident] and rds_reboots.pending == set()
    status = databases.get("window-db")["status"]
    assert status["phase"] == "Ready" and not status.get("warnings"), status
    events = _rebooting_events(kube_api_client, databases, "window-db")
    assert [reason for reason, _ in events] == ["Rebooting"]
    quiet(resync(databases, config))


def test_a_reboot_that_failed_or_was_never_made_is_made_by_the_resync(
        databases, config, aws, rds_reboots, monkeypatch):
    now = datetime.datetime.now(datetime.timezone.utc)
    _clock(monkeypatch, now)
    run = provision(databases, "retry-boot-db", config, passwordRotationDays=10,
                    parameters={"max_connections": 200})
    assert run["status"] == "succeeded", run["output"]
    ident = run["output"]["db_instance_identifier"]

    # RDS refuses the reboot: Failed/Recoverable, the group set and pending on the instance
    rds_reboots.fail_reboots = 1
    run = update(databases, "retry-boot-db", config, parameters={"max_connections": 300})
    assert run["status"] == "failed"
    assert_run_follows(run, "reboot_failed")
    status = databases.get("retry-boot-db")["status"]
    assert status["phase"] == "Failed" and status["message"].startswith(
        "rebooting the RDS instance to apply spec.parameters failed: "), status
    assert rds_reboots.pending == {ident} and rds_reboots.reboots == []

    # the retry tick, once the backoff passed: nothing left to set, the reboot is made
    _clock(monkeypatch, now + datetime.timedelta(hours=1))
    run = resync(databases, config, full=False)
    (item,) = [s for s in run["steps"] if s["task"] == "run_updates"]
    update_run = {"workflow": "database_update", "steps": item["steps"][1]["steps"]}
    assert_run_follows(update_run, "parameters_rebooted_rotation")
    (ensured,) = _tasks(update_run, "ensure_parameter_group")
    assert ensured["result"]["result"]["changed"] == []
    assert rds_reboots.reboots == [ident] and rds_reboots.pending == set()
    assert databases.get("retry-boot-db")["status"]["phase"] == "Ready"
    quiet(resync(databases, config))

    # a run that died after setting a static parameter, status still Ready: the full cycle
    # sees the instance waiting for a reboot it may make now
    aws("rds").modify_db_parameter_group(
        DBParameterGroupName=ident + "-postgres15",
        Parameters=[{"ParameterName": "max_connections", "ParameterValue": "300",
                     "ApplyMethod": "pending-reboot"}])
    assert rds_reboots.pending == {ident}
    quiet(resync(databases, config))  # "applying": RDS is still taking it in; no reboot yet
    run = resync(databases, config)
    assert run["output"]["causes"] == ["%s/retry-boot-db update: parameters pending-reboot"
                                       % databases.namespace]
    assert rds_reboots.reboots == [ident, ident] and rds_reboots.pending == set()
    quiet(resync(databases, config))
