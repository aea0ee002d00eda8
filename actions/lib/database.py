"""The Database custom resource: spec validation, translation to RDS parameters, identifiers, tags.

Pure functions (used by database_plan and database_drift_report), plus, at the end, the few
Kubernetes calls the status, finalizer and drift actions make on Database objects.
Every validation message names the field and says what was expected.
"""

import hashlib
import re

__all__ = [
    "GROUP", "VERSION", "PLURAL", "KIND", "FINALIZER",
    "TAG_UID", "TAG_NAMESPACE", "TAG_NAME", "OWNER_METADATA_KEY",
    "DEFAULT_INSTANCE_CLASSES", "PayloadError",
    "db_instance_identifier", "final_snapshot_identifier", "default_path",
    "validate_spec", "kv_path_problem", "check_kv_path", "check_text",
    "instance_class_for", "create_params", "modify_params",
    "resource_tags", "tag_map", "adoption", "version_satisfies", "compare_versions", "plan",
    "ready_condition", "KubeError", "DatabaseObjects",
]

GROUP = "dbaas.stackstorm.com"
VERSION = "v1alpha1"
PLURAL = "databases"
KIND = "Database"
FINALIZER = "dbaas.stackstorm.com/rds-protection"

TAG_UID = "st2-aws/uid"
TAG_NAMESPACE = "st2-aws/namespace"
TAG_NAME = "st2-aws/name"
RESERVED_TAG_PREFIXES = ("st2-aws/", "aws:")
#: Vault custom_metadata key naming the Database uid that owns a secret.
OWNER_METADATA_KEY = "st2-aws-uid"

ENGINES = ("postgres", "mysql", "mariadb")
SIZES = ("small", "medium", "large", "xlarge", "huge")
DELETION_POLICIES = ("Delete", "Retain", "Snapshot")
DEFAULT_INSTANCE_CLASSES = {
    "small": "db.t3.small",
    "medium": "db.t3.medium",
    "large": "db.m5.large",
    "xlarge": "db.m5.xlarge",
    "huge": "db.m5.4xlarge",
}
DEFAULTS = {"instanceSize": "small", "storageGB": 20, "masterUsername": "dbadmin",
            "deletionPolicy": "Snapshot"}
SPEC_FIELDS = ("engine", "engineVersion", "instanceSize", "instanceClass", "storageGB",
               "databaseName", "masterUsername", "deletionPolicy", "vault", "consul", "tags",
               "region")

# RDS limits (CreateDBInstance API reference, gp2/gp3 storage).
STORAGE_GB = {"postgres": (20, 65536), "mysql": (20, 65536), "mariadb": (20, 65536)}
# Oldest major (minor for MySQL/MariaDB) still in RDS standard support: older ones are legacy.
MIN_VERSION = {"postgres": (13,), "mysql": (8, 0), "mariadb": (10, 5)}
VERSION_FORM = {
    "postgres": (re.compile(r"^\d+(\.\d+)?$"), "MAJOR or MAJOR.MINOR, e.g. 16 or 16.3"),
    "mysql": (re.compile(r"^\d+\.\d+(\.\d+)?$"), "MAJOR.MINOR[.PATCH], e.g. 8.0 or 8.0.36"),
    "mariadb": (re.compile(r"^\d+\.\d+(\.\d+)?$"), "MAJOR.MINOR[.PATCH], e.g. 10.11 or 10.11.6"),
}
DB_NAME_MAX = {"postgres": 63, "mysql": 64, "mariadb": 64}
USERNAME_MAX = {"postgres": 63, "mysql": 16, "mariadb": 16}
RESERVED_DB_NAMES = {
    "postgres": {"postgres", "template0", "template1", "rdsadmin"},
    "mysql": {"mysql", "sys", "information_schema", "performance_schema", "innodb"},
    "mariadb": {"mysql", "sys", "information_schema", "performance_schema", "innodb"},
}
RESERVED_USERNAMES = {
    "postgres": {"rdsadmin", "rdsrepladmin", "rds_superuser", "public"},
    "mysql": {"rdsadmin", "rdsrepladmin", "root", "mysql.sys", "mysql.session"},
    "mariadb": {"rdsadmin", "rdsrepladmin", "root"},
}
SQL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
INSTANCE_CLASS = re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
KV_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
MAX_USER_TAGS = 50 - 3  # RDS allows 50 tags per resource; the pack uses 3
# Kubernetes names: a namespace is an RFC 1123 label, a custom object's name a DNS subdomain.
KUBE_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
KUBE_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?"
                       r"(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class PayloadError(ValueError):
    """The trigger payload lacks what every Database event carries (namespace, name, uid)."""


def _short_hash(text, length=8):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


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


def default_path(namespace, name):
    return "databases/%s/%s" % (namespace, name)


def parse_version(text):
    return tuple(int(part) for part in str(text).split("."))


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


def _quote(value):
    return "'%s'" % value if isinstance(value, str) else repr(value)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def validate_spec(spec):
    """Return the list of problems in ``spec`` (empty when valid); each names its field."""
    if not isinstance(spec, dict):
        return ["spec: expected an object, got %s" % type(spec).__name__]
    errors = []
    for key in sorted(spec):
        if key not in SPEC_FIELDS:
            errors.append("spec.%s: unknown field; expected one of %s"
                          % (key, ", ".join(SPEC_FIELDS)))
    engine = spec.get("engine")
    if engine not in ENGINES:
        errors.append("spec.engine: expected one of %s, got %s"
                      % (", ".join(ENGINES), "nothing" if engine is None else _quote(engine)))
        engine = None
    errors += _validate_version(spec, engine)
    errors += _validate_size(spec)
    errors += _validate_storage(spec, engine)
    errors += _validate_names(spec, engine)
    policy = spec.get("deletionPolicy", DEFAULTS["deletionPolicy"])
    if policy not in DELETION_POLICIES:
        errors.append("spec.deletionPolicy: expected one of %s, got %s"
                      % (", ".join(DELETION_POLICIES), _quote(policy)))
    region = spec.get("region")
    if region not in (None, "") and not (isinstance(region, str) and REGION.match(region)):
        errors.append("spec.region: expected an AWS region such as eu-west-1, got %s"
                      % _quote(region))
    for section, key in (("vault", "path"), ("consul", "key")):
        errors += _validate_location(spec, section, key)
    errors += _validate_tags(spec.get("tags"))
    return errors


def _validate_version(spec, engine):
    version = spec.get("engineVersion")
    if version in (None, "") or engine is None:
        return []
    form, example = VERSION_FORM[engine]
    if not isinstance(version, str) or not form.match(version):
        return ["spec.engineVersion: expected a %s version %s, got %s"
                % (engine, example, _quote(version))]
    minimum = MIN_VERSION[engine]
    if parse_version(version)[:len(minimum)] < minimum:
        return ["spec.engineVersion: %s %s is past RDS standard support; expected %s or later"
                % (engine, version, ".".join(str(p) for p in minimum))]
    return []


def _validate_size(spec):
    errors = []
    size, klass = spec.get("instanceSize"), spec.get("instanceClass")
    if size not in (None, "") and klass not in (None, ""):
        errors.append("spec.instanceClass: set either instanceSize or instanceClass, not both "
                      "(got instanceSize %s and instanceClass %s)" % (_quote(size), _quote(klass)))
    if size not in (None, "") and size not in SIZES:
        errors.append("spec.instanceSize: expected one of %s, got %s"
                      % (", ".join(SIZES), _quote(size)))
    if klass not in (None, "") and not (isinstance(klass, str) and INSTANCE_CLASS.match(klass)):
        errors.append("spec.instanceClass: expected an RDS instance class like db.m5.large, got %s"
                      % _quote(klass))
    return errors


def _validate_storage(spec, engine):
    storage = spec.get("storageGB", DEFAULTS["storageGB"])
    low, high = STORAGE_GB.get(engine, (20, 65536))
    if not _is_int(storage):
        return ["spec.storageGB: expected an integer number of GiB, got %s" % _quote(storage)]
    if not low <= storage <= high:
        return ["spec.storageGB: expected %d to %d GiB%s, got %d"
                % (low, high, " for %s" % engine if engine else "", storage)]
    return []


def _validate_names(spec, engine):
    errors = []
    checks = (("databaseName", DB_NAME_MAX, RESERVED_DB_NAMES, None),
              ("masterUsername", USERNAME_MAX, RESERVED_USERNAMES, DEFAULTS["masterUsername"]))
    for field, max_len, reserved, default in checks:
        value = spec.get(field, default)
        if value in (None, ""):
            continue
        limit = max_len.get(engine, 63)
        if not isinstance(value, str) or not SQL_NAME.match(value) or len(value) > limit:
            for_engine = " for %s" % engine if engine else ""
            errors.append("spec.%s: expected 1 to %d letters, digits or underscores starting with "
                          "a letter%s, got %s" % (field, limit, for_engine, _quote(value)))
        elif engine and value.lower() in reserved[engine]:
            errors.append("spec.%s: %s is reserved by %s; choose another name"
                          % (field, _quote(value), engine))
    return errors


def _validate_location(spec, section, key):
    block = spec.get(section)
    if block in (None, {}):
        return []
    if not isinstance(block, dict):
        return ["spec.%s: expected an object with %s, got %s" % (section, key, _quote(block))]
    value = block.get(key)
    if value in (None, ""):
        return []
    problem = kv_path_problem("spec.%s.%s" % (section, key), value)
    return [problem] if problem else []


def kv_path_problem(field, value):
    """None when ``value`` is a relative Vault/Consul path such as ``team-a/orders-db``, else a
    message naming ``field``. "." and ".." segments are refused: HTTP clients fold them away, so
    they would address another path than the one checked."""
    if (not isinstance(value, str) or not KV_PATH.match(value)
            or {".", ".."} & set(value.split("/"))):
        return ("%s: expected a relative path of letters, digits, '_', '.', '-' separated by "
                "'/', got %s" % (field, _quote(value)))
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
        raise ValueError("%s: expected %s, got %s" % (field, expected, _quote(value)))
    return value


def _validate_tags(tags):
    if tags in (None, {}):
        return []
    if not isinstance(tags, dict):
        return ["spec.tags: expected a map of strings, got %s" % type(tags).__name__]
    errors = []
    if len(tags) > MAX_USER_TAGS:
        errors.append("spec.tags: expected at most %d tags (RDS allows 50, the pack uses 3), got %d"
                      % (MAX_USER_TAGS, len(tags)))
    for key in sorted(tags, key=str):
        value = tags[key]
        if key.startswith(RESERVED_TAG_PREFIXES):
            errors.append("spec.tags.%s: keys starting with %s are reserved"
                          % (key, " or ".join(RESERVED_TAG_PREFIXES)))
        elif not 1 <= len(key) <= 128:
            errors.append("spec.tags: expected keys of 1 to 128 characters, got %s" % _quote(key))
        if not isinstance(value, str) or len(value) > 256:
            errors.append("spec.tags.%s: expected a string of at most 256 characters" % key)
    return errors


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
        if not key.startswith(RESERVED_TAG_PREFIXES):
            tags.append({"Key": key, "Value": user_tags[key]})
    return tags


def tag_map(instance):
    """{Key: Value} of a DBInstances[] item's TagList."""
    return {t.get("Key"): t.get("Value") for t in (instance or {}).get("TagList") or []}


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
    if db_subnet_group_name:
        params["DBSubnetGroupName"] = db_subnet_group_name
    if vpc_security_group_ids:
        params["VpcSecurityGroupIds"] = list(vpc_security_group_ids)
    return params


def modify_params(spec, instance, instance_classes=None):
    """(params, errors): rds.modify_db_instance kwargs for what differs from ``instance``.

    Pending modifications count as done, so a retried update asks for nothing new. Storage
    only grows and engine versions only go up on RDS: the opposite is an error, not a change.
    """
    pending = instance.get("PendingModifiedValues") or {}
    changes, errors = {}, []
    if spec.get("engine") != instance.get("Engine"):
        errors.append("spec.engine: the instance runs %s; changing the engine of an existing "
                      "instance is not possible, expected %s"
                      % (instance.get("Engine"), instance.get("Engine")))
        return {}, errors
    klass = instance_class_for(spec, instance_classes)
    if klass != pending.get("DBInstanceClass", instance.get("DBInstanceClass")):
        changes["DBInstanceClass"] = klass
    storage = spec.get("storageGB", DEFAULTS["storageGB"])
    actual = pending.get("AllocatedStorage", instance.get("AllocatedStorage"))
    if actual is not None and storage < actual:
        errors.append("spec.storageGB: RDS storage cannot shrink; expected at least %d, got %d"
                      % (actual, storage))
    elif storage != actual:
        changes["AllocatedStorage"] = storage
    wanted = spec.get("engineVersion")
    actual = pending.get("EngineVersion", instance.get("EngineVersion"))
    if wanted and actual and not version_satisfies(wanted, actual):
        if compare_versions(wanted, actual) < 0:
            errors.append("spec.engineVersion: the instance runs %s %s and cannot be downgraded; "
                          "expected %s or later" % (spec["engine"], actual, actual))
        else:
            changes["EngineVersion"] = wanted
            if parse_version(wanted)[0] != parse_version(actual)[0]:
                changes["AllowMajorVersionUpgrade"] = True
    if errors or not changes:
        return {}, errors
    changes["DBInstanceIdentifier"] = instance["DBInstanceIdentifier"]
    changes["ApplyImmediately"] = True
    return changes, errors


def _require(resource, field, kinds):
    value = resource.get(field)
    if value in (None, "") or not isinstance(value, kinds):
        raise PayloadError("resource.%s: expected a non-empty %s in the trigger payload, got %r"
                           % (field, kinds.__name__ if isinstance(kinds, type) else "value",
                              value))
    return value


def plan(resource, current_instance=None, config=None):
    """The whole database_plan result for a trigger payload (see docs/provisioning-actions.md)."""
    if not isinstance(resource, dict):
        raise PayloadError("resource: expected the trigger payload object, got %s"
                           % type(resource).__name__)
    config = config or {}
    namespace = _require(resource, "namespace", str)
    name = _require(resource, "name", str)
    uid = _require(resource, "uid", str)
    spec = resource.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    errors = validate_spec(resource.get("spec"))
    identifier = db_instance_identifier(namespace, name)
    region = spec.get("region") or config.get("region") or "us-east-1"
    classes = config.get("instance_classes") or {}
    policy = spec.get("deletionPolicy", DEFAULTS["deletionPolicy"])
    result = {
        "valid": False,
        "errors": errors,
        "message": "",
        "db_instance_identifier": identifier,
        "region": region,
        "create_params": {},
        "modify_params": {},
        "adoption": adoption(current_instance, uid),
        "vault_path": (spec.get("vault") or {}).get("path") or default_path(namespace, name),
        "consul_key": (spec.get("consul") or {}).get("key") or default_path(namespace, name),
        # An invalid policy keeps the instance's data: Snapshot is the safe reading.
        "deletion_policy": policy if policy in DELETION_POLICIES else "Snapshot",
        "final_snapshot_identifier": final_snapshot_identifier(identifier, uid),
        "uid": uid,
        "generation": resource.get("generation"),
        "namespace": namespace,
        "name": name,
    }
    if result["adoption"] == "conflict":
        owner = tag_map(current_instance).get(TAG_UID)
        result["message"] = (
            "RDS instance %s already exists and belongs to %s; it is not adopted or changed"
            % (identifier, "Database uid %s" % owner if owner else "no Database (no %s tag)"
               % TAG_UID))
    if errors:
        result["message"] = "; ".join(errors + ([result["message"]] if result["message"] else []))
        return result
    result["create_params"] = create_params(
        identifier, namespace, name, uid, spec, classes,
        config.get("db_subnet_group_name"), config.get("vpc_security_group_ids"))
    if result["adoption"] == "adopt":
        result["modify_params"], errors = modify_params(spec, current_instance, classes)
        if errors:
            result["errors"] = errors
            result["message"] = "; ".join(errors)
            return result
    result["valid"] = True
    return result


# --- status -------------------------------------------------------------------------------------

def ready_condition(conditions, phase, message, observed_generation, now):
    """``conditions`` with the ``Ready`` condition set for ``phase`` (others kept as they are).

    Ready is "True" only in phase Ready; its reason is the phase. lastTransitionTime changes
    only when the condition's status does, as Kubernetes conventions ask.
    """
    status = "True" if phase == "Ready" else "False"
    conditions = [dict(c) for c in conditions or [] if isinstance(c, dict)]
    old = next((c for c in conditions if c.get("type") == "Ready"), None)
    new = {"type": "Ready", "status": status, "reason": phase, "message": message,
           "lastTransitionTime": now}
    if old is not None and old.get("status") == status and old.get("lastTransitionTime"):
        new["lastTransitionTime"] = old["lastTransitionTime"]
    if observed_generation is not None:
        new["observedGeneration"] = observed_generation
    elif old is not None and "observedGeneration" in old:
        new["observedGeneration"] = old["observedGeneration"]
    others = [c for c in conditions if c.get("type") != "Ready"]
    return [new] + others


# --- Database objects in the Kubernetes API -----------------------------------------------------

class KubeError(RuntimeError):
    """The Kubernetes API could not be reached or refused a request."""


class DatabaseObjects:
    """get / merge-patch / list of one custom resource kind, with errors naming the object."""

    # Optimistic-concurrency attempts on 409 Conflict. Each conflict means another writer
    # succeeded, so N attempts always succeed against up to N - 1 concurrent writers.
    ATTEMPTS = 10

    def __init__(self, api_client, group=GROUP, version=VERSION, plural=PLURAL):
        from kubernetes import client  # pylint: disable=import-outside-toplevel

        self.api = client.CustomObjectsApi(api_client)
        self.host = api_client.configuration.host
        self.group, self.version, self.plural = group, version, plural

    def what(self, namespace=None, name=None):
        kind = "%s.%s" % (self.plural, self.group)
        return "%s %s/%s" % (kind, namespace, name) if name else kind

    def error(self, exc, doing, namespace=None, name=None):
        """A KubeError for an ApiException or a transport error."""
        status = getattr(exc, "status", None)
        if status:
            reason = getattr(exc, "reason", "") or ""
            detail = _api_message(exc)
            return KubeError("Kubernetes API at %s answered %s %s while %s %s%s"
                             % (self.host, status, reason, doing, self.what(namespace, name),
                                ": %s" % detail if detail else ""))
        return KubeError("Kubernetes API at %s is unreachable while %s %s: %s"
                         % (self.host, doing, self.what(namespace, name), type(exc).__name__))

    @staticmethod
    def check_names(namespace, name):
        """Raise ``ValueError`` naming the parameter unless both are valid Kubernetes names: an
        empty or odd one would address another URL (a list, or nothing) and read as "gone"."""
        if not isinstance(namespace, str) or not KUBE_NAMESPACE.match(namespace):
            raise ValueError("namespace: expected a Kubernetes namespace name (lowercase letters, "
                             "digits and '-', at most 63), got %s" % _quote(namespace))
        if not isinstance(name, str) or not KUBE_NAME.match(name):
            raise ValueError("name: expected a Kubernetes object name (lowercase letters, digits, "
                             "'-' and '.', at most 253), got %s" % _quote(name))

    def get(self, namespace, name):
        """The object as a dict, or None when it does not exist."""
        self.check_names(namespace, name)
        try:
            return self.api.get_namespaced_custom_object(
                self.group, self.version, namespace, self.plural, name)
        except Exception as exc:  # pylint: disable=broad-except
            if getattr(exc, "status", None) == 404:
                return None
            raise self.error(exc, "reading", namespace, name) from None

    def patch(self, namespace, name, body, status=False):
        """Merge-patch the object (or its status subresource); returns the new object.

        Raises ``KubeError`` with ``.status`` 404 or 409 left on it for the caller to act on.
        """
        self.check_names(namespace, name)
        method = (self.api.patch_namespaced_custom_object_status if status
                  else self.api.patch_namespaced_custom_object)
        try:
            return method(self.group, self.version, namespace, self.plural, name, body,
                          _content_type="application/merge-patch+json")
        except Exception as exc:  # pylint: disable=broad-except
            error = self.error(exc, "patching status of" if status else "patching",
                               namespace, name)
            error.status = getattr(exc, "status", None)
            raise error from None

    def list_all(self):
        """Every object of the kind in all namespaces (all pages)."""
        items, token = [], None
        while True:
            kwargs = {"limit": 500}
            if token:
                kwargs["_continue"] = token
            try:
                page = self.api.list_cluster_custom_object(self.group, self.version, self.plural,
                                                           **kwargs)
            except Exception as exc:  # pylint: disable=broad-except
                raise self.error(exc, "listing") from None
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items


def _api_message(exc):
    import json  # pylint: disable=import-outside-toplevel

    try:
        return json.loads(exc.body).get("message", "")
    except (TypeError, ValueError, AttributeError):
        return ""
