"""Validation of a Database spec: every check the pack makes before anything is changed.

``validate_spec(spec, namespace, layout)`` returns one message per problem, each naming the field
and what was expected; it never raises, whatever JSON value ``spec`` is. It checks what RDS, Vault
and Consul would refuse (or accept wrongly) later: engine versions, instance classes, names the
engine reserves, regions RDS has (botocore's endpoint data, no call), tags as RDS allows them, and
that Vault paths and Consul keys lie under the namespace's prefix (lib/stores/kv_layout.py). Values
quoted in messages are cut short, so a message stays small whatever the input.
"""

import difflib
import functools
import re
import unicodedata

from lib.database.reserved_names import (RESERVED_DB_NAMES, RESERVED_USERNAME_PREFIXES,
                                         RESERVED_USERNAMES, RESERVED_WORDS)

__all__ = [
    "ENGINES", "SIZES", "DELETION_POLICIES", "INSTANCE_MISSING_POLICIES", "DEFAULTS",
    "SPEC_FIELDS", "LIMITS",
    "MAX_USER_TAGS", "RESERVED_TAG_PREFIXES", "quote", "validate_spec", "kv_path_problem",
    "check_kv_path", "check_text", "rds_regions", "parse_version", "BACKUP_FIELDS",
    "backup_window", "maintenance_window", "windows_overlap", "STORAGE_FIELDS", "STORAGE_TYPES",
    "IOPS", "GP3_FROM_GB", "GP3_IOPS", "GP3_THROUGHPUT", "APPLY_CHANGES", "major_version",
    "CA_CERTIFICATES", "ROTATION_DAYS",
]

ENGINES = ("postgres", "mysql", "mariadb")
SIZES = ("small", "medium", "large", "xlarge", "huge")
DELETION_POLICIES = ("Delete", "Retain", "Snapshot")
#: What a resync does when a Ready Database's instance is gone (deleted outside the pack):
#: Report says so loudly and waits for a person; Recreate provisions a new, EMPTY instance.
INSTANCE_MISSING_POLICIES = ("Report", "Recreate")
DEFAULTS = {"instanceSize": "small", "storageGB": 20, "masterUsername": "dbadmin",
            "deletionPolicy": "Snapshot"}
SPEC_FIELDS = ("engine", "engineVersion", "instanceSize", "instanceClass", "storageGB",
               "databaseName", "masterUsername", "deletionPolicy", "vault", "consul", "tags",
               "region", "onInstanceMissing", "multiAZ", "deletionProtection", "backup",
               "maintenanceWindow", "storage", "applyChanges", "autoMinorVersionUpgrade",
               "allowMajorVersionUpgrade", "iamAuthentication", "caCertificateIdentifier",
               "passwordRotationDays", "source", "parameters")
#: Fields of spec.backup.
BACKUP_FIELDS = ("retentionDays", "window")
#: RDS BackupRetentionPeriod: 0 (automated backups off) to 35 days.
RETENTION_DAYS = (0, 35)
#: spec.applyChanges: when modify_db_instance applies a change (ApplyImmediately true / false).
APPLY_CHANGES = ("Immediately", "NextMaintenanceWindow")
#: RDS's current certificate authorities (describe_certificates; rds-ca-2019 expired in 2024).
CA_CERTIFICATES = ("rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1")
#: spec.passwordRotationDays: Secrets Manager RotationRules.AutomaticallyAfterDays of the
#: RDS-managed master secret (RDS's default schedule: every 7 days).
ROTATION_DAYS = (1, 1000)
#: Fields of spec.storage.
STORAGE_FIELDS = ("maxGB", "type", "iops", "throughput")
#: The storage types the pack offers (RDS StorageType); gp2 and magnetic are legacy.
STORAGE_TYPES = ("gp3", "io1", "io2")
#: Provisioned IOPS of io1/io2 for PostgreSQL, MySQL, MariaDB: (lowest, highest, lowest storage
#: GiB, IOPS per GiB from, to).
IOPS = {"io1": (1000, 256000, 100, 0.5, 50), "io2": (1000, 256000, 100, 0.5, 1000)}
#: gp3 below 400 GiB has a fixed baseline (3000 IOPS, 125 MiBps) that RDS refuses to have set;
#: from 400 GiB IOPS and throughput (MiBps) may be set, throughput at most a quarter of IOPS.
GP3_FROM_GB = 400
GP3_IOPS = (12000, 64000)
GP3_THROUGHPUT = (500, 4000)

#: Longest value of each string field (the CRD's maxLength; tests/test_crd_database.py keeps
#: the two equal).
LIMITS = {
    "engineVersion": 16,
    "instanceClass": 32,
    "databaseName": 64,
    "masterUsername": 16,
    "region": 32,
    "vault.path": 256,
    "consul.key": 256,
    "tag key": 128,
    "tag value": 256,
    "backup.window": 11,
    "maintenanceWindow": 19,
}
# RDS allows 50 tags per resource; the pack sets 3 of its own.
MAX_USER_TAGS = 50 - 3
RESERVED_TAG_PREFIXES = ("st2-aws/", "aws:", "rds:")
# RDS tag keys and values: Unicode letters, digits, white space and these.
TAG_PUNCTUATION = frozenset("_.:/=+-@")

# RDS limits (CreateDBInstance API reference, gp2/gp3 storage).
STORAGE_GB = {"postgres": (20, 65536), "mysql": (20, 65536), "mariadb": (20, 65536)}
# Oldest major (minor for MySQL/MariaDB) still in RDS standard support: older ones are legacy.
MIN_VERSION = {"postgres": (13,), "mysql": (8, 0), "mariadb": (10, 5)}
# Version numbers RDS uses: PostgreSQL 16 or 16.4; MySQL 8.0.39; MariaDB 10.11.9. Each part has
# at most two (three for a patch) digits, so nothing reaches int() that is absurd.
VERSION_FORM = {
    "postgres": (re.compile(r"^[1-9][0-9]?(\.[0-9]{1,2})?$"),
                 "MAJOR or MAJOR.MINOR, e.g. 16 or 16.4"),
    "mysql": (re.compile(r"^[1-9][0-9]?\.[0-9]{1,2}(\.[0-9]{1,3})?$"),
              "MAJOR.MINOR[.PATCH], e.g. 8.0 or 8.0.39"),
    "mariadb": (re.compile(r"^[1-9][0-9]?\.[0-9]{1,2}(\.[0-9]{1,3})?$"),
                "MAJOR.MINOR[.PATCH], e.g. 10.11 or 10.11.9"),
}
DB_NAME_MAX = {"postgres": 63, "mysql": 64, "mariadb": 64}
USERNAME_MAX = {"postgres": 63, "mysql": 16, "mariadb": 16}
SQL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# db.<family><generation><options>.<size>: db.t3.micro, db.r6g.2xlarge, db.m7i.metal-48xl.
INSTANCE_CLASS = re.compile(
    r"^db\.[a-z]+[1-9][a-z0-9-]*\."
    r"(nano|micro|small|medium|large|xlarge|[1-9][0-9]?xlarge|metal|metal-[1-9][0-9]?xl)$")
INSTANCE_CLASS_EXAMPLE = "db.<family><generation>.<size> such as db.m5.large or db.r6g.2xlarge"
# RDS windows, UTC: PreferredBackupWindow hh24:mi-hh24:mi (daily), PreferredMaintenanceWindow
# ddd:hh24:mi-ddd:hh24:mi (weekly); each at least 30 minutes.
HHMM = r"([01][0-9]|2[0-3]):([0-5][0-9])"
BACKUP_WINDOW = re.compile(r"^%s-%s$" % (HHMM, HHMM))
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAINTENANCE_WINDOW = re.compile(r"^([A-Za-z]{3}):%s-([A-Za-z]{3}):%s$" % (HHMM, HHMM))
WINDOW_MINUTES = 30
KV_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
QUOTE_MAX = 60


def quote(value):
    """``value`` for a message: strings in quotes, others as repr, cut to about 60 characters
    (with how long the whole was), non-printable characters escaped."""
    if isinstance(value, str):
        if len(value) > QUOTE_MAX:
            return "%r... (%d characters)" % (value[:QUOTE_MAX], len(value))
        return repr(value)
    if isinstance(value, (dict, list)):
        kind = "an object" if isinstance(value, dict) else "an array"
        return "%s of %d item%s" % (kind, len(value), "" if len(value) == 1 else "s")
    text = repr(value)
    return text if len(text) <= QUOTE_MAX else text[:QUOTE_MAX] + "..."


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _key(key):
    """A map key for a field name in a message (bounded)."""
    text = key if isinstance(key, str) else repr(key)
    return text if len(text) <= 40 and text.isprintable() else quote(text)


def major_version(engine, version):
    """The major version of ``version`` (PostgreSQL ``16``; MySQL and MariaDB ``8.0``,
    ``10.11``): an upgrade across it is a major one for RDS."""
    return parse_version(version)[:len(MIN_VERSION.get(engine, (0,)))]


def parse_version(text):
    """The leading numeric parts of a dotted version (``8.0.mysql_aurora.3`` -> (8, 0)); at
    most 4 parts of at most 6 digits each are read."""
    parts = []
    for part in str(text).split(".")[:4]:
        digits = re.match(r"^[0-9]{1,6}", part)
        if not digits:
            break
        parts.append(int(digits.group(0)))
    return tuple(parts)


@functools.lru_cache(maxsize=1)
def rds_regions():
    """Every region botocore's endpoint data lists for RDS, all partitions (no AWS call)."""
    import botocore.session  # pylint: disable=import-outside-toplevel

    session = botocore.session.get_session()
    regions = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("rds", partition_name=partition))
    return frozenset(regions)


def validate_spec(spec, namespace=None, layout=None):
    """Every problem in ``spec`` (empty when valid); each names its field.

    With ``namespace`` and ``layout`` (lib.stores.kv_layout.Layout), spec.vault.path and
    spec.consul.key must lie under the namespace's prefixes.
    """
    if not isinstance(spec, dict):
        return ["spec: expected an object, got %s" % quote(spec)]
    errors = []
    unknown = sorted((k for k in spec if k not in SPEC_FIELDS), key=str)
    for key in unknown[:3]:
        errors.append(_unknown_field(key))
    if len(unknown) > 3:
        errors.append("spec: %d more unknown fields" % (len(unknown) - 3))
    engine = spec.get("engine")
    if not isinstance(engine, str) or engine not in ENGINES:
        errors.append("spec.engine: expected one of %s, got %s"
                      % (", ".join(ENGINES), "nothing" if engine is None else quote(engine)))
        engine = None
    errors += _validate_version(spec, engine)
    errors += _validate_size(spec)
    errors += _validate_storage(spec, engine)
    errors += _validate_names(spec, engine)
    policy = spec.get("deletionPolicy", DEFAULTS["deletionPolicy"])
    if not isinstance(policy, str) or policy not in DELETION_POLICIES:
        errors.append("spec.deletionPolicy: expected one of %s, got %s"
                      % (", ".join(DELETION_POLICIES), quote(policy)))
    missing = spec.get("onInstanceMissing")
    if missing is not None and (not isinstance(missing, str)
                                or missing not in INSTANCE_MISSING_POLICIES):
        errors.append("spec.onInstanceMissing: expected one of %s, got %s"
                      % (", ".join(INSTANCE_MISSING_POLICIES), quote(missing)))
    errors += _validate_region(spec.get("region"))
    for section, key, kind in (("vault", "path", "vault"), ("consul", "key", "consul")):
        errors += _validate_location(spec, section, key, kind, namespace, layout)
    errors += _validate_tags(spec.get("tags"))
    errors += _validate_availability(spec)
    errors += _validate_storage_options(spec, engine)
    errors += _validate_changes(spec)
    from lib.database.parameter_groups import validate_parameters  # pylint: disable=C0415
    errors += validate_parameters(spec)
    return errors


def _unknown_field(key):
    """The message for an unknown spec field: the fields to choose from, or (when that would
    pass 400 characters: a long or unprintable key) the closest ones."""
    text = key if isinstance(key, str) else repr(key)
    shown = _key(key) if len(text) <= 40 else "%r... (%d characters)" % (text[:20], len(text))
    message = "spec.%s: unknown field; expected one of %s" % (shown, ", ".join(SPEC_FIELDS))
    if len(message) <= 400:
        return message
    shown = "%r... (%d characters)" % (text[:8], len(text)) if len(shown) > 60 else shown
    close = difflib.get_close_matches(text[:40], SPEC_FIELDS, n=3)
    return ("spec.%s: unknown field%s; expected a field of the Database spec (`kubectl explain "
            "database.spec` lists them)" % (shown, "; did you mean %s?" % " or ".join(close)
                                            if close else ""))


def _validate_version(spec, engine):
    version = spec.get("engineVersion")
    if version in (None, ""):
        return []
    if not isinstance(version, str):
        return ["spec.engineVersion: expected a string such as \"16.4\", got %s" % quote(version)]
    if engine is None:
        return []
    form, example = VERSION_FORM[engine]
    if not form.match(version):
        return ["spec.engineVersion: expected a %s version %s, got %s"
                % (engine, example, quote(version))]
    minimum = MIN_VERSION[engine]
    if parse_version(version)[:len(minimum)] < minimum:
        return ["spec.engineVersion: %s %s is past RDS standard support; expected %s or later"
                % (engine, version, ".".join(str(p) for p in minimum))]
    return []


def _validate_size(spec):
    errors = []
    size, klass = spec.get("instanceSize"), spec.get("instanceClass")
    if size not in (None, "") and klass not in (None, ""):
        errors.append("spec.instanceSize, spec.instanceClass: give one of them, not both "
                      "(got instanceSize %s and instanceClass %s)" % (quote(size), quote(klass)))
    if size not in (None, "") and (not isinstance(size, str) or size not in SIZES):
        errors.append("spec.instanceSize: expected one of %s, got %s"
                      % (", ".join(SIZES), quote(size)))
    if klass not in (None, "") and not (isinstance(klass, str) and INSTANCE_CLASS.match(klass)):
        errors.append("spec.instanceClass: expected an RDS instance class %s, got %s"
                      % (INSTANCE_CLASS_EXAMPLE, quote(klass)))
    return errors


def _validate_storage(spec, engine):
    storage = spec.get("storageGB", DEFAULTS["storageGB"])
    low, high = STORAGE_GB.get(engine, (20, 65536))
    if not _is_int(storage):
        return ["spec.storageGB: expected an integer number of GiB, got %s" % quote(storage)]
    if not low <= storage <= high:
        return ["spec.storageGB: expected %d to %d GiB%s, got %s"
                % (low, high, " for %s" % engine if engine else "", quote(storage))]
    return []


def _validate_names(spec, engine):
    errors = []
    checks = (("databaseName", DB_NAME_MAX, RESERVED_DB_NAMES, None, "database"),
              ("masterUsername", USERNAME_MAX, RESERVED_USERNAMES, DEFAULTS["masterUsername"],
               "user"))
    for field, max_len, reserved, default, what in checks:
        value = spec.get(field, default)
        if value in (None, ""):
            continue
        limit = max_len.get(engine, 63)
        if not isinstance(value, str) or not SQL_NAME.match(value) or len(value) > limit:
            for_engine = " for %s" % engine if engine else ""
            errors.append("spec.%s: expected 1 to %d letters, digits or underscores starting with "
                          "a letter%s, got %s" % (field, limit, for_engine, quote(value)))
            continue
        if not engine:
            continue
        lower = value.lower()
        if lower in RESERVED_WORDS[engine]:
            errors.append("spec.%s: %s is a word %s reserves; choose another name"
                          % (field, quote(value), engine))
        elif lower in reserved[engine] or (
                what == "user" and lower.startswith(RESERVED_USERNAME_PREFIXES[engine])):
            errors.append("spec.%s: %s is reserved by %s; choose another name"
                          % (field, quote(value), engine))
    return errors


def _validate_region(region):
    if region in (None, ""):
        return []
    if not isinstance(region, str) or region not in rds_regions():
        return ["spec.region: expected an AWS region where RDS is offered, such as eu-west-1 "
                "(botocore's endpoint data lists %d), got %s"
                % (len(rds_regions()), quote(region))]
    return []


def _validate_location(spec, section, key, kind, namespace, layout):
    block = spec.get(section)
    if block in (None, {}):
        return []
    if not isinstance(block, dict):
        return ["spec.%s: expected an object with %s, got %s" % (section, key, quote(block))]
    errors = ["spec.%s.%s: unknown field; expected only %s" % (section, _key(k), key)
              for k in sorted(block, key=str) if k != key][:2]
    value = block.get(key)
    if value in (None, ""):
        return errors
    field = "spec.%s.%s" % (section, key)
    problem = kv_path_problem(field, value, LIMITS["%s.%s" % (section, key)])
    if problem is None and layout is not None and namespace is not None:
        problem = layout.problem(kind, value, namespace)
    return errors + ([problem] if problem else [])


def kv_path_problem(field, value, max_length=256):
    """None when ``value`` is a relative Vault/Consul path such as ``team-a/orders-db``, else a
    message naming ``field``. "." and ".." segments are refused: HTTP clients fold them away, so
    they would address another path than the one checked."""
    if (not isinstance(value, str) or len(value) > max_length or not KV_PATH.match(value)
            or {".", ".."} & set(value.split("/"))):
        return ("%s: expected a relative path of at most %d letters, digits, '_', '.', '-' "
                "separated by '/', got %s" % (field, max_length, quote(value)))
    return None


def check_kv_path(field, value):
    """Raise ``ValueError`` (the message of ``kv_path_problem``) unless ``value`` is a path."""
    problem = kv_path_problem(field, value)
    if problem:
        raise ValueError(problem)
    return value


def check_text(field, value, expected):
    """Raise ``ValueError`` naming ``field`` unless ``value`` is a non-blank string (StackStorm's
    ``required: true`` lets an empty string through)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("%s: expected %s, got %s" % (field, expected, quote(value)))
    return value


def _tag_text_problem(text, what, minimum, maximum):
    """Why RDS would refuse ``text`` as a tag key or value, or None."""
    if not isinstance(text, str):
        return "expected a string, got %s" % quote(text)
    if not minimum <= len(text) <= maximum:
        return "expected %d to %d characters, got %d" % (minimum, maximum, len(text))
    if text.lower().startswith(RESERVED_TAG_PREFIXES):
        return ("%ss starting with %s (in any case) are reserved"
                % (what, ", ".join(RESERVED_TAG_PREFIXES)))
    for char in text:
        if unicodedata.category(char)[0] not in "LNZ" and char not in TAG_PUNCTUATION:
            name = unicodedata.name(char, None) or (
                "a control character" if unicodedata.category(char) == "Cc"
                else "category %s" % unicodedata.category(char))
            return ("expected Unicode letters, digits, spaces and _ . : / = + - @ only, "
                    "got U+%04X (%s)" % (ord(char), name))
    return None


def _validate_tags(tags):
    if tags in (None, {}):
        return []
    if not isinstance(tags, dict):
        return ["spec.tags: expected a map of strings, got %s" % quote(tags)]
    errors = []
    if len(tags) > MAX_USER_TAGS:
        return ["spec.tags: expected at most %d tags (RDS allows 50, the pack sets 3), got %d"
                % (MAX_USER_TAGS, len(tags))]
    for key in sorted(tags, key=str):
        problem = _tag_text_problem(key, "key", 1, LIMITS["tag key"])
        if problem:
            errors.append("spec.tags: key %s: %s" % (quote(key), problem))
            continue
        problem = _tag_text_problem(tags[key], "value", 0, LIMITS["tag value"])
        if problem:
            errors.append("spec.tags.%s: %s" % (_key(key), problem))
    return errors


def backup_window(text):
    """(start, end) minutes of the day of an RDS backup window ``hh24:mi-hh24:mi`` (end may be
    before start: the window spans midnight), or None when ``text`` is not one."""
    match = BACKUP_WINDOW.match(text) if isinstance(text, str) else None
    if not match:
        return None
    hours, minutes, end_hours, end_minutes = (int(g) for g in match.groups())
    return hours * 60 + minutes, end_hours * 60 + end_minutes


def maintenance_window(text):
    """(start, end) minutes of the week (Monday 00:00 is 0) of an RDS maintenance window
    ``ddd:hh24:mi-ddd:hh24:mi`` (days in any case), or None when ``text`` is not one."""
    match = MAINTENANCE_WINDOW.match(text) if isinstance(text, str) else None
    if not match or match.group(1).lower() not in DAYS or match.group(4).lower() not in DAYS:
        return None
    day, hours, minutes, end_day, end_hours, end_minutes = match.groups()
    return (DAYS.index(day.lower()) * 1440 + int(hours) * 60 + int(minutes),
            DAYS.index(end_day.lower()) * 1440 + int(end_hours) * 60 + int(end_minutes))


def _length(start, end, period):
    return (end - start) % period


def windows_overlap(backup, maintenance):
    """True when the daily backup window ``backup`` and the weekly ``maintenance`` window
    (texts as RDS takes them) overlap or touch on some day (RDS refuses both)."""
    backup, maintenance = backup_window(backup), maintenance_window(maintenance)
    if backup is None or maintenance is None:
        return False
    start = maintenance[0]
    end = start + _length(maintenance[0], maintenance[1], 7 * 1440)
    length = _length(backup[0], backup[1], 1440)
    for day in range(-1, 9):
        b_start = day * 1440 + backup[0]
        if max(start, b_start) <= min(end, b_start + length):
            return True
    return False


def _validate_availability(spec):
    """multiAZ, deletionProtection, backup and maintenanceWindow."""
    errors = []
    for field in ("multiAZ", "deletionProtection"):
        value = spec.get(field)
        if value is not None and not isinstance(value, bool):
            errors.append("spec.%s: expected true or false, got %s" % (field, quote(value)))
    backup = spec.get("backup")
    backup_ok = None
    if backup not in (None, {}) and not isinstance(backup, dict):
        errors.append("spec.backup: expected an object with retentionDays and/or window, got %s"
                      % quote(backup))
    elif isinstance(backup, dict):
        errors += ["spec.backup.%s: unknown field; expected retentionDays or window" % _key(k)
                   for k in sorted(backup, key=str) if k not in BACKUP_FIELDS][:2]
        days = backup.get("retentionDays")
        low, high = RETENTION_DAYS
        if days is not None and not (_is_int(days) and low <= days <= high):
            errors.append("spec.backup.retentionDays: expected an integer from %d (automated "
                          "backups off) to %d days, got %s" % (low, high, quote(days)))
        elif days == 0 and spec.get("multiAZ") is True:
            errors.append("spec.backup.retentionDays, spec.multiAZ: retentionDays 0 turns "
                          "automated backups off, which RDS refuses for a Multi-AZ instance "
                          "of some engines (and for an instance with read replicas); keep "
                          "retentionDays at 1 or more, or set multiAZ false")
        window = backup.get("window")
        parsed = backup_window(window)
        if window is not None and (parsed is None
                                   or _length(parsed[0], parsed[1], 1440) < WINDOW_MINUTES):
            errors.append("spec.backup.window: expected a daily window hh24:mi-hh24:mi in UTC "
                          "of at least %d minutes, such as 03:00-04:00, got %s"
                          % (WINDOW_MINUTES, quote(window)))
        elif window is not None:
            backup_ok = window
    window = spec.get("maintenanceWindow")
    if window is not None:
        parsed = maintenance_window(window)
        if parsed is None or not (WINDOW_MINUTES <= _length(parsed[0], parsed[1], 7 * 1440)
                                  <= 1440):
            errors.append("spec.maintenanceWindow: expected a weekly window "
                          "ddd:hh24:mi-ddd:hh24:mi in UTC of 30 minutes to 24 hours, such as "
                          "sun:05:00-sun:06:00, got %s" % quote(window))
        elif backup_ok and windows_overlap(backup_ok, window):
            errors.append("spec.maintenanceWindow: %s overlaps (or touches) the daily backup "
                          "window %s (spec.backup.window); RDS refuses both, expected windows "
                          "apart" % (quote(window), quote(backup_ok)))
    return errors


def _validate_storage_options(spec, engine):
    """spec.storage: maxGB (autoscaling), type, iops, throughput."""
    storage = spec.get("storage")
    if storage in (None, {}):
        return []
    if not isinstance(storage, dict):
        return ["spec.storage: expected an object with maxGB, type, iops and/or throughput, "
                "got %s" % quote(storage)]
    errors = ["spec.storage.%s: unknown field; expected one of %s"
              % (_key(k), ", ".join(STORAGE_FIELDS))
              for k in sorted(storage, key=str) if k not in STORAGE_FIELDS][:2]
    allocated = spec.get("storageGB", DEFAULTS["storageGB"])
    low, high = STORAGE_GB.get(engine, (20, 65536))
    allocated = allocated if _is_int(allocated) and low <= allocated <= high else None
    most = storage.get("maxGB")
    if most is not None and not (_is_int(most) and (allocated or low) <= most <= high):
        errors.append("spec.storage.maxGB: expected an integer number of GiB from storageGB "
                      "(%s; equal turns storage autoscaling off) to %d, got %s"
                      % (allocated if allocated is not None else "?", high, quote(most)))
    kind = storage.get("type")
    if kind is not None and kind not in STORAGE_TYPES:
        errors.append("spec.storage.type: expected one of %s, got %s"
                      % (", ".join(STORAGE_TYPES), quote(kind)))
        return errors
    iops, throughput = storage.get("iops"), storage.get("throughput")
    for field, value in (("iops", iops), ("throughput", throughput)):
        if value is not None and not _is_int(value):
            errors.append("spec.storage.%s: expected an integer, got %s" % (field, quote(value)))
    if errors:
        return errors
    if kind in IOPS:
        errors += _provisioned_iops(kind, iops, throughput, allocated)
    elif kind == "gp3":
        errors += _gp3(iops, throughput, allocated)
    elif iops is not None or throughput is not None:
        field = "iops" if iops is not None else "throughput"
        errors.append("spec.storage.%s: set only with spec.storage.type (%s take iops; gp3 "
                      "from %d GiB takes iops and throughput); expected a type too"
                      % (field, " and ".join(IOPS), GP3_FROM_GB))
    return errors


def _provisioned_iops(kind, iops, throughput, allocated):
    errors = []
    least, most, min_gb, ratio_low, ratio_high = IOPS[kind]
    if allocated is not None and allocated < min_gb:
        errors.append("spec.storage.type, spec.storageGB: %s needs at least %d GiB of storage, "
                      "got storageGB %d" % (kind, min_gb, allocated))
    if iops is None:
        errors.append("spec.storage.iops: %s storage needs provisioned IOPS; expected an "
                      "integer from %d to %d" % (kind, least, most))
    elif not least <= iops <= most:
        errors.append("spec.storage.iops: expected %d to %d IOPS for %s, got %d"
                      % (least, most, kind, iops))
    elif allocated is not None and allocated >= min_gb \
            and not ratio_low * allocated <= iops <= ratio_high * allocated:
        errors.append("spec.storage.iops: %s allows %s to %s IOPS per GiB; for storageGB %d "
                      "expected %d to %d IOPS, got %d"
                      % (kind, _number(ratio_low), _number(ratio_high), allocated,
                         max(least, int(ratio_low * allocated + 0.5)),
                         min(most, int(ratio_high * allocated)), iops))
    if throughput is not None:
        errors.append("spec.storage.throughput: %s storage takes no throughput setting (only "
                      "gp3 from %d GiB does); expected it left out" % (kind, GP3_FROM_GB))
    return errors


def _gp3(iops, throughput, allocated):
    errors = []
    if (iops is not None or throughput is not None) and allocated is not None \
            and allocated < GP3_FROM_GB:
        field = "iops" if iops is not None else "throughput"
        return ["spec.storage.%s: gp3 below %d GiB has a fixed baseline (3000 IOPS, 125 MiBps) "
                "that RDS does not let be set; expected it left out, or storageGB %d or more "
                "(got storageGB %d)" % (field, GP3_FROM_GB, GP3_FROM_GB, allocated)]
    bounds = (("iops", iops, GP3_IOPS, "IOPS"),
              ("throughput", throughput, GP3_THROUGHPUT, "MiBps"))
    for field, value, (low, high), unit in bounds:
        if value is not None and not low <= value <= high:
            errors.append("spec.storage.%s: expected %d to %d %s for gp3, got %d"
                          % (field, low, high, unit, value))
    if not errors and iops is not None and throughput is not None and throughput * 4 > iops:
        errors.append("spec.storage.throughput: gp3 allows at most 0.25 MiBps per IOPS; with "
                      "iops %d expected at most %d, got %d" % (iops, iops // 4, throughput))
    return errors


def _number(value):
    return ("%g" % value)


def _validate_changes(spec):
    """applyChanges, autoMinorVersionUpgrade, allowMajorVersionUpgrade, iamAuthentication,
    caCertificateIdentifier, passwordRotationDays."""
    errors = []
    when = spec.get("applyChanges")
    if when is not None and when not in APPLY_CHANGES:
        errors.append("spec.applyChanges: expected one of %s, got %s"
                      % (", ".join(APPLY_CHANGES), quote(when)))
    ca = spec.get("caCertificateIdentifier")
    if ca is not None and ca not in CA_CERTIFICATES:
        errors.append("spec.caCertificateIdentifier: expected one of %s, got %s"
                      % (", ".join(CA_CERTIFICATES), quote(ca)))
    days = spec.get("passwordRotationDays")
    if days is not None and not (_is_int(days) and ROTATION_DAYS[0] <= days <= ROTATION_DAYS[1]):
        errors.append("spec.passwordRotationDays: expected an integer number of days from %d to "
                      "%d (RDS's default schedule is every 7), got %s"
                      % (ROTATION_DAYS + (quote(days),)))
    for field in ("autoMinorVersionUpgrade", "allowMajorVersionUpgrade", "iamAuthentication"):
        value = spec.get(field)
        if value is not None and not isinstance(value, bool):
            errors.append("spec.%s: expected true or false, got %s" % (field, quote(value)))
    return errors
