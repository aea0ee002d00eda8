"""lib/database/rds_params.py: identifiers, RDS create/modify parameters, adoption, versions."""

import random
import re
import string

import pytest

from lib.database.rds_params import (DEFAULT_INSTANCE_CLASSES, adoption, create_params,
                                     db_instance_identifier, final_snapshot_identifier,
                                     modify_params, spec_differences, tag_map, version_satisfies)
from tests.fixtures.database.support import payload, rds_instance

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


def test_modify_params_only_what_changed():
    spec = dict(payload()["spec"], instanceSize="large", storageGB=100, engineVersion="16.2",
                allowMajorVersionUpgrade=True, applyChanges="Immediately")
    assert modify_params(spec, rds_instance()) == ({
        "DBInstanceIdentifier": "team-a-orders-db-f07cf474", "ApplyImmediately": True,
        "DBInstanceClass": "db.m5.large", "AllocatedStorage": 100, "EngineVersion": "16.2",
        "AllowMajorVersionUpgrade": True}, [], [])


def test_modify_params_nothing_changed_or_already_pending():
    spec = payload()["spec"]
    assert modify_params(spec, rds_instance()) == ({}, [], [])
    assert modify_params(dict(spec, engineVersion="15"), rds_instance()) == ({}, [], [])
    pending = rds_instance(PendingModifiedValues={"DBInstanceClass": "db.m5.large",
                                                  "AllocatedStorage": 100})
    assert modify_params(dict(spec, instanceSize="large", storageGB=100), pending) == ({}, [], [])


def test_modify_params_holds_shrink_and_downgrade_and_refuses_an_engine_change():
    spec = payload()["spec"]
    shrink = ("spec.storageGB: RDS storage cannot shrink; the instance keeps 50 GB (spec says "
              "20): set storageGB to 50 or more")
    downgrade = ("spec.engineVersion: the instance runs postgres 15.4 and cannot be downgraded; "
                 "set engineVersion to 15.4 or later")
    assert modify_params(dict(spec, storageGB=20), rds_instance()) == ({}, [], [shrink])
    assert modify_params(dict(spec, engineVersion="14.9"), rds_instance()) == (
        {}, [], [downgrade])
    # what cannot be undone is held; the rest of the change is still applied
    assert modify_params(dict(spec, storageGB=20, engineVersion="14.9", instanceSize="large"),
                         rds_instance()) == (
        {"DBInstanceIdentifier": "team-a-orders-db-f07cf474", "ApplyImmediately": True,
         "DBInstanceClass": "db.m5.large"}, [], [shrink, downgrade])
    assert modify_params(dict(spec, engine="mysql"), rds_instance()) == (
        {}, ["spec.engine: the instance runs postgres; changing the engine of an existing "
             "instance is not possible, expected postgres"], [])


def test_adoption():
    assert adoption(None, UID) == "none"
    assert adoption(rds_instance(), UID) == "adopt"
    assert adoption(rds_instance(), "other") == "conflict"
    assert adoption(rds_instance(TagList=[]), UID) == "conflict"


def test_modify_params_tolerates_a_garbled_instance():
    spec = payload()["spec"]
    for garbled in (rds_instance(AllocatedStorage="50"),
                    rds_instance(EngineVersion="8.0.mysql_aurora.3"),
                    rds_instance(PendingModifiedValues="x"), rds_instance(EngineVersion=None),
                    rds_instance(DBInstanceClass=None), rds_instance(TagList="x")):
        params, errors, held = modify_params(spec, garbled)
        assert isinstance(params, dict) and isinstance(errors, list) and isinstance(held, list)
    assert modify_params(spec, {"Engine": "postgres"}) == (
        {}, ["current_instance: expected a DBInstances[] item of describe_db_instances with a "
             "DBInstanceIdentifier"], [])
    assert tag_map({"TagList": [None, "x", {"Key": 5}, {"Key": "a", "Value": "b"}]}) == {"a": "b"}


def test_user_tags_never_shadow_the_packs_own():
    params = create_params("x-1", "ns", "x", UID, {"engine": "mariadb",
                                                   "tags": {"ST2-AWS/uid": "evil", "a": "b"}})
    assert [t["Key"] for t in params["Tags"]] == ["st2-aws/uid", "st2-aws/namespace",
                                                  "st2-aws/name", "a"]


# -- multiAZ, deletionProtection, backup, maintenanceWindow ---------------------------------------
AVAILABILITY = {"multiAZ": True, "deletionProtection": True,
                "backup": {"retentionDays": 14, "window": "03:00-03:30"},
                "maintenanceWindow": "Sun:05:00-Sun:06:00"}
AVAILABLE_INSTANCE = {"MultiAZ": True, "DeletionProtection": True, "BackupRetentionPeriod": 14,
                      "PreferredBackupWindow": "03:00-03:30",
                      "PreferredMaintenanceWindow": "sun:05:00-sun:06:00"}


def test_create_params_set_the_optional_fields_only_when_given():
    params = create_params("x-1", "ns", "x", UID, dict({"engine": "postgres"}, **AVAILABILITY))
    assert {k: params[k] for k in AVAILABLE_INSTANCE} == {
        "MultiAZ": True, "DeletionProtection": True, "BackupRetentionPeriod": 14,
        "PreferredBackupWindow": "03:00-03:30",
        "PreferredMaintenanceWindow": "Sun:05:00-Sun:06:00"}
    params = create_params("x-1", "ns", "x", UID, {"engine": "postgres", "multiAZ": False,
                                                   "backup": {"retentionDays": 0}})
    assert params["MultiAZ"] is False and params["BackupRetentionPeriod"] == 0
    assert not set(AVAILABLE_INSTANCE) - {"MultiAZ", "BackupRetentionPeriod"} & set(params)
    assert not set(AVAILABLE_INSTANCE) & set(create_params("x-1", "ns", "x", UID,
                                                           {"engine": "postgres"}))


@pytest.mark.parametrize("change,params", [
    ({"multiAZ": False}, {"MultiAZ": False}),
    ({"deletionProtection": False}, {"DeletionProtection": False}),
    ({"backup": {"retentionDays": 7, "window": "03:00-03:30"}}, {"BackupRetentionPeriod": 7}),
    ({"backup": {"retentionDays": 14, "window": "22:00-23:00"}},
     {"PreferredBackupWindow": "22:00-23:00"}),
    ({"maintenanceWindow": "mon:01:00-mon:02:00"},
     {"PreferredMaintenanceWindow": "mon:01:00-mon:02:00"}),
])
def test_modify_params_change_only_the_optional_field_that_changed(change, params):
    spec = dict(payload()["spec"], instanceSize="medium", storageGB=50, **AVAILABILITY)
    instance = rds_instance(**AVAILABLE_INSTANCE)
    # the same values (the window in RDS's lower case) change nothing
    assert modify_params(spec, instance) == ({}, [], [])
    assert modify_params(dict(spec, **change), instance) == (dict(
        params, DBInstanceIdentifier="team-a-orders-db-f07cf474", ApplyImmediately=True), [], [])
    # a change RDS holds pending counts as done
    pending = rds_instance(PendingModifiedValues=dict(params), **AVAILABLE_INSTANCE)
    if set(params) <= {"MultiAZ", "BackupRetentionPeriod"}:
        assert modify_params(dict(spec, **change), pending) == ({}, [], [])


def test_fields_left_out_leave_the_instance_alone():
    spec = dict(payload()["spec"], instanceSize="medium", storageGB=50)
    assert modify_params(spec, rds_instance(**AVAILABLE_INSTANCE)) == ({}, [], [])
    assert spec_differences(spec, rds_instance(**AVAILABLE_INSTANCE)) == []


def test_a_maintenance_window_over_the_instances_backup_window_is_refused():
    spec = dict(payload()["spec"], instanceSize="medium", storageGB=50,
                maintenanceWindow="tue:03:15-tue:04:00")
    assert modify_params(spec, rds_instance(PreferredBackupWindow="03:00-03:30")) == (
        {}, ["spec.maintenanceWindow: tue:03:15-tue:04:00 overlaps (or touches) the instance's "
             "daily backup window 03:00-03:30, which RDS refuses; expected a window apart from "
             "it (or set spec.backup.window too)"], [])


def test_spec_differences_name_each_optional_field():
    spec = dict(payload()["spec"], instanceSize="medium", storageGB=50, **AVAILABILITY)
    drifted = rds_instance(MultiAZ=False, DeletionProtection=False, BackupRetentionPeriod=1,
                           PreferredBackupWindow="13:14-13:44",
                           PreferredMaintenanceWindow="wed:06:38-wed:07:08")
    assert spec_differences(spec, drifted) == [
        ("multiAZ", True, False, True), ("deletionProtection", True, False, True),
        ("backup.retentionDays", 14, 1, True),
        ("backup.window", "03:00-03:30", "13:14-13:44", True),
        ("maintenanceWindow", "Sun:05:00-Sun:06:00", "wed:06:38-wed:07:08", True)]
    assert spec_differences(spec, rds_instance(**AVAILABLE_INSTANCE)) == []


# -- storage: maxGB, type, iops, throughput ------------------------------------------------------
STORAGE = {"maxGB": 200, "type": "io1", "iops": 2000}
STORAGE_INSTANCE = {"AllocatedStorage": 100, "MaxAllocatedStorage": 200, "StorageType": "io1",
                    "Iops": 2000}


def test_create_params_set_storage_fields_only_when_given():
    params = create_params("x-1", "ns", "x", UID, {"engine": "postgres", "storageGB": 100,
                                                   "storage": STORAGE})
    assert {k: params.get(k) for k in STORAGE_INSTANCE} == STORAGE_INSTANCE
    assert "StorageThroughput" not in params
    # maxGB equal to storageGB: no autoscaling, no MaxAllocatedStorage
    params = create_params("x-1", "ns", "x", UID, {"engine": "postgres", "storageGB": 100,
                                                   "storage": {"maxGB": 100}})
    assert not {"MaxAllocatedStorage", "StorageType", "Iops"} & set(params)
    params = create_params("x-1", "ns", "x", UID, {
        "engine": "postgres", "storageGB": 400,
        "storage": {"type": "gp3", "iops": 12000, "throughput": 1000}})
    assert (params["StorageType"], params["Iops"], params["StorageThroughput"]) == (
        "gp3", 12000, 1000)


@pytest.mark.parametrize("change,params", [
    ({"maxGB": 300}, {"MaxAllocatedStorage": 300}),
    ({"maxGB": 100}, {"MaxAllocatedStorage": 100}),
    ({"iops": 3000}, {"Iops": 3000}),
    ({"type": "io2"}, {"StorageType": "io2"}),
])
def test_modify_params_change_only_the_storage_field_that_changed(change, params):
    spec = dict(payload()["spec"], instanceSize="medium", storageGB=100, storage=STORAGE)
    instance = rds_instance(**STORAGE_INSTANCE)
    assert modify_params(spec, instance) == ({}, [], [])
    spec["storage"] = dict(STORAGE, **change)
    assert modify_params(spec, instance) == (dict(
        params, DBInstanceIdentifier="team-a-orders-db-f07cf474", ApplyImmediately=True), [], [])
    # a change RDS holds pending counts as done
    if "MaxAllocatedStorage" not in params:
        pending = rds_instance(PendingModifiedValues=dict(params), **STORAGE_INSTANCE)
        assert modify_params(spec, pending) == ({}, [], [])


def test_autoscaling_off_is_maxgb_equal_to_storagegb():
    spec = dict(payload()["spec"], instanceSize="medium", storageGB=100,
                storage={"maxGB": 100})
    # RDS answers no MaxAllocatedStorage when autoscaling is off
    instance = rds_instance(AllocatedStorage=100)
    assert modify_params(spec, instance) == ({}, [], [])
    assert spec_differences(spec, instance) == []
    on = rds_instance(AllocatedStorage=100, MaxAllocatedStorage=500)
    assert modify_params(spec, on)[0]["MaxAllocatedStorage"] == 100
    assert spec_differences(spec, on) == [("storage.maxGB", 100, 500, True)]


def test_storage_grown_by_autoscaling_is_not_a_difference():
    spec = dict(payload()["spec"], instanceSize="medium", storageGB=100,
                storage={"maxGB": 200})
    grown = rds_instance(AllocatedStorage=150, MaxAllocatedStorage=200)
    assert modify_params(spec, grown) == ({}, [], [])
    assert spec_differences(spec, grown) == []
    # past maxGB (grown out of band, or maxGB lowered under it): held, named, not repeated
    spec["storage"] = {"maxGB": 120}
    params, errors, held = modify_params(spec, grown)
    assert (params, errors) == ({}, [])
    assert held == ["spec.storage.maxGB: the instance has grown to 150 GB (storage autoscaling), "
                    "past maxGB 120; RDS wants the limit above the allocated storage: set maxGB "
                    "above 150, or storageGB and maxGB both to 150 to turn autoscaling off"]
    assert spec_differences(spec, grown) == [("storage.maxGB", 120, 200, False)]
    # without maxGB the growth is a shrink the spec asks for: held as before
    spec.pop("storage")
    assert modify_params(spec, grown)[2][0].startswith("spec.storageGB: RDS storage cannot shrink")


def test_storage_fields_left_out_leave_the_instance_alone():
    spec = dict(payload()["spec"], instanceSize="medium", storageGB=100, storage={})
    assert modify_params(spec, rds_instance(**STORAGE_INSTANCE)) == ({}, [], [])
    assert spec_differences(spec, rds_instance(**STORAGE_INSTANCE)) == []


def test_spec_differences_name_each_storage_field():
    spec = dict(payload()["spec"], instanceSize="medium", storageGB=400,
                storage={"maxGB": 800, "type": "gp3", "iops": 12000, "throughput": 600})
    drifted = rds_instance(AllocatedStorage=400, MaxAllocatedStorage=1000, StorageType="gp2",
                           Iops=3000, StorageThroughput=125)
    assert spec_differences(spec, drifted) == [
        ("storage.maxGB", 800, 1000, True), ("storage.type", "gp3", "gp2", True),
        ("storage.iops", 12000, 3000, True), ("storage.throughput", 600, 125, True)]


def test_autoscaling_off_on_a_grown_instance_is_held_not_sent():
    # maxGB equal to storageGB under what the instance has: RDS would refuse the limit
    spec = dict(payload()["spec"], instanceSize="medium", storageGB=100,
                storage={"maxGB": 100})
    params, errors, held = modify_params(spec, rds_instance(AllocatedStorage=150))
    assert (params, errors) == ({}, [])
    assert [h.split(":")[0] for h in held] == ["spec.storageGB", "spec.storage.maxGB"]
    # the limit at exactly what the instance has: sent (RDS then turns autoscaling off)
    spec["storage"] = {"maxGB": 150}
    grown = rds_instance(AllocatedStorage=150, MaxAllocatedStorage=300)
    assert modify_params(spec, grown)[0]["MaxAllocatedStorage"] == 150


# -- applyChanges, autoMinorVersionUpgrade, allowMajorVersionUpgrade -----------------------------
MAJOR_REFUSED = ("spec.engineVersion, spec.allowMajorVersionUpgrade: 16.2 is a major upgrade of "
                 "the instance's postgres 15.4, refused unless allowMajorVersionUpgrade is true "
                 "(the upgrade is then applied in the maintenance window unless applyChanges is "
                 "Immediately); expected engineVersion 15.x or allowMajorVersionUpgrade: true")


@pytest.mark.parametrize("change,expected", [
    # a major upgrade: refused without allowMajorVersionUpgrade, nothing else applied
    ({"engineVersion": "16.2", "instanceSize": "large"}, ({}, [MAJOR_REFUSED], [])),
    ({"engineVersion": "16.2", "allowMajorVersionUpgrade": False}, ({}, [MAJOR_REFUSED], [])),
    # allowed: in the maintenance window unless applyChanges says Immediately
    ({"engineVersion": "16.2", "allowMajorVersionUpgrade": True},
     ({"EngineVersion": "16.2", "AllowMajorVersionUpgrade": True, "ApplyImmediately": False},
      [], [])),
    ({"engineVersion": "16.2", "allowMajorVersionUpgrade": True, "applyChanges": "Immediately"},
     ({"EngineVersion": "16.2", "AllowMajorVersionUpgrade": True, "ApplyImmediately": True},
      [], [])),
    # a minor upgrade: at once unless applyChanges says the window; no AllowMajorVersionUpgrade
    ({"engineVersion": "15.5"}, ({"EngineVersion": "15.5", "ApplyImmediately": True}, [], [])),
    ({"engineVersion": "15.5", "applyChanges": "NextMaintenanceWindow"},
     ({"EngineVersion": "15.5", "ApplyImmediately": False}, [], [])),
    ({"instanceSize": "large", "applyChanges": "NextMaintenanceWindow"},
     ({"DBInstanceClass": "db.m5.large", "ApplyImmediately": False}, [], [])),
    ({"autoMinorVersionUpgrade": False},
     ({"AutoMinorVersionUpgrade": False, "ApplyImmediately": True}, [], [])),
])
def test_version_changes_follow_allow_major_and_apply_changes(change, expected):
    spec = dict(payload()["spec"], instanceSize="medium", storageGB=50, engineVersion="15.4")
    spec.update(change)
    params, errors, held = modify_params(spec, rds_instance(AutoMinorVersionUpgrade=True))
    if params:
        params.pop("DBInstanceIdentifier")
    assert (params, errors, held) == expected


def test_mysql_and_mariadb_majors_are_two_parts():
    spec = dict(payload()["spec"], engine="mysql", instanceSize="medium", storageGB=50,
                engineVersion="8.4.3")
    instance = rds_instance(Engine="mysql", EngineVersion="8.0.39")
    assert modify_params(spec, instance)[1][0].startswith(
        "spec.engineVersion, spec.allowMajorVersionUpgrade: 8.4.3 is a major upgrade")
    spec.update(engineVersion="8.0.40")
    assert modify_params(spec, instance)[0]["EngineVersion"] == "8.0.40"
    assert "AllowMajorVersionUpgrade" not in modify_params(spec, instance)[0]


def test_a_minor_upgrade_rds_made_itself_is_no_difference_when_automatic():
    spec = dict(payload()["spec"], instanceSize="medium", storageGB=50, engineVersion="15.4")
    upgraded = rds_instance(EngineVersion="15.7", AutoMinorVersionUpgrade=True)
    assert modify_params(spec, upgraded) == ({}, [], [])
    assert spec_differences(spec, upgraded) == []
    # not automatic (the spec or the instance says so): a downgrade the spec asks for, held
    for spec_auto, instance_auto in ((False, True), (None, False)):
        spec["autoMinorVersionUpgrade"] = spec_auto
        if spec_auto is None:
            spec.pop("autoMinorVersionUpgrade")
        instance = rds_instance(EngineVersion="15.7", AutoMinorVersionUpgrade=instance_auto)
        held = modify_params(spec, instance)[2]
        assert held and held[0].startswith("spec.engineVersion: the instance runs postgres 15.7 "
                                           "and cannot be downgraded")
        assert ("engineVersion", "15.4", "15.7", False) in spec_differences(spec, instance)
    # another major is never an automatic minor upgrade
    spec["autoMinorVersionUpgrade"] = True
    assert modify_params(spec, rds_instance(EngineVersion="16.1"))[2]


def test_create_params_set_auto_minor_version_upgrade_only_when_given():
    spec = {"engine": "postgres", "autoMinorVersionUpgrade": False,
            "allowMajorVersionUpgrade": True, "applyChanges": "Immediately"}
    params = create_params("x-1", "ns", "x", UID, spec)
    assert params["AutoMinorVersionUpgrade"] is False
    assert not {"AllowMajorVersionUpgrade", "ApplyImmediately"} & set(params)
    assert "AutoMinorVersionUpgrade" not in create_params("x-1", "ns", "x", UID,
                                                          {"engine": "postgres"})


# -- iamAuthentication, caCertificateIdentifier ---------------------------------------------------
def test_iam_and_ca_are_set_on_create_changed_alone_and_compared():
    spec = dict(payload()["spec"], instanceSize="medium", storageGB=50, iamAuthentication=True,
                caCertificateIdentifier="rds-ca-rsa4096-g1")
    params = create_params("x-1", "ns", "x", UID, spec)
    assert (params["EnableIAMDatabaseAuthentication"], params["CACertificateIdentifier"]) == (
        True, "rds-ca-rsa4096-g1")
    # describe answers IAM authentication as IAMDatabaseAuthenticationEnabled
    same = rds_instance(IAMDatabaseAuthenticationEnabled=True,
                        CACertificateIdentifier="rds-ca-rsa4096-g1")
    assert modify_params(spec, same) == ({}, [], [])
    assert spec_differences(spec, same) == []
    other = rds_instance(IAMDatabaseAuthenticationEnabled=False,
                         CACertificateIdentifier="rds-ca-rsa2048-g1")
    assert modify_params(spec, other)[0] == {
        "DBInstanceIdentifier": "team-a-orders-db-f07cf474", "ApplyImmediately": True,
        "EnableIAMDatabaseAuthentication": True, "CACertificateIdentifier": "rds-ca-rsa4096-g1"}
    assert spec_differences(spec, other) == [
        ("iamAuthentication", True, False, True),
        ("caCertificateIdentifier", "rds-ca-rsa4096-g1", "rds-ca-rsa2048-g1", True)]
    # pending counts as done
    pending = rds_instance(IAMDatabaseAuthenticationEnabled=False,
                           CACertificateIdentifier="rds-ca-rsa2048-g1",
                           PendingModifiedValues={"IAMDatabaseAuthenticationEnabled": True,
                                                  "CACertificateIdentifier": "rds-ca-rsa4096-g1"})
    assert modify_params(spec, pending) == ({}, [], [])
    assert "EnableIAMDatabaseAuthentication" not in create_params("x-1", "ns", "x", UID,
                                                                  payload()["spec"])
