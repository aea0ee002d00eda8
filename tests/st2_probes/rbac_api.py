"""Every request of tests/st2_rbac_model.py REQUESTS, as users of each role, against st2api.

usage: python -m tests.st2_probes.rbac_api WORKDIR   (StackStorm's virtualenv; prints JSON)

Users:
- one per role of rbac/roles (its group synchronised from rbac/mappings, as at sign-in);
- `admin`, `observer` (StackStorm's built-in roles) and `nobody` (no role);
- one per single-grant role: every (resource_uid, permission_type) the pack's roles grant, and
  every permission type StackStorm accepts on pack:aws, on actions, rules and sensors of the
  database side and of the platform side (and on an action and a rule the requests create), on
  datastore keys, and without resource_uid; written as role files and assignment files and
  loaded by st2-apply-rbac-definitions' own loader and syncer.

Output: {"users": {user: {"roles": [...], "grant": [uid, type] or null}},
         "results": {request: {user: [status, detail]}}, "secret": value written}
A request is refused when st2api answers 403 (401 never happens: every user has a valid token).
"""

import json
import logging
import os
import sys

import yaml

from tests.st2_probes import st2_app
from tests.rbac_files import PERMISSION_TYPES, ROLES
from tests import st2_rbac_model as model
from tests.st2_rbac_model import REQUESTS

SECRET = "vault-token-0123"  # what PUT /v1/keys/vault_token writes; decrypt must return it


def single_grants():
    grants = set()
    for role in ROLES.values():
        for grant in role["permission_grants"]:
            for permission_type in grant["permission_types"]:
                grants.add((grant.get("resource_uid"), permission_type))
    targets = {
        "pack:aws": "pack",
        "action:aws:reconcile_databases": "action",
        "action:aws:database_create": "action",
        "action:aws:database_plan": "action",
        "action:aws:kubernetes_call": "action",
        "action:aws:consul_sync": "action",
        "action:aws:new_action": "action",
        "rule:aws:database_create": "rule",
        "rule:aws:consul_sync": "rule",
        "rule:aws:new_rule": "rule",
        "sensor_type:aws:CustomResourceSensor": "sensor_type",
        "sensor_type:aws:ConsulKVSensor": "sensor_type",
        "key_value_pair:st2kv.system:vault_token": "key_value_pair",
        "key_value_pair:st2kv.system:consul_token": "key_value_pair",
    }
    for uid, resource_type in targets.items():
        for permission_type in PERMISSION_TYPES[resource_type]:
            grants.add((uid, permission_type))
    for permission_type in PERMISSION_TYPES["global"]:
        grants.add((None, permission_type))
    return sorted(grants, key=lambda g: (g[0] or "", g[1]))


def write_probe_roles(base, grants):
    users = {}
    roles_dir = os.path.join(base, "rbac", "roles")
    assignments_dir = os.path.join(base, "rbac", "assignments")
    for index, (uid, permission_type) in enumerate(grants):
        name = "probe_%03d" % index
        grant = {"permission_types": [permission_type]}
        if uid:
            grant["resource_uid"] = uid
        with open(os.path.join(roles_dir, name + ".yaml"), "w") as handle:
            yaml.safe_dump({"name": name, "description": "probe", "enabled": True,
                            "permission_grants": [grant]}, handle)
        with open(os.path.join(assignments_dir, name + ".yaml"), "w") as handle:
            yaml.safe_dump({"username": name, "roles": [name]}, handle)
        users[name] = {"roles": [name], "grant": [uid, permission_type]}
    for name in ("admin", "observer"):
        with open(os.path.join(assignments_dir, "builtin_%s.yaml" % name), "w") as handle:
            yaml.safe_dump({"username": name, "roles": [name]}, handle)
        users[name] = {"roles": [name], "grant": None}
    users["nobody"] = {"roles": [], "grant": None}
    return users


# Parameters an execution of each action is created with (st2api validates them against the
# action's parameters; no runner runs in the probe).
PARAMETERS = {
    "aws.reconcile_databases": {},
    "aws.database_create": {"resource": {}},
    "aws.boto3action": {"service": "rds", "action_name": "describe_db_instances"},
    "aws.assume_role": {},
    "aws.kubernetes_call": {"method": "list_namespace"},
    "aws.cluster_migrate": {"target_cluster": "b"},
    "aws.cluster_migrate_namespace": {"namespace": "apps", "target_cluster": "b"},
    "aws.consul_sync": {"target": "b", "prefix": "apps/"},
    "core.local": {"cmd": "true"},
}
EXECUTED = ("database_create", "reconcile_databases") + model.PLATFORM_ACTIONS
SYNC_PAYLOAD = {"source": "", "target": "b", "prefix": "apps/", "changed_keys": ["apps/db"],
                "full_resync": False, "index": 7, "observed_at": 1700000000.0}


class Fixtures:
    """Executions, an enforcement, a trigger instance and datastore keys for the requests to act
    on; the rule DELETE /v1/rules/aws.database_create removes is put back before each user."""

    def __init__(self, st2, admin_token):
        self.st2 = st2
        self.admin_token = admin_token
        for key in ("vault_token", "consul_token", "other_secret"):
            response = st2.request(admin_token, "PUT", "/v1/keys/" + key,
                                   {"name": key, "value": "initial-" + key, "secret": True})
            assert response.status_int == 200, response.body
        self.executions = {}
        for action in EXECUTED:
            self.executions[action] = self._execution(admin_token, "aws." + action)
        self.enforcement = self._enforcement()
        self.trigger_instance = self._trigger_instance()
        self.rule_bodies = {name: self._current("/v1/rules/aws." + name)
                            for name in ("database_create", "consul_sync")}

    def _execution(self, token, ref):
        response = self.st2.request(token, "POST", "/v1/executions",
                                    {"action": ref, "parameters": PARAMETERS[ref]})
        assert response.status_int == 201, response.body
        return response.json["id"]

    def _enforcement(self):
        from st2common.models.db.rule_enforcement import RuleEnforcementDB
        from st2common.models.db.rule_enforcement import RuleReferenceSpecDB as Spec
        from st2common.persistence.rule import Rule
        from st2common.persistence.rule_enforcement import RuleEnforcement
        rule = Rule.get_by_ref("aws.database_create")
        spec = Spec(ref=rule.ref, id=str(rule.id), uid=rule.uid)
        record = RuleEnforcement.add_or_update(
            RuleEnforcementDB(trigger_instance_id="5" * 24, rule=spec))
        return str(record.id)

    def _trigger_instance(self):
        """An aws.consul_kv_changed instance, as the rules engine stores one it processed."""
        import datetime
        from st2common.models.db.trigger import TriggerInstanceDB
        from st2common.persistence.trigger import TriggerInstance
        record = TriggerInstance.add_or_update(TriggerInstanceDB(
            trigger="aws.consul_kv_changed", payload=dict(SYNC_PAYLOAD),
            occurrence_time=datetime.datetime.utcnow(), status="processed"))
        return str(record.id)

    def restore_rule(self, name):
        """Put a deleted rule of the pack back (as admin), from its definition at start."""
        if self.st2.request(self.admin_token, "GET", "/v1/rules/aws." + name).status_int == 200:
            return
        body = {k: v for k, v in self.rule_bodies[name].items() if k != "id"}
        response = self.st2.request(self.admin_token, "POST", "/v1/rules", body)
        assert response.status_int == 201, response.body

    def request(self, request):
        """(method, path, body) of a request name of REQUESTS."""
        method, rest = request.split(" ", 1)
        body = None
        for action, execution_id in self.executions.items():
            rest = rest.replace("<aws.%s>" % action, execution_id)
        rest = rest.replace("<enforcement of aws.database_create>", self.enforcement)
        rest = rest.replace("<instance of aws.consul_kv_changed>", self.trigger_instance)
        if rest.startswith("/v1/executions aws.") or rest.startswith("/v1/executions core."):
            ref = rest.split(" ", 1)[1]
            rest = "/v1/executions"
            body = {"action": ref, "parameters": PARAMETERS[ref]}
        elif rest == "/v1/actions aws.new_action":
            rest = "/v1/actions"
            body = {"name": "new_action", "pack": "aws", "runner_type": "python-script",
                    "entry_point": "database_plan.py", "description": "probe",
                    "parameters": {}}
        elif rest == "/v1/rules aws.new_rule":
            rest = "/v1/rules"
            body = {"name": "new_rule", "pack": "aws", "description": "probe",
                    "enabled": False,
                    "trigger": {"type": "core.st2.IntervalTimer",
                                "parameters": {"unit": "hours", "delta": 6}},
                    "criteria": {},
                    "action": {"ref": "aws.reconcile_databases", "parameters": {}}}
        elif method == "PUT" and rest.startswith("/v1/rules/"):
            body = self._current(rest)
            body["enabled"] = not body.get("enabled", True)
            # rules.py put stores the rule under the id of the path: PUT by id, as st2client does
            rest = "/v1/rules/" + body["id"]
        elif method == "PUT" and rest.startswith("/v1/sensortypes/"):
            body = self._current(rest)
            body["enabled"] = not body.get("enabled", True)
        elif method == "PUT" and rest.startswith("/v1/actions/"):
            body = self._current(rest)  # as it is: st2api replaces it with itself
        elif method == "PUT" and rest == "/v1/configs/aws":
            with open(os.path.join(st2_app.PACK_DIR, "aws.yaml.example")) as handle:
                body = yaml.safe_load(handle)
        elif method == "PUT" and rest == "/v1/keys/vault_token":
            body = {"name": "vault_token", "value": SECRET, "secret": True}
        elif rest == "/v1/packs/register":
            body = {"packs": ["aws"], "types": ["actions"]}
        elif rest == "/v1/packs/install":
            body = {"packs": ["aws"]}
        elif rest.endswith("/re_run"):
            body = {}
        return method, rest, body

    def put_key(self, key):
        response = self.st2.request(self.admin_token, "PUT", "/v1/keys/" + key,
                                    {"name": key, "value": "initial-" + key, "secret": True})
        assert response.status_int == 200, response.body

    def _current(self, path):
        response = self.st2.request(self.admin_token, "GET", path)
        assert response.status_int == 200, (path, response.body)
        body = dict(response.json)
        return body


def main(workdir):
    logging.disable(logging.CRITICAL)
    conf = st2_app.write_conf(workdir, st2_app.example_sections())
    base = os.path.join(workdir, "base")
    key_path = os.path.join(workdir, "datastore.key")
    from st2common.util.crypto import AESKey
    with open(key_path, "w") as handle:
        handle.write(AESKey.generate(key_size=256).to_json())
    with open(conf, "a") as handle:
        handle.write("\n[keyvalue]\nencryption_key_path = %s\n" % key_path)
    grants = single_grants()
    users = write_probe_roles(base, grants)
    st2 = st2_app.St2(conf)
    tokens = {}
    for user in users:
        tokens[user] = st2.token_for(user)
    mappings = {}
    for path in sorted(os.listdir(os.path.join(base, "rbac", "mappings"))):
        with open(os.path.join(base, "rbac", "mappings", path)) as handle:
            mapping = yaml.safe_load(handle)
        for role in mapping["roles"]:
            mappings.setdefault(role, mapping["group"])
    for role in ROLES.values():
        user = "member_of_" + role["name"]
        tokens[user] = st2.token_for(user, groups=[mappings[role["name"]]])
        users[user] = {"roles": st2.roles_of(user), "grant": None}
    for user in users:
        users[user]["roles"] = st2.roles_of(user)

    fixtures = Fixtures(st2, tokens["admin"])
    stream = stream_app()
    results = {}
    order = sorted(REQUESTS, key=lambda r: (r.startswith(("DELETE", "PUT", "POST")), r))
    for request in order:
        results[request] = {}
        for user in users:
            method, path, body = fixtures.request(request)
            if request == "DELETE /v1/keys/consul_token":
                fixtures.put_key("consul_token")
            if request == "DELETE /v1/rules/aws.database_create":
                fixtures.restore_rule("database_create")
                method, path, body = fixtures.request(request)
            if path.startswith("/stream/"):
                status, detail = stream_status(stream, tokens[user], path)
            else:
                response = st2.request(tokens[user], method, path, body)
                status = response.status_int
                detail = None
                if response.content_type == "application/json" and response.body:
                    payload = response.json
                    if isinstance(payload, dict):
                        detail = payload.get("faultstring")
                        if request.startswith("GET /v1/keys/") and "value" in payload:
                            detail = "value=%s" % payload["value"]
            results[request][user] = [status, detail]
    extra = {
        "config_as_caller": config_loading(st2, "member_of_dbaas_self_service", base),
        "isolation": isolation(st2, fixtures, tokens),
        "sensor_service_keys": sensor_service_keys(st2, base),
        "apply_refusals": apply_refusals(st2, base),
        "platform_boundary": platform_boundary(st2, base, fixtures, tokens),
    }
    json.dump({"users": users, "results": results, "secret": SECRET, "extra": extra},
              sys.stdout)


def config_loading(st2, caller, base):
    """The pack config's secrets, loaded for an action `caller` runs (as the python runner does:
    st2actions/container/base.py), with and without a role for the system user."""
    from st2common.util.config_loader import ContentPackConfigLoader
    outcome = {}
    for stanley_roles in ([], ["admin"]):
        write_assignment(base, "stanley", stanley_roles)
        st2.apply_rbac_definitions()
        try:
            config = ContentPackConfigLoader(pack_name="aws", user=caller).get_config()
            outcome["stanley %s" % stanley_roles] = "vault_token=%s" % config.get("vault_token")
        except Exception as error:
            outcome["stanley %s" % stanley_roles] = "error: %s" % str(error)[-200:]
    return outcome


def write_assignment(base, username, roles):
    path = os.path.join(base, "rbac", "assignments", "%s.yaml" % username)
    if roles:
        with open(path, "w") as handle:
            yaml.safe_dump({"username": username, "roles": roles}, handle)
    elif os.path.exists(path):
        os.remove(path)


def isolation(st2, fixtures, tokens):
    """[rbac] permission_isolation = True: who still opens an execution started by another user."""
    st2.cfg.CONF.set_override("permission_isolation", True, group="rbac")
    try:
        path = "/v1/executions/" + fixtures.executions["database_create"]
        return {user: st2.request(tokens[user], "GET", path).status_int
                for user in ("admin", "member_of_dbaas_self_service", "member_of_dbaas_admin")}
    finally:
        st2.cfg.CONF.clear_override("permission_isolation", group="rbac")


def sensor_service_keys(st2, base):
    """What docs/access.md says of `sensor_service`: without a role st2api lists none of the
    sensor's keys (an empty answer, not an error) and refuses its writes; with the built-in
    admin role it lists and writes them. The requests are the sensor's own: SensorDatastoreService
    list_values (GET /v1/keys?prefix=...) and set_value (PUT /v1/keys/<name>)."""
    prefix = "aws.CustomResourceSensor:crs.dbaas.stackstorm.com.v1alpha1.databases._all."
    name = prefix + "meta"
    admin = st2.token_for("admin")
    response = st2.request(admin, "PUT", "/v1/keys/" + name, {"name": name, "value": "{}"})
    assert response.status_int == 200, response.body
    outcome = {}
    for roles in ([], ["admin"]):
        write_assignment(base, "sensor_service", roles)
        st2.apply_rbac_definitions()
        token = st2.token_for("sensor_service")
        listed = st2.request(token, "GET", "/v1/keys?prefix=" + prefix)
        written = st2.request(token, "PUT", "/v1/keys/" + name, {"name": name, "value": "{}"})
        outcome[" ".join(roles) or "no role"] = {
            "list": [listed.status_int,
                     [kv["name"] for kv in listed.json] if listed.status_int == 200 else None],
            "PUT": written.status_int}
    write_assignment(base, "sensor_service", [])
    st2.apply_rbac_definitions()
    return outcome


def apply_refusals(st2, base):
    """st2-apply-rbac-definitions' loader on a bad role file; and a role whose file is gone."""
    outcome = {}
    bad = os.path.join(base, "rbac", "roles", "zz_bad.yaml")
    for grant in ({"resource_uid": "pack:aws", "permission_types": ["pack_fly"]},
                  {"resource_uid": "action:aws:boto3action", "permission_types": ["rule_view"]}):
        with open(bad, "w") as handle:
            yaml.safe_dump({"name": "zz_bad", "description": "bad", "enabled": True,
                            "permission_grants": [grant]}, handle)
        try:
            st2.apply_rbac_definitions()
            outcome[grant["permission_types"][0]] = None
        except Exception as error:
            outcome[grant["permission_types"][0]] = "%s: %s" % (type(error).__name__,
                                                                str(error)[:120])
    os.remove(bad)
    from st2rbac_backend.service import RBACService
    removed = os.path.join(base, "rbac", "roles", "zz_removed.yaml")
    with open(removed, "w") as handle:
        yaml.safe_dump({"name": "zz_removed", "description": "probe", "enabled": True,
                        "permission_grants": [{"resource_uid": "pack:aws",
                                               "permission_types": ["pack_view"]}]}, handle)
    write_assignment(base, "zz_removed_user", ["zz_removed"])
    st2.apply_rbac_definitions()
    before = RBACService.get_role_by_name("zz_removed") is not None
    os.remove(removed)
    write_assignment(base, "zz_removed_user", [])
    st2.apply_rbac_definitions()
    outcome["role removed with its file"] = (before,
                                             RBACService.get_role_by_name("zz_removed"))
    return outcome


def platform_boundary(st2, base, fixtures, tokens):
    """What the pack roles' per-resource grants close, next to grants one step wider
    (tests/test_rbac_st2.py):
    - rule_overwrite: delete one's own rule, then PUT its definition under the id of the other
      side's rule (st2api checks rule_modify on the rule the body names);
    - action_rewrite: PUT aws.database_plan with aws.kubernetes_call's entry point and
      parameters (st2api lets action_modify replace the whole definition);
    - rule_to_platform_action: PUT aws.database_create pointing at aws.kubernetes_call;
    - register: the sync's rule and sensor disabled by an admin, then POST /v1/packs/register by
      a pack owner, without and with the override file of docs/access.md."""
    wider = {"wider_rule_all": [("rule:aws:database_create", "rule_all"),
                                ("action:aws:database_create", "action_execute")],
             "wider_action_all": [("action:aws:database_plan", "action_all")]}
    for name, grants in wider.items():
        with open(os.path.join(base, "rbac", "roles", name + ".yaml"), "w") as handle:
            yaml.safe_dump({"name": name, "description": "probe", "enabled": True,
                            "permission_grants": [{"resource_uid": uid,
                                                   "permission_types": [permission_type]}
                                                  for uid, permission_type in grants]}, handle)
        write_assignment(base, name, [name])
    st2.apply_rbac_definitions()
    tokens = dict(tokens, **{name: st2.token_for(name) for name in wider})
    admin = tokens["admin"]

    def call(user, method, path, body=None):
        return st2.request(tokens[user], method, path, body).status_int

    def rule_state(name):
        response = st2.request(admin, "GET", "/v1/rules/aws." + name)
        if response.status_int != 200:
            return [response.status_int, None]
        return [200, response.json["action"]["ref"]]

    def register_as_admin(types):
        response = st2.request(admin, "POST", "/v1/packs/register",
                               {"packs": ["aws"], "types": types})
        assert response.status_int == 200, response.body

    outcome = {"rule_overwrite": {}, "action_rewrite": {}}
    for user, own, other in (("member_of_dbaas_admin", "database_create", "consul_sync"),
                             ("member_of_k8s_platform_admin", "consul_sync", "database_create"),
                             ("wider_rule_all", "database_create", "consul_sync")):
        own_body = fixtures._current("/v1/rules/aws." + own)
        other_id = fixtures._current("/v1/rules/aws." + other)["id"]
        steps = {"DELETE own": call(user, "DELETE", "/v1/rules/aws." + own),
                 "PUT own over other": call(user, "PUT", "/v1/rules/" + other_id,
                                            dict(own_body, id=other_id))}
        steps["other afterwards"] = rule_state(other)
        outcome["rule_overwrite"][user] = steps
        register_as_admin(["rules"])  # the pack's rules as their files define them

    plan = fixtures._current("/v1/actions/aws.database_plan")
    kubernetes_call = fixtures._current("/v1/actions/aws.kubernetes_call")
    rewritten = dict(plan, entry_point=kubernetes_call["entry_point"],
                     parameters=kubernetes_call["parameters"])
    for user in ("member_of_dbaas_admin", "wider_action_all"):
        status = call(user, "PUT", "/v1/actions/aws.database_plan", rewritten)
        outcome["action_rewrite"][user] = [
            status, fixtures._current("/v1/actions/aws.database_plan")["entry_point"]]
        assert st2.request(admin, "PUT", "/v1/actions/aws.database_plan",
                           plan).status_int == 200

    to_platform = fixtures._current("/v1/rules/aws.database_create")
    to_platform["action"] = {"ref": "aws.kubernetes_call",
                             "parameters": {"method": "list_namespace"}}
    outcome["rule_to_platform_action"] = {
        user: call(user, "PUT", "/v1/rules/" + to_platform["id"], to_platform)
        for user in ("member_of_dbaas_admin", "wider_rule_all")}
    register_as_admin(["rules"])

    def disable_sync():
        for path in ("/v1/rules/aws.consul_sync", "/v1/sensortypes/aws.ConsulKVSensor"):
            body = dict(fixtures._current(path), enabled=False)
            if path.startswith("/v1/rules/"):
                path = "/v1/rules/" + body["id"]
            assert st2.request(admin, "PUT", path, body).status_int == 200

    def sync_enabled():
        return [fixtures._current("/v1/rules/aws.consul_sync")["enabled"],
                fixtures._current("/v1/sensortypes/aws.ConsulKVSensor")["enabled"]]

    register = {"packs": ["aws"], "types": ["rules", "sensors"]}
    disable_sync()
    outcome["register"] = {"disabled by admin": sync_enabled(),
                           "status": call("member_of_dbaas_admin", "POST",
                                          "/v1/packs/register", register),
                           "after register": sync_enabled()}
    overrides = os.path.join(base, "overrides")
    os.makedirs(overrides, exist_ok=True)
    with open(os.path.join(overrides, "aws.yaml"), "w") as handle:
        handle.write(override_from_docs())
    disable_sync()
    call("member_of_dbaas_admin", "POST", "/v1/packs/register", register)
    outcome["register"]["after register with the override"] = sync_enabled()
    os.remove(os.path.join(overrides, "aws.yaml"))
    register_as_admin(["rules", "sensors"])
    return outcome


def override_from_docs():
    """The /opt/stackstorm/overrides/aws.yaml docs/access.md gives for keeping the sync off."""
    import re
    with open(os.path.join(st2_app.PACK_DIR, "docs", "access.md")) as handle:
        docs = handle.read()
    [block] = [block for block in re.findall(r"```yaml\n(.*?)```", docs, re.S)
               if "ConsulKVSensor" in block]
    return "\n".join(line[2:] if line.startswith("  ") else line
                     for line in block.splitlines()) + "\n"


def stream_app():
    from st2stream import app as stream_module
    return stream_module.setup_app()


def stream_status(app, token, path):
    """Status of a streaming request without reading its (endless) body."""
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = int(status.split(" ", 1)[0])

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path[len("/stream"):], "QUERY_STRING": "",
               "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
               "wsgi.input": sys.stdin.buffer, "HTTP_X_AUTH_TOKEN": token,
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1"}
    body = app(environ, start_response)
    close = getattr(body, "close", None)
    if captured["status"] >= 400:
        detail = b"".join(body).decode()[:200]
    else:
        detail = None
    if close:
        close()
    return captured["status"], detail


if __name__ == "__main__":
    main(sys.argv[1])
