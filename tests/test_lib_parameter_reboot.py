"""lib.database.parameter_groups: when the pack reboots an instance for spec.parameters
(reboot_plan, reboot_advice, in_window), and the resync's cause for a reboot a run did not make."""

import datetime

from hypothesis import given, strategies as st

from lib.database.plan import plan
from lib.database.spec import DAYS
from lib.database.parameter_groups import ParameterGroups, in_window, reboot_advice, reboot_plan
from lib.database.rds_params import TAG_UID
from lib.database.resync import select
from tests.test_lib_parameter_groups import FakeRds

SPEC = {"engine": "postgres", "engineVersion": "16.3", "parameters": {"shared_buffers": "1000"}}
GROUP = "ns-db-1-postgres16"
#: Wednesday 2026-12-09 06:50 UTC, inside moto's default window wed:06:38-wed:07:08
IN = datetime.datetime(2026, 12, 9, 6, 50, tzinfo=datetime.timezone.utc)
OUT = IN + datetime.timedelta(hours=2)


def _instance(status="in-sync", group=GROUP, window="wed:06:38-wed:07:08"):
    return {"DBInstanceIdentifier": "ns-db-1", "PreferredMaintenanceWindow": window,
            "DBParameterGroups": [{"DBParameterGroupName": group,
                                   "ParameterApplyStatus": status}]}


def test_pending_is_what_the_instance_says_or_a_group_this_run_switches_to():
    assert reboot_plan("ns-db-1", SPEC, _instance("pending-reboot"))["reboot_pending"]
    assert not reboot_plan("ns-db-1", SPEC, _instance("in-sync"))["reboot_pending"]
    other = _instance("in-sync", group="default.postgres16")
    assert not reboot_plan("ns-db-1", SPEC, other)["reboot_pending"]
    assert reboot_plan("ns-db-1", SPEC, other,
                       {"DBParameterGroupName": GROUP})["reboot_pending"]
    # no instance yet (it is created with the group), no spec.parameters: nothing pends
    assert reboot_plan("ns-db-1", SPEC, None) == {
        "reboot_pending": False, "reboot_allowed": True, "maintenance_window": ""}
    bare = dict(SPEC)
    del bare["parameters"]
    assert reboot_plan("ns-db-1", bare, _instance("pending-reboot")) == {
        "reboot_pending": False, "reboot_allowed": False,
        "maintenance_window": "wed:06:38-wed:07:08"}


def test_allowed_follows_apply_changes_the_window_and_a_held_modification():
    pending = _instance("pending-reboot")
    for when in (None, "Immediately"):
        spec = dict(SPEC, applyChanges=when) if when else SPEC
        assert reboot_plan("ns-db-1", spec, pending, now=OUT)["reboot_allowed"]
    later = dict(SPEC, applyChanges="NextMaintenanceWindow")
    assert reboot_plan("ns-db-1", later, pending, now=IN)["reboot_allowed"]
    assert not reboot_plan("ns-db-1", later, pending, now=OUT)["reboot_allowed"]
    # a major upgrade held for the window (applyChanges unset): the upgrade reboots it there
    held = {"EngineVersion": "17.2", "ApplyImmediately": False}
    assert not reboot_plan("ns-db-1", SPEC, pending, held, now=OUT)["reboot_allowed"]
    # a window this run sets is the one that counts
    moved = {"PreferredMaintenanceWindow": "wed:08:30-wed:09:30", "ApplyImmediately": False}
    seen = reboot_plan("ns-db-1", later, pending, moved, now=OUT)
    assert seen["reboot_allowed"] and seen["maintenance_window"] == "wed:08:30-wed:09:30"


def test_the_plan_carries_the_reboot_fields_made_against_the_instance():
    resource = {"namespace": "ns", "name": "db", "uid": "u1",
                "spec": dict(SPEC, applyChanges="NextMaintenanceWindow")}
    found = plan(resource)
    ident = found["db_instance_identifier"]
    instance = dict(_instance("pending-reboot", group=ident + "-postgres16"),
                    DBInstanceIdentifier=ident, Engine="postgres", EngineVersion="16.3",
                    DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                    TagList=[{"Key": TAG_UID, "Value": "u1"}])
    against = plan(resource, instance)
    assert against["valid"], against["errors"]
    assert against["reboot_pending"] is True
    assert against["maintenance_window"] == "wed:06:38-wed:07:08"
    assert found["reboot_pending"] is False and found["maintenance_window"] == ""


def test_advice_reboots_when_allowed_and_else_names_what_waits_and_until_when():
    assert reboot_advice(["shared_buffers"], {"allowed": True}) == (True, "shared_buffers", [])
    assert reboot_advice([], {"pending": True, "allowed": True}) == (
        True, "the parameter group's pending changes", [])
    assert reboot_advice([], {"pending": False, "allowed": True}) == (False, "", [])
    # a new instance starts with the group: nothing to reboot, nothing to warn of
    assert reboot_advice(["shared_buffers"], {"new_instance": True, "allowed": True}) == (
        False, "", [])
    reboot, what, (warning,) = reboot_advice(
        ["shared_buffers", "work_mem"], {"allowed": False, "window": "wed:06:38-wed:07:08"},
        "NextMaintenanceWindow")
    assert (reboot, what) == (False, "")
    assert warning == ("spec.parameters: pending until the instance's next reboot, which the "
                       "pack makes inside the instance's maintenance window wed:06:38-wed:07:08 "
                       "UTC (spec.applyChanges NextMaintenanceWindow): shared_buffers, work_mem")
    _, _, (warning,) = reboot_advice(["shared_buffers"], {"allowed": False, "window": "x"})
    assert "with the modification RDS holds for the maintenance window x UTC" in warning


def test_ensure_says_reboot_only_for_an_instance_that_exists_and_may_be_rebooted():
    tags = [{"Key": TAG_UID, "Value": "u1"}]
    ensure = ParameterGroups(FakeRds(), TAG_UID).ensure
    new = ensure(GROUP, "postgres16", "postgres", {"shared_buffers": "1"}, "u1", tags, None,
                 {"new_instance": True, "allowed": True})
    assert (new["reboot"], new["pending_reboot"], new["warnings"]) == (False, [], [])
    now = ensure(GROUP, "postgres16", "postgres", {"shared_buffers": "2", "work_mem": "4MB"},
                 "u1", tags, None, {"allowed": True})
    assert (now["reboot"], now["reboot_for"], now["warnings"]) == (True, "shared_buffers", [])
    # only a dynamic parameter changed at once: no reboot
    dyn = ensure(GROUP, "postgres16", "postgres", {"shared_buffers": "2", "work_mem": "8MB"},
                 "u1", tags, None, {"allowed": True})
    assert (dyn["reboot"], dyn["pending_reboot"]) == (False, [])
    # the standalone action's defaults: nothing allowed, what waits is named
    later = ensure(GROUP, "postgres16", "postgres", {"shared_buffers": "3", "work_mem": "8MB"},
                   "u1", tags, None, None)
    assert later["reboot"] is False and "shared_buffers" in later["warnings"][0]


@given(start=st.integers(0, 7 * 1440 - 1), length=st.integers(30, 24 * 60),
       minute=st.integers(0, 7 * 1440 - 1))
def test_in_window_is_the_weekly_span_including_across_sunday_midnight(start, length, minute):
    def text(m):
        m %= 7 * 1440
        return "%s:%02d:%02d" % (DAYS[m // 1440], m % 1440 // 60, m % 60)
    window = "%s-%s" % (text(start), text(start + length))
    monday = datetime.datetime(2026, 12, 7, tzinfo=datetime.timezone.utc)  # a Monday
    now = monday + datetime.timedelta(minutes=minute, seconds=30)
    inside = any((start + i) % (7 * 1440) == minute for i in range(length + 1))
    assert in_window(window, now) is inside
    assert in_window(window.upper(), now) is inside
    assert in_window("", now) is False and in_window("nope", now) is False


def _ready(spec, instance):
    return {"metadata": {"namespace": "ns", "name": "db", "uid": "u1", "generation": 1,
                         "creationTimestamp": "2026-12-01T00:00:00Z"},
            "spec": spec,
            "status": {"phase": "Ready", "observedGeneration": 1,
                       "dbInstanceIdentifier": "ns-db-1",
                       "endpoint": "db.local", "port": 5432,
                       "conditions": [{"type": "Ready", "status": "True",
                                       "lastTransitionTime": "2026-12-01T00:00:00Z"}]},
            "instance": instance}


def test_the_resync_runs_the_reboot_a_run_did_not_make_when_apply_changes_allows():
    def cause(spec, status, now):
        instance = dict(_instance(status), DBInstanceStatus="available", Engine="postgres",
                        EngineVersion="16.3", DBInstanceClass="db.t3.micro",
                        AllocatedStorage=20, Endpoint={"Address": "db.local", "Port": 5432},
                        TagList=[{"Key": TAG_UID, "Value": "u1"}])
        obj = _ready(spec, instance)
        del obj["instance"]
        work = select([obj], now, {"instances": {"us-east-1": {"ns-db-1": instance}}})
        return [w["cause"] for w in work]
    sized = dict(SPEC, instanceClass="db.t3.micro", storageGB=20)
    assert cause(sized, "in-sync", OUT) == []
    assert cause(sized, "pending-reboot", OUT) == ["parameters pending-reboot"]
    later = dict(sized, applyChanges="NextMaintenanceWindow")
    assert cause(later, "pending-reboot", OUT) == []
    assert cause(later, "pending-reboot", IN) == [
        "parameters pending-reboot (maintenance window wed:06:38-wed:07:08 open)"]
