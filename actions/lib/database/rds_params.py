"""A valid Database spec as RDS parameters: identifiers, tags, create and modify arguments.

Pure functions (no AWS call), used by the plan and the drift report. ``modify_params`` and
``adoption`` read a DBInstances[] item as describe_db_instances returns it and tolerate one
that lacks or garbles fields (they are then reported, never raised).
"""

import hashlib
import re

from lib.database.spec import (DEFAULTS, RESERVED_TAG_PREFIXES, major_version, parse_version,
                               windows_overlap)
from lib.database.parameter_groups import family, instance_groups, spec_group

__all__ = [
    "TAG_UID", "TAG_NAMESPACE", "TAG_NAME", "DEFAULT_INSTANCE_CLASSES",
    "db_instance_identifier", "final_snapshot_identifier", "instance_class_for",
    "resource_tags", "tag_map", "adoption", "create_params", "modify_params", "spec_differences",
    "compare_versions", "version_satisfies", "OPTIONAL_PARAMS", "optional_settings",
    "apply_immediately",
]

#: The optional spec fields set only when the spec gives them (left out, the instance keeps
#: what it has): (field as messages name it, RDS parameter, kind).
OPTIONAL_PARAMS = (
    ("multiAZ", "MultiAZ", bool),
    ("deletionProtection", "DeletionProtection", bool),
    ("backup.retentionDays", "BackupRetentionPeriod", int),
    ("backup.window", "PreferredBackupWindow", str),
    ("maintenanceWindow", "PreferredMaintenanceWindow", str),
    ("autoMinorVersionUpgrade", "AutoMinorVersionUpgrade", bool),
    ("iamAuthentication", "EnableIAMDatabaseAuthentication", bool),
    ("caCertificateIdentifier", "CACertificateIdentifier", str),
    ("storage.maxGB", "MaxAllocatedStorage", int),
    ("storage.type", "StorageType", str),
    ("storage.iops", "Iops", int),
    ("storage.throughput", "StorageThroughput", int),
)


#: Where describe_db_instances (and PendingModifiedValues) answers a parameter under another
#: name than create/modify_db_instance take it.
READ_AS = {"EnableIAMDatabaseAuthentication": "IAMDatabaseAuthenticationEnabled"}


def optional_settings(spec):
    """[(field, RDS parameter, value)] of the optional fields ``spec`` sets."""
    found = []
    for field, param, _kind in OPTIONAL_PARAMS:
        head, _, leaf = field.partition(".")
        value = spec.get(head)
        if leaf:
            value = value.get(leaf) if isinstance(value, dict) else None
        if value is not None:
            found.append((field, param, value))
    return found


def _same(param, wanted, actual, allocated=None):
    """RDS answers maintenance windows in lower case; the spec may name days in any case.
    MaxAllocatedStorage equal to the allocated storage turns autoscaling off: RDS then answers
    none (``allocated``: the instance's AllocatedStorage)."""
    if param == "PreferredMaintenanceWindow" and isinstance(actual, str):
        return wanted.lower() == actual.lower()
    if param == "MaxAllocatedStorage" and actual is None:
        return wanted == allocated
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return wanted is actual
    return wanted == actual


TAG_UID = "st2-aws/uid"
TAG_NAMESPACE = "st2-aws/namespace"
TAG_NAME = "st2-aws/name"
DEFAULT_INSTANCE_CLASSES = {
    "small": "db.t3.small",
    "medium": "db.t3.medium",
    "large": "db.m5.large",
    "xlarge": "db.m5.xlarge",
    "huge": "db.m5.4xlarge",
}


def _short_hash(text, length=8):
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:length]


def db_instance_identifier(namespace, name):
    """RDS identifier for namespace/name: ``<slug>-<8 hex of sha256(namespace/name)>``.

    RDS rules: 1-63 letters, digits or hyphens, starting with a letter, no trailing hyphen and
    no two consecutive hyphens. The slug keeps it readable; the hash keeps distinct resources
    apart even when their slugs collide (``a-b/c`` and ``a/b-c``) or are truncated.
    """
    digest = _short_hash("%s/%s" % (namespace, name))
    slug = re.sub(r"[^a-z0-9]+", "-", ("%s-%s" % (namespace, name)).lower())
    slug = re.sub(r"^[^a-z]+", "", slug)  # must start with a letter
    slug = slug[:63 - 1 - len(digest)].strip("-")
    return "%s-%s" % (slug or "db", digest)


def final_snapshot_identifier(identifier, uid):
    """Snapshot name for the Snapshot deletion policy: stable per resource incarnation (uid)."""
    return "%s-final-%s" % (identifier, _short_hash(uid))


def compare_versions(left, right):
    """-1, 0 or 1 comparing dotted versions component by component (missing parts are 0)."""
    a, b = parse_version(left), parse_version(right)
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (a > b) - (a < b)


def version_satisfies(wanted, actual):
    """True when ``actual`` is ``wanted`` or a release of it ("16" and "16.3" accept "16.3")."""
    want = parse_version(wanted)
    return parse_version(actual)[:len(want)] == want


def instance_class_for(spec, instance_classes=None):
    """spec.instanceClass, else the configured class for spec.instanceSize (default small)."""
    if spec.get("instanceClass"):
        return spec["instanceClass"]
    classes = dict(DEFAULT_INSTANCE_CLASSES)
    classes.update(instance_classes or {})
    return classes.get(spec.get("instanceSize") or DEFAULTS["instanceSize"])


def resource_tags(namespace, name, uid, user_tags=None):
    """RDS Tags: the pack's ownership tags first, then the user's, sorted by key."""
    tags = [{"Key": TAG_UID, "Value": uid}, {"Key": TAG_NAMESPACE, "Value": namespace},
            {"Key": TAG_NAME, "Value": name}]
    for key in sorted(user_tags or {}):
        if not key.lower().startswith(RESERVED_TAG_PREFIXES):
            tags.append({"Key": key, "Value": user_tags[key]})
    return tags


def tag_map(instance):
    """{Key: Value} of a DBInstances[] item's TagList (items that are not tags are skipped)."""
    tags = (instance or {}).get("TagList") if isinstance(instance, dict) else None
    return {t.get("Key"): t.get("Value") for t in tags or [] if isinstance(t, dict)
            and isinstance(t.get("Key"), str)}


def adoption(instance, uid):
    """none (no instance), adopt (tagged with this uid) or conflict (another uid, or none)."""
    if not instance:
        return "none"
    return "adopt" if tag_map(instance).get(TAG_UID) == uid else "conflict"


def create_params(identifier, namespace, name, uid, spec, instance_classes=None,
                  db_subnet_group_name=None, vpc_security_group_ids=None):
    """Keyword arguments of rds.create_db_instance for a valid spec."""
    params = {
        "DBInstanceIdentifier": identifier,
        "Engine": spec["engine"],
        "DBInstanceClass": instance_class_for(spec, instance_classes),
        "AllocatedStorage": spec.get("storageGB", DEFAULTS["storageGB"]),
        "MasterUsername": spec.get("masterUsername") or DEFAULTS["masterUsername"],
        "ManageMasterUserPassword": True,
        "StorageEncrypted": True,
        "CopyTagsToSnapshot": True,
        "PubliclyAccessible": False,
        "Tags": resource_tags(namespace, name, uid, spec.get("tags")),
    }
    if spec.get("engineVersion"):
        params["EngineVersion"] = spec["engineVersion"]
    if spec.get("databaseName"):
        params["DBName"] = spec["databaseName"]
    for _field, param, value in optional_settings(spec):
        params[param] = value
    if params.get("MaxAllocatedStorage") == params["AllocatedStorage"]:
        del params["MaxAllocatedStorage"]  # maxGB equal to storageGB: no autoscaling
    if spec_group(identifier, spec)[0]:
        params["DBParameterGroupName"] = spec_group(identifier, spec)[0]  # spec.parameters
    if db_subnet_group_name:
        params["DBSubnetGroupName"] = db_subnet_group_name
    if vpc_security_group_ids:
        params["VpcSecurityGroupIds"] = list(vpc_security_group_ids)
    return params


def _int_or_none(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text_or_none(value):
    return value if isinstance(value, str) and value else None


def modify_params(spec, instance, instance_classes=None):
    """(params, errors, held): rds.modify_db_instance kwargs for what differs from ``instance``.

    Pending modifications count as done, so a retried update asks for nothing new. Storage
    only grows and engine versions only go up on RDS: where the instance is already past the
    spec (grown or upgraded out of band, or a spec edited down), that difference cannot be
    repaired; it is ``held`` (one message each, naming the field) and the rest is still applied.
    ``errors``: what makes the whole change impossible (another engine).
    """
    if not isinstance(instance, dict) or not _text_or_none(instance.get("DBInstanceIdentifier")):
        return {}, ["current_instance: expected a DBInstances[] item of describe_db_instances "
                    "with a DBInstanceIdentifier"], []
    pending = instance.get("PendingModifiedValues")
    pending = pending if isinstance(pending, dict) else {}
    changes, held = {}, []
    engine = instance.get("Engine")
    if spec.get("engine") != engine:
        engine = str(engine)[:32]
        return {}, ["spec.engine: the instance runs %s; changing the engine of an existing "
                    "instance is not possible, expected %s" % (engine, engine)], []
    klass = instance_class_for(spec, instance_classes)
    if klass != (_text_or_none(pending.get("DBInstanceClass"))
                 or instance.get("DBInstanceClass")):
        changes["DBInstanceClass"] = klass
    storage = spec.get("storageGB", DEFAULTS["storageGB"])
    actual = _int_or_none(pending.get("AllocatedStorage"))
    actual = actual if actual is not None else _int_or_none(instance.get("AllocatedStorage"))
    if actual is not None and storage < actual and _autoscaling_limit(spec, storage) > storage:
        pass  # grown by storage autoscaling (past maxGB: held below): not a difference
    elif actual is not None and storage < actual:
        held.append("spec.storageGB: RDS storage cannot shrink; the instance keeps %d GB (spec "
                    "says %d): set storageGB to %d or more" % (actual, storage, actual))
    elif storage != actual:
        changes["AllocatedStorage"] = storage
    have_max = _int_or_none(instance.get("MaxAllocatedStorage"))
    held += _max_storage_held(spec, storage, actual, have_max)
    allocated, grown = max(storage, actual or 0), actual
    wanted = spec.get("engineVersion")
    actual = (_text_or_none(pending.get("EngineVersion"))
              or _text_or_none(instance.get("EngineVersion")))
    major = False
    if wanted and actual and parse_version(actual) and not version_satisfies(wanted, actual) \
            and not _minor_upgraded(spec, instance, actual):
        if compare_versions(wanted, actual) < 0:
            held.append("spec.engineVersion: the instance runs %s %s and cannot be downgraded; "
                        "set engineVersion to %s or later" % (spec["engine"], actual[:32],
                                                              actual[:32]))
        else:
            major = major_version(engine, wanted) != major_version(engine, actual)
            if major and spec.get("allowMajorVersionUpgrade") is not True:
                return {}, ["spec.engineVersion, spec.allowMajorVersionUpgrade: %s is a major "
                            "upgrade of the instance's %s %s, refused unless "
                            "allowMajorVersionUpgrade is true (the upgrade is then applied in "
                            "the maintenance window unless applyChanges is Immediately); "
                            "expected engineVersion %s.x or allowMajorVersionUpgrade: true"
                            % (wanted[:32], engine, actual[:32],
                               ".".join(str(p) for p in major_version(engine, actual)))], held
            changes["EngineVersion"] = wanted
            if major:
                changes["AllowMajorVersionUpgrade"] = True
    for field, param, value in optional_settings(spec):
        read = READ_AS.get(param, param)
        have = pending.get(read) if pending.get(read) is not None else instance.get(read)
        if field == "storage.maxGB" and _max_storage_held(spec, storage, grown, have_max):
            continue
        if not _same(param, value, have, allocated):
            changes[param] = value
    group, group_family = spec_group(instance.get("DBInstanceIdentifier"), spec)
    if group and group not in instance_groups(instance) and ("EngineVersion" in changes or family(
            engine, instance.get("EngineVersion")) in (None, group_family)):
        changes["DBParameterGroupName"] = group  # spec.parameters: the pack's group (its family)
    window = spec.get("maintenanceWindow")
    backup = spec.get("backup") if isinstance(spec.get("backup"), dict) else {}
    running = (_text_or_none(pending.get("PreferredBackupWindow"))
               or _text_or_none(instance.get("PreferredBackupWindow")))
    if window and not backup.get("window") and running and windows_overlap(running, window):
        return {}, ["spec.maintenanceWindow: %s overlaps (or touches) the instance's daily "
                    "backup window %s, which RDS refuses; expected a window apart from it (or "
                    "set spec.backup.window too)" % (window[:19], running[:11])], held
    if not changes:
        return {}, [], held
    changes["DBInstanceIdentifier"] = instance["DBInstanceIdentifier"]
    changes["ApplyImmediately"] = apply_immediately(spec, major)
    return changes, [], held


def apply_immediately(spec, major=False):
    """ApplyImmediately of a modification: spec.applyChanges; unset, at once, except a change
    carrying a major version upgrade, which then waits for the maintenance window."""
    when = spec.get("applyChanges")
    if when in ("Immediately", "NextMaintenanceWindow"):
        return when == "Immediately"
    return not major


def _minor_upgraded(spec, instance, actual):
    """True when the instance runs a later minor version of the spec's major one and minor
    upgrades are automatic (spec.autoMinorVersionUpgrade, else the instance's own setting):
    RDS upgraded it in a maintenance window, which is no difference to repair."""
    auto = spec.get("autoMinorVersionUpgrade")
    auto = instance.get("AutoMinorVersionUpgrade") if auto is None else auto
    wanted, engine = spec.get("engineVersion"), spec.get("engine")
    return auto is True and bool(wanted) and compare_versions(wanted, actual) < 0 \
        and major_version(engine, wanted) == major_version(engine, actual)


def spec_differences(spec, instance, instance_classes=None):
    """[(field, spec value, actual value, repairable)] where an instance owned by the Database
    differs from its spec. Pending modifications count as actual: an update in flight is not
    drift. ``repairable`` is False where RDS cannot go back (storage shrink, downgrade)."""
    pending = instance.get("PendingModifiedValues") or {}
    actual = dict(instance, **{k: v for k, v in pending.items() if v is not None})
    if spec.get("engine") != actual.get("Engine"):
        return [("engine", spec.get("engine"), actual.get("Engine"), False)]
    found = []
    klass = instance_class_for(spec, instance_classes)
    if klass != actual.get("DBInstanceClass"):
        field = "instanceClass" if spec.get("instanceClass") else "instanceSize"
        found.append((field, klass, actual.get("DBInstanceClass"), True))
    storage = spec.get("storageGB", DEFAULTS["storageGB"])
    have = _int_or_none(actual.get("AllocatedStorage"))
    if storage != have and not (have is not None and storage < have
                                and _autoscaling_limit(spec, storage) > storage):
        found.append(("storageGB", storage, have, have is None or storage > have))
    allocated = max(storage, have or 0)
    wanted = spec.get("engineVersion")
    running = _text_or_none(actual.get("EngineVersion"))
    if wanted and running and not version_satisfies(wanted, running) \
            and not _minor_upgraded(spec, actual, running):
        found.append(("engineVersion", wanted, running,
                      not parse_version(running) or compare_versions(wanted, running) > 0))
    for field, param, value in optional_settings(spec):
        have_value = actual.get(READ_AS.get(param, param))
        if not _same(param, value, have_value, allocated):
            found.append((field, value, have_value,
                          not (field == "storage.maxGB"
                               and _max_storage_held(spec, storage, have,
                                                     actual.get(param)))))
    group, group_family = spec_group(actual.get("DBInstanceIdentifier"), spec)
    if group and group not in instance_groups(actual) \
            and family(spec.get("engine"), running) in (None, group_family):
        found.append(("parameters", group, ", ".join(instance_groups(actual)) or None, True))
    return found


def _autoscaling_limit(spec, storage):
    """spec.storage.maxGB, the most storage autoscaling may grow to (``storage`` without it)."""
    storage_spec = spec.get("storage")
    most = storage_spec.get("maxGB") if isinstance(storage_spec, dict) else None
    return most if _int_or_none(most) is not None else storage


def _max_storage_held(spec, storage, actual, have_max):
    """[message] when spec.storage.maxGB cannot be applied: autoscaling (or a change out of
    band) grew the instance to ``actual`` GB, at or past maxGB (RDS wants the limit above the
    allocated storage, or equal to it to turn autoscaling off); none when the instance's limit
    ``have_max`` is maxGB already."""
    most = _autoscaling_limit(spec, None)
    if most is None or actual is None or actual <= storage or most >= actual \
            or have_max == most:
        return []
    return ["spec.storage.maxGB: the instance has grown to %d GB (storage autoscaling), past "
            "maxGB %d; RDS wants the limit above the allocated storage: set maxGB above %d, or "
            "storageGB and maxGB both to %d to turn autoscaling off"
            % (actual, most, actual, actual)]
