"""spec.source: a Database created from a snapshot, or as a point-in-time clone of another
Database of its namespace, instead of empty.

``validate_source(spec, name)`` returns one message per problem, each naming its field (the
plan refuses the spec with them, before anything is created). ``restore(create_params,
namespace, spec)`` turns the create parameters into the restore call's: ``(method, params,
warnings)``. RDS's restore calls take most of create_db_instance's parameters, but not all
(``NOT_ON_RESTORE``, from botocore's RDS model; tests/test_lib_db_source.py checks the
result against it): what the spec sets among those is applied by the next update, which finds
it differing (the resync runs one within minutes), and the plan says so in its warnings; the
database name and the master user name are the source's (``KEPT``), whatever the spec says.

The source is used only when the instance is created; changing it later changes nothing (the
instance is never replaced by the pack). A restored instance gets an RDS-managed master
password (``ManageMasterUserPassword``), so its credentials reach Vault as a created one's do.
"""

import datetime
import re

from lib.database.spec import quote
from lib.database.rds_params import db_instance_identifier

__all__ = ["SOURCE_FIELDS", "NOT_ON_RESTORE", "CREATE", "FROM_SNAPSHOT", "POINT_IN_TIME",
           "validate_source", "restore"]

SOURCE_FIELDS = ("snapshotIdentifier", "database", "restoreTime")
CREATE = "create_db_instance"
FROM_SNAPSHOT = "restore_db_instance_from_db_snapshot"
POINT_IN_TIME = "restore_db_instance_to_point_in_time"
#: create_db_instance parameters the restore calls do not take (botocore's RDS model), and the
#: spec field that sets each (None: the pack's own setting, left to the snapshot or source).
NOT_ON_RESTORE = {
    "EngineVersion": "engineVersion",
    "MasterUsername": "masterUsername",
    "MaxAllocatedStorage": "storage.maxGB",
    "PreferredMaintenanceWindow": "maintenanceWindow",
    "StorageEncrypted": None,
    "KmsKeyId": None,
}
#: What a restored instance keeps from its source whatever the spec says (RDS cannot change it).
KEPT = ("databaseName", "masterUsername")
#: A manual snapshot's identifier, an automated one's ("rds:..."), or a shared one's ARN.
SNAPSHOT = re.compile(r"^(arn:aws[a-z-]*:rds:[a-z0-9-]+:[0-9]{12}:snapshot:)?(rds:)?"
                      r"[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*$")
KUBE_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?"
                       r"(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def validate_source(spec, name=None):
    """Problems of spec.source (empty when absent or valid); ``name``: this Database's."""
    source = spec.get("source") if isinstance(spec, dict) else None
    if source is None:
        return []
    if not isinstance(source, dict):
        return ["spec.source: expected an object with snapshotIdentifier, or database (and "
                "restoreTime), got %s" % quote(source)]
    errors = ["spec.source.%s: unknown field; expected one of %s"
              % (quote(key)[1:-1] if isinstance(key, str) else quote(key),
                 ", ".join(SOURCE_FIELDS))
              for key in sorted((k for k in source if k not in SOURCE_FIELDS), key=str)[:3]]
    snapshot, database = source.get("snapshotIdentifier"), source.get("database")
    if (snapshot is None) == (database is None):
        errors.append("spec.source.snapshotIdentifier, spec.source.database: expected exactly "
                      "one (a DB snapshot to restore, or a Database of this namespace to clone)")
    if snapshot is not None and not (isinstance(snapshot, str) and len(snapshot) <= 512
                                     and SNAPSHOT.match(snapshot)):
        errors.append("spec.source.snapshotIdentifier: expected a DB snapshot identifier (a "
                      "letter, then letters, digits and single hyphens), an automated one "
                      "(rds:...) or a shared snapshot's ARN, got %s" % quote(snapshot))
    if database is not None:
        if not (isinstance(database, str) and KUBE_NAME.match(database)):
            errors.append("spec.source.database: expected the name of a Database in this "
                          "namespace, got %s" % quote(database))
        elif database == name:
            errors.append("spec.source.database: expected another Database of this namespace "
                          "to clone, not this one (%s)" % database)
    when = source.get("restoreTime")
    if when is not None:
        if database is None:
            errors.append("spec.source.restoreTime: only with spec.source.database (a "
                          "snapshot is restored as it was taken)")
        if not _utc_time(when):
            errors.append("spec.source.restoreTime: expected a UTC time such as "
                          "2026-12-07T10:00:00Z, got %s" % quote(when))
    return errors


def _utc_time(value):
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.strptime(value, TIME_FORMAT)
    except ValueError:
        return None


def restore(create_params, namespace, spec):
    """(method, params, warnings) of the call that makes the instance: create_db_instance with
    ``create_params`` without a source; else the restore call with what of them it takes."""
    source = spec.get("source") if isinstance(spec, dict) else None
    if not isinstance(source, dict) or not create_params:
        return CREATE, create_params, []
    params = {k: v for k, v in create_params.items() if k not in NOT_ON_RESTORE}
    # DBName applies to Oracle and SQL Server restores only: the source's databases come along.
    params.pop("DBName", None)
    warnings = []
    for field in ("databaseName", "masterUsername"):
        if _spec_sets(spec, field):
            warnings.append("spec.%s: a restored instance keeps its source's; this one is not "
                            "applied" % field)
    for param, field in sorted(NOT_ON_RESTORE.items()):
        if field and field not in KEPT and param in create_params and _spec_sets(spec, field):
            warnings.append("spec.%s: a restore cannot set it; the next update applies it "
                            "(the resync runs one within minutes)" % field)
    if source.get("snapshotIdentifier") is not None:
        params["DBSnapshotIdentifier"] = source["snapshotIdentifier"]
        return FROM_SNAPSHOT, params, warnings
    params["TargetDBInstanceIdentifier"] = params.pop("DBInstanceIdentifier")
    params["SourceDBInstanceIdentifier"] = db_instance_identifier(namespace, source["database"])
    if source.get("restoreTime") is not None:
        params["RestoreTime"] = source["restoreTime"]
    else:
        params["UseLatestRestorableTime"] = True
    return POINT_IN_TIME, params, warnings


def _spec_sets(spec, field):
    section, _, key = field.partition(".")
    value = spec.get(section)
    if key:
        value = value.get(key) if isinstance(value, dict) else None
    return value is not None
