"""The plan of a Database event: what the workflows do, decided before anything is changed.

``plan(resource, current_instance, config)`` validates the trigger payload (lib.database.spec,
lib.stores.kv_layout), derives the RDS identifier and parameters (lib.database.rds_params) and the
Vault and Consul locations, and returns the database_plan action's result. It never raises: whatever
the payload holds, the result says ``valid: false`` with bounded messages naming each field, so the
workflow can always report a Failed status.
"""

import difflib

from lib.database.objects import KUBE_NAME, KUBE_NAMESPACE, STATUS_LIMITS, bounded
from lib.database.spec import (DEFAULTS, DELETION_POLICIES, INSTANCE_MISSING_POLICIES, SPEC_FIELDS,
                               quote, validate_spec)
from lib.database.source import CREATE, restore, validate_source
from lib.stores.kv_layout import Layout
from lib.database.parameter_groups import parameter_plan
from lib.database.rds_params import (TAG_UID, adoption, create_params, db_instance_identifier,
                                     final_snapshot_identifier, modify_params, tag_map)

__all__ = ["MAX_ERRORS", "MAX_MESSAGE", "plan", "pruned_warnings"]

#: Most problems listed in a plan's errors (the rest are counted), and the longest message:
#: what the workflows add around it still fits the status's limit.
MAX_ERRORS = 8
MAX_ERROR = 300
MAX_MESSAGE = 900


def _identity(resource, field, pattern, expected):
    """(value for the result, error or None) of resource.namespace / name / uid."""
    value = resource.get(field)
    ok = isinstance(value, str) and value.strip() and (pattern is None or pattern.match(value))
    if ok and len(value) <= 253:
        return value, None
    shown = value if isinstance(value, str) else ""
    return shown[:63], ("resource.%s: expected %s in the trigger payload, got %s"
                        % (field, expected, quote(value)))


def pruned_warnings(pruned):
    """Status warnings for the fields the API server dropped (payload ``pruned_fields``)."""
    paths = [p for p in pruned if isinstance(p, str) and p] if isinstance(pruned, list) else []
    limit = STATUS_LIMITS["warnings"]
    shown = paths if len(paths) <= limit else paths[:limit - 1]
    fields_lower = {f.lower(): f for f in SPEC_FIELDS}
    warnings = []
    for path in shown:
        text = ("%s: in the applied configuration but not in the object: the API server "
                "dropped it (no such field in the Database schema), so it has no effect"
                % bounded(path, 120))
        leaf = path.split(".")[-1]
        if path.startswith("spec.") and path.count(".") == 1:
            near = fields_lower.get(leaf.lower()) or next(
                iter(difflib.get_close_matches(leaf, SPEC_FIELDS, n=1, cutoff=0.75)), None)
            if near:
                text += "; did you mean spec.%s?" % near
        warnings.append(bounded(text, STATUS_LIMITS["warning"]))
    if len(paths) > len(shown):
        warnings.append("%d more fields were dropped by the API server" % (len(paths) - len(shown)))
    return warnings


def _bounded_errors(errors):
    shown = [bounded(e, MAX_ERROR) for e in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        shown.append("and %d more problems" % (len(errors) - MAX_ERRORS))
    return shown


def _location(spec, section, key):
    block = spec.get(section)
    value = block.get(key) if isinstance(block, dict) else None
    return value if isinstance(value, str) and value else None


#: (layout kind, spec section, spec key, status field) of the two locations.
LOCATIONS = (("vault", "vault", "path", "vaultPath"), ("consul", "consul", "key", "consulKey"))


def _locations(spec, status, namespace, name, layout, identity_ok):
    """(vault_path, consul_key, errors). A location the status records (the pack wrote there
    when the Database became Ready) stays: without spec.vault.path / spec.consul.key it is used
    even if the layout changed since, and a spec naming another one is refused (moving the
    credentials or config is not supported)."""
    status = status if isinstance(status, dict) else {}
    found, errors = [], []
    for kind, section, key, field in LOCATIONS:
        wanted = _location(spec, section, key)
        recorded = status.get(field)
        recorded = recorded if isinstance(recorded, str) and recorded else None
        if recorded and wanted and wanted != recorded:
            errors.append("spec.%s.%s: this Database's %s at %s; moving %s is not supported, "
                          "expected %s (or leave spec.%s.%s out)"
                          % (section, key, "credentials are" if kind == "vault" else "config is",
                             quote(recorded), "them" if kind == "vault" else "it",
                             quote(recorded), section, key))
        if wanted:
            found.append(wanted)
        elif recorded:
            found.append(recorded)
        else:
            found.append(layout.default(kind, namespace, name) if identity_ok else "")
    return found[0], found[1], errors


def _rotation_days(spec):
    days = spec.get("passwordRotationDays")
    return days if isinstance(days, int) and not isinstance(days, bool) else None


def _deferred(spec, params):
    """The warning for a modification RDS holds for the maintenance window, or ""."""
    if not params or params.get("ApplyImmediately") is not False:
        return ""
    changed = ", ".join("%s %s" % (k, str(v)[:32]) for k, v in sorted(params.items())
                        if k not in ("DBInstanceIdentifier", "ApplyImmediately",
                                     "AllowMajorVersionUpgrade"))
    why = ("spec.applyChanges is NextMaintenanceWindow"
           if spec.get("applyChanges") == "NextMaintenanceWindow" else
           "a major version upgrade waits for it unless spec.applyChanges is Immediately")
    return ("spec.applyChanges: applied in the instance's next maintenance window, not now (%s): "
            "%s; RDS holds it as pending until then" % (why, changed))


def plan(resource, current_instance=None, config=None):
    """The whole database_plan result for a trigger payload (see docs/provisioning-actions.md).

    ``config``: region, instance_classes, db_subnet_group_name, vpc_security_group_ids,
    ``on_instance_missing`` (the pack's default policy) and ``layout`` (a
    lib.stores.kv_layout.Layout; default: everything under ``{namespace}/``).
    """
    config = config or {}
    layout = config.get("layout") or Layout()
    errors = [] if isinstance(resource, dict) else [
        "resource: expected the trigger payload (an object), got %s" % quote(resource)]
    resource = resource if isinstance(resource, dict) else {}
    namespace, problem = _identity(resource, "namespace", KUBE_NAMESPACE,
                                   "a Kubernetes namespace name")
    errors += [problem] if problem else []
    name, problem = _identity(resource, "name", KUBE_NAME, "a Kubernetes object name")
    errors += [problem] if problem else []
    uid, problem = _identity(resource, "uid", None, "the object's metadata.uid")
    errors += [problem] if problem else []
    identity_ok = not errors
    raw_spec = resource.get("spec")
    spec = raw_spec if isinstance(raw_spec, dict) else {}
    errors += validate_spec(raw_spec, namespace if identity_ok else None, layout)
    errors += validate_source(raw_spec, name)
    generation = resource.get("generation")
    if not (isinstance(generation, int) and not isinstance(generation, bool)):
        generation = None
    vault_path, consul_key, moved = _locations(spec, resource.get("status"), namespace, name,
                                               layout, identity_ok)
    if not errors:
        errors += moved
    identifier = db_instance_identifier(namespace, name)
    region = spec.get("region") if isinstance(spec.get("region"), str) else None
    region = region or config.get("region") or "us-east-1"
    policy = spec.get("deletionPolicy", DEFAULTS["deletionPolicy"])
    missing = spec.get("onInstanceMissing") or config.get("on_instance_missing") or "Report"
    status = resource.get("status") if isinstance(resource.get("status"), dict) else {}
    result = {
        "valid": False,
        "errors": [],
        "message": "",
        "warnings": pruned_warnings(resource.get("pruned_fields")),
        "db_instance_identifier": identifier,
        "region": region[:32],
        "create_params": {},
        # create_db_instance, or the restore call of spec.source (lib/database/source.py)
        "create_method": CREATE,
        "modify_params": {},
        "adoption": adoption(current_instance, uid),
        "vault_path": vault_path,
        "consul_key": consul_key,
        # An invalid policy keeps the instance's data: Snapshot is the safe reading.
        "deletion_policy": policy if policy in DELETION_POLICIES else "Snapshot",
        "final_snapshot_identifier": final_snapshot_identifier(identifier, uid),
        # spec.deletionProtection (null when unset): the delete workflow turns an instance's
        # protection off only when the spec says false, never by itself.
        "deletion_protection": (spec.get("deletionProtection")
                                if isinstance(spec.get("deletionProtection"), bool) else None),
        # spec.passwordRotationDays (null when unset): the rotation schedule the workflows set
        # on the RDS-managed master secret (only when it differs).
        "rotation_days": _rotation_days(spec),
        # An instance that was provisioned once (status has its endpoint) and is gone now was
        # deleted outside the pack: recreated only under policy Recreate (an EMPTY instance).
        "on_instance_missing": missing if missing in INSTANCE_MISSING_POLICIES else "Report",
        "provisioned": bool(status.get("endpoint")),
        # What differs from the instance and cannot be repaired (storage shrink, downgrade):
        # the rest is applied, these are reported (warnings, and held_message for the status).
        "held": [],
        "held_message": "",
        "uid": uid,
        "generation": generation,
        "namespace": namespace,
        "name": name,
    }
    if not errors and result["adoption"] == "conflict":
        owner = tag_map(current_instance).get(TAG_UID)
        result["message"] = bounded(
            "RDS instance %s already exists and belongs to %s; it is not adopted or changed"
            % (identifier, "Database uid %s" % str(owner)[:64] if owner
               else "no Database (no %s tag)" % TAG_UID), MAX_MESSAGE)
    if not errors:
        classes = config.get("instance_classes") or {}
        result["create_params"] = create_params(
            identifier, namespace, name, uid, spec, classes,
            config.get("db_subnet_group_name"), config.get("vpc_security_group_ids"))
        if result["adoption"] == "none":
            result["create_method"], result["create_params"], restoring = restore(
                result["create_params"], namespace, spec)
            result["warnings"] = result["warnings"] + restoring
        if result["adoption"] == "adopt":
            result["modify_params"], errors, held = modify_params(spec, current_instance, classes)
            result["held"] = [bounded(h, MAX_ERROR) for h in held]
            result["warnings"] = result["warnings"] + result["held"]
            deferred = _deferred(spec, result["modify_params"])
            if deferred:
                result["warnings"] = result["warnings"] + [bounded(deferred, MAX_ERROR)]
            if held:
                result["held_message"] = bounded(
                    "; not applied (RDS cannot go back): " + "; ".join(result["held"]),
                    MAX_MESSAGE)
    result.update(parameter_plan(identifier, spec, current_instance,  # spec.parameters
                                 result["modify_params"]))
    if errors:
        result["create_params"], result["modify_params"] = {}, {}
        result["errors"] = _bounded_errors(errors)
        result["message"] = bounded("; ".join(result["errors"]), MAX_MESSAGE)
        return result
    result["valid"] = True
    return result
