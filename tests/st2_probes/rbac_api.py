"""Every request of tests/st2_rbac_model.py REQUESTS, as users of each role, against st2api.

usage: python -m tests.st2_probes.rbac_api WORKDIR   (StackStorm's virtualenv; prints JSON)

Users:
- one per role of rbac/roles (its group synchronised from rbac/mappings, as at sign-in);
- `admin`, `observer` (StackStorm's built-in roles) and `nobody` (no role);
- one per single-grant role: every (resource_uid, permission_type) the pack's roles grant, and
  every permission type StackStorm accepts on pack:aws, on the pack's action, rule, sensor and
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
        "rule:aws:database_create": "rule",
        "sensor_type:aws:CustomResourceSensor": "sensor_type",
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


class Fixtures:
    """Executions, an enforcement and datastore keys for the requests to act on."""

    def __init__(self, st2, admin_token):
        self.st2 = st2
        for key in ("vault_token", "consul_token", "other_secret"):
            response = st2.request(admin_token, "PUT", "/v1/keys/" + key,
                                   {"name": key, "value": "initial-" + key, "secret": True})
            assert response.status_int == 200, response.body
        self.executions = {}
        for action in ("database_create", "reconcile_databases"):
            self.executions[action] = self._execution(admin_token, "aws." + action)
        self.enforcement = self._enforcement()

    def _execution(self, token, ref):
        parameters = {"database_create": {"resource": {}},
                      "reconcile_databases": {}}[ref.split(".")[1]]
        response = self.st2.request(token, "POST", "/v1/executions",
                                    {"action": ref, "parameters": parameters})
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

    def request(self, request):
        """(method, path, body) of a request name of REQUESTS."""
        method, rest = request.split(" ", 1)
        body = None
        for action, execution_id in self.executions.items():
            rest = rest.replace("<aws.%s>" % action, execution_id)
        rest = rest.replace("<enforcement of aws.database_create>", self.enforcement)
        if rest.startswith("/v1/executions aws.") or rest.startswith("/v1/executions core."):
            ref = rest.split(" ", 1)[1]
            rest = "/v1/executions"
            body = {"action": ref, "parameters": {
                "aws.reconcile_databases": {},
                "aws.database_create": {"resource": {}},
                "aws.boto3action": {"service": "rds", "action_name": "describe_db_instances"},
                "aws.assume_role": {},
                "core.local": {"cmd": "true"},
            }[ref]}
        elif method == "PUT" and rest.startswith("/v1/rules/"):
            body = self._current("/v1/rules/aws.database_create")
            body["enabled"] = not body.get("enabled", True)
            # rules.py put stores the rule under the id of the path: PUT by id, as st2client does
            rest = "/v1/rules/" + body["id"]
        elif method == "PUT" and rest.startswith("/v1/sensortypes/"):
            body = self._current("/v1/sensortypes/aws.CustomResourceSensor")
            body["enabled"] = not body.get("enabled", True)
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
    fixtures.admin_token = tokens["admin"]
    stream = stream_app()
    results = {}
    order = sorted(REQUESTS, key=lambda r: (r.startswith(("DELETE", "PUT", "POST")), r))
    for request in order:
        results[request] = {}
        for user in users:
            method, path, body = fixtures.request(request)
            if request == "DELETE /v1/keys/consul_token":
                fixtures.put_key("consul_token")
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
        "sensor_role_from_docs": sensor_role_from_docs(st2, base),
        "apply_refusals": apply_refusals(st2, base),
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


def sensor_role_from_docs(st2, base):
    """Run the shell snippet of docs/access.md that writes dbaas_sensor.yaml, load it, and ask
    st2api as sensor_service for a key it covers and one it does not."""
    import re
    import subprocess
    with open(os.path.join(st2_app.PACK_DIR, "docs", "access.md")) as handle:
        docs = handle.read()
    [snippet] = [block for block in re.findall(r"```sh\n(.*?)```", docs, re.S)
                 if "dbaas_sensor" in block]
    snippet = "\n".join(line.strip() for line in snippet.splitlines())
    snippet = snippet.replace("| sudo tee /opt/stackstorm/rbac/roles/dbaas_sensor.yaml >/dev/null",
                              "")
    role = subprocess.run(["bash", "-c", snippet], check=True, capture_output=True,
                          text=True).stdout
    with open(os.path.join(base, "rbac", "roles", "dbaas_sensor.yaml"), "w") as handle:
        handle.write(role)
    write_assignment(base, "sensor_service", ["dbaas_sensor"])
    st2.apply_rbac_definitions()
    token = st2.token_for("sensor_service")
    prefix = "aws.CustomResourceSensor:crs.dbaas.stackstorm.com.v1alpha1.databases._all."
    outcome = {"grants": role.count("resource_uid:")}
    for name in (prefix + "meta", prefix + "3f", prefix + "40", "vault_token"):
        response = st2.request(token, "PUT", "/v1/keys/" + name, {"name": name, "value": "x"})
        outcome["PUT " + name] = response.status_int
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
    before = RBACService.get_role_by_name("dbaas_sensor") is not None
    os.remove(os.path.join(base, "rbac", "roles", "dbaas_sensor.yaml"))
    write_assignment(base, "sensor_service", [])
    st2.apply_rbac_definitions()
    outcome["role removed with its file"] = (before,
                                             RBACService.get_role_by_name("dbaas_sensor"))
    return outcome


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
