"""lib/database/spec.py: every check the pack makes on a spec, and what each message says."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from lib.database.spec import (APPLY_CHANGES, BACKUP_FIELDS, CA_CERTIFICATES, GP3_THROUGHPUT,
                               IOPS, LIMITS, MAX_USER_TAGS, RETENTION_DAYS, ROTATION_DAYS,
                               SPEC_FIELDS,
                               STORAGE_FIELDS, STORAGE_TYPES, quote, rds_regions, validate_spec)
from lib.stores.kv_layout import Layout
from tests.fixtures.database.support import crd_schema, payload
from tests.hostile_specs import json_values, specs

PATH_RULE = "a relative path of at most 256 letters, digits, '_', '.', '-' separated by '/'"


def test_valid_spec_has_no_errors():
    assert validate_spec(payload()["spec"]) == []
    assert validate_spec({"engine": "mysql"}) == []
    assert validate_spec(dict(payload()["spec"], engineVersion="", region="",
                              vault={"path": ""}, consul={"key": ""})) == []


@pytest.mark.parametrize("spec,errors", [
    ({"engine": "postgres", "instanceSize": "giant"},
     ["spec.instanceSize: expected one of small, medium, large, xlarge, huge, got 'giant'"]),
    ({},
     ["spec.engine: expected one of postgres, mysql, mariadb, got nothing"]),
    ({"engine": "oracle"},
     ["spec.engine: expected one of postgres, mysql, mariadb, got 'oracle'"]),
    ({"engine": ["postgres"]},
     ["spec.engine: expected one of postgres, mysql, mariadb, got an array of 1 item"]),
    ({"engine": "postgres", "instanceSize": "small", "instanceClass": "db.m5.large"},
     ["spec.instanceSize, spec.instanceClass: give one of them, not both "
      "(got instanceSize 'small' and instanceClass 'db.m5.large')"]),
    ({"engine": "postgres", "instanceClass": "m5.large"},
     ["spec.instanceClass: expected an RDS instance class db.<family><generation>.<size> such "
      "as db.m5.large or db.r6g.2xlarge, got 'm5.large'"]),
    ({"engine": "postgres", "instanceClass": "db.x.y"},
     ["spec.instanceClass: expected an RDS instance class db.<family><generation>.<size> such "
      "as db.m5.large or db.r6g.2xlarge, got 'db.x.y'"]),
    ({"engine": "postgres", "instanceClass": "db.m5.huge"},
     ["spec.instanceClass: expected an RDS instance class db.<family><generation>.<size> such "
      "as db.m5.large or db.r6g.2xlarge, got 'db.m5.huge'"]),
    ({"engine": "postgres", "engineVersion": "9.6"},
     ["spec.engineVersion: postgres 9.6 is past RDS standard support; expected 13 or later"]),
    ({"engine": "mysql", "engineVersion": "5.7.44"},
     ["spec.engineVersion: mysql 5.7.44 is past RDS standard support; expected 8.0 or later"]),
    ({"engine": "mysql", "engineVersion": "8"},
     ["spec.engineVersion: expected a mysql version MAJOR.MINOR[.PATCH], e.g. 8.0 or 8.0.39, "
      "got '8'"]),
    ({"engine": "postgres", "engineVersion": "15.4.1"},
     ["spec.engineVersion: expected a postgres version MAJOR or MAJOR.MINOR, e.g. 16 or 16.4, "
      "got '15.4.1'"]),
    ({"engine": "postgres", "engineVersion": "16.999"},
     ["spec.engineVersion: expected a postgres version MAJOR or MAJOR.MINOR, e.g. 16 or 16.4, "
      "got '16.999'"]),
    ({"engine": "mysql", "engineVersion": "8.0.1234"},
     ["spec.engineVersion: expected a mysql version MAJOR.MINOR[.PATCH], e.g. 8.0 or 8.0.39, "
      "got '8.0.1234'"]),
    ({"engine": "postgres", "engineVersion": "9" * 5000},
     ["spec.engineVersion: expected a postgres version MAJOR or MAJOR.MINOR, e.g. 16 or 16.4, "
      "got %r... (5000 characters)" % ("9" * 60)]),
    ({"engine": "postgres", "engineVersion": 16},
     ["spec.engineVersion: expected a string such as \"16.4\", got 16"]),
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
    ({"engine": "postgres", "databaseName": "select"},
     ["spec.databaseName: 'select' is a word postgres reserves; choose another name"]),
    ({"engine": "mysql", "databaseName": "Interval"},
     ["spec.databaseName: 'Interval' is a word mysql reserves; choose another name"]),
    ({"engine": "postgres", "masterUsername": "postgres"},
     ["spec.masterUsername: 'postgres' is reserved by postgres; choose another name"]),
    ({"engine": "postgres", "masterUsername": "pg_monitor"},
     ["spec.masterUsername: 'pg_monitor' is reserved by postgres; choose another name"]),
    ({"engine": "postgres", "masterUsername": "user"},
     ["spec.masterUsername: 'user' is a word postgres reserves; choose another name"]),
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
     ["spec.region: expected an AWS region where RDS is offered, such as eu-west-1 (botocore's "
      "endpoint data lists %d), got 'Europe'" % len(rds_regions())]),
    ({"engine": "postgres", "region": "xx-yyyy-9"},
     ["spec.region: expected an AWS region where RDS is offered, such as eu-west-1 (botocore's "
      "endpoint data lists %d), got 'xx-yyyy-9'" % len(rds_regions())]),
    ({"engine": "postgres", "vault": {"path": "/abs/../x"}},
     ["spec.vault.path: expected %s, got '/abs/../x'" % PATH_RULE]),
    ({"engine": "postgres", "vault": "team-a/x"},
     ["spec.vault: expected an object with path, got 'team-a/x'"]),
    ({"engine": "postgres", "consul": ["a"]},
     ["spec.consul: expected an object with key, got an array of 1 item"]),
    ({"engine": "postgres", "vault": {"path": "a/b", "mount": "x"}},
     ["spec.vault.mount: unknown field; expected only path"]),
    ({"engine": "postgres", "consul": {"key": "a/../b"}},
     ["spec.consul.key: expected %s, got 'a/../b'" % PATH_RULE.replace("256", "256")]),
    ({"engine": "postgres", "consul": {"key": "a/./b"}},
     ["spec.consul.key: expected %s, got 'a/./b'" % PATH_RULE]),
    ({"engine": "postgres", "tags": {"st2-aws/uid": "x", "aws:foo": "y"}},
     ["spec.tags: key 'aws:foo': keys starting with st2-aws/, aws:, rds: (in any case) are "
      "reserved",
      "spec.tags: key 'st2-aws/uid': keys starting with st2-aws/, aws:, rds: (in any case) are "
      "reserved"]),
    ({"engine": "postgres", "tags": {"AWS:Foo": "y", "Rds:x": "z"}},
     ["spec.tags: key 'AWS:Foo': keys starting with st2-aws/, aws:, rds: (in any case) are "
      "reserved",
      "spec.tags: key 'Rds:x': keys starting with st2-aws/, aws:, rds: (in any case) are "
      "reserved"]),
    ({"engine": "postgres", "tags": {"team": "rds:orders"}},
     ["spec.tags.team: values starting with st2-aws/, aws:, rds: (in any case) are reserved"]),
    ({"engine": "postgres", "tags": {"team": "a\x00b"}},
     ["spec.tags.team: expected Unicode letters, digits, spaces and _ . : / = + - @ only, got "
      "U+0000 (a control character)"]),
    ({"engine": "postgres", "tags": {"te\nam": "a"}},
     ["spec.tags: key 'te\\nam': expected Unicode letters, digits, spaces and _ . : / = + - @ "
      "only, got U+000A (a control character)"]),
    ({"engine": "postgres", "tags": {"team": "a;b"}},
     ["spec.tags.team: expected Unicode letters, digits, spaces and _ . : / = + - @ only, got "
      "U+003B (SEMICOLON)"]),
    ({"engine": "postgres", "tags": {"k" * 129: "v"}},
     ["spec.tags: key %r... (129 characters): expected 1 to 128 characters, got 129"
      % ("k" * 60)]),
    ({"engine": "postgres", "tags": {"team": "v" * 257}},
     ["spec.tags.team: expected 0 to 256 characters, got 257"]),
    ({"engine": "postgres", "tags": {"team": 5}},
     ["spec.tags.team: expected a string, got 5"]),
    ({"engine": "postgres", "tags": {str(i): "v" for i in range(48)}},
     ["spec.tags: expected at most 47 tags (RDS allows 50, the pack sets 3), got 48"]),
    ({"engine": "postgres", "storageGb": 50},
     ["spec.storageGb: unknown field; did you mean storageGB or storage?; expected a field of "
      "the Database spec (`kubectl explain database.spec` lists them)"]),
    ({"engine": "postgres", "onInstanceMissing": "recreate"},
     ["spec.onInstanceMissing: expected one of Report, Recreate, got 'recreate'"]),
    ({"engine": "postgres", "multiAZ": "yes"},
     ["spec.multiAZ: expected true or false, got 'yes'"]),
    ({"engine": "postgres", "deletionProtection": 1},
     ["spec.deletionProtection: expected true or false, got 1"]),
    ({"engine": "postgres", "backup": 7},
     ["spec.backup: expected an object with retentionDays and/or window, got 7"]),
    ({"engine": "postgres", "backup": {"retentionDays": 36}},
     ["spec.backup.retentionDays: expected an integer from 0 (automated backups off) to 35 "
      "days, got 36"]),
    ({"engine": "postgres", "backup": {"retentionDays": -1}},
     ["spec.backup.retentionDays: expected an integer from 0 (automated backups off) to 35 "
      "days, got -1"]),
    ({"engine": "postgres", "backup": {"retentionDays": True}},
     ["spec.backup.retentionDays: expected an integer from 0 (automated backups off) to 35 "
      "days, got True"]),
    ({"engine": "postgres", "multiAZ": True, "backup": {"retentionDays": 0}},
     ["spec.backup.retentionDays, spec.multiAZ: retentionDays 0 turns automated backups off, "
      "which RDS refuses for a Multi-AZ instance of some engines (and for an instance with "
      "read replicas); keep retentionDays at 1 or more, or set multiAZ false"]),
    ({"engine": "postgres", "backup": {"days": 7}},
     ["spec.backup.days: unknown field; expected retentionDays or window"]),
    ({"engine": "postgres", "backup": {"window": "03:00-03:29"}},
     ["spec.backup.window: expected a daily window hh24:mi-hh24:mi in UTC of at least 30 "
      "minutes, such as 03:00-04:00, got '03:00-03:29'"]),
    ({"engine": "postgres", "backup": {"window": "24:00-01:00"}},
     ["spec.backup.window: expected a daily window hh24:mi-hh24:mi in UTC of at least 30 "
      "minutes, such as 03:00-04:00, got '24:00-01:00'"]),
    ({"engine": "postgres", "maintenanceWindow": "sun:05:00-sun:05:20"},
     ["spec.maintenanceWindow: expected a weekly window ddd:hh24:mi-ddd:hh24:mi in UTC of 30 "
      "minutes to 24 hours, such as sun:05:00-sun:06:00, got 'sun:05:00-sun:05:20'"]),
    ({"engine": "postgres", "maintenanceWindow": "xyz:05:00-xyz:06:00"},
     ["spec.maintenanceWindow: expected a weekly window ddd:hh24:mi-ddd:hh24:mi in UTC of 30 "
      "minutes to 24 hours, such as sun:05:00-sun:06:00, got 'xyz:05:00-xyz:06:00'"]),
    ({"engine": "postgres", "maintenanceWindow": "sun:05:00-tue:05:00"},
     ["spec.maintenanceWindow: expected a weekly window ddd:hh24:mi-ddd:hh24:mi in UTC of 30 "
      "minutes to 24 hours, such as sun:05:00-sun:06:00, got 'sun:05:00-tue:05:00'"]),
    ({"engine": "postgres", "backup": {"window": "03:00-04:00"},
      "maintenanceWindow": "tue:04:00-tue:05:00"},
     ["spec.maintenanceWindow: 'tue:04:00-tue:05:00' overlaps (or touches) the daily backup "
      "window '03:00-04:00' (spec.backup.window); RDS refuses both, expected windows apart"]),
    ({"engine": "postgres", "backup": {"window": "23:30-00:30"},
      "maintenanceWindow": "sun:00:15-sun:01:00"},
     ["spec.maintenanceWindow: 'sun:00:15-sun:01:00' overlaps (or touches) the daily backup "
      "window '23:30-00:30' (spec.backup.window); RDS refuses both, expected windows apart"]),
    # -- storage (issue 19) --
    ({"engine": "postgres", "storage": "gp3"},
     ["spec.storage: expected an object with maxGB, type, iops and/or throughput, got 'gp3'"]),
    ({"engine": "postgres", "storage": {"size": 5}},
     ["spec.storage.size: unknown field; expected one of maxGB, type, iops, throughput"]),
    ({"engine": "postgres", "storageGB": 100, "storage": {"maxGB": 99}},
     ["spec.storage.maxGB: expected an integer number of GiB from storageGB (100; equal turns "
      "storage autoscaling off) to 65536, got 99"]),
    ({"engine": "postgres", "storage": {"maxGB": 70000}},
     ["spec.storage.maxGB: expected an integer number of GiB from storageGB (20; equal turns "
      "storage autoscaling off) to 65536, got 70000"]),
    ({"engine": "postgres", "storage": {"maxGB": "100"}},
     ["spec.storage.maxGB: expected an integer number of GiB from storageGB (20; equal turns "
      "storage autoscaling off) to 65536, got '100'"]),
    ({"engine": "postgres", "storage": {"type": "gp2"}},
     ["spec.storage.type: expected one of gp3, io1, io2, got 'gp2'"]),
    ({"engine": "postgres", "storage": {"iops": 3000}},
     ["spec.storage.iops: set only with spec.storage.type (io1 and io2 take iops; gp3 from 400 "
      "GiB takes iops and throughput); expected a type too"]),
    ({"engine": "postgres", "storageGB": 100, "storage": {"type": "io1"}},
     ["spec.storage.iops: io1 storage needs provisioned IOPS; expected an integer from 1000 to "
      "256000"]),
    ({"engine": "postgres", "storageGB": 50, "storage": {"type": "io2", "iops": 1000}},
     ["spec.storage.type, spec.storageGB: io2 needs at least 100 GiB of storage, got storageGB "
      "50"]),
    ({"engine": "mysql", "storageGB": 100, "storage": {"type": "io1", "iops": 6000}},
     ["spec.storage.iops: io1 allows 0.5 to 50 IOPS per GiB; for storageGB 100 expected 1000 to "
      "5000 IOPS, got 6000"]),
    ({"engine": "mysql", "storageGB": 100, "storage": {"type": "io2", "iops": 500}},
     ["spec.storage.iops: expected 1000 to 256000 IOPS for io2, got 500"]),
    ({"engine": "postgres", "storageGB": 100,
      "storage": {"type": "io1", "iops": 1000, "throughput": 500}},
     ["spec.storage.throughput: io1 storage takes no throughput setting (only gp3 from 400 GiB "
      "does); expected it left out"]),
    ({"engine": "postgres", "storageGB": 100, "storage": {"type": "gp3", "iops": 12000}},
     ["spec.storage.iops: gp3 below 400 GiB has a fixed baseline (3000 IOPS, 125 MiBps) that "
      "RDS does not let be set; expected it left out, or storageGB 400 or more (got storageGB "
      "100)"]),
    ({"engine": "postgres", "storageGB": 400, "storage": {"type": "gp3", "iops": 3000}},
     ["spec.storage.iops: expected 12000 to 64000 IOPS for gp3, got 3000"]),
    ({"engine": "postgres", "storageGB": 400,
      "storage": {"type": "gp3", "iops": 12000, "throughput": 4000}},
     ["spec.storage.throughput: gp3 allows at most 0.25 MiBps per IOPS; with iops 12000 "
      "expected at most 3000, got 4000"]),
    ({"engine": "postgres", "storage": {"type": "gp3", "throughput": True}},
     ["spec.storage.throughput: expected an integer, got True"]),
    ({"engine": "postgres", "applyChanges": "now"},
     ["spec.applyChanges: expected one of Immediately, NextMaintenanceWindow, got 'now'"]),
    ({"engine": "postgres", "autoMinorVersionUpgrade": "true"},
     ["spec.autoMinorVersionUpgrade: expected true or false, got 'true'"]),
    ({"engine": "postgres", "allowMajorVersionUpgrade": 1},
     ["spec.allowMajorVersionUpgrade: expected true or false, got 1"]),
    ({"engine": "postgres", "storagegb" + "x" * 300: 1},
     ["spec.'storagegbxxxxxxxxxxx'... (309 characters): unknown field; expected a field of the "
      "Database spec (`kubectl explain database.spec` lists them)"]),
    ({"engine": "postgres", "passwordRotationDays": 0},
     ["spec.passwordRotationDays: expected an integer number of days from 1 to 1000 (RDS's "
      "default schedule is every 7), got 0"]),
    ({"engine": "postgres", "passwordRotationDays": "30"},
     ["spec.passwordRotationDays: expected an integer number of days from 1 to 1000 (RDS's "
      "default schedule is every 7), got '30'"]),
    ({"engine": "postgres", "iamAuthentication": "on"},
     ["spec.iamAuthentication: expected true or false, got 'on'"]),
    ({"engine": "postgres", "caCertificateIdentifier": "rds-ca-2019"},
     ["spec.caCertificateIdentifier: expected one of rds-ca-rsa2048-g1, rds-ca-rsa4096-g1, "
      "rds-ca-ecc384-g1, got 'rds-ca-2019'"]),
    ("postgres", ["spec: expected an object, got 'postgres'"]),
])
def test_invalid_specs_name_field_and_expectation(spec, errors):
    assert validate_spec(spec) == errors


@pytest.mark.parametrize("good", [
    {"instanceClass": "db.r6g.2xlarge"}, {"instanceClass": "db.m7i.metal-48xl"},
    {"instanceClass": "db.t4g.micro"}, {"instanceClass": "db.x2iedn.24xlarge"},
    {"engineVersion": "16.4"}, {"engineVersion": "16"}, {"region": "cn-north-1"},
    {"region": "us-gov-west-1"}, {"region": "eu-west-1"},
    {"tags": {"Team Name": "Zoë Øster", "cost:center/x": "a=b+c-d@e_f.g", "empty": ""}},
    {"tags": {str(i): "v" for i in range(MAX_USER_TAGS)}},
    {"databaseName": "orders", "masterUsername": "app_admin"},
    {"multiAZ": True, "deletionProtection": False,
     "backup": {"retentionDays": 35, "window": "23:45-00:15"},
     "maintenanceWindow": "Sun:22:00-Sun:23:00"},
    {"multiAZ": False, "backup": {"retentionDays": 0}, "maintenanceWindow": "sat:23:50-sun:00:20"},
    {"backup": {"window": "03:00-04:00"}, "maintenanceWindow": "mon:04:01-mon:05:00"},
    {"storage": {"maxGB": 20, "type": "gp3"}},
    {"storageGB": 100, "storage": {"maxGB": 1000, "type": "io1", "iops": 5000}},
    {"storageGB": 100, "storage": {"type": "io2", "iops": 100000}},
    {"storageGB": 400, "storage": {"type": "gp3", "iops": 12000, "throughput": 3000}},
    {"storageGB": 400, "storage": {"type": "gp3", "throughput": 500}},
    {"storage": {}},
    {"applyChanges": "NextMaintenanceWindow", "autoMinorVersionUpgrade": False,
     "allowMajorVersionUpgrade": True},
    {"applyChanges": "Immediately"},
    {"iamAuthentication": True, "caCertificateIdentifier": "rds-ca-ecc384-g1"},
    {"passwordRotationDays": 1}, {"passwordRotationDays": 1000},
])
def test_what_rds_accepts_passes(good):
    assert validate_spec(dict({"engine": "postgres"}, **good)) == []


def test_vault_and_consul_locations_must_be_under_the_namespace():
    layout = Layout()
    spec = {"engine": "postgres", "vault": {"path": "team-b/orders-db"},
            "consul": {"key": "team-b/orders-db/config"}}
    assert validate_spec(spec, "team-a", layout) == [
        "spec.vault.path: 'team-b/orders-db' is outside the Vault paths of namespace team-a; "
        "expected a path under 'team-a/' (pack config vault_path_prefix)",
        "spec.consul.key: 'team-b/orders-db/config' is outside the Consul keys of namespace "
        "team-a; expected a path under 'team-a/' (pack config consul_key_prefix)"]
    assert validate_spec(spec, "team-b", layout) == []
    # "team-a" is not a prefix of "team-ab/...": prefixes end with '/'
    assert validate_spec({"engine": "postgres", "vault": {"path": "team-ab/x"}}, "team-a",
                         layout)[0].startswith("spec.vault.path: 'team-ab/x' is outside")
    # the prefix alone is not a path under it
    assert validate_spec({"engine": "postgres", "vault": {"path": "team-a"}}, "team-a",
                         layout)[0].startswith("spec.vault.path: 'team-a' is outside")


def test_quote_is_bounded_and_escapes():
    assert quote("a\x00b") == "'a\\x00b'"
    assert quote("x" * 1000) == "%r... (1000 characters)" % ("x" * 60)
    assert quote({"a": 1}) == "an object of 1 item"
    assert quote(10 ** 100).endswith("...")


def test_limits_are_what_the_crd_says():
    spec = crd_schema()["properties"]["spec"]["properties"]
    for field in ("engineVersion", "instanceClass", "databaseName", "masterUsername", "region"):
        assert spec[field]["maxLength"] == LIMITS[field], field
    assert spec["vault"]["properties"]["path"]["maxLength"] == LIMITS["vault.path"]
    assert spec["consul"]["properties"]["key"]["maxLength"] == LIMITS["consul.key"]
    assert spec["backup"]["properties"]["window"]["maxLength"] == LIMITS["backup.window"]
    assert spec["maintenanceWindow"]["maxLength"] == LIMITS["maintenanceWindow"]
    retention = spec["backup"]["properties"]["retentionDays"]
    assert (retention["minimum"], retention["maximum"]) == RETENTION_DAYS
    assert set(spec["backup"]["properties"]) == set(BACKUP_FIELDS)
    storage = spec["storage"]["properties"]
    assert set(storage) == set(STORAGE_FIELDS)
    assert storage["type"]["enum"] == list(STORAGE_TYPES)
    assert (storage["iops"]["minimum"], storage["iops"]["maximum"]) == (
        min(v[0] for v in IOPS.values()), max(v[1] for v in IOPS.values()))
    assert (storage["throughput"]["minimum"], storage["throughput"]["maximum"]) == GP3_THROUGHPUT
    assert storage["maxGB"]["maximum"] == spec["storageGB"]["maximum"]
    assert spec["applyChanges"]["enum"] == list(APPLY_CHANGES)
    assert spec["caCertificateIdentifier"]["enum"] == list(CA_CERTIFICATES)
    rotation = spec["passwordRotationDays"]
    assert (rotation["minimum"], rotation["maximum"]) == ROTATION_DAYS
    assert spec["tags"]["maxProperties"] == MAX_USER_TAGS
    assert spec["tags"]["additionalProperties"]["maxLength"] == LIMITS["tag value"]
    assert set(spec) == set(SPEC_FIELDS)


@settings(max_examples=300, deadline=None)
@given(spec=st.one_of(specs(), json_values()))
def test_never_raises_and_every_message_is_bounded_and_names_a_field(spec):
    errors = validate_spec(spec, "team-a", Layout())
    assert isinstance(errors, list)
    for error in errors:
        assert error.startswith("spec"), error
        assert len(error) <= 400, error
    json.dumps(errors)
