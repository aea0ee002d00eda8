"""spec.parameters: engine parameters through a DB parameter group the pack owns per Database.

The group is named from the instance identifier and the family (``<identifier>-postgres16``),
tagged with the Database's uid as the instance is, created before the instance, changed with only
the parameters that differ (at most 20 per ModifyDBParameterGroup call) and deleted after the
instance is gone; a group the pack does not own (no uid tag, another uid) is never changed or
deleted.

When a change applies: a static parameter (ApplyType ``static`` in describe_db_parameters, or,
where the answer has no ApplyType, one of ``STATIC``) always waits for the instance's next
reboot (ApplyMethod ``pending-reboot``: RDS takes nothing else for them); a dynamic one is
applied at once unless spec.applyChanges is NextMaintenanceWindow (then ``pending-reboot``
too). A group an instance is switched to also waits for a reboot. The pack makes that reboot
itself, when spec.applyChanges says (``reboot_plan``): at once (Immediately, or unset as for
every modification), or, under NextMaintenanceWindow, by the first run inside the instance's
maintenance window (the resync starts one); until then the parameters are named as pending in
status.warnings. A group prepared for an instance about to be created needs no reboot: the
instance starts with it.
"""

import datetime
import re

from lib.database.spec import maintenance_window, major_version, quote

__all__ = [
    "MAX_PARAMETERS", "MAX_VALUE", "NAME", "STATIC", "BATCH", "family", "group_name",
    "validate_parameters", "wanted_parameters", "apply_method", "parameter_changes", "batches",
    "ParameterGroups", "spec_group", "instance_groups", "parameter_plan", "in_window",
    "reboot_plan", "reboot_advice", "utc_now",
]

#: Most entries of spec.parameters, longest value (characters).
MAX_PARAMETERS = 100
MAX_VALUE = 4096
#: A parameter name as the engines spell them (``shared_buffers``, ``rds.force_ssl``,
#: ``pg_stat_statements.track``, ``innodb_lock_wait_timeout``).
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")
#: ModifyDBParameterGroup / ResetDBParameterGroup take at most 20 parameters per call.
BATCH = 20
#: Well-known static parameters (need a reboot), used where describe_db_parameters gives no
#: ApplyType (moto); real RDS answers ApplyType for every parameter of the family.
STATIC = {
    "postgres": frozenset((
        "shared_buffers", "max_connections", "shared_preload_libraries", "max_worker_processes",
        "max_wal_senders", "max_replication_slots", "wal_buffers", "max_locks_per_transaction",
        "max_prepared_transactions", "rds.logical_replication", "track_activity_query_size",
        "huge_pages", "max_pred_locks_per_transaction", "autovacuum_max_workers",
        "track_commit_timestamp", "wal_level", "pg_stat_statements.max", "cron.database_name",
        "max_logical_replication_workers", "rds.rds_superuser_reserved_connections")),
    "mysql": frozenset((
        "innodb_buffer_pool_instances", "innodb_log_file_size", "innodb_log_buffer_size",
        "performance_schema", "innodb_read_io_threads", "innodb_write_io_threads",
        "innodb_file_per_table", "lower_case_table_names", "innodb_page_size",
        "thread_cache_size", "skip_name_resolve", "binlog_format_static", "innodb_sort_buffer_size",
        "innodb_ft_min_token_size", "innodb_ft_max_token_size", "ft_min_word_len",
        "ft_max_word_len", "innodb_open_files", "table_open_cache_instances")),
}
STATIC["mariadb"] = STATIC["mysql"] | frozenset(("aria_pagecache_buffer_size",))
#: Minutes of a week (maintenance windows are weekly).
WEEK = 7 * 1440
#: A group name: 1-255 letters, digits, hyphens; a letter first; no "--"; no hyphen last.
GROUP_NAME = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)$")


def family(engine, version):
    """The DBParameterGroupFamily of ``engine`` at ``version`` (RDS's naming: ``postgres16``,
    ``mysql8.0``, ``mariadb10.11``); None without a version. moto does not implement
    describe_db_engine_versions (docs/stack.md), so the pack derives it from the major
    version."""
    if not isinstance(version, str) or not version or engine not in STATIC:
        return None
    major = major_version(engine, version)
    return "%s%s" % (engine, ".".join(str(p) for p in major)) if major else None


def group_name(identifier, family_name):
    """``<identifier>-<family with dots as hyphens>``: one group per Database and family (a
    major upgrade needs a group of the new family)."""
    name = "%s-%s" % (identifier, family_name.replace(".", "-"))
    return name if GROUP_NAME.match(name) else None


def _value(value):
    """The text RDS takes for a spec value (integers as digits), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) else None


def validate_parameters(spec):
    """[error] for spec.parameters, each naming the field."""
    params = spec.get("parameters")
    if params is None:
        return []
    if not isinstance(params, dict):
        return ["spec.parameters: expected a map of engine parameter names to values, got %s"
                % quote(params)]
    errors = []
    if len(params) > MAX_PARAMETERS:
        errors.append("spec.parameters: at most %d parameters, got %d"
                      % (MAX_PARAMETERS, len(params)))
    for key in sorted(params, key=str):
        if not (isinstance(key, str) and NAME.match(key)):
            errors.append("spec.parameters: %s is no engine parameter name; expected letters, "
                          "digits, _ . : - (at most 128, a letter or _ first)" % quote(key))
            continue
        text = _value(params[key])
        if text is None:
            errors.append("spec.parameters.%s: expected a string or an integer, got %s"
                          % (key, quote(params[key])))
        elif not text or len(text) > MAX_VALUE or not text.isprintable():
            errors.append("spec.parameters.%s: expected 1 to %d printable characters, got %s"
                          % (key, MAX_VALUE, quote(text)))
    if params and not errors and family(spec.get("engine"), spec.get("engineVersion")) is None:
        errors.append("spec.parameters, spec.engineVersion: the parameter group family follows "
                      "the engine version; expected engineVersion set with parameters")
    return errors[:4]


def wanted_parameters(spec):
    """{name: value text} of a valid spec.parameters, or None when the spec sets none."""
    params = spec.get("parameters")
    if not isinstance(params, dict):
        return None
    return {k: _value(v) for k, v in params.items()}


def apply_method(engine, name, apply_type, apply_changes):
    """ApplyMethod of one parameter (see the module's doc)."""
    static = apply_type == "static" if apply_type in ("static", "dynamic") \
        else name in STATIC.get(engine, ())
    if static or apply_changes == "NextMaintenanceWindow":
        return "pending-reboot"
    return "immediate"


def _actual(described):
    """({name: value} set in the group, {name: ApplyType}, {name: IsModifiable}) of
    describe_db_parameters' Parameters. Real RDS lists every parameter of the family (Source
    user for those set in the group); moto only those set, without Source."""
    values, types, modifiable = {}, {}, {}
    for item in described or []:
        if not isinstance(item, dict) or not isinstance(item.get("ParameterName"), str):
            continue
        name = item["ParameterName"]
        types[name] = item.get("ApplyType")
        modifiable[name] = item.get("IsModifiable")
        if item.get("Source", "user") == "user" and item.get("ParameterValue") is not None:
            values[name] = item["ParameterValue"]
    return values, types, modifiable


def parameter_changes(engine, wanted, described, apply_changes=None):
    """(modify [Parameters items], reset [names], pending [names], errors) to bring a group whose
    describe_db_parameters answered ``described`` to ``wanted`` ({name: text}). Only what
    differs is changed; a parameter set in the group but no longer in the spec is reset.
    ``errors``: names real RDS does not know for the family, or will not let be changed."""
    values, types, modifiable = _actual(described)
    full_list = any(item.get("Source") for item in described or [] if isinstance(item, dict))
    errors = []
    for name in sorted(wanted):
        if full_list and name not in types:
            errors.append("spec.parameters.%s: no such parameter in the group's family" % name)
        elif modifiable.get(name) is False:
            errors.append("spec.parameters.%s: RDS does not allow it to be changed" % name)
    if errors:
        return [], [], [], errors
    modify, pending = [], []
    for name in sorted(wanted):
        if values.get(name) == wanted[name]:
            continue
        method = apply_method(engine, name, types.get(name), apply_changes)
        modify.append({"ParameterName": name, "ParameterValue": wanted[name],
                       "ApplyMethod": method})
        if method == "pending-reboot":
            pending.append(name)
    reset = sorted(n for n in values if n not in wanted)
    return modify, reset, pending, []


def batches(items, size=BATCH):
    """``items`` in lists of at most ``size``."""
    return [items[i:i + size] for i in range(0, len(items), size)]


class ParameterGroups:
    """ensure / delete against an RDS client through ``call(method, params)`` (lib.aws's
    call_operation bound to a client; raises on AWS errors)."""

    #: describe_db_parameter_groups: most groups a page (RDS's MaxRecords: 20 to 100), and the
    #: error code of a group name RDS does not know.
    PAGE = 100
    NOT_FOUND = "DBParameterGroupNotFound"

    def __init__(self, call, uid_tag):
        self.call = call
        self.uid_tag = uid_tag

    def _owner(self, arn):
        tags = self.call("list_tags_for_resource", {"ResourceName": arn}).get("TagList") or []
        return {t.get("Key"): t.get("Value") for t in tags}.get(self.uid_tag)

    def _find(self, name):
        """The DBParameterGroups item named ``name``, or None. Asked for by name: a listing
        comes in pages (RDS's Filters are not supported); RDS answers a missing name with
        DBParameterGroupNotFound, moto with an empty list."""
        try:
            found = self.call("describe_db_parameter_groups", {"DBParameterGroupName": name})
        except Exception as exc:  # pylint: disable=broad-except
            if self.NOT_FOUND in str(exc):  # lib.aws's AwsCallError names the code
                return None
            raise
        for group in found.get("DBParameterGroups") or []:
            if group.get("DBParameterGroupName") == name:
                return group
        return None

    def _list(self):
        """Every DBParameterGroups item, page by page (``Marker``, at most ``PAGE`` a page)."""
        params = {"MaxRecords": self.PAGE}
        while True:
            found = self.call("describe_db_parameter_groups", params)
            for group in found.get("DBParameterGroups") or []:
                yield group
            marker = found.get("Marker")
            if not marker or marker == params.get("Marker"):
                return
            params = {"MaxRecords": self.PAGE, "Marker": marker}

    def ensure(self, name, family_name, engine, wanted, uid, tags, apply_changes=None,
               reboot=None):
        """Create the group if missing (tagged ``tags``), refuse one another owns, then apply
        only the parameters that differ. ``reboot``: the plan's view of the instance (see
        ``reboot_plan``; ``new_instance`` when it is about to be created). Returns the action's
        result; ``reboot`` in it says whether the workflow reboots the instance now."""
        result = {"group_name": name, "created": False, "changed": [], "reset": [],
                  "pending_reboot": [], "warnings": [], "reboot": False, "reboot_for": ""}
        group = self._find(name)
        if group is None:
            self.call("create_db_parameter_group", {
                "DBParameterGroupName": name, "DBParameterGroupFamily": family_name,
                "Description": "spec.parameters of Database uid %s (st2 aws pack)" % uid,
                "Tags": tags})
            result["created"] = True
        else:
            owner = self._owner(group.get("DBParameterGroupArn"))
            if owner != uid:
                raise ValueError("DB parameter group %s exists and belongs to %s; it is not "
                                 "changed: remove it or rename the Database"
                                 % (name, "Database uid %s" % owner if owner
                                    else "no Database (no %s tag)" % self.uid_tag))
            if group.get("DBParameterGroupFamily") not in (None, family_name):
                raise ValueError("DB parameter group %s has family %s, expected %s"
                                 % (name, group.get("DBParameterGroupFamily"), family_name))
        described = self.call("describe_db_parameters",
                              {"DBParameterGroupName": name}).get("Parameters") or []
        modify, reset, pending, errors = parameter_changes(engine, wanted, described,
                                                           apply_changes)
        if errors:
            raise ValueError("; ".join(errors[:4]))
        for batch in batches(modify):
            self.call("modify_db_parameter_group",
                      {"DBParameterGroupName": name, "Parameters": batch})
        for batch in batches(reset):
            self.call("reset_db_parameter_group", {
                "DBParameterGroupName": name,
                "Parameters": [{"ParameterName": n, "ApplyMethod": "pending-reboot"}
                               for n in batch]})
        result["changed"] = [p["ParameterName"] for p in modify]
        result["reset"] = reset
        reboot = reboot or {}
        result["pending_reboot"] = [] if reboot.get("new_instance") else pending + reset
        result["reboot"], result["reboot_for"], result["warnings"] = reboot_advice(
            result["pending_reboot"], reboot, apply_changes)
        return result

    def delete(self, identifier, uid):
        """Delete every group named ``<identifier>-...`` that carries ``uid``; others are
        left. Every page of the listing is read, before anything is deleted (a delete between
        pages could move the Marker past a group). Returns the action's result."""
        deleted, kept = [], []
        for group in list(self._list()):
            name = group.get("DBParameterGroupName") or ""
            if not name.startswith(identifier + "-"):
                continue
            if self._owner(group.get("DBParameterGroupArn")) != uid:
                kept.append(name)
                continue
            self.call("delete_db_parameter_group", {"DBParameterGroupName": name})
            deleted.append(name)
        return {"deleted": deleted, "kept": kept}


def spec_group(identifier, spec):
    """(group name, family) of a spec that sets parameters, else (None, None)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("parameters"), dict) \
            or not isinstance(identifier, str):
        return None, None
    family_name = family(spec.get("engine"), spec.get("engineVersion"))
    if family_name is None:
        return None, None
    return group_name(identifier, family_name), family_name


def instance_groups(instance):
    """{group name: ParameterApplyStatus} of a DBInstances[] item."""
    groups = (instance or {}).get("DBParameterGroups") if isinstance(instance, dict) else None
    return {g.get("DBParameterGroupName"): g.get("ParameterApplyStatus")
            for g in groups or [] if isinstance(g, dict)}


def utc_now():
    """The clock of the reboot decision (tests move it into a maintenance window)."""
    return datetime.datetime.now(datetime.timezone.utc)


def in_window(window, now):
    """True when ``now`` (an aware datetime) is inside the weekly maintenance window
    ``ddd:hh24:mi-ddd:hh24:mi`` (UTC, RDS's PreferredMaintenanceWindow); False when there is
    none or it cannot be read."""
    span = maintenance_window(window)
    if span is None or now is None:
        return False
    now = now.astimezone(datetime.timezone.utc)
    minute = now.weekday() * 1440 + now.hour * 60 + now.minute
    return (minute - span[0]) % WEEK <= (span[1] - span[0]) % WEEK


def reboot_plan(identifier, spec, current_instance=None, modify=None, now=None):
    """What the plan knows of a reboot for spec.parameters before the group is touched:
    ``reboot_pending`` (the instance says its group is ``pending-reboot``, or this run switches
    it to the pack's group: both apply only at a reboot), ``reboot_allowed`` (spec.applyChanges
    lets the pack reboot now: NextMaintenanceWindow only inside the instance's maintenance
    window; otherwise yes, unless the modification waits for the window, as a major upgrade
    does by default, which reboots the instance itself) and ``maintenance_window``."""
    group = spec_group(identifier, spec)[0]
    modify = modify if isinstance(modify, dict) else {}
    instance = current_instance if isinstance(current_instance, dict) else None
    pending = bool(group) and instance is not None and (
        instance_groups(instance).get(group) == "pending-reboot"
        or modify.get("DBParameterGroupName") == group)
    window = modify.get("PreferredMaintenanceWindow") \
        or (instance or {}).get("PreferredMaintenanceWindow") or ""
    window = window if isinstance(window, str) else ""
    if isinstance(spec, dict) and spec.get("applyChanges") == "NextMaintenanceWindow":
        allowed = in_window(window, now or utc_now())
    else:
        allowed = modify.get("ApplyImmediately") is not False
    return {"reboot_pending": pending, "reboot_allowed": bool(group) and allowed,
            "maintenance_window": window[:19]}


def reboot_advice(pending, reboot, apply_changes=None):
    """(reboot now, what that reboot applies or "", status warnings) for the group's ``pending``
    parameters (this run's) and the plan's ``reboot`` view (reboot_plan's fields under the
    names pending, allowed, window; new_instance)."""
    if reboot.get("new_instance"):
        return False, "", []
    what = ", ".join(pending)
    if reboot.get("pending") and not what:
        what = "the parameter group's pending changes"
    if not what:
        return False, "", []
    what = what[:200]
    if reboot.get("allowed"):
        return True, what, []
    window = reboot.get("window") or "(unknown)"
    if apply_changes == "NextMaintenanceWindow":
        when = ("which the pack makes inside the instance's maintenance window %s UTC "
                "(spec.applyChanges NextMaintenanceWindow)" % window)
    else:
        when = ("with the modification RDS holds for the maintenance window %s UTC (set "
                "spec.applyChanges Immediately to reboot now)" % window)
    return False, "", ["spec.parameters: pending until the instance's next reboot, %s: %s"
                       % (when, what)]


def parameter_plan(identifier, spec, current_instance=None, modify=None):
    """The plan's spec.parameters fields: parameter_group, parameter_family, parameters,
    engine, apply_changes, and reboot_plan's three."""
    group, family_name = spec_group(identifier, spec)
    wanted = wanted_parameters(spec) if group else None
    when = spec.get("applyChanges") if isinstance(spec, dict) else None
    engine = spec.get("engine") if isinstance(spec, dict) else None
    result = {"parameter_group": group, "parameter_family": family_name,
              "parameters": {k: v for k, v in (wanted or {}).items() if v is not None},
              "engine": engine if isinstance(engine, str) else "",
              "apply_changes": when if isinstance(when, str) else ""}
    result.update(reboot_plan(identifier, spec, current_instance, modify))
    return result
