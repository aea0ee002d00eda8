"""spec.source on the real local servers (lib/chain.py runs aws.database_create through the
pack's actions): a Database created from a DB snapshot, or as a point-in-time clone of another
Database of its namespace, ends Ready with its own RDS-managed password in Vault and its config
in Consul; what a restore cannot set is applied by the resync; a bad source is refused by the
plan, naming the field, with nothing created."""

import datetime

import pytest

import lib.database.resync
from lib.chain import run_workflow
from tests.database_chain import provision
from tests.database_world import assert_ready, instances_of
from tests.fixtures.database.support import all_steps

pytestmark = pytest.mark.integration


def create_call(run):
    (step,) = [s for s in all_steps(run) if s["task"] == "create_instance"]
    return step["parameters"]["action_name"], step["parameters"]["params"]


def test_from_a_snapshot_then_the_resync_applies_what_a_restore_cannot_set(
        databases, config, aws, vault_client, consul_client, monkeypatch):
    rds, secrets = aws("rds"), aws("secretsmanager")
    first = provision(databases, "orders-db", config)
    assert first["status"] == "succeeded", first["output"]
    snapshot = "orders-snap-" + databases.namespace
    rds.create_db_snapshot(DBSnapshotIdentifier=snapshot,
                           DBInstanceIdentifier=first["output"]["db_instance_identifier"])
    try:
        run = provision(databases, "restored-db", config, maintenanceWindow="sun:05:00-sun:06:00",
                        source={"snapshotIdentifier": snapshot})
        assert run["status"] == "succeeded", run["output"]
        method, params = create_call(run)
        assert method == "restore_db_instance_from_db_snapshot"
        assert params["DBSnapshotIdentifier"] == snapshot
        assert "PreferredMaintenanceWindow" not in params
        instance, _ = assert_ready(databases, "restored-db", run, 1, vault_client,
                                   consul_client, rds, secrets, config)
        source, _ = assert_ready(databases, "orders-db", first, 1, vault_client, consul_client,
                                 rds, secrets, config)
        # a managed secret of its own (moto gives every one the same password)
        assert instance["MasterUserSecret"]["SecretArn"] != source["MasterUserSecret"][
            "SecretArn"]
        warnings = databases.get("restored-db")["status"].get("warnings") or []
        assert ("spec.maintenanceWindow: a restore cannot set it; the next update applies it "
                "(the resync runs one within minutes)") in warnings
        assert instance["PreferredMaintenanceWindow"] != "sun:05:00-sun:06:00"

        # the resync finds the window differing and applies it (the grace period passed)
        moved = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
            seconds=lib.database.resync.GRACE_SECONDS + 1)
        monkeypatch.setattr(lib.database.resync, "utc_now", lambda: moved)
        resync = run_workflow("database_resync", config=config, poll_delay=0,
                              inputs={"full": True, "namespace": databases.namespace})
        assert resync["status"] == "succeeded", resync["output"]
        assert [c for c in resync["output"]["causes"] if "restored-db" in c], resync["output"]
        (instance,) = instances_of(rds, run["output"]["db_instance_identifier"])
        assert instance["PreferredMaintenanceWindow"] == "sun:05:00-sun:06:00"
    finally:
        rds.delete_db_snapshot(DBSnapshotIdentifier=snapshot)


def test_a_point_in_time_clone_of_another_database(databases, config, aws, vault_client,
                                                   consul_client):
    rds, secrets = aws("rds"), aws("secretsmanager")
    first = provision(databases, "orders-db", config)
    assert first["status"] == "succeeded", first["output"]
    run = provision(databases, "orders-copy", config, source={"database": "orders-db"})
    assert run["status"] == "succeeded", run["output"]
    method, params = create_call(run)
    assert method == "restore_db_instance_to_point_in_time"
    assert params["SourceDBInstanceIdentifier"] == first["output"]["db_instance_identifier"]
    assert params["TargetDBInstanceIdentifier"] == run["output"]["db_instance_identifier"]
    assert params["UseLatestRestorableTime"] is True
    instance, _ = assert_ready(databases, "orders-copy", run, 1, vault_client, consul_client,
                               rds, secrets, config)
    (source,) = instances_of(rds, first["output"]["db_instance_identifier"])
    assert instance["MasterUserSecret"]["SecretArn"] != source["MasterUserSecret"]["SecretArn"]


@pytest.mark.parametrize("source, error", [
    ({"snapshotIdentifier": "snap-1", "database": "orders-db"},
     "spec.source.snapshotIdentifier, spec.source.database: expected exactly one (a DB snapshot "
     "to restore, or a Database of this namespace to clone)"),
    ({"database": "bad-db"},
     "spec.source.database: expected another Database of this namespace to clone, not this one "
     "(bad-db)"),
    ({"snapshotIdentifier": "snap-1", "restoreTime": "2026-12-07T10:00:00Z"},
     "spec.source.restoreTime: only with spec.source.database (a snapshot is restored as it was "
     "taken)"),
])
def test_a_bad_source_is_refused_by_name_and_nothing_is_created(databases, config, aws,
                                                                vault_client, source, error):
    run = provision(databases, "bad-db", config, source=source)
    assert run["status"] == "failed"
    status = databases.get("bad-db")["status"]
    assert status["phase"] == "Failed" and error in status["message"]
    assert instances_of(aws("rds"), run["output"]["db_instance_identifier"]) == []
    assert not [s for s in all_steps(run) if s["action"] in (
        "aws.boto3action", "aws.database_store_credentials", "aws.database_publish_config")]
