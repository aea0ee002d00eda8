"""The resync of Databases: which ones need a run now, and why. Pure functions, no I/O.

A Database promises a level, not an edge: the instance matches the spec, Vault holds the
password that works, Consul the current config, the status tells the truth. The rules start a
run on each change; the resync (aws.database_resync, on two timer rules) looks at every Database
again and starts a run only for those whose promise does not hold or whose run is due:

- a failed run whose ``status.retry.nextAttemptAt`` has come (reason Recoverable); never a
  Terminal one, until its spec changes;
- a run that never started or died (no status, a spec generation never observed, a phase like
  Provisioning unchanged for longer than any run takes: StackStorm restarted mid-run);
- a deletion whose run never started, failed or died (the finalizer still holds it);
- on a full cycle (``observed`` holds what AWS, Vault and Consul say), for Ready Databases: the
  instance gone (the update workflow then applies spec.onInstanceMissing), changed out of band
  (class, storage, version; what RDS cannot undo, like grown storage, is not run again and
  again), its endpoint, CA certificate or IAM authentication changed (Consul's config), its
  RDS-managed secret rotated (the current version differs from the one Vault's copy was made
  from), the Vault secret or Consul key deleted, Consul's config stale, the pack's parameter
  group waiting for a reboot that spec.applyChanges lets the pack make now.

``select(objects, now, observed)`` returns one work item per Database that needs a run; a
quiet cycle returns [] and so costs no execution beyond the resync's own.
"""

import datetime

from lib.database.objects import FINALIZER
from lib.database.parameter_groups import reboot_plan, spec_group, wanted_parameters
from lib.database.rds_params import adoption, db_instance_identifier, spec_differences

__all__ = ["GRACE_SECONDS", "STALE_SECONDS", "select", "parse_time", "consul_config_problem",
           "utc_now"]

#: A change younger than this is left to the run its own trigger started.
GRACE_SECONDS = 120
#: A phase of a run in progress unchanged for longer than this belongs to a run that died: the
#: workflows' longest wait is 30 minutes (the RDS polls), an action's timeout 10.
STALE_SECONDS = 45 * 60
IN_PROGRESS = ("Provisioning", "Updating", "Deleting")
#: The TLS facts of the Consul config that follow the instance: (config key, DBInstances[]
#: field, what a stale one is called).
TLS_FACTS = (("ca_certificate_identifier", "CACertificateIdentifier", "CA certificate"),
             ("iam_authentication", "IAMDatabaseAuthenticationEnabled", "IAM authentication"))


def utc_now():
    """The resync's clock (tests move it to a retry's time)."""
    return datetime.datetime.now(datetime.timezone.utc)


def parse_time(text):
    """RFC 3339 (Kubernetes' form, ``2026-12-07T13:01:11Z``) as an aware datetime, or None."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.timezone.utc)


def _age(now, text):
    """Seconds since ``text`` (RFC 3339), or None when it is not a time."""
    moment = parse_time(text)
    return None if moment is None else (now - moment).total_seconds()


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _retry_due(status, now):
    """(due, attempt number) of a Recoverable failure: its nextAttemptAt has come (a status
    without a schedule, written before retries existed, is due at once)."""
    retry = status.get("retry") if isinstance(status.get("retry"), dict) else {}
    attempts = _int(retry.get("attempts")) or 0
    at = parse_time(retry.get("nextAttemptAt"))
    return (at is None or at <= now), attempts + 1


def _condition(status, kind):
    conditions = status.get("conditions")
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            return condition
    return {}


def _since_transition(status, metadata, now, kind="Ready"):
    """Seconds since condition ``kind`` last changed (Progressing: since the run in progress
    began), else since the object was created."""
    age = _age(now, _condition(status, kind).get("lastTransitionTime"))
    return age if age is not None else _age(now, metadata.get("creationTimestamp"))


def _deletion_work(metadata, status, now):
    """The cause for running the delete workflow again, or None."""
    if FINALIZER not in (metadata.get("finalizers") or []):
        return None  # not held by the pack: nothing of ours to clean up
    phase = status.get("phase")
    if phase == "Failed" and _condition(status, "Ready").get("reason") == "Terminal":
        # e.g. RDS refused (deletion protection on): run again only once the spec changed.
        generation = _int(metadata.get("generation"))
        observed = _int(status.get("observedGeneration"))
        return "delete after spec generation %d" % generation \
            if generation is not None and (observed is None or generation > observed) else None
    if phase == "Failed":
        due, attempt = _retry_due(status, now)
        return "delete retry %d" % attempt if due else None
    if phase == "Deleting":
        age = _since_transition(status, metadata, now, "Progressing")
        return "delete run stale (Deleting since %d s)" % age \
            if age is not None and age > STALE_SECONDS else None
    age = _age(now, metadata.get("deletionTimestamp"))
    return "deletion requested %d s ago, no delete run seen" % age \
        if age is not None and age > GRACE_SECONDS else None


def _run_work(metadata, status, now):
    """The cause for running the update workflow because of the run state alone, or None;
    ``""`` for a Ready Database whose promise the full cycle checks."""
    phase = status.get("phase") if isinstance(status.get("phase"), str) else None
    generation, observed = _int(metadata.get("generation")), _int(status.get("observedGeneration"))
    age = _since_transition(status, metadata, now)
    settled = age is None or age > GRACE_SECONDS
    if not phase or phase == "Pending":
        return "never provisioned" if settled else None
    if phase in IN_PROGRESS:
        age = _since_transition(status, metadata, now, "Progressing")
        return "%s run stale (since %d s)" % (phase, age) \
            if age is not None and age > STALE_SECONDS else None
    unseen = generation is not None and (observed is None or generation > observed)
    if phase == "Failed":
        if _condition(status, "Ready").get("reason") == "Terminal":
            return "spec generation %d not run yet" % generation if unseen and settled else None
        due, attempt = _retry_due(status, now)
        return "retry %d" % attempt if due else None
    if phase == "Ready" and unseen and settled:
        return "spec generation %d not run yet" % generation
    return "" if phase == "Ready" else None


def consul_config_problem(value, instance):
    """Why Consul's config (parsed JSON, or None when the key is gone) does not describe the
    instance, or None."""
    if value is None:
        return "Consul key missing"
    endpoint = instance.get("Endpoint") or {}
    if not isinstance(value, dict) or value.get("host") != endpoint.get("Address") \
            or value.get("port") != endpoint.get("Port"):
        return "Consul config stale (endpoint moved)"
    for key, field, what in TLS_FACTS:
        if field in instance and value.get(key) != instance.get(field):
            return "Consul config stale (%s changed)" % what
    return None


def _rotation_drift(spec, instance, observed):
    """[("passwordRotationDays", wanted, actual)] when the RDS-managed secret's rotation
    schedule (``observed["secret_rotation"]``: secret ARN -> AutomaticallyAfterDays, from the
    list of secrets) is not the spec's; [] when the spec sets none or the secret was not
    listed."""
    days = spec.get("passwordRotationDays")
    arn = (instance.get("MasterUserSecret") or {}).get("SecretArn")
    rotation = observed.get("secret_rotation") or {}
    if not isinstance(days, int) or isinstance(days, bool) or arn not in rotation \
            or rotation[arn] == days:
        return []
    return [("passwordRotationDays", days, rotation[arn])]


def _parameter_drift(spec, instance, observed):
    """[("parameters.<name>", wanted, actual)] where the pack's parameter group (as
    ``observed["parameters"]``: group name -> {name: value set}) differs from spec.parameters
    (a parameter set out of band that the spec lacks: wanted None); [] when the spec sets none
    or the group was not read."""
    group = spec_group(instance.get("DBInstanceIdentifier"), spec)[0]
    actual = (observed.get("parameters") or {}).get(group)
    if group is None or actual is None:
        return []
    wanted = wanted_parameters(spec) or {}
    return [("parameters.%s" % name, wanted.get(name), actual.get(name))
            for name in sorted(set(wanted) | set(actual))
            if wanted.get(name) != actual.get(name)][:5]


def _reboot_due(spec, instance, now):
    """The cause when the pack's parameter group waits for a reboot on the instance
    (pending-reboot: a run died before its reboot, or one failed) and spec.applyChanges lets
    the pack make it now (NextMaintenanceWindow: inside the instance's maintenance window),
    else None."""
    seen = reboot_plan(instance.get("DBInstanceIdentifier"), spec, instance, None, now)
    if not (seen["reboot_pending"] and seen["reboot_allowed"]):
        return None
    if spec.get("applyChanges") == "NextMaintenanceWindow":
        return "parameters pending-reboot (maintenance window %s open)" \
            % seen["maintenance_window"]
    return "parameters pending-reboot"


def _promise_work(obj, observed, default_region, instance_classes, now=None):
    """The cause for running the update workflow of a Ready Database on a full cycle, or None.
    ``observed``: instances (region -> identifier -> DBInstances[] item), secret_versions
    (secret ARN -> AWSCURRENT VersionId), secret_rotation (secret ARN -> the rotation schedule's
    AutomaticallyAfterDays), vault ((namespace, name) -> {"exists",
    "source_version"}), consul ((namespace, name) -> parsed value or None)."""
    metadata, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    key = (metadata["namespace"], metadata["name"])
    region = spec.get("region") or default_region
    instances = (observed.get("instances") or {}).get(region)
    if instances is None:
        return None  # that region could not be listed: nothing is known
    identifier = status.get("dbInstanceIdentifier") or db_instance_identifier(*key)
    instance = instances.get(identifier)
    if instance is None:
        return "instance missing"
    if adoption(instance, metadata.get("uid")) != "adopt":
        return None  # another owner's: the drift report names it, no run can fix it
    drift = [(field, want, have) for field, want, have, repairable
             in spec_differences(spec, instance, instance_classes) if repairable]
    drift += _rotation_drift(spec, instance, observed)
    drift += _parameter_drift(spec, instance, observed)
    if drift:
        return "drift: " + ", ".join("%s %s -> %s" % (field, have, want)
                                     for field, want, have in drift)
    if (instance.get("DBInstanceStatus") or "available") != "available":
        return None  # RDS is busy with it (a modification, a backup): look next cycle
    reboot = _reboot_due(spec, instance, now)
    if reboot:
        return reboot
    endpoint = instance.get("Endpoint") or {}
    if endpoint.get("Address") != status.get("endpoint") or \
            endpoint.get("Port") != status.get("port"):
        return "endpoint moved"
    vault = (observed.get("vault") or {}).get(key)
    if vault is not None and not vault.get("exists"):
        return "Vault secret missing"
    arn = (instance.get("MasterUserSecret") or {}).get("SecretArn")
    current = (observed.get("secret_versions") or {}).get(arn) if arn else None
    if vault is not None and current and vault.get("source_version") != current:
        return "credentials rotated"
    if key in (observed.get("consul") or {}):
        return consul_config_problem(observed["consul"][key], instance)
    return None


def select(objects, now, observed=None, default_region="us-east-1", instance_classes=None):
    """[{"namespace", "name", "workflow": "update" | "delete", "cause", "object"}] for the
    Databases (objects as the API returns them) that need a run at ``now`` (aware datetime).

    Two looks that never pick the same Database, so the two timer rules never start two runs of
    one: without ``observed`` (rule database_retry, every minute) the run state only (retries
    due, runs never started or dead, deletions); with ``observed`` (rule database_resync, the
    full cycle) the promise of the settled Ready Databases only.
    """
    work = []
    for obj in sorted(objects, key=lambda o: (o["metadata"]["namespace"],
                                              o["metadata"]["name"])):
        metadata = obj["metadata"]
        status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
        if metadata.get("deletionTimestamp"):
            workflow, cause = "delete", None if observed is not None \
                else _deletion_work(metadata, status, now)
        else:
            workflow, cause = "update", _run_work(metadata, status, now)
            if observed is None:
                cause = cause or None
            elif cause == "":
                cause = _promise_work(obj, observed, default_region, instance_classes, now)
            else:
                cause = None  # the retry tick's
        if cause:
            work.append({"namespace": metadata["namespace"], "name": metadata["name"],
                         "workflow": workflow, "cause": cause, "object": obj})
    return work
