"""lib/database.py: identifiers, spec validation messages, RDS translation, conditions."""

import random
import re
import string

import pytest

from lib.database import (DEFAULT_INSTANCE_CLASSES, PayloadError, adoption, create_params,
                          db_instance_identifier, final_snapshot_identifier, modify_params, plan,
                          ready_condition, validate_spec, version_satisfies)
from tests.fixtures.database.support import payload

RDS_IDENTIFIER = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
UID = "3f1c9a52-7d0e-4b8a-9f6e-2a4b5c6d7e8f"


def assert_rds_identifier(identifier):
    assert RDS_IDENTIFIER.match(identifier), identifier
    assert not identifier.endswith("-") and "--" not in identifier, identifier


# --- identifiers -----------------------------------------------------------------------------

def test_identifier_is_readable_and_hashed():
    assert db_instance_identifier("team-a", "orders-db") == "team-a-orders-db-f07cf474"
    assert db_instance_identifier("team-a", "orders-db") == db_instance_identifier(
        "team-a", "orders-db")


def test_identifiers_of_names_with_the_same_slug_differ():
    a, b = db_instance_identifier("a-b", "c"), db_instance_identifier("a", "b-c")
    assert a.startswith("a-b-c-") and b.startswith("a-b-c-") and a != b


@pytest.mark.parametrize("namespace,name", [
    ("a" * 63, "b" * 253),                 # longest namespace and name
    ("9lives", "x"),                       # namespace starting with a digit
    ("0", "1.2.3"),                        # nothing but digits and dots
    ("team-a", "orders..db--v2-"),         # dots and hyphen runs
    ("team-a", "-" * 10),                  # nothing usable at all
    ("ns", "UPPER.case_name"),             # not DNS names, but must not crash
])
def test_identifier_edge_cases_follow_rds_rules(namespace, name):
    assert_rds_identifier(db_instance_identifier(namespace, name))


def test_identifier_of_nothing_usable_falls_back_to_db():
    assert db_instance_identifier("0", "1") == "db-%s" % db_instance_identifier("0", "1")[-8:]


def test_identifier_rules_hold_for_many_generated_names():
    rng = random.Random(20240601)  # fixed seed: the same cases every run
    alphabet = string.ascii_lowercase + string.digits + "-."
    seen = {}
    for _ in range(3000):
        namespace = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 63)))
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 253)))
        identifier = db_instance_identifier(namespace, name)
        assert_rds_identifier(identifier)
        assert seen.setdefault(identifier, (namespace, name)) == (namespace, name)


def test_final_snapshot_identifier_is_stable_per_uid():
    ident = db_instance_identifier("team-a", "orders-db")
    snap = final_snapshot_identifier(ident, UID)
    assert re.match(r"^team-a-orders-db-f07cf474-final-[0-9a-f]{8}$", snap)
    assert snap == final_snapshot_identifier(ident, UID)
    assert snap != final_snapshot_identifier(ident, "another-uid")


# --- validation ------------------------------------------------------------------------------

def test_valid_spec_has_no_errors():
    assert validate_spec(payload()["spec"]) == []
    assert validate_spec({"engine": "mysql"}) == []


@pytest.mark.parametrize("spec,errors", [
    ({"engine": "postgres", "instanceSize": "giant"},
     ["spec.instanceSize: expected one of small, medium, large, xlarge, huge, got 'giant'"]),
    ({},
     ["spec.engine: expected one of postgres, mysql, mariadb, got nothing"]),
    ({"engine": "oracle"},
     ["spec.engine: expected one of postgres, mysql, mariadb, got 'oracle'"]),
    ({"engine": "postgres", "instanceSize": "small", "instanceClass": "db.m5.large"},
     ["spec.instanceClass: set either instanceSize or instanceClass, not both "
      "(got instanceSize 'small' and instanceClass 'db.m5.large')"]),
    ({"engine": "postgres", "instanceClass": "m5.large"},
     ["spec.instanceClass: expected an RDS instance class like db.m5.large, got 'm5.large'"]),
    ({"engine": "postgres", "engineVersion": "9.6"},
     ["spec.engineVersion: postgres 9.6 is past RDS standard support; expected 13 or later"]),
    ({"engine": "mysql", "engineVersion": "5.7.44"},
     ["spec.engineVersion: mysql 5.7.44 is past RDS standard support; expected 8.0 or later"]),
    ({"engine": "mysql", "engineVersion": "8"},
     ["spec.engineVersion: expected a mysql version MAJOR.MINOR[.PATCH], e.g. 8.0 or 8.0.36, "
      "got '8'"]),
    ({"engine": "postgres", "engineVersion": "15.4.1"},
     ["spec.engineVersion: expected a postgres version MAJOR or MAJOR.MINOR, e.g. 16 or 16.3, "
      "got '15.4.1'"]),
    ({"engine": "mariadb", "engineVersion": "10.4"},
     ["spec.engineVersion: mariadb 10.4 is past RDS standard support; expected 10.5 or later"]),
    ({"engine": "postgres", "storageGB": 10},
     ["spec.storageGB: expected 20 to 65536 GiB for postgres, got 10"]),
    ({"engine": "postgres", "storageGB": "50"},
     ["spec.storageGB: expected an integer number of GiB, got '50'"]),
    ({"engine": "postgres", "storageGB": True},
     ["spec.storageGB: expected an integer number of GiB, got True"]),
    ({"engine": "postgres", "databaseName": "template1"},
     ["spec.databaseName: 'template1' is reserved by postgres; choose another name"]),
    ({"engine": "mysql", "databaseName": "orders-db"},
     ["spec.databaseName: expected 1 to 64 letters, digits or underscores starting with a "
      "letter for mysql, got 'orders-db'"]),
    ({"engine": "mysql", "masterUsername": "a" * 17},
     ["spec.masterUsername: expected 1 to 16 letters, digits or underscores starting with a "
      "letter for mysql, got '%s'" % ("a" * 17)]),
    ({"engine": "mariadb", "masterUsername": "root"},
     ["spec.masterUsername: 'root' is reserved by mariadb; choose another name"]),
    ({"engine": "postgres", "deletionPolicy": "Orphan"},
     ["spec.deletionPolicy: expected one of Delete, Retain, Snapshot, got 'Orphan'"]),
    ({"engine": "postgres", "region": "Europe"},
     ["spec.region: expected an AWS region such as eu-west-1, got 'Europe'"]),
    ({"engine": "postgres", "vault": {"path": "/abs/../x"}},
     ["spec.vault.path: expected a relative path of letters, digits, '_', '.', '-' separated "
      "by '/', got '/abs/../x'"]),
    ({"engine": "postgres", "consul": {"key": "a/../b"}},
     ["spec.consul.key: expected a relative path of letters, digits, '_', '.', '-' separated "
      "by '/', got 'a/../b'"]),
    ({"engine": "postgres", "consul": {"key": "a/./b"}},
     ["spec.consul.key: expected a relative path of letters, digits, '_', '.', '-' separated "
      "by '/', got 'a/./b'"]),
    ({"engine": "postgres", "tags": {"st2-aws/uid": "x", "aws:foo": "y"}},
     ["spec.tags.aws:foo: keys starting with st2-aws/ or aws: are reserved",
      "spec.tags.st2-aws/uid: keys starting with st2-aws/ or aws: are reserved"]),
    ({"engine": "postgres", "tags": {str(i): "v" for i in range(48)}},
     ["spec.tags: expected at most 47 tags (RDS allows 50, the pack uses 3), got 48"]),
    ({"engine": "postgres", "storageGb": 50},
     ["spec.storageGb: unknown field; expected one of engine, engineVersion, instanceSize, "
      "instanceClass, storageGB, databaseName, masterUsername, deletionPolicy, vault, consul, "
      "tags, region"]),
])
def test_invalid_specs_name_field_and_expectation(spec, errors):
    assert validate_spec(spec) == errors


def test_version_satisfies():
    assert version_satisfies("16", "16.3")
    assert version_satisfies("16.3", "16.3")
    assert not version_satisfies("16.4", "16.3")
    assert not version_satisfies("1", "16.3")


# --- translation -----------------------------------------------------------------------------

def test_create_params_of_the_example():
    spec = payload()["spec"]
    assert create_params("team-a-orders-db-f07cf474", "team-a", "orders-db", UID, spec,
                         {"medium": "db.r6g.large"}, "private-subnets", ["sg-1"]) == {
        "DBInstanceIdentifier": "team-a-orders-db-f07cf474",
        "Engine": "postgres",
        "EngineVersion": "15.4",
        "DBInstanceClass": "db.r6g.large",
        "AllocatedStorage": 50,
        "DBName": "orders",
        "MasterUsername": "dbadmin",
        "ManageMasterUserPassword": True,
        "StorageEncrypted": True,
        "CopyTagsToSnapshot": True,
        "PubliclyAccessible": False,
        "DBSubnetGroupName": "private-subnets",
        "VpcSecurityGroupIds": ["sg-1"],
        "Tags": [{"Key": "st2-aws/uid", "Value": UID},
                 {"Key": "st2-aws/namespace", "Value": "team-a"},
                 {"Key": "st2-aws/name", "Value": "orders-db"},
                 {"Key": "cost-center", "Value": "1234"},
                 {"Key": "team", "Value": "team-a"}],
    }


def test_create_params_defaults():
    params = create_params("x-1", "ns", "x", UID, {"engine": "mariadb"})
    assert params["DBInstanceClass"] == DEFAULT_INSTANCE_CLASSES["small"] == "db.t3.small"
    assert params["AllocatedStorage"] == 20 and params["MasterUsername"] == "dbadmin"
    assert "EngineVersion" not in params and "DBName" not in params
    assert "DBSubnetGroupName" not in params and "VpcSecurityGroupIds" not in params


def instance(**changes):
    data = {"DBInstanceIdentifier": "team-a-orders-db-f07cf474", "Engine": "postgres",
            "EngineVersion": "15.4", "DBInstanceClass": "db.t3.medium", "AllocatedStorage": 50,
            "TagList": [{"Key": "st2-aws/uid", "Value": UID}]}
    data.update(changes)
    return data


def test_modify_params_only_what_changed():
    spec = dict(payload()["spec"], instanceSize="large", storageGB=100, engineVersion="16.2")
    assert modify_params(spec, instance()) == ({
        "DBInstanceIdentifier": "team-a-orders-db-f07cf474", "ApplyImmediately": True,
        "DBInstanceClass": "db.m5.large", "AllocatedStorage": 100, "EngineVersion": "16.2",
        "AllowMajorVersionUpgrade": True}, [])


def test_modify_params_nothing_changed_or_already_pending():
    spec = payload()["spec"]
    assert modify_params(spec, instance()) == ({}, [])
    assert modify_params(dict(spec, engineVersion="15"), instance()) == ({}, [])
    pending = instance(PendingModifiedValues={"DBInstanceClass": "db.m5.large",
                                              "AllocatedStorage": 100})
    assert modify_params(dict(spec, instanceSize="large", storageGB=100), pending) == ({}, [])


def test_modify_params_refuses_shrink_downgrade_and_engine_change():
    spec = payload()["spec"]
    assert modify_params(dict(spec, storageGB=20), instance()) == (
        {}, ["spec.storageGB: RDS storage cannot shrink; expected at least 50, got 20"])
    assert modify_params(dict(spec, engineVersion="14.9"), instance()) == (
        {}, ["spec.engineVersion: the instance runs postgres 15.4 and cannot be downgraded; "
             "expected 15.4 or later"])
    assert modify_params(dict(spec, engine="mysql"), instance()) == (
        {}, ["spec.engine: the instance runs postgres; changing the engine of an existing "
             "instance is not possible, expected postgres"])


def test_adoption():
    assert adoption(None, UID) == "none"
    assert adoption(instance(), UID) == "adopt"
    assert adoption(instance(), "other") == "conflict"
    assert adoption(instance(TagList=[]), UID) == "conflict"


# --- plan ------------------------------------------------------------------------------------

def test_plan_of_new_resource():
    result = plan(payload(), None, {"region": "eu-west-1"})
    assert result == {
        "valid": True, "errors": [], "message": "",
        "db_instance_identifier": "team-a-orders-db-f07cf474",
        "region": "eu-west-1",
        "create_params": create_params("team-a-orders-db-f07cf474", "team-a", "orders-db", UID,
                                       payload()["spec"]),
        "modify_params": {},
        "adoption": "none",
        "vault_path": "team-a/orders-db",
        "consul_key": "team-a/orders-db/config",
        "deletion_policy": "Snapshot",
        "final_snapshot_identifier": final_snapshot_identifier("team-a-orders-db-f07cf474", UID),
        "uid": UID, "generation": 1, "namespace": "team-a", "name": "orders-db",
    }


def test_plan_defaults_paths_and_region():
    result = plan(payload(spec={"engine": "postgres", "region": "ap-south-1"}), None, {})
    assert (result["vault_path"], result["consul_key"], result["region"],
            result["deletion_policy"]) == ("databases/team-a/orders-db",
                                           "databases/team-a/orders-db", "ap-south-1", "Snapshot")


def test_plan_of_invalid_spec_keeps_what_deletion_needs():
    result = plan(payload(spec={"engine": "postgres", "instanceSize": "giant",
                                "deletionPolicy": "Retain"}), None, {})
    assert result["valid"] is False
    assert result["errors"] == [
        "spec.instanceSize: expected one of small, medium, large, xlarge, huge, got 'giant'"]
    assert result["message"] == result["errors"][0]
    assert result["create_params"] == {} and result["modify_params"] == {}
    assert result["db_instance_identifier"] == "team-a-orders-db-f07cf474"
    assert result["deletion_policy"] == "Retain"


def test_plan_conflict_names_the_owner():
    result = plan(payload(), instance(TagList=[{"Key": "st2-aws/uid", "Value": "someone"}]), {})
    assert (result["valid"], result["adoption"], result["modify_params"]) == (True, "conflict", {})
    assert result["message"] == ("RDS instance team-a-orders-db-f07cf474 already exists and "
                                 "belongs to Database uid someone; it is not adopted or changed")
    untagged = plan(payload(), instance(TagList=[]), {})
    assert untagged["message"].endswith("belongs to no Database (no st2-aws/uid tag); it is not "
                                        "adopted or changed")


def test_plan_adopt_with_changes():
    result = plan(payload(spec=dict(payload()["spec"], storageGB=80)), instance(), {})
    assert (result["valid"], result["adoption"]) == (True, "adopt")
    assert result["modify_params"] == {"DBInstanceIdentifier": "team-a-orders-db-f07cf474",
                                       "AllocatedStorage": 80, "ApplyImmediately": True}


def test_plan_adopt_with_impossible_change_is_invalid():
    result = plan(payload(spec=dict(payload()["spec"], storageGB=20)), instance(), {})
    assert (result["valid"], result["modify_params"]) == (False, {})
    assert result["errors"] == [
        "spec.storageGB: RDS storage cannot shrink; expected at least 50, got 20"]


@pytest.mark.parametrize("field", ["namespace", "name", "uid"])
def test_plan_of_payload_without_identity_fails(field):
    with pytest.raises(PayloadError) as exc:
        plan(payload(**{field: None}), None, {})
    assert str(exc.value) == ("resource.%s: expected a non-empty str in the trigger payload, "
                              "got None" % field)


# --- conditions ------------------------------------------------------------------------------

def test_ready_condition_keeps_transition_time_while_status_holds():
    first = ready_condition([], "Provisioning", "creating", 1, "2026-01-01T00:00:00Z")
    assert first == [{"type": "Ready", "status": "False", "reason": "Provisioning",
                      "message": "creating", "lastTransitionTime": "2026-01-01T00:00:00Z",
                      "observedGeneration": 1}]
    other = {"type": "Synced", "status": "True"}
    second = ready_condition(first + [other], "Failed", "boom", None, "2026-01-02T00:00:00Z")
    assert second == [{"type": "Ready", "status": "False", "reason": "Failed", "message": "boom",
                       "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1},
                      other]
    third = ready_condition(second, "Ready", "", 2, "2026-01-03T00:00:00Z")
    assert third[0] == {"type": "Ready", "status": "True", "reason": "Ready", "message": "",
                        "lastTransitionTime": "2026-01-03T00:00:00Z", "observedGeneration": 2}
