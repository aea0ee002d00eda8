"""Local chain driver: run the pack's workflows without StackStorm.

StackStorm runs ``actions/workflows/*.yaml`` with Orquesta. Where StackStorm is not reachable
(tests, CI, a demo on a fresh machine) ``run_workflow`` runs the same tasks in the same order by
calling the pack's own action classes directly::

    from lib.chain import run_workflow

    run = run_workflow("database_create", resource, config)
    run["status"]   # "succeeded" or "failed"
    run["output"]   # the workflow's output keys
    run["steps"]    # one record per action execution, secrets masked as st2 masks them
    run["logs"]     # what the actions logged

Each workflow is written out below as plain Python, task by task, mirroring its YAML file: the
conditions and messages of the YAML's transitions are written here by hand. Nothing evaluates
YAQL or Jinja, and this is not a workflow engine. tests/test_workflows_static.py checks that the
paths the driver takes are paths of the YAML's task graph, with the same actions.

A step record::

    {"workflow": "database_create", "task": "plan", "action": "aws.database_plan",
     "attempt": 1, "input": ["resource"], "parameters": {...}, "status": "succeeded",
     "result": {"exit_code": 0, "result": {...}, "stderr": "", "stdout": ""}}

``parameters`` holds every parameter the action ran with (defaults filled in as st2 does) and
``result`` the python runner's result; parameters marked ``secret: true`` and result keys marked
secret in the action's ``output_schema`` read ``********``. A sub-workflow's record has
``result: {"output": ...}`` and its own ``steps``.
"""

import copy
import importlib.util
import inspect
import json
import logging
import os
import sys
import threading
import time
import traceback

import yaml

from lib.st2_schema import check_output

__all__ = [
    "CAS_RETRY_COUNT",
    "CAS_RETRY_DELAY",
    "MASK",
    "POLL_COUNT",
    "POLL_DELAY",
    "WORKFLOWS",
    "action_metadata",
    "run_workflow",
]

ACTIONS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACK = "aws"
MASK = "********"  # what st2 shows for secret parameters and results
# The readiness and deletion polls: the workflows' ``retry: count`` and ``delay``.
POLL_COUNT = 90
POLL_DELAY = 20
# store_credentials lost Vault's check-and-set to a concurrent run: ``retry`` count and delay.
CAS_RETRY_COUNT = 3
CAS_RETRY_DELAY = 1
WORKFLOWS = ("database_create", "database_update", "database_delete", "reconcile_databases",
             "database_resync", "database_resync_run", "cluster_migrate")
# Actions of StackStorm's core pack a workflow may use; the driver runs them itself.
CORE_NOOP = "core.noop"
# Status values the RDS poll waits for; anything else is retried (as the YAML's retry.when).
AVAILABLE = "available"
# boto3action failures that mean "already being deleted / already gone".
DELETE_IN_PROGRESS_CODES = ("InvalidDBInstanceState", "DBInstanceNotFound")
#: In RDS's answer to a delete while deletion protection is on (InvalidParameterCombination).
DELETION_PROTECTED = "deletion protection"

# Parameters of st2's python runner itself: an action's metadata may override their defaults,
# but st2 does not pass them to run().
PYTHON_RUNNER_PARAMETERS = ("timeout", "env", "log_level", "debug", "content_version")

_LOCK = threading.Lock()
_METADATA = {}
_CLASSES = {}


def action_metadata(name):
    """The parsed ``actions/<name>.yaml`` of a pack action (cached)."""
    with _LOCK:
        if name not in _METADATA:
            path = os.path.join(ACTIONS_DIR, name + ".yaml")
            with open(path, encoding="utf-8") as handle:
                _METADATA[name] = yaml.safe_load(handle)
        return _METADATA[name]


def _action_class(name):
    """The Action subclass in the action's entry point, loaded as st2's python runner does."""
    with _LOCK:
        if name not in _CLASSES:
            # pylint: disable-next=import-outside-toplevel
            from st2common.runners.base_action import Action

            meta = _METADATA[name]
            path = os.path.join(ACTIONS_DIR, meta["entry_point"])
            module_name = "_aws_pack_action_%s" % name
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            found = [
                obj for obj in vars(module).values()
                if inspect.isclass(obj) and issubclass(obj, Action)
                and obj.__module__ == module_name and not inspect.isabstract(obj)
            ]
            if len(found) != 1:
                raise RuntimeError("%s: expected one Action class, found %d" % (path, len(found)))
            _CLASSES[name] = found[0]
        return _CLASSES[name]


def _parameters(name, meta, given):
    """The parameters action ``name`` runs with: ``given``, defaults filled in as st2 does."""
    params = {}
    spec = meta.get("parameters") or {}
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise ValueError("aws.%s has no parameter(s) %s" % (name, ", ".join(unknown)))
    for key, item in spec.items():
        if key in given:
            params[key] = given[key]
        elif "default" in (item or {}):
            params[key] = copy.deepcopy(item["default"])
        elif (item or {}).get("required"):
            raise ValueError("aws.%s: required parameter %s not given" % (name, key))
    return params


def _secret_params(meta):
    return {k for k, v in (meta.get("parameters") or {}).items() if (v or {}).get("secret")}


def _secret_outputs(meta):
    props = (meta.get("output_schema") or {}).get("properties") or {}
    return {k for k, v in props.items() if (v or {}).get("secret")}


def _jsonable(value):
    """What st2 stores: JSON (non-JSON values become strings)."""
    return json.loads(json.dumps(value, default=str))


def _error_text(raw):
    """The last line of a failed python action's stderr (its exception), or its ``error``."""
    if not isinstance(raw, dict):
        return str(raw)
    if raw.get("error"):
        return str(raw["error"])
    lines = (raw.get("stderr") or "").strip().splitlines()
    return lines[-1] if lines else "no error output"


class _Step:
    """The outcome of one task: ``ok`` (succeeded), ``value`` (the action's result), ``raw``."""

    def __init__(self, ok, raw):
        self.ok = ok
        self.raw = raw
        self.value = raw.get("result") if isinstance(raw, dict) else None
        if "output" in (raw or {}):
            self.value = raw["output"]

    @property
    def error(self):
        return _error_text(self.raw)

    def failed_with(self, *codes):
        stderr = (self.raw or {}).get("stderr") or ""
        return not self.ok and any(code in stderr for code in codes)


class _LogCapture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        try:
            self.lines.append("%s %s %s" % (record.levelname, record.name, record.getMessage()))
        except Exception:  # pylint: disable=broad-except
            self.lines.append("%s %s %r" % (record.levelname, record.name, record.msg))


class _Run:
    def __init__(self, workflow, config, on_step, poll_count, poll_delay, call_hook, sleep,
                 capture):
        self.workflow = workflow
        self.config = config or {}
        self.on_step = on_step
        self.poll_count = poll_count
        self.poll_delay = poll_delay
        self.call_hook = call_hook
        self.sleep = sleep
        self.capture = capture
        self.steps = []
        self._loggers = {}  # logger name -> actions running with the capture handler on it
        self._loggers_lock = threading.Lock()

    # -- running one action -------------------------------------------------------------------
    def _run_python(self, name, params):
        action = _action_class(name)(config=copy.deepcopy(self.config), action_service=None)
        logger = action.logger
        with self._loggers_lock:  # items of a with-items task run at once: the last one out
            self._loggers[logger.name] = self._loggers.get(logger.name, 0) + 1
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self.capture)
        kwargs = {k: v for k, v in params.items() if k not in PYTHON_RUNNER_PARAMETERS}
        try:
            value = action.run(**kwargs)
        except Exception:  # pylint: disable=broad-except
            # The python runner's result for an action that raised (stderr: the traceback).
            return False, {"exit_code": 1, "result": "None", "stderr": traceback.format_exc(),
                           "stdout": ""}
        finally:
            with self._loggers_lock:  # removes the handler
                self._loggers[logger.name] -= 1
                if not self._loggers[logger.name]:
                    logger.removeHandler(self.capture)
        ok = True
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], bool):
            ok, value = value
        return ok, {"exit_code": 0, "result": _jsonable(value), "stderr": "", "stdout": ""}

    def step(self, task, ref, attempt=1, item=None, **given):
        """Run task ``task`` (action ``ref``) with parameters ``given``; record it. ``item``:
        the index of the item of a with-items task."""
        record = {
            "workflow": self.workflow,
            "task": task,
            "action": ref,
            "attempt": attempt,
            "input": sorted(given),
        }
        if item is not None:
            record["item"] = item
        if ref == CORE_NOOP:
            record.update(parameters={}, status="succeeded", result={})
            self.steps.append(record)
            if self.on_step:
                self.on_step(record)
            return _Step(True, {})
        name = ref.split(".", 1)[1]
        meta = action_metadata(name)
        params = _parameters(name, meta, given)
        if meta.get("runner_type") == "orquesta":
            child = _execute(name, params, self.config, self.on_step, self.poll_count,
                             self.poll_delay, self.call_hook, self.sleep, self.capture)
            ok = child["status"] == "succeeded"
            raw = {"output": child["output"]}
            record["steps"] = child["steps"]
        else:
            def call():
                return self._run_python(name, params)

            if self.call_hook:
                ok, raw = self.call_hook(task, ref, copy.deepcopy(params), call)
            else:
                ok, raw = call()
            if ok:
                ok, raw = check_output(meta, raw, "result")
        secret_in = _secret_params(meta)
        record["parameters"] = {
            k: (MASK if k in secret_in else copy.deepcopy(v)) for k, v in params.items()
        }
        record["status"] = "succeeded" if ok else "failed"
        shown = copy.deepcopy(raw)
        if isinstance(shown.get("result"), dict):
            for key in _secret_outputs(meta) & set(shown["result"]):
                shown["result"][key] = MASK
        record["result"] = shown
        self.steps.append(record)
        if self.on_step:
            self.on_step(record)
        return _Step(ok, raw)

    def with_items(self, count, concurrency, run_item):
        """A with-items task's items 0..count-1: ``run_item(index)`` (a ``step``), at most
        ``concurrency`` at a time, each in a thread of its own, as Orquesta runs them. Once an
        item has failed no further one starts; those running finish. Returns the steps of the
        items started, in item order; their records in ``steps`` are in item order too."""
        from concurrent.futures import (  # pylint: disable=import-outside-toplevel
            FIRST_COMPLETED, ThreadPoolExecutor, wait)

        concurrency = max(1, int(concurrency or 1))
        first = len(self.steps)
        results, running, index = {}, {}, 0
        with ThreadPoolExecutor(max_workers=min(concurrency, max(count, 1))) as pool:
            while index < count or running:
                failed = any(not step.ok for step in results.values())
                while index < count and len(running) < concurrency and not failed:
                    running[pool.submit(run_item, index)] = index
                    index += 1
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    results[running.pop(future)] = future.result()
        self.steps[first:] = sorted(self.steps[first:], key=lambda s: s.get("item", -1))
        return [results[i] for i in sorted(results)]

    def poll(self, task, ref, again, count=None, delay=None, **given):
        """A task with ``retry``: run it, and again while ``again(step)`` holds, at most
        ``count`` (default poll_count) more times, ``delay`` (poll_delay) seconds apart."""
        count = self.poll_count if count is None else count
        delay = self.poll_delay if delay is None else delay
        result = self.step(task, ref, attempt=1, **given)
        for attempt in range(2, count + 2):
            if not again(result):
                break
            self.sleep(delay)
            result = self.step(task, ref, attempt=attempt, **given)
        return result


def _status_step(run, task, resource, phase, message, **extra):
    return run.step(task, "aws.database_set_status", namespace=resource.get("namespace"),
                    name=resource.get("name"), phase=phase, message=message, **extra)


def _first_instance(step):
    instances = (step.value or {}).get("DBInstances") or []
    return instances[0] if instances else None


def _instance_status(step):
    return (_first_instance(step) or {}).get("DBInstanceStatus")


def _settling(step):
    """wait_available's retry: not available yet, or a parameter group still "applying"."""
    groups = (_first_instance(step) or {}).get("DBParameterGroups") or []
    return _instance_status(step) != AVAILABLE \
        or "applying" in [g.get("ParameterApplyStatus") for g in groups]


def _set_rotation(run, plan, instance, aws):
    """Tasks check_rotation and set_rotation: spec.passwordRotationDays as the rotation schedule
    of the RDS-managed master secret, set only when it differs. The failure, or None."""
    days = plan.get("rotation_days")
    if days is None:
        return None
    arn = (instance.get("MasterUserSecret") or {}).get("SecretArn")
    step = run.step("check_rotation", "aws.boto3action", service="secretsmanager",
                    action_name="describe_secret", params={"SecretId": arn}, **aws)
    if not step.ok:
        return "reading the rotation schedule of the RDS-managed secret failed: " + step.error
    if ((step.value or {}).get("RotationRules") or {}).get("AutomaticallyAfterDays") == days:
        return None
    step = run.step("set_rotation", "aws.boto3action", service="secretsmanager",
                    action_name="rotate_secret",
                    params={"SecretId": arn, "RotationRules": {"AutomaticallyAfterDays": days},
                            "RotateImmediately": False}, **aws)
    if not step.ok:
        return ("setting the rotation schedule of the RDS-managed secret "
                "(spec.passwordRotationDays) failed: " + step.error)
    return None


def _ensure_parameter_group(run, plan, aws, new_instance=False):
    """Task ensure_parameter_group (spec.parameters): (status warnings, what a reboot now
    applies or "", failure or None). The create workflow's (``new_instance``) passes no
    reboot inputs; the update workflow's passes the plan's."""
    extra = {"new_instance": True} if new_instance else {
        "reboot_pending": plan["reboot_pending"], "reboot_allowed": plan["reboot_allowed"],
        "maintenance_window": plan["maintenance_window"]}
    step = run.step("ensure_parameter_group", "aws.database_parameter_group", operation="ensure",
                    db_instance_identifier=plan["db_instance_identifier"], uid=plan["uid"],
                    group_name=plan["parameter_group"], family=plan["parameter_family"],
                    engine=plan["engine"], parameters=plan["parameters"],
                    apply_changes=plan["apply_changes"], tags=plan["create_params"]["Tags"],
                    **extra, **aws)
    if not step.ok:
        return [], "", "preparing the DB parameter group (spec.parameters) failed: " + step.error
    return step.value["warnings"], step.value["reboot_for"], None


def _consul_config(instance, endpoint, port, identifier, plan):
    return {
        "host": endpoint,
        "port": port,
        "engine": instance["Engine"],
        "dbname": instance.get("DBName"),
        "db_instance_identifier": identifier,
        "vault_path": plan["vault_path"],
        "region": plan["region"],
        "ca_certificate_identifier": instance.get("CACertificateIdentifier"),
        "iam_authentication": instance.get("IAMDatabaseAuthenticationEnabled"),
    }


def _report(run, task, resource, ctx, message, status_message, **extra):
    """report_failure / report_invalid: status Failed, then the run fails; when the status
    cannot be written either, the run's error says so."""
    ctx["error"] = message
    step = _status_step(run, task, resource, "Failed", status_message,
                        observed_generation=resource.get("generation"), **extra)
    if not step.ok:
        ctx["error"] = message + "; setting status Failed failed too: " + step.error
    ctx["phase"] = "Failed"
    return "failed", ctx


def _report_failure(run, resource, ctx, message):
    """The workflows' report_failure task: status Failed with ``message``, reason Recoverable
    (the resync runs it again after a backoff), then the run fails."""
    return _report(run, "report_failure", resource, ctx, message, message, outcome="recoverable")


def _report_terminal(run, resource, ctx, message, **extra):
    """The workflows' report_terminal task: status Failed, reason Terminal (no retry)."""
    return _report(run, "report_terminal", resource, ctx, message, message, outcome="terminal",
                   **extra)


def _plan(run, resource, ctx, check_valid=True):
    """The workflows' plan task, report_failure when it fails and report_invalid for a spec
    the pack refuses.

    Returns the plan, or None when the run ends here (``ctx`` then says why).
    """
    step = run.step("plan", "aws.database_plan", resource=resource)
    if not step.ok:
        _report_failure(run, resource, ctx, "planning failed: " + step.error)
        return None
    plan = step.value
    ctx["db_instance_identifier"] = plan["db_instance_identifier"]
    if check_valid and not plan["valid"]:
        error = "invalid spec: " + plan["message"]
        _report(run, "report_invalid", resource, ctx, error,
                error + " (fix the spec and apply it again)", outcome="terminal",
                warnings=plan["warnings"])
        return None
    return plan


def _check_locations(run, resource, ctx, plan):
    """The check_locations task (reads only); False when the run ends here, reported."""
    step = run.step("check_locations", "aws.database_check_locations",
                    vault_path=plan["vault_path"], consul_key=plan["consul_key"], uid=plan["uid"])
    if not step.ok:
        _report_failure(run, resource, ctx, "checking the Vault and Consul locations failed "
                        "(nothing was changed): " + step.error)
        return False
    if step.value["problems"]:
        error = "invalid spec: " + "; ".join(step.value["problems"])
        _report(run, "report_invalid", resource, ctx, error,
                error + " (fix the spec and apply it again)", outcome="terminal",
                warnings=plan["warnings"])
        return False
    return True


def _by_id_filter(ident):
    return {"Filters": [{"Name": "db-instance-id", "Values": [ident]}]}


def _assume_role_and_find(run, plan):
    """The assume_role and find_instance tasks (once per run, then a describe by filter, so that
    no instance is an empty list). Returns (AWS call arguments, find step) or (None, error)."""
    step = run.step("assume_role", "aws.assume_role", region=plan["region"])
    if not step.ok:
        return None, ("assuming the AWS role failed (check the pack config role_arn): "
                      + step.error)
    aws = {"region": plan["region"], "credentials": step.value["credentials"]}
    step = run.step("find_instance", "aws.boto3action", service="rds",
                    action_name="describe_db_instances",
                    params=_by_id_filter(plan["db_instance_identifier"]), **aws)
    if not step.ok:
        return None, "looking up the RDS instance failed: " + step.error
    return aws, step


# -- actions/workflows/database_create.yaml ------------------------------------------------------
def _database_create(run, resource):  # pylint: disable=too-many-return-statements
    ctx = dict.fromkeys(("phase", "db_instance_identifier", "adoption", "endpoint", "port",
                         "vault_path", "consul_key", "error"))

    def failed(message=None):
        if message is None:
            return "failed", ctx
        return _report_failure(run, resource, ctx, message)

    plan = _plan(run, resource, ctx)
    if plan is None or not _check_locations(run, resource, ctx, plan):
        return "failed", ctx
    ident = plan["db_instance_identifier"]
    ctx["vault_path"], ctx["consul_key"] = plan["vault_path"], plan["consul_key"]

    step = run.step("add_finalizer", "aws.database_finalizer", namespace=resource["namespace"],
                    name=resource["name"], operation="add", uid=plan["uid"])
    if not step.ok:
        return failed("adding the finalizer failed: " + step.error)
    step = _status_step(run, "set_provisioning", resource, "Provisioning",
                        "provisioning RDS instance %s" % ident,
                        fields={"dbInstanceIdentifier": ident}, warnings=plan["warnings"])
    if not step.ok:
        return failed("setting status Provisioning failed: " + step.error)
    aws, step = _assume_role_and_find(run, plan)
    if aws is None:
        return failed(step)
    instance = _first_instance(step)
    parameter_warnings = []
    if instance is None and plan["parameter_group"] is not None:
        parameter_warnings, _, problem = _ensure_parameter_group(run, plan, aws, new_instance=True)
        if problem:
            return failed(problem)
    if instance is None:
        step = run.step("create_instance", "aws.boto3action", service="rds",
                        action_name=plan["create_method"], params=plan["create_params"], **aws)
        if step.ok:
            ctx["adoption"] = "created"
        else:
            # Lost a race with a concurrent run of the same trigger (DBInstanceAlreadyExists),
            # or the answer was lost: look again, and adopt the instance if it is there.
            create_error = "creating the RDS instance failed: " + step.error
            step = run.step("find_instance_again", "aws.boto3action", service="rds",
                            action_name="describe_db_instances", params=_by_id_filter(ident), **aws)
            if not step.ok:
                return failed("looking up the RDS instance failed: " + step.error)
            instance = _first_instance(step)
            if instance is None:
                return failed(create_error)
    if instance is not None:
        step = run.step("check_owner", "aws.database_plan", resource=resource,
                        current_instance=instance)
        if not step.ok:
            return failed("checking the existing instance failed: " + step.error)
        if step.value["adoption"] != "adopt":
            return _report_terminal(run, resource, ctx, step.value["message"]
                                    + ": rename the Database or remove that instance")
        ctx["adoption"] = "adopted"

    step = run.poll("wait_available", "aws.boto3action",
                    lambda s: s.ok and _instance_status(s) != AVAILABLE,
                    service="rds", action_name="describe_db_instances",
                    params={"DBInstanceIdentifier": ident}, **aws)
    if not step.ok:
        return failed("waiting for the RDS instance failed: " + step.error)
    if _instance_status(step) != AVAILABLE:
        return failed('RDS instance %s is still "%s" after 30 minutes; check it in the RDS '
                      "console, then apply the resource again" % (ident, _instance_status(step)))
    instance = _first_instance(step)
    ctx["endpoint"] = instance["Endpoint"]["Address"]
    ctx["port"] = instance["Endpoint"]["Port"]

    problem = _set_rotation(run, plan, instance, aws)
    if problem:
        return failed(problem)
    step = run.poll("store_credentials", "aws.database_store_credentials",
                    lambda s: s.failed_with("check-and-set"),
                    count=CAS_RETRY_COUNT, delay=CAS_RETRY_DELAY,
                    db_instance_identifier=ident, vault_path=plan["vault_path"], uid=plan["uid"],
                    **aws)
    if not step.ok:
        return failed("storing the credentials in Vault failed (the instance is kept and is "
                      "adopted on the next run): " + step.error)
    step = run.step("publish_config", "aws.database_publish_config",
                    consul_key=plan["consul_key"], uid=plan["uid"],
                    config=_consul_config(instance, ctx["endpoint"], ctx["port"], ident, plan))
    if not step.ok:
        return failed("publishing the config to Consul failed (the instance is kept and is "
                      "adopted on the next run): " + step.error)
    step = _status_step(run, "set_ready", resource, "Ready",
                        "RDS instance %s is available (%s)" % (ident, ctx["adoption"]),
                        observed_generation=plan["generation"],
                        fields=_ready_fields(ident, ctx["endpoint"], ctx["port"], plan),
                        warnings=plan["warnings"] + parameter_warnings)
    if not step.ok:
        ctx["error"] = "setting status Ready failed: " + step.error
        return "failed", ctx
    ctx["phase"] = "Ready"
    return "succeeded", ctx


def _ready_fields(ident, endpoint, port, plan):
    return {"dbInstanceIdentifier": ident, "endpoint": endpoint, "port": port,
            "vaultPath": plan["vault_path"], "consulKey": plan["consul_key"]}


# -- actions/workflows/database_update.yaml ------------------------------------------------------
def _reboot(run, resource, plan, reboot_for, aws):
    """Tasks set_rebooting, reboot_instance, wait_rebooted (spec.parameters): (the instance
    available again, None) or (None, the failure)."""
    ident = plan["db_instance_identifier"]
    message = "rebooting RDS instance %s to apply spec.parameters: %s" % (ident, reboot_for)
    step = _status_step(run, "set_rebooting", resource, "Updating", message,
                        warnings=plan["warnings"], event_reason="Rebooting",
                        event_message=message)
    if not step.ok:
        return None, "setting status Updating failed: " + step.error
    step = run.step("reboot_instance", "aws.boto3action", service="rds",
                    action_name="reboot_db_instance", params={"DBInstanceIdentifier": ident},
                    **aws)
    if not step.ok:
        return None, "rebooting the RDS instance to apply spec.parameters failed: " + step.error
    step = run.poll("wait_rebooted", "aws.boto3action",
                    lambda s: s.ok and _instance_status(s) != AVAILABLE,
                    service="rds", action_name="describe_db_instances",
                    params={"DBInstanceIdentifier": ident}, **aws)
    if not step.ok:
        return None, "waiting for the rebooted RDS instance failed: " + step.error
    if _instance_status(step) != AVAILABLE:
        return None, ('RDS instance %s is still "%s" 30 minutes after its reboot; check it in '
                      "the RDS console, then apply the resource again"
                      % (ident, _instance_status(step)))
    return _first_instance(step), None


def _database_update(run, resource, cause=""):  # pylint: disable=too-many-return-statements
    ctx = {"phase": None, "db_instance_identifier": None, "modified": {}, "error": None}

    def failed(message=None):
        if message is None:
            return "failed", ctx
        return _report_failure(run, resource, ctx, message)

    plan = _plan(run, resource, ctx)
    if plan is None or not _check_locations(run, resource, ctx, plan):
        return "failed", ctx
    ident = plan["db_instance_identifier"]
    aws, step = _assume_role_and_find(run, plan)
    if aws is None:
        return failed(step)
    instance = _first_instance(step)
    if instance is None and plan["provisioned"] and plan["on_instance_missing"] != "Recreate":
        return _report_terminal(
            run, resource, ctx, "RDS instance %s no longer exists (deleted outside the pack?) "
            "and is not recreated (spec.onInstanceMissing: Report); Vault and Consul still "
            "describe it. Set spec.onInstanceMissing to Recreate to provision a new, EMPTY "
            "instance, or delete the Database" % ident, event_reason="InstanceMissing")
    if instance is None and plan["provisioned"]:
        step = _status_step(
            run, "announce_recreate", resource, "Provisioning",
            "RDS instance %s no longer exists (deleted outside the pack?); recreating it EMPTY "
            "(spec.onInstanceMissing: Recreate): restore the data from a snapshot if there is "
            "one" % ident, event_reason="InstanceMissing",
            event_message="RDS instance %s is gone; a new, EMPTY instance is provisioned "
            "(spec.onInstanceMissing: Recreate)" % ident)
        if not step.ok:
            return failed("setting status Provisioning failed: " + step.error)
    if instance is None:
        # No instance yet: the create workflow provisions it and reports its own status.
        step = run.step("provision", "aws.database_create", resource=resource)
        if not step.ok:
            ctx["phase"] = "Failed"
            ctx["error"] = "provisioning failed (see status.message)"
            return "failed", ctx
        ctx["phase"] = step.value["phase"]
        return "succeeded", ctx
    endpoint = (instance.get("Endpoint") or {}).get("Address")
    port = (instance.get("Endpoint") or {}).get("Port")

    step = run.step("plan_changes", "aws.database_plan", resource=resource,
                    current_instance=instance)
    if not step.ok:
        return failed("comparing the spec with the instance failed: " + step.error)
    if step.value["adoption"] != "adopt":
        return _report_terminal(run, resource, ctx, step.value["message"])
    if not step.value["valid"]:
        return _report_terminal(run, resource, ctx, "the spec change cannot be applied: %s (fix "
                                "the spec and apply it again)" % "; ".join(step.value["errors"]))
    plan = step.value  # made against the instance: it knows what cannot be applied (held)
    modify = step.value["modify_params"]
    parameter_warnings, reboot_for = [], ""
    if plan["parameter_group"] is not None:
        parameter_warnings, reboot_for, problem = _ensure_parameter_group(run, plan, aws)
        if problem:
            return failed(problem)
    if modify:
        ctx["modified"] = modify
        changed = [k for k in modify if k not in ("DBInstanceIdentifier", "ApplyImmediately")]
        step = _status_step(run, "set_updating", resource, "Updating",
                            "modifying RDS instance %s: %s" % (ident, ", ".join(changed)),
                            warnings=plan["warnings"])
        if not step.ok:
            return failed("setting status Updating failed: " + step.error)
        step = run.step("modify_instance", "aws.boto3action", service="rds",
                        action_name="modify_db_instance", params=modify, **aws)
        if not step.ok:
            return failed("modifying the RDS instance failed: " + step.error)
    if modify or reboot_for:
        step = run.poll("wait_available", "aws.boto3action",
                        lambda s: s.ok and _settling(s),
                        service="rds", action_name="describe_db_instances",
                        params={"DBInstanceIdentifier": ident}, **aws)
        if not step.ok:
            return failed("waiting for the RDS instance failed: " + step.error)
        if _instance_status(step) != AVAILABLE:
            return failed('RDS instance %s is still "%s" after 30 minutes; check it in the RDS '
                          "console, then apply the resource again"
                          % (ident, _instance_status(step)))
        instance = _first_instance(step)
        endpoint, port = instance["Endpoint"]["Address"], instance["Endpoint"]["Port"]
    if reboot_for:
        instance, problem = _reboot(run, resource, plan, reboot_for, aws)
        if problem:
            return failed(problem)
        endpoint, port = instance["Endpoint"]["Address"], instance["Endpoint"]["Port"]
    problem = _set_rotation(run, plan, instance, aws)
    if problem:
        return failed(problem)
    step = run.poll("store_credentials", "aws.database_store_credentials",
                    lambda s: s.failed_with("check-and-set"),
                    count=CAS_RETRY_COUNT, delay=CAS_RETRY_DELAY,
                    db_instance_identifier=ident, vault_path=plan["vault_path"], uid=plan["uid"],
                    **aws)
    if not step.ok:
        return failed("storing the credentials in Vault failed: " + step.error)
    stored = step.value
    step = run.step("publish_config", "aws.database_publish_config",
                    consul_key=plan["consul_key"], uid=plan["uid"],
                    config=_consul_config(instance, endpoint, port, ident, plan))
    if not step.ok:
        return failed("publishing the config to Consul failed: " + step.error)
    step = _status_step(run, "set_ready", resource, "Ready",
                        "RDS instance %s is available and matches generation %s%s"
                        % (ident, plan["generation"], plan["held_message"]),
                        observed_generation=plan["generation"],
                        fields=_ready_fields(ident, endpoint, port, plan),
                        warnings=plan["warnings"] + parameter_warnings,
                        event_reason="Resynced" if cause else "",
                        event_message="%s; Vault: %s" % (cause, stored.get("reason", "unchanged")))
    if not step.ok:
        ctx["error"] = "setting status Ready failed: " + step.error
        return "failed", ctx
    ctx["phase"] = "Ready"
    return "succeeded", ctx


# -- actions/workflows/database_delete.yaml ------------------------------------------------------
def _database_delete(run, resource, cause=""):  # pylint: disable=too-many-return-statements
    ctx = {"phase": None, "db_instance_identifier": None, "instance": "absent",
           "final_snapshot_identifier": None, "cleanup": None, "error": None}

    def failed(message):
        return _report_failure(run, resource, ctx, message)

    plan = _plan(run, resource, ctx, check_valid=False)
    if plan is None:
        return "failed", ctx
    ident = plan["db_instance_identifier"]
    policy = plan["deletion_policy"]
    step = _status_step(run, "set_deleting", resource, "Deleting",
                        "deleting (deletionPolicy %s)" % policy)
    if not step.ok:
        return failed("setting status Deleting failed: " + step.error)
    aws, step = _assume_role_and_find(run, plan)
    if aws is None:
        return failed(step)
    instance = _first_instance(step)
    if instance is not None:
        step = run.step("check_owner", "aws.database_plan", resource=resource,
                        current_instance=instance)
        if not step.ok:
            return failed("checking the instance owner failed: " + step.error)
        if step.value["adoption"] != "adopt":
            ctx["instance"] = "not-owned"  # another uid or no uid tag: never delete it
        elif policy == "Retain":
            ctx["instance"] = "retained"
        elif policy in ("Snapshot", "Delete"):
            if instance.get("DeletionProtection") is True \
                    and plan.get("deletion_protection") is False:
                # The spec says false (set after RDS refused an earlier delete): never by itself.
                step = run.step("unprotect", "aws.boto3action", service="rds",
                                action_name="modify_db_instance",
                                params={"DBInstanceIdentifier": ident,
                                        "DeletionProtection": False, "ApplyImmediately": True},
                                **aws)
                if not step.ok:
                    return failed("turning deletion protection off (spec.deletionProtection: "
                                  "false) failed: " + step.error)
            if policy == "Snapshot":
                ctx["final_snapshot_identifier"] = plan["final_snapshot_identifier"]
                task, outcome, what = "delete_with_snapshot", "snapshot-deleted", \
                    "deleting the RDS instance with a final snapshot failed: "
                params = {"DBInstanceIdentifier": ident,
                          "FinalDBSnapshotIdentifier": plan["final_snapshot_identifier"]}
            else:
                task, outcome, what = "delete_without_snapshot", "deleted", \
                    "deleting the RDS instance failed: "
                params = {"DBInstanceIdentifier": ident, "SkipFinalSnapshot": True}
            step = run.step(task, "aws.boto3action", service="rds",
                            action_name="delete_db_instance", params=params, **aws)
            # Already being deleted (a replayed trigger) or already gone: wait for it.
            gone = False
            if step.failed_with(DELETION_PROTECTED):
                return _report_terminal(
                    run, resource, ctx, "RDS refuses to delete instance %s: deletion protection "
                    "is on (InvalidParameterCombination); the finalizer is kept and the pack "
                    "does not turn protection off by itself. To delete it, set "
                    "spec.deletionProtection: false on this Database (the next resync then turns "
                    "protection off and deletes the instance), or set spec.deletionPolicy: "
                    "Retain to keep the instance" % ident)
            if not step.ok and not step.failed_with(*DELETE_IN_PROGRESS_CODES):
                # Another error (a 5xx, a timeout): the answer may be lost after RDS acted.
                error = what + step.error
                step = run.step("recheck_instance", "aws.boto3action", service="rds",
                                action_name="describe_db_instances", params=_by_id_filter(ident),
                                **aws)
                if not step.ok or _instance_status(step) not in (None, "deleting"):
                    return failed(error)
                gone = _first_instance(step) is None
            ctx["instance"] = outcome
            if not gone:
                step = run.poll("wait_deleted", "aws.boto3action",
                                lambda s: s.ok and _first_instance(s) is not None,
                                service="rds", action_name="describe_db_instances",
                                params=_by_id_filter(ident), **aws)
                if not step.ok:
                    return failed("waiting for the RDS instance to go failed: " + step.error)
                if _first_instance(step) is not None:
                    return failed('RDS instance %s is still "%s" after 30 minutes; the finalizer '
                                  "is kept" % (ident, _instance_status(step)))
        else:
            return failed('spec.deletionPolicy: expected one of Delete, Retain, Snapshot, got '
                          '"%s"; the instance was kept' % policy)
    if ctx["instance"] in ("absent", "snapshot-deleted", "deleted"):
        # The owned groups once the instance is gone, spec.parameters set or not (a group stays
        # on RDS when parameters left the spec); never for Retain or an instance not ours.
        step = run.step("delete_parameter_group", "aws.database_parameter_group",
                        operation="delete", db_instance_identifier=ident, uid=plan["uid"], **aws)
        if not step.ok:
            return failed("deleting the DB parameter group (spec.parameters) failed (the "
                          "finalizer is kept): " + step.error)
    step = run.step("cleanup", "aws.database_cleanup", vault_path=plan["vault_path"],
                    consul_key=plan["consul_key"], uid=plan["uid"])
    if not step.ok:
        return failed("removing the Vault secret and Consul key failed (the finalizer is "
                      "kept): " + step.error)
    ctx["cleanup"] = step.value
    step = run.step("remove_finalizer", "aws.database_finalizer",
                    namespace=resource["namespace"], name=resource["name"], operation="remove")
    if not step.ok:
        return failed("removing the finalizer failed: " + step.error)
    ctx["phase"] = "Deleted"
    return "succeeded", ctx


def _assume_role(run, region):
    """The assume_role task of the reconcile and resync workflows: (credentials, None), or
    (None, the workflow's error) when it failed."""
    step = run.step("assume_role", "aws.assume_role", region=region)
    if not step.ok:
        return None, ("assuming the AWS role failed (check the pack config role_arn): "
                      + step.error)
    return step.value["credentials"], None


# -- actions/workflows/reconcile_databases.yaml --------------------------------------------------
def _reconcile_databases(run, region=""):
    out = {"in_sync": [], "drift": [], "missing": [], "orphans": [], "resync": [], "error": None}
    credentials, out["error"] = _assume_role(run, region)
    if out["error"]:
        return "failed", out
    step = run.step("list_instances", "aws.boto3action", service="rds",
                    action_name="describe_db_instances", region=region,
                    credentials=credentials, paginate=True)
    if not step.ok:
        out["error"] = "listing the RDS instances failed: " + step.error
        return "failed", out
    step = run.step("drift_report", "aws.database_drift_report",
                    instances=step.value["DBInstances"], region=region)
    if not step.ok:
        out["error"] = "the drift report failed: " + step.error
        return "failed", out
    for key in ("in_sync", "drift", "missing", "orphans"):
        out[key] = step.value.get(key, [])
    step = run.step("resync_plan", "aws.database_resync_plan", full=True,
                    credentials=credentials, region=region)
    if not step.ok:
        out["error"] = "looking at what the resync will run failed: " + step.error
        return "failed", out
    out["resync"] = step.value["causes"]
    return "succeeded", out


# -- actions/workflows/database_resync.yaml ------------------------------------------------------
def _database_resync(run, full=True, region="", namespace="", concurrency=4):
    """The items of run_updates and run_deletes run one after the other here (Orquesta runs
    ``concurrency`` at a time); each goes through database_resync_run, which succeeds whatever
    its run did, so every item runs."""
    del concurrency  # one at a time here
    out = {"summary": {}, "causes": [], "failed": 0, "errors": [], "error": None}
    run.step("start", CORE_NOOP)
    credentials = {}
    if full:
        credentials, out["error"] = _assume_role(run, region)
        if out["error"]:
            return "failed", out
    step = run.step("select", "aws.database_resync_plan", full=full, credentials=credentials,
                    region=region, namespace=namespace)
    if not step.ok:
        out["error"] = "looking at the Databases failed (nothing was started): " + step.error
        return "failed", out
    plan = step.value
    out.update(summary=plan["summary"], causes=plan["causes"], errors=plan["errors"])
    run.step("dispatch", CORE_NOOP)
    for task, workflow, items in (("run_updates", "update", plan["updates"]),
                                  ("run_deletes", "delete", plan["deletes"])):
        for index, item in enumerate(items):
            step = run.step(task, "aws.database_resync_run", item=index, workflow=workflow,
                            resource=item["resource"], cause=item["cause"])
            if not step.ok:
                out["error"] = "a resync run could not be started or did not report"
                return "failed", out
            out["failed"] += 1 if step.value["failed"] else 0
    return "succeeded", out


# -- actions/workflows/database_resync_run.yaml --------------------------------------------------
def _database_resync_run(run, workflow, resource, cause=""):
    run.step("start", CORE_NOOP)
    step = run.step(workflow, "aws.database_%s" % workflow, resource=resource, cause=cause)
    output = step.value if isinstance(step.value, dict) else {}
    name = "%s/%s" % (resource.get("namespace"), resource.get("name"))
    return "succeeded", {"name": name, "workflow": workflow, "phase": output.get("phase"),
                         "failed": not step.ok}


# -- actions/workflows/cluster_migrate.yaml ------------------------------------------------------
MIGRATION_OUTCOMES = ("create", "update", "unchanged", "conflict", "delete", "skipped",
                      "only_in_target", "failed")
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")


def _distinct(names):
    return list(dict.fromkeys(names))


def _cluster_migrate(run, target_cluster, source_cluster="", namespaces=(), namespace_selector="",
                     kinds=(), include_workloads=False, dry_run=False, prune=False,
                     overwrite_conflicts=False, accept_conflicts=False, concurrency=2):
    """The migrate task's items run ``concurrency`` at a time, as Orquesta runs them; after a
    failed item no further one starts (those running finish), as Orquesta starts none."""
    out = {"dry_run": dry_run, "source_version": None, "target_version": None, "namespaces": [],
           "not_run": [], "totals": dict.fromkeys(MIGRATION_OUTCOMES, 0), "error": None}
    selected = []

    def done(status, error=None):
        out["error"] = error
        reported = [r["namespace"] for r in out["namespaces"]]
        out["not_run"] = [n for n in selected if n not in reported]
        for outcome in MIGRATION_OUTCOMES:
            out["totals"][outcome] = sum(r["counts"].get(outcome, 0) for r in out["namespaces"])
        return status, out

    def migrate_failure(reports):
        """The migrate task's failure message: the namespaces that kept conflicts and how to settle
        them, then those not fully migrated (as the YAML's ``failure``)."""
        conflicted = [r["namespace"] for r in reports if r["status"] == "conflict"]
        failed = [r["namespace"] for r in reports if r["status"] == "failed"]
        parts = []
        if conflicted:
            parts.append("conflicts in namespace(s) %s: the target keeps objects that differ from "
                         "the source (namespaces[].summary names them); run again with "
                         "overwrite_conflicts=true to take the source's version, or with "
                         "accept_conflicts=true to leave them" % ", ".join(conflicted))
        if failed or not conflicted:
            parts.append("namespace(s) not fully migrated (see namespaces[].error and failed "
                         "objects; run the workflow again to complete): " + ", ".join(failed))
        return "; ".join(parts)

    version = {"api": "VersionApi", "method": "get_code"}
    step = run.step("check_source", "aws.kubernetes_call", cluster=source_cluster, **version)
    if not step.ok:
        return done("failed", "the source cluster does not answer: " + step.error)
    out["source_version"] = step.value["gitVersion"]
    step = run.step("check_target", "aws.kubernetes_call", cluster=target_cluster, **version)
    if not step.ok:
        return done("failed", "the target cluster does not answer: " + step.error)
    out["target_version"] = step.value["gitVersion"]
    if namespace_selector:
        step = run.step("list_namespaces", "aws.kubernetes_call", api="CoreV1Api",
                        method="list_namespace", cluster=source_cluster,
                        params={"label_selector": namespace_selector}, paginate=True)
        if not step.ok:
            return done("failed", "listing the source cluster's namespaces failed: " + step.error)
        selected = _distinct(list(namespaces) + [
            item["metadata"]["name"] for item in step.value["items"]
            if item["status"]["phase"] != "Terminating"
            and item["metadata"]["name"] not in SYSTEM_NAMESPACES])
    elif namespaces:
        selected = _distinct(namespaces)
    else:
        return done("failed", "no namespace to migrate: give namespaces, namespace_selector or "
                              "both")
    run.step("check_selection", CORE_NOOP)
    refused = [n for n in selected if n in SYSTEM_NAMESPACES]
    if refused:
        return done("failed", "refused: %s: the cluster's own namespaces (each cluster's control "
                              "plane makes and runs kube-system, kube-public and "
                              "kube-node-lease) are never migrated; leave them out of namespaces"
                    % ", ".join(refused))
    if not selected:
        return done("failed", 'no namespace of the source cluster matches namespace_selector '
                              '"%s" (the cluster\'s own and those being deleted are left out)'
                    % namespace_selector)
    steps = run.with_items(len(selected), concurrency, lambda index: run.step(
        "migrate", "aws.cluster_migrate_namespace", item=index, namespace=selected[index],
        source_cluster=source_cluster, target_cluster=target_cluster, kinds=list(kinds),
        include_workloads=include_workloads, dry_run=dry_run, prune=prune,
        overwrite_conflicts=overwrite_conflicts, accept_conflicts=accept_conflicts))
    out["namespaces"] = [step.value for step in steps if isinstance(step.value, dict)]
    if not all(step.ok for step in steps):
        return done("failed", migrate_failure(out["namespaces"]))
    return done("succeeded")


_FUNCTIONS = {
    "database_create": _database_create,
    "database_update": _database_update,
    "database_delete": _database_delete,
    "reconcile_databases": _reconcile_databases,
    "database_resync": _database_resync,
    "database_resync_run": _database_resync_run,
    "cluster_migrate": _cluster_migrate,
}


def _execute(name, params, config, on_step, poll_count, poll_delay, call_hook, sleep, capture):
    run = _Run(name, config, on_step, poll_count, poll_delay, call_hook, sleep, capture)
    status, output = _FUNCTIONS[name](run, **params)
    result = {"workflow": name, "status": status, "output": output, "steps": run.steps}
    if status == "succeeded":
        ok, checked = check_output(action_metadata(name), {"output": output}, "output")
        if not ok:
            result.update(status="failed", output=checked)
    return result


def run_workflow(name, resource=None, config=None, on_step=None, poll_count=POLL_COUNT,
                 poll_delay=POLL_DELAY, call_hook=None, sleep=time.sleep, region="",
                 inputs=None):
    """Run workflow ``name`` (one of WORKFLOWS) through the pack's actions, in-process.

    ``resource`` is the trigger payload (the database workflows, whose other inputs, like
    ``cause``, come in ``inputs``); reconcile_databases takes ``region``; cluster_migrate and
    database_resync their input as ``inputs`` (a dict); ``config`` the pack config.
    ``on_step(record)`` is called after each action execution.
    ``poll_count``/``poll_delay`` bound the RDS polls (the YAML's retry count/delay).
    ``call_hook(task, action_ref, parameters, call)`` wraps each python action: it returns
    ``call()`` -- ``(succeeded, runner_result)`` -- or its own such pair (tests use it to
    simulate answers). Returns ``{"workflow", "status", "output", "steps", "logs"}``.
    """
    if name not in _FUNCTIONS:
        raise ValueError("unknown workflow %r; known: %s" % (name, ", ".join(WORKFLOWS)))
    if name == "reconcile_databases":
        params = {"region": region}
    elif name in ("cluster_migrate", "database_resync", "database_resync_run"):
        params = _parameters(name, action_metadata(name), dict(inputs or {}))
    else:
        if not isinstance(resource, dict):
            raise ValueError("resource: expected the trigger payload (an object), got %s"
                             % type(resource).__name__)
        params = _parameters(name, action_metadata(name), dict(inputs or {}, resource=resource))
    action_metadata(name)  # the workflow's action file must exist
    capture = _LogCapture()
    root = logging.getLogger()
    root.addHandler(capture)
    try:
        run = _execute(name, params, config, on_step, poll_count, poll_delay, call_hook, sleep,
                       capture)
    finally:
        root.removeHandler(capture)
    run["logs"] = capture.lines
    return run
