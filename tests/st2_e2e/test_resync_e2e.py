"""The level-triggered resync end to end inside real StackStorm code (issue 17).

Run by tests/st2_e2e/run.sh, never by `make test` (it skips without StackStorm and without the
run.sh environment). It reuses the plumbing of the shared harness
../shared/st2check/test_aws_e2e_inprocess.py (imported, not copied): the pack registered by
st2's registrars, the sensor under st2's SensorWrapper, the captured trigger_instance messages
pumped through st2reactor's TriggerInstanceDispatcher (the real RulesEngine), the Orquesta
workflow engine driven on each completed task, python-runner subprocesses in a pack virtualenv
made by st2, MongoDB as mongomock. Only the scenario is its own:

1. rules aws.database_resync (core.st2.IntervalTimer every 5 minutes, full: true) and
   aws.database_retry (every minute, full: false) are registered and enabled;
2. one Database is provisioned the normal way (sensor -> rule database_create ->
   aws.database_create);
3. the retry tick fires (st2's St2Timer._emit_trigger_instance for the rule's trigger): quiet;
4. the world moves under the Database: a new AWSCURRENT version of its RDS-managed secret (what
   RDS's rotation ends with) and its Consul key deleted;
5. the resync timer fires the same way: the rules engine enforces aws.database_resync (full), which
   names the Database ("credentials rotated": lib/database/resync.py looks at the rotation before
   Consul) and runs aws.database_resync_run -> aws.database_update; Vault then holds the new
   password, the Consul key is back, the Database is Ready;
6. the resync timer fires again: a quiet cycle (no cause, no run);
7. neither password is in any st2 record or in the process log; the Database is deleted the
   normal way (sensor -> rule database_delete -> aws.database_delete) to leave the servers clean.

The result is in $E2E_DIR/result.json; the RESYNC lines of the output summarise it.
"""

import contextlib
import hashlib
import importlib
import json
import logging
import os
import secrets
import sys
import time

import pytest

pytest.importorskip("st2tests")
TOOLS = os.environ.get("ST2CHECK_TOOLS") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "st2check")
if os.environ.get("E2E_RESYNC") != "1" or not all(
        os.environ.get(v) for v in ("ST2CHECK", "E2E_DIR", "STACK_DIR")) \
        or not os.path.exists(os.path.join(TOOLS, "test_aws_e2e_inprocess.py")):
    pytest.skip("the resync end to end runs through tests/st2_e2e/run.sh (real StackStorm)",
                allow_module_level=True)
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

# The shared harness lives in ../shared/st2check, not on a package registry: imported by name.
harness = importlib.import_module("test_aws_e2e_inprocess")

import eventlet  # noqa: E402
import yaml  # noqa: E402
from st2common.constants import action as ac_const  # noqa: E402
from st2common.models.api.trigger import TriggerAPI  # noqa: E402
from st2common.persistence import execution as ex_db_access  # noqa: E402
from st2common.persistence import liveaction as lv_db_access  # noqa: E402
from st2common.persistence.rule import Rule  # noqa: E402
from st2common.services import triggers as trigger_service  # noqa: E402
from st2common.transport.reactor import TriggerDispatcher  # noqa: E402
from st2reactor.timer import base as timer_base  # noqa: E402

RESULT = harness.RESULT
GROUP, VERSION, PLURAL = "dbaas.stackstorm.com", "v1alpha1", "databases"
NAME = "orders-db"
RESYNC, RETRY = "aws.database_resync", "aws.database_retry"
# rule -> (timer parameters, action parameters) as rules/database_{resync,retry}.yaml set them
RULES = {RESYNC: ({"unit": "minutes", "delta": 5}, {"full": True}),
         RETRY: ({"unit": "minutes", "delta": 1}, {"full": False})}
DONE = ac_const.LIVEACTION_COMPLETED_STATES


def _digest(text):
    return "<%d chars, sha256 %s>" % (len(text), hashlib.sha256(text.encode()).hexdigest()[:12])


@contextlib.contextmanager
def _quiet_logs(*names):
    """The test's own client calls (a password in a request body) stay out of the process log
    the leak check searches: only what st2 and the pack log is looked at."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


class ResyncE2ETest(harness.AwsE2ETest):
    """The shared harness's set-up (registration, configs, st2api) and plumbing; the scenario
    above instead of the shared create/update/delete one."""

    def test_end_to_end(self):
        # the harness's test_end_to_end prepares st2's config and argv for the SensorWrapper,
        # then calls self._run(): this class's _run is the resync scenario
        super().test_end_to_end()

    # ------------------------------------------------------------------ helpers
    def _children(self, ac_ex, ref=None):
        kids = [a for a in ex_db_access.ActionExecution.get_all() if a.parent == str(ac_ex.id)]
        return sorted([a for a in kids if ref is None or a.action["ref"] == ref],
                      key=lambda a: a.start_timestamp)

    def _fire_timer(self, rule_ref, log):
        """What st2's TimersEngine does when the rule's IntervalTimer comes due: its own
        St2Timer._emit_trigger_instance for the trigger as _sanitize_trigger hands it over
        (TriggerDispatcher.dispatch(trigger dict, {"executed_at", "schedule"})); then the
        message goes through the real rules engine (the harness's _pump_triggers) and the
        workflows are driven until the execution the rule started completes."""
        rule = Rule.get_by_ref(rule_ref)
        trigger = TriggerAPI.from_model(trigger_service.get_trigger_db_by_ref(rule.trigger))
        timer = timer_base.St2Timer.__new__(timer_base.St2Timer)
        timer._trigger_dispatcher = TriggerDispatcher(timer_base.LOG)
        before = {str(a.id) for a in ex_db_access.ActionExecution.get_all()}
        timer._emit_trigger_instance(trigger.to_dict())
        self._pump_triggers(log)
        started = [a for a in ex_db_access.ActionExecution.get_all()
                   if str(a.id) not in before and not a.parent
                   and (a.rule or {}).get("ref") == rule_ref]
        if len(started) != 1:
            return None, "timer of rule %s started %d executions (%s)" % (
                rule_ref, len(started), [t["rules_matched"] for t in log])
        ac_ex = started[0]
        deadline = time.time() + harness.PHASE_TIMEOUT
        while time.time() < deadline:
            self._pump_triggers(log)
            self._drive_workflows()
            ac_ex = ex_db_access.ActionExecution.get_by_id(ac_ex.id)
            if ac_ex.status in DONE:
                break
            eventlet.sleep(0.5)
        eventlet.sleep(3)   # the sensor sees the status the runs wrote
        self._pump_triggers(log)
        return ex_db_access.ActionExecution.get_by_id(ac_ex.id), None

    def _cycle(self, rule_ref, label):
        """Fire rule_ref's timer; RESULT[label]: the execution, its output and runs."""
        log = []
        ac_ex, problem = self._fire_timer(rule_ref, log)
        RESULT[label + "_triggers"] = log
        if problem:
            RESULT[label] = {"problem": problem}
            return None, [], problem
        lv = lv_db_access.LiveAction.get_by_id(ac_ex.liveaction["id"])
        runs = []
        for run in self._children(ac_ex, "aws.database_resync_run"):
            run_lv = lv_db_access.LiveAction.get_by_id(run.liveaction["id"])
            workflows = [{"action": w.action["ref"], "status": w.status,
                          "output": (lv_db_access.LiveAction.get_by_id(w.liveaction["id"]).result
                                     or {}).get("output")}
                         for w in self._children(run)
                         if w.action["ref"] in ("aws.database_update", "aws.database_delete")]
            runs.append({"status": run.status, "parameters": {
                k: v for k, v in (run.parameters or {}).items() if k != "resource"},
                "resource": "%s/%s" % ((run.parameters or {}).get("resource", {}).get("namespace"),
                                       (run.parameters or {}).get("resource", {}).get("name")),
                "output": (run_lv.result or {}).get("output"), "workflows": workflows})
        info = self._describe_wf(ac_ex)
        info.update({"execution_status": ac_ex.status, "parameters": lv.parameters,
                     "trigger_type": (ac_ex.trigger_type or {}).get("ref")
                     or (ac_ex.trigger or {}).get("type"),
                     "trigger_parameters": (ac_ex.trigger or {}).get("parameters"),
                     "runs": runs})
        RESULT[label] = info
        print("RESYNC %s: %s, rule %s, trigger %s %s, parameters %s" % (
            label, info["status"], info["rule"], info["trigger_type"],
            info["trigger_parameters"], info["parameters"]), flush=True)
        print("RESYNC %s output: %s" % (label, json.dumps(info["output"], default=str)),
              flush=True)
        for run in runs:
            print("RESYNC %s run %s: %s %s -> %s" % (
                label, run["resource"], run["status"], run["output"],
                [(w["action"], w["status"]) for w in run["workflows"]]), flush=True)
        return info, runs, None

    # ------------------------------------------------------------------ the scenario
    def _run(self):
        import boto3
        import consul
        import hvac
        import kubernetes

        self._handled = set()
        problems = []
        RESULT["problems"] = problems
        RESULT["scenario"] = "resync (tests/st2_e2e/test_resync_e2e.py)"

        # ---------------- 1. the two timer rules, as st2's registrar stored them
        rules = {}
        for ref, (timer, params) in sorted(RULES.items()):
            rule = Rule.query(ref=ref).first()
            if rule is None:
                problems.append("rule %s not registered (registered: %s)" % (
                    ref, RESULT.get("rules_registered")))
                continue
            trig = trigger_service.get_trigger_db_by_ref(rule.trigger)
            rules[ref] = {"enabled": rule.enabled, "trigger": rule.trigger,
                          "trigger_type": trig and trig.type,
                          "trigger_parameters": trig and trig.parameters,
                          "action": rule.action.ref, "action_parameters": rule.action.parameters}
            want = {"enabled": True, "trigger_type": "core.st2.IntervalTimer",
                    "trigger_parameters": timer, "action": RESYNC, "action_parameters": params}
            wrong = {k: rules[ref][k] for k, v in want.items() if rules[ref][k] != v}
            if wrong:
                problems.append("rule %s registered as %s, expected %s" % (ref, wrong, want))
        RESULT["timer_rules"] = rules
        print("RESYNC rules: %s" % json.dumps(rules, default=str), flush=True)
        if problems:
            return self._finish(problems)

        # ---------------- 2. one Database, provisioned the normal way
        api = self._kube()
        self.custom_api = kubernetes.client.CustomObjectsApi(api)
        core = kubernetes.client.CoreV1Api(api)
        ext = kubernetes.client.ApiextensionsV1Api(api)
        self.ns = harness.NS
        RESULT["namespace"] = self.ns
        for crd in ("database.yaml", "mysqldb.yaml"):
            with open(os.path.join(harness.PACK_DIR, "k8s", "crds", crd)) as f:
                body = yaml.safe_load(f)
            try:
                ext.create_custom_resource_definition(body)
            except kubernetes.client.ApiException as e:
                if e.status != 409:
                    raise
        time.sleep(2)
        core.create_namespace({"metadata": {"name": self.ns}})
        sensor = self._start_sensor()
        try:
            eventlet.sleep(3)
            self._scenario(problems, boto3, consul, hvac, kubernetes, core)
        finally:
            sensor.cleanup()
        return self._finish(problems)

    def _scenario(self, problems, boto3, consul, hvac, kubernetes, core):
        log = []
        RESULT["create_triggers"] = log
        with open(os.path.join(harness.PACK_DIR, "k8s", "examples", "orders-db.yaml")) as f:
            example = yaml.safe_load(f)
        self.custom_api.create_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, example)
        wfs = self._wait_for("aws.database_create", 1, log)
        RESULT["create_workflows"] = [self._describe_wf(a) for a in wfs]
        status = dict(self._get_db().get("status") or {})
        RESULT["create_resource_status"] = status
        print("RESYNC create: %s, status %s" % (
            [w["status"] for w in RESULT["create_workflows"]], status.get("phase")), flush=True)
        if [w["status"] for w in RESULT["create_workflows"]] != ["succeeded"] \
                or status.get("phase") != "Ready":
            problems.append("create: %s, status %s" % (
                [(w["status"], w.get("errors")) for w in RESULT["create_workflows"]] or
                "no workflow ran", status))
            return
        vault = hvac.Client(url=self.config["vault_url"], token=self.config["vault_token"])
        mount = self.config["vault_kv_mount"]
        kv = consul.Consul(host=self.config["consul_host"], port=self.config["consul_port"]).kv
        rds = boto3.client("rds", endpoint_url=self.config["endpoint_url"],
                           region_name=self.config["region"],
                           aws_access_key_id=self.config["aws_access_key_id"],
                           aws_secret_access_key=self.config["aws_secret_access_key"])
        sm = boto3.client("secretsmanager", endpoint_url=self.config["endpoint_url"],
                          region_name=self.config["region"],
                          aws_access_key_id=self.config["aws_access_key_id"],
                          aws_secret_access_key=self.config["aws_secret_access_key"])

        def vault_password():
            with _quiet_logs("urllib3", "hvac"):
                sec = vault.secrets.kv.v2.read_secret_version(
                    path=status["vaultPath"], mount_point=mount, raise_on_deleted_version=True)
            return sec["data"]["data"].get("password")

        old_password = vault_password()
        others = [o for o in self.custom_api.list_cluster_custom_object(
            GROUP, VERSION, PLURAL)["items"] if o["metadata"]["namespace"] != self.ns]
        RESULT["other_databases"] = len(others)
        if others:
            print("RESYNC warning: %d Databases of other namespaces in this cluster; the resync "
                  "looks at them too (its rules have no namespace): only this run's are asserted"
                  % len(others), flush=True)
        mine = "%s/%s " % (self.ns, NAME)

        def causes_of_ours(info):
            return [c for c in (info["output"] or {}).get("causes") or [] if c.startswith(mine)]

        # ---------------- 3. the retry tick (rule database_retry, full: false): nothing due
        info, runs, problem = self._cycle(RETRY, "retry_tick")
        if problem or info["status"] != "succeeded" or causes_of_ours(info) \
                or (not others and (info["output"] or {}).get("causes")):
            problems.append("retry tick: %s" % (problem or (info["status"], info["output"])))

        # ---------------- 4. the world moves: RDS rotates the password, the Consul key goes
        identifier = status.get("dbInstanceIdentifier") or \
            (RESULT["create_workflows"][0].get("output") or {}).get("db_instance_identifier")
        (instance,) = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
        arn = instance["MasterUserSecret"]["SecretArn"]
        new_password = "Resync-" + secrets.token_urlsafe(18)
        with _quiet_logs("botocore", "boto3", "urllib3"):
            held = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
            put = sm.put_secret_value(SecretId=arn, SecretString=json.dumps(
                {"username": held.get("username"), "password": new_password}),
                VersionStages=["AWSCURRENT"])
        kv.delete(status["consulKey"])
        RESULT["world_moved"] = {"secret_arn": arn, "new_version": put["VersionId"],
                                 "new_password": _digest(new_password),
                                 "old_password": old_password and _digest(old_password),
                                 "consul_key_deleted": status["consulKey"],
                                 "consul_key_gone": kv.get(status["consulKey"])[1] is None}
        print("RESYNC world moved: %s" % json.dumps(RESULT["world_moved"]), flush=True)

        # ---------------- 5. the resync timer (rule database_resync, full: true)
        generation = self._get_db()["metadata"].get("generation")
        info, runs, problem = self._cycle(RESYNC, "resync")
        if problem:
            problems.append("resync: %s" % problem)
            return
        out = info["output"] or {}
        ours = [r for r in runs if r["resource"] == mine.strip()]
        RESULT["resync_causes_ours"] = causes_of_ours(info)
        if info["status"] != "succeeded" or info["execution_status"] != "succeeded":
            problems.append("resync: %s %s %s" % (info["status"], info.get("errors"),
                                                  info.get("result_if_no_output")))
        if info["rule"] != RESYNC or info["trigger_type"] != "core.st2.IntervalTimer" \
                or (info["parameters"] or {}).get("full") is not True:
            problems.append("resync not started by rule %s with full: true: %s %s %s" % (
                RESYNC, info["rule"], info["trigger_type"], info["parameters"]))
        expected = [mine + "update: " + c for c in ("credentials rotated", "Consul key missing")]
        if len(causes_of_ours(info)) != 1 or causes_of_ours(info)[0] not in expected:
            problems.append("resync causes: %s, expected one of %s" % (
                out.get("causes"), expected))
        if out.get("failed") != 0 or out.get("errors") or out.get("error"):
            problems.append("resync output: failed %s, errors %s, error %s" % (
                out.get("failed"), out.get("errors"), out.get("error")))
        if len(ours) != 1 or ours[0]["status"] != "succeeded" \
                or (ours[0]["output"] or {}).get("failed") is not False \
                or (ours[0]["output"] or {}).get("phase") != "Ready" \
                or [(w["action"], w["status"]) for w in ours[0]["workflows"]] \
                != [("aws.database_update", "succeeded")]:
            problems.append("resync run of %s: %s" % (mine.strip(), ours))
        obj = self._get_db()
        after = dict(obj.get("status") or {})
        RESULT["resync_resource_status"] = after
        try:
            vault_now = vault_password()
        except hvac.exceptions.InvalidPath:
            vault_now = None
        consul_now = kv.get(status["consulKey"])[1]
        events = core.list_namespaced_event(
            self.ns, field_selector="involvedObject.name=%s" % NAME).items
        RESULT["resync_repaired"] = {
            "vault_holds_new_password": vault_now == new_password,
            "vault_password": vault_now and _digest(vault_now),
            "consul_key_back": consul_now is not None,
            "consul_value": consul_now and json.loads(consul_now["Value"]),
            "phase": after.get("phase"), "generation": [generation,
                                                        obj["metadata"].get("generation")],
            "events": [(e.type, e.reason, e.message) for e in events
                       if e.reason not in ("Provisioning", "Provisioned")][-5:]}
        print("RESYNC repaired: %s" % json.dumps(RESULT["resync_repaired"], default=str),
              flush=True)
        if vault_now != new_password:
            problems.append("Vault does not hold the rotated password (%s)" % (
                vault_now and _digest(vault_now)))
        if consul_now is None:
            problems.append("Consul key %s not written again" % status["consulKey"])
        if after.get("phase") != "Ready":
            problems.append("status after the resync: %s" % after)

        # ---------------- 6. the next cycle is quiet
        info, runs, problem = self._cycle(RESYNC, "resync_again")
        if problem or info["status"] != "succeeded" or causes_of_ours(info) \
                or [r for r in runs if r["resource"] == mine.strip()] \
                or (not others and ((info["output"] or {}).get("causes") != [] or runs)):
            problems.append("second resync not quiet: %s" % (
                problem or (info["status"], info["output"], runs)))

        # ---------------- 7. no password in st2's records or log; then clean up
        self._leak_check("after_resync_old_password", old_password)
        self._leak_check("after_resync_new_password", new_password)
        for label in ("after_resync_old_password", "after_resync_new_password"):
            hits = RESULT["leak_check"][label]
            if "password" in hits:
                problems.append("password found %s: %s" % (label, hits["password"]))
        log = []
        RESULT["delete_triggers"] = log
        self.custom_api.delete_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, NAME)
        wfs = self._wait_for("aws.database_delete", 1, log)
        RESULT["delete_workflows"] = [self._describe_wf(a) for a in wfs]
        try:
            self._get_db()
            problems.append("clean-up: the Database is still there: %s" % [
                (w["status"], w.get("errors")) for w in RESULT["delete_workflows"]])
        except kubernetes.client.ApiException:
            core.delete_namespace(self.ns)

    def _finish(self, problems):
        RESULT["log_records"] = len(harness.LOG_LINES)
        print("PROBLEMS", json.dumps(problems, default=str, indent=1), flush=True)
        print("RESYNC problems: %d" % len(problems), flush=True)
        self.assertEqual(problems, [])
