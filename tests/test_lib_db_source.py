"""lib/database/source.py: spec.source checked field by field, whatever JSON it is; the restore
calls built from the create parameters are what botocore's RDS model accepts."""

import json

import botocore.session
import pytest
from botocore.validate import ParamValidator
from hypothesis import given, settings

from lib.database.plan import plan
from lib.database.source import (CREATE, FROM_SNAPSHOT, NOT_ON_RESTORE, POINT_IN_TIME,
                                 restore, validate_source)
from lib.database.rds_params import create_params, db_instance_identifier
from tests.fixtures.database.support import payload
from tests.hostile_specs import json_values

RDS = botocore.session.get_session().get_service_model("rds")


def accepted(method, params):
    """botocore's own check of a call's parameters (what boto3 does before sending)."""
    import boto3

    name = boto3.client("rds", region_name="us-east-1").meta.method_to_api_mapping[method]
    report = ParamValidator().validate(params, RDS.operation_model(name).input_shape)
    assert not report.has_errors(), report.generate_report()
    return True


def spec_with(**changes):
    spec = dict(payload()["spec"], engineVersion="15.4", maintenanceWindow="sun:05:00-sun:06:00",
                storage={"maxGB": 100}, databaseName="orders", masterUsername="admin1")
    spec.update(changes)
    return spec


@pytest.mark.parametrize("source, errors", [
    ("snap-1", ["spec.source: expected an object with snapshotIdentifier, or database (and "
                "restoreTime), got 'snap-1'"]),
    ({}, ["spec.source.snapshotIdentifier, spec.source.database: expected exactly one (a DB "
          "snapshot to restore, or a Database of this namespace to clone)"]),
    ({"snapshotIdentifier": "snap-1", "database": "orders-db"},
     ["spec.source.snapshotIdentifier, spec.source.database: expected exactly one (a DB "
      "snapshot to restore, or a Database of this namespace to clone)"]),
    ({"snapshotIdentifier": "1snap"},
     ["spec.source.snapshotIdentifier: expected a DB snapshot identifier (a letter, then "
      "letters, digits and single hyphens), an automated one (rds:...) or a shared snapshot's "
      "ARN, got '1snap'"]),
    ({"snapshotIdentifier": "snap--1"},
     ["spec.source.snapshotIdentifier: expected a DB snapshot identifier (a letter, then "
      "letters, digits and single hyphens), an automated one (rds:...) or a shared snapshot's "
      "ARN, got 'snap--1'"]),
    ({"database": "Orders"},
     ["spec.source.database: expected the name of a Database in this namespace, got 'Orders'"]),
    ({"database": "this-db"},
     ["spec.source.database: expected another Database of this namespace to clone, not this "
      "one (this-db)"]),
    ({"snapshotIdentifier": "snap-1", "restoreTime": "2026-12-07T10:00:00Z"},
     ["spec.source.restoreTime: only with spec.source.database (a snapshot is restored as it "
      "was taken)"]),
    ({"database": "orders-db", "restoreTime": "2026-12-07 10:00"},
     ["spec.source.restoreTime: expected a UTC time such as 2026-12-07T10:00:00Z, got "
      "'2026-12-07 10:00'"]),
    ({"database": "orders-db", "snapshot": "x"},
     ["spec.source.snapshot: unknown field; expected one of snapshotIdentifier, database, "
      "restoreTime"]),
])
def test_each_problem_names_its_field(source, errors):
    assert validate_source({"source": source}, "this-db") == errors


@pytest.mark.parametrize("source", [
    {"snapshotIdentifier": "orders-before-migration"},
    {"snapshotIdentifier": "rds:team-a-orders-db-2026-12-07-03-10"},
    {"snapshotIdentifier": "arn:aws:rds:us-east-1:123456789012:snapshot:shared-1"},
    {"database": "orders-db"},
    {"database": "orders-db", "restoreTime": "2026-12-07T10:00:00Z"},
])
def test_valid_sources(source):
    assert validate_source({"source": source}, "this-db") == []


@settings(max_examples=300, deadline=None)
@given(json_values())
def test_any_json_as_source_gets_messages_naming_source_never_an_exception(value):
    errors = validate_source({"source": value}, "this-db")
    assert all(e.startswith("spec.source") for e in errors)
    assert all(len(e) < 600 for e in errors)
    if value is not None and errors:
        result = plan(dict(payload(), spec=dict(payload()["spec"], source=value)))
        assert not result["valid"] and result["create_params"] == {}
        assert set(errors) <= set(result["errors"]) or result["message"]


def test_without_a_source_it_is_create_db_instance_unchanged():
    params = create_params("team-a-orders-db-x", "team-a", "orders-db", "u-1", spec_with())
    assert restore(params, "team-a", spec_with()) == (CREATE, params, [])


def test_a_snapshot_restore_takes_what_it_can_and_says_what_waits_for_the_update():
    spec = spec_with(source={"snapshotIdentifier": "orders-before-migration"})
    params = create_params("team-a-orders-db-x", "team-a", "orders-db", "u-1", spec)
    method, restored, warnings = restore(params, "team-a", spec)
    assert method == FROM_SNAPSHOT and accepted(method, restored)
    assert restored["DBSnapshotIdentifier"] == "orders-before-migration"
    assert restored["DBInstanceIdentifier"] == "team-a-orders-db-x"
    assert restored["Tags"] == params["Tags"] and restored["ManageMasterUserPassword"] is True
    assert not set(restored) & set(NOT_ON_RESTORE) and "DBName" not in restored
    assert warnings == [
        "spec.databaseName: a restored instance keeps its source's; this one is not applied",
        "spec.masterUsername: a restored instance keeps its source's; this one is not applied",
        "spec.engineVersion: a restore cannot set it; the next update applies it (the resync "
        "runs one within minutes)",
        "spec.storage.maxGB: a restore cannot set it; the next update applies it (the resync "
        "runs one within minutes)",
        "spec.maintenanceWindow: a restore cannot set it; the next update applies it (the "
        "resync runs one within minutes)"]


@pytest.mark.parametrize("when", [None, "2026-12-07T10:00:00Z"])
def test_a_clone_names_the_other_databases_instance(when):
    source = {"database": "orders-db"}
    if when:
        source["restoreTime"] = when
    spec = spec_with(source=source)
    params = create_params("team-a-copy-x", "team-a", "copy", "u-2", spec)
    method, restored, _ = restore(params, "team-a", spec)
    assert method == POINT_IN_TIME and accepted(method, restored)
    assert restored["TargetDBInstanceIdentifier"] == "team-a-copy-x"
    assert restored["SourceDBInstanceIdentifier"] == db_instance_identifier("team-a", "orders-db")
    if when:
        assert restored["RestoreTime"] == when and "UseLatestRestorableTime" not in restored
    else:
        assert restored["UseLatestRestorableTime"] is True and "RestoreTime" not in restored


def test_not_on_restore_is_what_botocore_says_a_restore_lacks():
    """Each parameter left out is one a restore call lacks (MaxAllocatedStorage: the snapshot
    restore; the point-in-time one could take it, the update sets it for both alike)."""
    create = set(RDS.operation_model("CreateDBInstance").input_shape.members)
    lacking = set()
    for operation in ("RestoreDBInstanceFromDBSnapshot", "RestoreDBInstanceToPointInTime"):
        lacking |= create - set(RDS.operation_model(operation).input_shape.members)
    assert set(NOT_ON_RESTORE) <= lacking


def test_the_plan_carries_the_method_and_refuses_a_self_clone_by_name():
    resource = dict(payload(), spec=dict(payload()["spec"],
                                         source={"snapshotIdentifier": "snap-1"}))
    result = plan(resource)
    assert result["valid"] and result["create_method"] == FROM_SNAPSHOT
    assert result["create_params"]["DBSnapshotIdentifier"] == "snap-1"
    assert json.dumps(result)  # what the workflow publishes
    resource = dict(payload(), spec=dict(payload()["spec"],
                                         source={"database": payload()["name"]}))
    result = plan(resource)
    assert not result["valid"] and result["create_params"] == {}
    assert result["errors"] == ["spec.source.database: expected another Database of this "
                                "namespace to clone, not this one (%s)" % payload()["name"]]
    assert plan(payload())["create_method"] == CREATE
