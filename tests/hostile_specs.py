"""hypothesis strategies for Database specs, friendly and hostile (shared by the unit tests of
the spec checks and the property suite on the local servers, tests/test_chain_properties.py).

``specs(own, other)`` draws a valid spec, then replaces or adds up to three fields with hostile
values: wrong types, huge strings and numbers, control characters and NUL, names the engines
reserve, absurd regions and versions, misspelled fields, tags AWS refuses (too many, reserved
prefixes in any case, odd characters), and Vault paths / Consul keys under another namespace's
prefix (``other``) instead of the Database's own (``own``).
"""

from hypothesis import strategies as st

from lib.database.spec import ENGINES, SIZES

__all__ = ["json_values", "specs", "nasty_text"]

# "" leaves engineVersion out (RDS's default). Not for MariaDB: moto 5.2, the local AWS, has no
# default MariaDB version and answers such a create with a 500 (real RDS picks its default).
VALID_VERSIONS = {"postgres": ["16.4", "15", "14.12", "17.2", ""],
                  "mysql": ["8.0.39", "8.0", "8.4.3", ""],
                  "mariadb": ["10.11.9", "10.6", "11.4"]}
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", ""]
ABSURD_REGIONS = ["xx-yyyy-9", "us-east-99", "eu-west", "EU-WEST-1", "mars-north-1",
                  "us-east-1 ", "us-east-1\x00"]
RESERVED_NAMES = ["select", "SELECT", "user", "table", "postgres", "mysql", "root", "rdsadmin",
                  "template1", "pg_admin", "information_schema", "interval", "Order"]
CLASSES = ["db.t3.micro", "db.m5.large", "db.r6g.2xlarge", "db.m7i.metal-48xl"]
BAD_CLASSES = ["db.x.y", "m5.large", "db.m5.huge", "db.m5", "db..large", "DB.M5.LARGE",
               "db.m5.large\n"]
CONTROL = "".join(chr(c) for c in list(range(0, 32)) + [127, 0x85, 0x2028, 0xfeff, 0xd7ff])


def nasty_text(max_size=80):
    """Strings that break naive code: control characters, NUL, odd Unicode, very long runs."""
    return st.one_of(
        st.text(max_size=max_size),
        st.text(alphabet=st.sampled_from(CONTROL + "aZ9 _.:/=+-@;'\"\\%$"), max_size=max_size),
        st.integers(min_value=200, max_value=6000).map(lambda n: "9" * n),
        st.integers(min_value=200, max_value=3000).map(lambda n: "a" * n),
        st.sampled_from(["", " ", "..", "../x", "/abs", "a//b", "\x00", "null", "None"]),
    )


def json_values(max_leaves=12):
    """Any JSON value (what a client that does not validate can put in a field)."""
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1),
        st.floats(allow_nan=False, allow_infinity=False, width=32), nasty_text(40))
    return st.recursive(scalars, lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4)), max_leaves=max_leaves)


BACKUP_WINDOWS = ["03:00-03:30", "23:45-00:30", "04:10-05:00"]
#: spec.parameters names (dynamic and static ones; moto takes any name and value).
PARAMETER_NAMES = {"postgres": ["work_mem", "statement_timeout", "max_connections",
                                "shared_buffers", "rds.force_ssl", "log_min_duration_statement"],
                   "mysql": ["max_connections", "innodb_lock_wait_timeout", "performance_schema",
                             "slow_query_log"]}
PARAMETER_NAMES["mariadb"] = PARAMETER_NAMES["mysql"]
MAINTENANCE_WINDOWS = ["sun:06:00-sun:07:00", "Sat:10:00-Sat:10:30", "mon:01:00-mon:02:00"]


STORAGE_KINDS = [None, "empty", "autoscaling", "autoscaling-off", "gp3", "io1", "io2",
                 "gp3-provisioned"]


def _storage_options(kind, spec):
    """A valid spec.storage of ``kind`` for ``spec`` (whose storageGB it may raise to what the
    type needs), or None."""
    if kind is None:
        return None
    size = spec.get("storageGB", 20)
    if kind == "empty":
        return {}
    if kind in ("autoscaling", "autoscaling-off"):
        return {"maxGB": size if kind.endswith("off") else min(65536, size * 2)}
    if kind == "gp3":
        return {"type": "gp3"}
    if kind in ("io1", "io2"):
        spec["storageGB"] = size = max(size, 100)
        return {"type": kind, "iops": min(256000, max(1000, size))}
    spec["storageGB"] = max(size, 400)
    return {"type": "gp3", "iops": 12000, "throughput": 500}


def _valid_spec(own):
    def build(engine, name_suffix, data):
        spec = {"engine": engine}
        if data["version"]:
            spec["engineVersion"] = data["version"]
        if data["class"]:
            spec["instanceClass"] = data["class"]
        elif data["size"]:
            spec["instanceSize"] = data["size"]
        if data["storage"]:
            spec["storageGB"] = data["storage"]
        if data["dbname"]:
            spec["databaseName"] = data["dbname"]
        if data["region"]:
            spec["region"] = data["region"]
        if data["policy"]:
            spec["deletionPolicy"] = data["policy"]
        if data["paths"]:
            spec["vault"] = {"path": "%s%s/creds" % (own, name_suffix)}
            spec["consul"] = {"key": "%s%s/config" % (own, name_suffix)}
        if data["tags"]:
            spec["tags"] = data["tags"]
        for field in ("multiAZ", "deletionProtection", "maintenanceWindow", "applyChanges",
                      "autoMinorVersionUpgrade", "allowMajorVersionUpgrade", "iamAuthentication",
                      "caCertificateIdentifier", "passwordRotationDays"):
            if data[field] is not None:
                spec[field] = data[field]
        backup = {k: v for k, v in (("retentionDays", data["retention"]),
                                    ("window", data["backupWindow"])) if v is not None}
        if backup.get("retentionDays") == 0 and spec.get("multiAZ"):
            backup["retentionDays"] = 1  # RDS refuses backups off with Multi-AZ
        if backup:
            spec["backup"] = backup
        if data["parameters"] is not None and data["version"]:
            spec["parameters"] = data["parameters"]  # the group's family needs a version
        storage = _storage_options(data["storageKind"], spec)
        if storage is not None:
            spec["storage"] = storage
        return spec

    def for_engine(engine):
        return st.builds(
            lambda suffix, data: build(engine, suffix, data),
            st.from_regex(r"\A[a-z][a-z0-9]{0,8}\Z"),
            st.fixed_dictionaries({
                "version": st.sampled_from(VALID_VERSIONS[engine]),
                "class": st.one_of(st.none(), st.sampled_from(CLASSES)),
                "size": st.one_of(st.none(), st.sampled_from(SIZES)),
                "storage": st.one_of(st.none(), st.integers(20, 65536)),
                "dbname": st.one_of(st.none(), st.from_regex(r"\A[a-z][a-z0-9_]{0,20}\Z")
                                    .filter(lambda n: n not in ("user", "table", "select"))),
                "region": st.sampled_from(REGIONS),
                "policy": st.one_of(st.none(), st.sampled_from(["Delete", "Retain", "Snapshot"])),
                "paths": st.booleans(),
                "tags": st.dictionaries(
                    st.from_regex(r"\A[A-Za-z][A-Za-z0-9 _.:/=+@-]{0,20}\Z").filter(
                        lambda k: not k.lower().startswith(("aws:", "rds:", "st2-aws/"))),
                    st.from_regex(r"\A[A-Za-z0-9 _.:/=+@-]{0,20}\Z").filter(
                        lambda v: not v.lower().startswith(("aws:", "rds:", "st2-aws/"))),
                    max_size=4),
                "multiAZ": st.one_of(st.none(), st.booleans()),
                "deletionProtection": st.one_of(st.none(), st.booleans()),
                "retention": st.one_of(st.none(), st.integers(0, 35)),
                # Windows apart from each other and from moto's defaults (13:14-13:44 daily,
                # wed:06:38-wed:07:08 weekly), which RDS would also check against.
                "backupWindow": st.one_of(st.none(), st.sampled_from(BACKUP_WINDOWS)),
                "maintenanceWindow": st.one_of(st.none(), st.sampled_from(MAINTENANCE_WINDOWS)),
                "storageKind": st.sampled_from(STORAGE_KINDS),
                "applyChanges": st.one_of(st.none(), st.sampled_from(
                    ["Immediately", "NextMaintenanceWindow"])),
                "autoMinorVersionUpgrade": st.one_of(st.none(), st.booleans()),
                "allowMajorVersionUpgrade": st.one_of(st.none(), st.booleans()),
                "iamAuthentication": st.one_of(st.none(), st.booleans()),
                "passwordRotationDays": st.one_of(st.none(), st.integers(1, 1000)),
                "parameters": st.one_of(st.none(), st.dictionaries(
                    st.sampled_from(PARAMETER_NAMES[engine]),
                    st.one_of(st.integers(0, 10 ** 6), st.from_regex(r"\A[a-z0-9]{1,8}\Z")),
                    max_size=4)),
                "caCertificateIdentifier": st.one_of(st.none(), st.sampled_from(
                    ["rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1"])),
            }))

    return st.sampled_from(ENGINES).flatmap(for_engine)


def _schema_passing_fields(other):
    """Hostile values the CRD's schema lets through and the pack must refuse itself."""
    return st.one_of(
        st.tuples(st.just("engineVersion"), st.sampled_from(
            ["9.6", "5.7", "16.999", "99.99.999", "8", "15.4.1", "0", "10.4"])),
        st.tuples(st.sampled_from(["databaseName", "masterUsername"]),
                  st.sampled_from(RESERVED_NAMES)),
        st.tuples(st.just("region"), st.sampled_from(
            ["xx-yyyy-9", "us-east-99", "mars-north-1", "zz-top-1", "eu-west-0"])),
        st.tuples(st.just("vault"), st.builds(lambda p: {"path": other + p},
                                              st.from_regex(r"\A[a-z]{1,10}\Z"))),
        st.tuples(st.just("consul"), st.builds(lambda p: {"key": other + p},
                                               st.from_regex(r"\A[a-z]{1,10}\Z"))),
        st.tuples(st.just("maintenanceWindow"), st.sampled_from(
            ["xyz:01:00-xyz:02:00", "sun:01:00-sun:01:10", "sun:01:00-tue:01:00"])),
        st.tuples(st.just("backup"), st.sampled_from(
            [{"window": "01:00-01:10"}, {"window": "03:00-04:00"}])),
        st.tuples(st.just("storage"), st.sampled_from(
            [{"type": "io1", "iops": 1000}, {"iops": 3000}, {"throughput": 500},
             {"type": "gp3", "iops": 12000}, {"type": "io2"},
             {"type": "io1", "iops": 1000, "throughput": 500}])),
        st.tuples(st.just("source"), st.sampled_from(
            [{"snapshotIdentifier": "snap-1", "database": "orders-db"}, {},
             {"snapshotIdentifier": "1snap"}, {"snapshotIdentifier": "snap--1"},
             {"snapshotIdentifier": "snap-1", "restoreTime": "2026-12-07T10:00:00Z"},
             {"database": "orders-db", "restoreTime": "yesterday"}])),
        st.tuples(st.just("parameters"), st.sampled_from(
            [{"work mem": "1"}, {"work_mem": "a\tb"}, {"1abc": "x"}, {"a;b": "1"},
             {"work_mem": "1\x00"}, {"x" * 129: "1"}])),
        st.tuples(st.just("tags"), st.dictionaries(
            st.one_of(st.sampled_from(["aws:x", "AWS:Name", "rds:z", "st2-aws/uid", "a;b",
                                       "tab\tkey"]), st.from_regex(r"\A[a-z]{1,8}\Z")),
            st.one_of(st.sampled_from(["rds:v", "AWS:v", "a\x00b", "line\nbreak", "x;y"]),
                      st.text(max_size=20)),
            min_size=1, max_size=5)),
    )


def _hostile_fields(other):
    tag_keys = st.one_of(
        nasty_text(140), st.sampled_from(["aws:x", "AWS:Name", "Aws:y", "rds:z", "RDS:q",
                                          "st2-aws/uid", "ST2-AWS/name"]))
    return st.one_of(
        st.tuples(st.sampled_from(["engine", "engineVersion", "instanceSize", "instanceClass",
                                   "storageGB", "databaseName", "masterUsername",
                                   "deletionPolicy", "region", "vault", "consul", "tags",
                                   "multiAZ", "deletionProtection", "backup",
                                   "maintenanceWindow", "storage", "applyChanges", "source",
                                   "autoMinorVersionUpgrade", "allowMajorVersionUpgrade",
                                   "iamAuthentication", "caCertificateIdentifier",
                                   "passwordRotationDays", "parameters"]),
                  json_values()),
        st.tuples(st.just("parameters"), st.dictionaries(
            nasty_text(140), st.one_of(nasty_text(300), json_values()), max_size=5)),
        st.tuples(st.just("storage"), st.fixed_dictionaries({}, optional={
            "maxGB": st.one_of(st.integers(), json_values()),
            "type": st.one_of(nasty_text(), st.sampled_from(["gp2", "standard", "GP3", "io3"])),
            "iops": st.one_of(st.integers(), json_values()),
            "throughput": st.one_of(st.integers(), json_values())})),
        st.tuples(st.just("backup"), st.fixed_dictionaries({
            "retentionDays": st.one_of(st.integers(), json_values()),
            "window": st.one_of(nasty_text(), st.sampled_from(
                ["24:00-01:00", "1:00-2:00", "01:00-01:29", "00:00-00:00"]))})),
        st.tuples(st.just("maintenanceWindow"), st.one_of(nasty_text(), st.sampled_from(
            ["sun:1:00-sun:2:00", "sunday:01:00-sunday:02:00", "sun:24:00-mon:01:00"]))),
        st.tuples(st.just("engineVersion"), st.one_of(
            nasty_text(), st.sampled_from(["9.6", "5.7", "99.99.999", "16.999", "0", "8",
                                           "15.4.1", "1" * 5000]))),
        st.tuples(st.just("instanceClass"), st.sampled_from(BAD_CLASSES)),
        st.tuples(st.just("storageGB"), st.one_of(
            st.integers(), st.sampled_from([0, 19, 65537, 10 ** 30, -1]), st.text(max_size=5))),
        st.tuples(st.sampled_from(["databaseName", "masterUsername"]), st.one_of(
            st.sampled_from(RESERVED_NAMES), nasty_text(), st.just("a" * 70))),
        st.tuples(st.just("region"), st.one_of(st.sampled_from(ABSURD_REGIONS), nasty_text())),
        st.tuples(st.just("vault"), st.one_of(
            st.builds(lambda p: {"path": other + p}, st.from_regex(r"\A[a-z]{1,10}\Z")),
            st.builds(lambda p: {"path": p}, nasty_text()), json_values())),
        st.tuples(st.just("consul"), st.one_of(
            st.builds(lambda p: {"key": other + p}, st.from_regex(r"\A[a-z]{1,10}\Z")),
            st.builds(lambda p: {"key": p}, nasty_text()), json_values())),
        st.tuples(st.just("tags"), st.one_of(
            st.dictionaries(tag_keys, nasty_text(300), max_size=6),
            st.dictionaries(st.from_regex(r"\At[0-9]{1,4}\Z"), st.just("v"), min_size=48,
                            max_size=60),
            st.dictionaries(st.from_regex(r"\Ak[a-z]{1,6}\Z"), json_values(), max_size=3))),
        st.tuples(st.sampled_from(["storagegb", "enginversion", "Engine", "instance_size",
                                   "tag", "x" * 300]), json_values()),
    )


def specs(own="team-a/", other="team-b/", max_mutations=3):
    """A valid spec whose Vault/Consul locations are under ``own``, with up to
    ``max_mutations`` fields replaced or added by hostile values."""
    return st.builds(
        lambda spec, mutations: dict(spec, **dict(mutations)),
        _valid_spec(own),
        st.lists(st.one_of(_schema_passing_fields(other), _hostile_fields(other)),
                 max_size=max_mutations))
