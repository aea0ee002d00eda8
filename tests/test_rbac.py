"""StackStorm RBAC definitions (rbac/) and the LDAP sign-in example (st2/st2.conf.ldap.example).

StackStorm is not installable here, so the rules st2 applies when it loads these files are
restated from its source: the permission types of st2 v3.9.0 (tests/fixtures/
st2_permission_types.txt), the role and mapping file formats (st2common/models/api/rbac.py
RoleDefinitionFileFormatAPI, AuthGroupToRoleMapAssignmentFileFormatAPI) and the arguments of
st2-auth-ldap's LDAPAuthenticationBackend.
"""

import configparser
import glob
import json
import os
import re

import pytest
import yaml

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RBAC_DIR = os.path.join(PACK_DIR, "rbac")
LDAP_EXAMPLE = os.path.join(PACK_DIR, "st2", "st2.conf.ldap.example")
PERMISSION_TYPES_FILE = os.path.join(PACK_DIR, "tests", "fixtures", "st2_permission_types.txt")
SYSTEM_ROLES = {"system_admin", "admin", "observer"}  # st2common/rbac/types.py SystemRole
ROLE_KEYS = {"name", "description", "enabled", "permission_grants"}
GRANT_KEYS = {"resource_uid", "permission_types"}
MAPPING_KEYS = {"group", "description", "enabled", "roles"}
# st2auth_ldap/ldap_backend.py LDAPAuthenticationBackend.__init__ (StackStorm/st2-auth-ldap
# b0bdcf1e6ca11cf9c8541f09961fb32ee0690493): the arguments without a default, and all of them.
LDAP_REQUIRED = {"bind_dn", "bind_password", "base_ou", "group_dns", "host"}
LDAP_ACCEPTED = LDAP_REQUIRED | {
    "port", "scope", "id_attr", "account_pattern", "group_pattern", "use_ssl", "use_tls",
    "cacert", "network_timeout", "chase_referrals", "debug", "client_options",
    "group_dns_check", "cache_user_groups_response", "cache_user_groups_cache_ttl",
    "cache_user_groups_cache_max_size", "base_ou_group"}
# Actions that act with the pack's AWS identity, or with Vault/Consul/Kubernetes write access,
# whatever the caller passes: application teams never run them directly.
PRIVILEGED_ACTIONS = {"boto3action", "assume_role"}
READ_ONLY_AWS_CALL = re.compile(r"^(describe|list|get)_")


def load_permission_types(path=PERMISSION_TYPES_FILE):
    """{resource type or "global": {permission types}} from the fixture."""
    table = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                resource_type, permission_type = line.split()
                table.setdefault(resource_type, set()).add(permission_type)
    return table


PERMISSION_TYPES = load_permission_types()


def load_yaml_files(folder):
    result = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.yaml"))):
        with open(path) as f:
            result[os.path.relpath(path, PACK_DIR)] = yaml.safe_load(f)
    return result


def pack_resources(pack_dir=PACK_DIR):
    """The uids of the pack's resources that a grant may name."""
    uids = {"pack:aws"}
    for path in glob.glob(os.path.join(pack_dir, "actions", "*.yaml")):
        uids.add("action:aws:%s" % os.path.splitext(os.path.basename(path))[0])
    for path in glob.glob(os.path.join(pack_dir, "rules", "*.yaml")):
        with open(path) as f:
            uids.add("rule:aws:%s" % (yaml.safe_load(f) or {}).get("name"))
    for path in glob.glob(os.path.join(pack_dir, "sensors", "*.yaml")):
        with open(path) as f:
            uids.add("sensor_type:aws:%s" % (yaml.safe_load(f) or {}).get("class_name"))
    with open(os.path.join(pack_dir, "aws.yaml.example")) as f:
        for key in re.findall(r"st2kv\.system\.(\w+)", f.read()):
            uids.add("key_value_pair:st2kv.system:%s" % key)
    return uids


def role_problems(where, role, resources, permission_types=None):
    """What st2-apply-rbac-definitions would refuse, plus grants on things the pack lacks."""
    permission_types = permission_types or PERMISSION_TYPES
    if not isinstance(role, dict):
        return ["%s: expected a mapping" % where]
    problems = []
    if set(role) - ROLE_KEYS:
        problems.append("%s: unknown keys %s (allowed: %s)"
                        % (where, sorted(set(role) - ROLE_KEYS), ", ".join(sorted(ROLE_KEYS))))
    if not isinstance(role.get("name"), str) or not role.get("name"):
        problems.append("%s: `name` must be a non-empty string" % where)
    elif os.path.basename(where) != role["name"] + ".yaml":
        problems.append("%s: file must be named after the role (%s.yaml)" % (where, role["name"]))
    if role.get("name") in SYSTEM_ROLES:
        problems.append("%s: %s is a built-in role and cannot be redefined" % (where, role["name"]))
    if not isinstance(role.get("description"), str) or not role.get("description"):
        problems.append("%s: needs a `description`" % where)
    if role.get("enabled") is not True:
        problems.append("%s: `enabled: true` expected (disabled roles are silently skipped)"
                        % where)
    for index, grant in enumerate(role.get("permission_grants") or []):
        here = "%s: permission_grants[%d]" % (where, index)
        if not isinstance(grant, dict) or set(grant) - GRANT_KEYS:
            problems.append("%s: expected a mapping with keys %s" % (here, sorted(GRANT_KEYS)))
            continue
        types = grant.get("permission_types") or []
        if not types or len(set(types)) != len(types):
            problems.append("%s: permission_types must be a non-empty list without repeats"
                            % here)
        uid = grant.get("resource_uid")
        if uid is None:
            valid, kind = permission_types["global"], "without a resource_uid (global)"
        else:
            resource_type = str(uid).split(":", 1)[0]
            valid = permission_types.get(resource_type, set())
            kind = "on a %s" % resource_type
            if uid not in resources:
                problems.append("%s: resource_uid %s names nothing in this pack" % (here, uid))
        for permission_type in types:
            if not any(permission_type in v for v in permission_types.values()):
                problems.append("%s: %s is not a StackStorm permission type"
                                % (here, permission_type))
            elif permission_type not in valid:
                problems.append("%s: %s is not valid %s" % (here, permission_type, kind))
    return problems


def executable_actions(role, actions):
    """Actions of the pack a role lets its users run (action_execute or action_all)."""
    result = set()
    for grant in role.get("permission_grants") or []:
        if not {"action_execute", "action_all"} & set(grant.get("permission_types") or []):
            continue
        uid = grant.get("resource_uid")
        if uid == "pack:aws":
            result |= set(actions)
        elif uid and uid.startswith("action:aws:"):
            result.add(uid.split(":", 2)[2])
    return result


def pack_actions():
    return {os.path.splitext(os.path.basename(p))[0]
            for p in glob.glob(os.path.join(PACK_DIR, "actions", "*.yaml"))}


ROLES = load_yaml_files(os.path.join(RBAC_DIR, "roles"))
MAPPINGS = load_yaml_files(os.path.join(RBAC_DIR, "mappings"))


def role_named(name):
    [role] = [r for r in ROLES.values() if r.get("name") == name]
    return role


def test_permission_types_fixture_has_what_the_roles_rely_on():
    assert {"pack_view", "action_view", "rule_view", "sensor_type_view", "action_execute",
            "pack_all", "action_all", "rule_all", "sensor_type_all"} <= PERMISSION_TYPES["pack"]
    assert "key_value_pair_all" in PERMISSION_TYPES["key_value_pair"]
    assert {"execution_list", "stream_view", "pack_config"} <= PERMISSION_TYPES["global"]
    assert "action_execute" not in PERMISSION_TYPES["global"]


def test_the_roles_and_mappings_exist():
    assert sorted(r["name"] for r in ROLES.values()) == ["dbaas_admin", "dbaas_self_service",
                                                         "k8s_platform_admin"]
    assert sorted(MAPPINGS) == ["rbac/mappings/app_teams.yaml", "rbac/mappings/dbaas_admins.yaml",
                                "rbac/mappings/platform_admins.yaml",
                                "rbac/mappings/st2_admins.yaml"]


@pytest.mark.parametrize("where", sorted(ROLES))
def test_role_is_valid_for_stackstorm_and_this_pack(where):
    assert role_problems(where, ROLES[where], pack_resources()) == []


def test_self_service_runs_only_the_drift_report():
    role = role_named("dbaas_self_service")
    assert executable_actions(role, pack_actions()) == {"reconcile_databases"}
    granted = {t for g in role["permission_grants"] for t in g["permission_types"]}
    # nothing that changes StackStorm content, config or the datastore
    assert not {t for t in granted
                if re.search(r"_(all|create|modify|delete|set|install|uninstall|register|"
                             r"config|rerun|stop|send|respond)$", t)}, granted
    assert not [g for g in role["permission_grants"]
                if str(g.get("resource_uid", "")).startswith("key_value_pair:")]


def workflow_calls(action_name, seen=None):
    """(action, input) of every task of a workflow action, nested workflows included."""
    seen = set() if seen is None else seen
    if action_name in seen:
        return []
    seen.add(action_name)
    with open(os.path.join(PACK_DIR, "actions", action_name + ".yaml")) as f:
        meta = yaml.safe_load(f)
    if meta["runner_type"] != "orquesta":
        return []
    with open(os.path.join(PACK_DIR, "actions", meta["entry_point"])) as f:
        workflow = yaml.safe_load(f)
    calls = []
    for task in (workflow.get("tasks") or {}).values():
        ref = task.get("action") or ""
        if ref.startswith("aws."):
            calls.append((ref[4:], task.get("input") or {}))
            calls += workflow_calls(ref[4:], seen)
        elif ref:
            calls.append((ref, task.get("input") or {}))
    return calls


def test_what_self_service_runs_only_reads_aws():
    role = role_named("dbaas_self_service")
    for name in sorted(executable_actions(role, pack_actions())):
        assert name not in PRIVILEGED_ACTIONS
        for called, task_input in workflow_calls(name):
            if called == "boto3action":
                assert READ_ONLY_AWS_CALL.match(str(task_input.get("action_name"))), task_input
            else:
                assert not called.startswith(("database_create", "database_update",
                                              "database_delete", "database_cleanup",
                                              "database_finalizer", "database_set_status",
                                              "database_store_credentials",
                                              "database_publish_config")), called


def test_admin_role_covers_the_pack_and_its_secrets():
    role = role_named("dbaas_admin")
    assert executable_actions(role, pack_actions()) == pack_actions()
    kv = sorted(g["resource_uid"] for g in role["permission_grants"]
                if g.get("resource_uid", "").startswith("key_value_pair:"))
    secrets_in_example = sorted(u for u in pack_resources() if u.startswith("key_value_pair:"))
    assert kv == secrets_in_example


@pytest.mark.parametrize("where", sorted(MAPPINGS))
def test_mapping_is_valid(where):
    mapping = MAPPINGS[where]
    assert set(mapping) <= MAPPING_KEYS, where
    assert mapping["enabled"] is True and mapping["description"]
    assert re.match(r"^cn=[^,]+(,(ou|dc|o)=[^,]+)+$", mapping["group"]), mapping["group"]
    defined = {r["name"] for r in ROLES.values()} | SYSTEM_ROLES
    assert mapping["roles"] and set(mapping["roles"]) <= defined, mapping["roles"]
    assert len(set(mapping["roles"])) == len(mapping["roles"])
    # the group must also be allowed to sign in at all
    assert mapping["group"] in ldap_kwargs()["group_dns"]


def test_mappings_name_each_group_once():
    groups = [m["group"] for m in MAPPINGS.values()]
    assert len(groups) == len(set(groups))


def ldap_config(path=LDAP_EXAMPLE):
    parser = configparser.ConfigParser(interpolation=None)
    with open(path) as f:
        parser.read_file(f)
    return parser


def ldap_kwargs():
    return json.loads(ldap_config()["auth"]["backend_kwargs"])


def test_ldap_example_parses_and_enables_rbac_with_group_sync():
    config = ldap_config()
    assert config["auth"]["mode"] == "standalone"
    assert config["auth"]["backend"] == "ldap"
    assert config["auth"].getboolean("enable") is True
    assert config["rbac"].getboolean("enable") is True
    assert config["rbac"]["backend"] == "default"
    assert config["rbac"].getboolean("sync_remote_groups") is True


def test_ldap_backend_kwargs_are_what_st2_auth_ldap_takes():
    kwargs = ldap_kwargs()
    assert LDAP_REQUIRED <= set(kwargs), LDAP_REQUIRED - set(kwargs)
    assert set(kwargs) <= LDAP_ACCEPTED, set(kwargs) - LDAP_ACCEPTED
    assert "port" in kwargs and isinstance(kwargs["port"], int)
    assert not (kwargs.get("use_ssl") and kwargs.get("use_tls"))
    assert kwargs.get("use_ssl") or kwargs.get("use_tls"), "bind password must not travel in clear"
    assert kwargs.get("scope", "subtree") in ("base", "onelevel", "subtree")
    assert kwargs.get("group_dns_check", "and") in ("and", "or")
    assert isinstance(kwargs["group_dns"], list) and kwargs["group_dns"]


def test_ldap_example_holds_no_real_secret():
    assert re.match(r"^<.*>$", ldap_kwargs()["bind_password"])


# --- the checks themselves fail on bad definitions --------------------------------------------

def test_role_problems_names_each_mistake():
    resources = {"pack:aws", "action:aws:reconcile_databases"}
    role = {
        "name": "bad", "description": "Bad.", "enabled": True, "colour": "red",
        "permission_grants": [
            {"resource_uid": "pack:aws", "permission_types": ["pack_view", "pack_fly"]},
            {"resource_uid": "action:aws:reconcile_databases",
             "permission_types": ["rule_view"]},
            {"resource_uid": "action:aws:no_such_action", "permission_types": ["action_view"]},
            {"permission_types": ["action_execute"]},
            {"resource_uid": "pack:aws", "permission_types": []},
        ],
    }
    assert role_problems("rbac/roles/bad.yaml", role, resources) == [
        "rbac/roles/bad.yaml: unknown keys ['colour'] (allowed: description, enabled, name, "
        "permission_grants)",
        "rbac/roles/bad.yaml: permission_grants[0]: pack_fly is not a StackStorm permission type",
        "rbac/roles/bad.yaml: permission_grants[1]: rule_view is not valid on a action",
        "rbac/roles/bad.yaml: permission_grants[2]: resource_uid action:aws:no_such_action "
        "names nothing in this pack",
        "rbac/roles/bad.yaml: permission_grants[3]: action_execute is not valid without a "
        "resource_uid (global)",
        "rbac/roles/bad.yaml: permission_grants[4]: permission_types must be a non-empty list "
        "without repeats",
    ]
    assert role_problems("rbac/roles/other.yaml", dict(role, name="admin", enabled=False,
                                                       permission_grants=[]), resources) == [
        "rbac/roles/other.yaml: unknown keys ['colour'] (allowed: description, enabled, name, "
        "permission_grants)",
        "rbac/roles/other.yaml: file must be named after the role (admin.yaml)",
        "rbac/roles/other.yaml: admin is a built-in role and cannot be redefined",
        "rbac/roles/other.yaml: `enabled: true` expected (disabled roles are silently skipped)",
    ]


def test_executable_actions_sees_pack_wide_grants():
    actions = {"boto3action", "assume_role", "reconcile_databases"}
    role = {"permission_grants": [{"resource_uid": "pack:aws", "permission_types": ["action_all"]}]}
    assert executable_actions(role, actions) == actions
    role = {"permission_grants": [{"resource_uid": "pack:aws", "permission_types": ["action_view"]},
                                  {"resource_uid": "action:aws:boto3action",
                                   "permission_types": ["action_execute"]}]}
    assert executable_actions(role, actions) == {"boto3action"}
