"""StackStorm RBAC definitions (rbac/) and the LDAP sign-in example (st2/st2.conf.ldap.example).

StackStorm is not installable here, so the rules st2 applies are restated from its source and
checked here: the permission types of st2 v3.9.0 (tests/fixtures/st2_permission_types.txt), the
role and mapping file formats (st2common/models/api/rbac.py RoleDefinitionFileFormatAPI,
AuthGroupToRoleMapAssignmentFileFormatAPI), which grants st2-rbac-backend's resolvers consult for
which request (tests/st2_rbac_model.py), the arguments of st2-auth-ldap's
LDAPAuthenticationBackend, and how oslo.config reads st2.conf (tests/st2_conf.py). The same facts
are run against StackStorm itself by tests/test_rbac_st2.py when StackStorm is importable.
"""

import glob
import os
import re

import pytest
import yaml

from tests import st2_conf
from tests import st2_rbac_model as model
from tests.rbac_files import (
    DOCS, LDAP_ACCEPTED, LDAP_DEFAULTS, LDAP_EXAMPLE, LDAP_REQUIRED, MAPPINGS, PACK_DIR,
    PERMISSION_TYPES, ROLES, SYSTEM_ROLES, docs_role_table, ldap_kwargs, ldap_sections,
    pack_actions, read, role_named, workflow_calls)
from tests.st2_rbac_model import executable_actions, passing

ROLE_KEYS = {"name", "description", "enabled", "permission_grants"}
GRANT_KEYS = {"resource_uid", "permission_types"}
MAPPING_KEYS = {"group", "description", "enabled", "roles"}
# The platform admins' actions: any Kubernetes call on any configured cluster (Secrets included),
# the A/B migration, the Consul KV sync. Their rule and sensor.
PLATFORM_ACTIONS = set(model.PLATFORM_ACTIONS)
PLATFORM_RULES = {"consul_sync"}
PLATFORM_SENSORS = {"ConsulKVSensor"}
# The database side: provisioning workflows and their steps, the resync, the drift report, the
# generic AWS call and role assumption the workflows' steps run.
DATABASE_ACTIONS = {"database_create", "database_update", "database_delete", "database_plan",
                    "database_set_status", "database_store_credentials",
                    "database_publish_config", "database_finalizer", "database_cleanup",
                    "database_check_locations", "database_drift_report",
                    "database_resync", "database_resync_plan", "database_resync_run",
                    "database_parameter_group", "reconcile_databases", "boto3action",
                    "assume_role"}
DATABASE_RULES = {"database_create", "database_update", "database_delete",
                  "database_delete_on_add", "reconcile_databases", "database_resync",
                  "database_retry"}
DATABASE_SENSORS = {"CustomResourceSensor"}
# What each role of rbac/roles may do to the pack's content, by name: run (and so re-run and
# stop the executions of) these actions, edit/enable/disable these rules and sensors; nothing
# else (no action or rule changed, added or deleted through the API). Compared with the role
# files through st2-rbac-backend's rules (tests/st2_rbac_model.py) over the pack's actions, rules
# and sensors plus ones it does not have yet: StackStorm RBAC has no deny, so a grant on pack:aws
# would hand a role every action added later. A new action is run by StackStorm admins only
# until it is listed here and granted in rbac/roles/.
LISTED = {
    "dbaas_self_service": {"run": {"reconcile_databases"}, "rules": set(), "sensors": set()},
    "dbaas_admin": {"run": DATABASE_ACTIONS, "rules": DATABASE_RULES,
                    "sensors": DATABASE_SENSORS},
    "k8s_platform_admin": {"run": PLATFORM_ACTIONS, "rules": PLATFORM_RULES,
                           "sensors": PLATFORM_SENSORS},
}
NOT_YET_IN_THE_PACK = "added_later"
# Actions that act with the pack's AWS identity, or with Vault/Consul/Kubernetes write access,
# whatever the caller passes: application teams never run them directly.
PRIVILEGED_ACTIONS = {"boto3action", "assume_role"} | PLATFORM_ACTIONS
READ_ONLY_AWS_CALL = re.compile(r"^(describe|list|get)_")


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


def what_role_does(role, actions, rules, sensors):
    """What a role does to the pack's content, in LISTED's terms, plus what no role of the pack
    may do (changing, adding or deleting actions and rules through the API)."""
    stops = {name for name in actions
             if model.passes(("execution", "execution_stop", "action:aws:" + name), [role])}
    return {
        "run": executable_actions(role, actions),
        "stop": stops,
        "rules": passing(role, "rule_modify", rules),
        "sensors": passing(role, "sensor_type_modify", sensors),
        "change, add or delete actions": passing(role, "action_modify", actions)
        | passing(role, "action_delete", actions) | passing(role, "action_create", actions),
        "add or delete rules": passing(role, "rule_delete", rules)
        | passing(role, "rule_create", rules),
    }


def pack_names(kind):
    """Names of the pack's rules (kind "rule") or sensor classes ("sensor_type")."""
    return {uid.split(":", 2)[2] for uid in pack_resources() if uid.startswith(kind + ":aws:")}


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


@pytest.mark.parametrize("name", sorted(LISTED))
def test_role_acts_on_exactly_what_is_listed(name):
    """Run, re-run, stop; edit rules and sensors: exactly LISTED, over the pack's content and
    content it does not have yet (a pack-wide grant would reach it); nothing changes, adds or
    deletes actions or rules."""
    actions = pack_actions() | {NOT_YET_IN_THE_PACK}
    rules = pack_names("rule") | {NOT_YET_IN_THE_PACK}
    sensors = pack_names("sensor_type") | {NOT_YET_IN_THE_PACK}
    listed = LISTED[name]
    assert what_role_does(role_named(name), actions, rules, sensors) == {
        "run": listed["run"], "stop": listed["run"], "rules": listed["rules"],
        "sensors": listed["sensors"], "change, add or delete actions": set(),
        "add or delete rules": set()}


def test_every_action_rule_and_sensor_of_the_pack_is_listed_for_a_role():
    """A new action, rule or sensor makes this fail until it is given to a role of LISTED (or
    deliberately to none: then list it here)."""
    assert pack_actions() == set().union(*(v["run"] for v in LISTED.values()))
    assert pack_names("rule") == set().union(*(v["rules"] for v in LISTED.values()))
    assert pack_names("sensor_type") == set().union(*(v["sensors"] for v in LISTED.values()))


def test_what_each_role_is_listed_for_is_apart():
    """The database side and the platform side share nothing."""
    assert not DATABASE_ACTIONS & PLATFORM_ACTIONS
    assert not DATABASE_RULES & PLATFORM_RULES
    assert not DATABASE_SENSORS & PLATFORM_SENSORS
    assert LISTED["dbaas_self_service"]["run"] <= DATABASE_ACTIONS


def test_a_pack_wide_grant_fails_the_listing():
    """What the role files looked like before: action_all, rule_all, sensor_type_all on
    pack:aws reach the platform actions and any action added later."""
    pack_wide = {"permission_grants": [{"resource_uid": "pack:aws", "permission_types": [
        "action_all", "rule_all", "sensor_type_all"]}]}
    does = what_role_does(pack_wide, pack_actions() | {NOT_YET_IN_THE_PACK},
                          pack_names("rule"), pack_names("sensor_type"))
    assert PLATFORM_ACTIONS | {NOT_YET_IN_THE_PACK} <= does["run"]
    assert does["rules"] == pack_names("rule")
    assert does["change, add or delete actions"] == pack_actions() | {NOT_YET_IN_THE_PACK}
    execute_each = {"permission_grants": [{"resource_uid": "action:aws:" + name,
                                           "permission_types": ["action_all"]}
                                          for name in sorted(DATABASE_ACTIONS)]}
    assert what_role_does(execute_each, pack_actions(), set(), set())[
        "change, add or delete actions"] == DATABASE_ACTIONS


@pytest.mark.parametrize("name", sorted(LISTED))
def test_workflows_a_role_runs_reach_no_other_sides_action(name):
    """An Orquesta workflow runs its tasks without asking RBAC again: a database workflow that
    called aws.kubernetes_call would let the pack owners run it."""
    runs = LISTED[name]["run"]
    other_side = PLATFORM_ACTIONS if runs <= DATABASE_ACTIONS else DATABASE_ACTIONS
    for action in sorted(runs):
        called = {called for called, _ in workflow_calls(action)}
        assert not called & other_side, (action, called & other_side)
        if name != "dbaas_self_service":  # the drift report's steps: see the test above
            assert called <= runs | {"core.noop"}, (action, called - runs)


def test_admin_role_covers_the_pack_secrets():
    role = role_named("dbaas_admin")
    kv = sorted(g["resource_uid"] for g in role["permission_grants"]
                if g.get("resource_uid", "").startswith("key_value_pair:"))
    secrets_in_example = sorted(u for u in pack_resources() if u.startswith("key_value_pair:"))
    assert kv == secrets_in_example
    for uid in kv:
        for request in ("PUT", "DELETE", "GET"):
            check = {"PUT": "key_value_pair_set", "DELETE": "key_value_pair_delete",
                     "GET": "key_value_pair_view"}[request]
            assert model.passes(("resource", check, uid), [role]), (uid, check)


def test_docs_table_has_a_row_for_each_side():
    """docs/access.md section 3 states, for every role, running the platform actions and
    editing the sync's rule and sensor with the exact requests the model checks."""
    rows = {request: answers for _, requests, answers in docs_role_table()
            for request in requests}
    expected = ["POST /v1/executions aws.%s" % name for name in sorted(PLATFORM_ACTIONS)]
    expected += ["POST /v1/executions/<aws.%s>/re_run" % name for name in sorted(PLATFORM_ACTIONS)]
    expected += ["DELETE /v1/executions/<aws.%s>" % name for name in sorted(PLATFORM_ACTIONS)]
    expected += ["PUT /v1/rules/aws.consul_sync", "PUT /v1/sensortypes/aws.ConsulKVSensor"]
    for request in expected:
        assert request in rows, request
        cells = {role or system: cell for role, system, cell in rows[request].values()}
        assert cells == {"dbaas_self_service": "no", "dbaas_admin": "no",
                         "k8s_platform_admin": "yes", "admin": "yes", "observer": "no"}


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


def test_ldap_example_parses_and_enables_rbac_with_group_sync():
    """Read as StackStorm reads it: oslo.config's file format and `$` substitution."""
    config = ldap_sections()

    def value(section, key):
        return st2_conf.substitute(config[section][key])

    assert value("auth", "mode") == "standalone"
    assert value("auth", "backend") == "ldap"
    assert value("auth", "enable") == "True"
    assert value("rbac", "enable") == "True"
    assert value("rbac", "backend") == "default"
    assert value("rbac", "sync_remote_groups") == "True"
    assert value("rbac", "permission_isolation") == "False"


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


# --- what the grants do (st2-rbac-backend's resolvers, tests/st2_rbac_model.py) ---------------

@pytest.mark.parametrize("where", sorted(ROLES))
def test_every_grant_is_one_stackstorm_consults(where):
    """st2-apply-rbac-definitions accepts pack_all, rule_enforcement_list, trigger_list, and
    global types given on a resource; the resolvers then never consult them, or consult them for
    every pack. A role must say what it does."""
    assert model.grant_problems(where, ROLES[where]) == []


def test_grant_problems_names_each_mistake():
    role = {"permission_grants": [
        {"resource_uid": "pack:aws", "permission_types": ["pack_all", "pack_view", "action_all"]},
        {"resource_uid": "pack:aws", "permission_types": ["pack_register"]},
        {"permission_types": ["rule_enforcement_list", "trigger_list", "rule_list"]},
        {"resource_uid": "key_value_pair:st2kv.system:vault_token",
         "permission_types": ["key_value_pair_set"]},
    ]}
    assert model.grant_problems("r.yaml", role) == [
        "r.yaml: permission_grants[0] (pack:aws): pack_all is never consulted by "
        "st2-rbac-backend's resolvers: it grants nothing",
        "r.yaml: permission_grants[1] (pack:aws): pack_register acts on every pack, not only "
        "on pack:aws: give it without resource_uid",
        "r.yaml: permission_grants[2] (global): rule_enforcement_list is never consulted by "
        "st2-rbac-backend's resolvers: it grants nothing",
        "r.yaml: permission_grants[2] (global): trigger_list is never consulted by "
        "st2-rbac-backend's resolvers: it grants nothing",
    ]


def test_honoured_types_are_types_stackstorm_accepts_there():
    """The model's table only names permission types st2 accepts for that resource type."""
    for resource_type, honoured in model.HONOURED.items():
        valid = PERMISSION_TYPES["global" if resource_type is None else resource_type]
        assert honoured["scoped"] | honoured["global"] <= valid, resource_type
    assert "pack_all" in PERMISSION_TYPES["pack"]
    assert "pack_all" not in model.HONOURED["pack"]["scoped"] | model.HONOURED["pack"]["global"]


def test_pack_owners_can_open_the_pack_and_its_config():
    """GET /v1/packs/aws and /v1/configs/aws ask for pack_view exactly (PackPermissionsResolver):
    pack_all was a 403 on both."""
    admin = role_named("dbaas_admin")
    for request in ("GET /v1/packs/aws", "GET /v1/configs/aws"):
        assert model.allows(request, [admin]), request
        pack_all_only = {"permission_grants": [{"resource_uid": "pack:aws",
                                                "permission_types": ["pack_all"]}]}
        assert not model.allows(request, [pack_all_only]), request


def test_model_requests_are_the_documented_ones():
    documented = [request for _, requests, _ in docs_role_table() for request in requests]
    assert sorted(documented) == sorted(set(documented)), "a request in two rows"
    assert set(documented) == set(model.REQUESTS)


def test_docs_role_table_is_what_stackstorm_allows():
    """Each cell of docs/access.md section 3, against the role files and st2's rules. A row's
    requests must all be allowed (yes) or all refused (no)."""
    rows = docs_role_table()
    assert rows, "docs/access.md has no table with a `requests` column"
    wrong = []
    for what, requests, answers in rows:
        for column, (role, system_role, cell) in answers.items():
            roles = [role_named(role)] if role else []
            system = [system_role] if system_role else []
            allowed = {request: model.allows(request, roles, system) for request in requests}
            expected = {"yes": True, "no": False}.get(cell)
            if expected is None or set(allowed.values()) != {expected}:
                wrong.append("%s / %s: docs say %r, StackStorm: %s"
                             % (what, column, cell, allowed))
    assert wrong == []


def test_whoever_may_set_a_pack_secret_may_read_it_decrypted_and_the_docs_say_so():
    """st2api's GET /v1/keys/<name>?decrypt=true asks only for key_value_pair_view, which every
    grant on the key passes (KeyValuePermissionsResolver.view_grant_permission_types)."""
    for types in (["key_value_pair_set"], ["key_value_pair_delete"], ["key_value_pair_all"],
                  ["key_value_pair_list"]):
        role = {"permission_grants": [{"resource_uid": model.KEY % "vault_token",
                                       "permission_types": types}]}
        assert model.allows("GET /v1/keys/vault_token?decrypt=true", [role]), types
    rows = {request: answers for _, requests, answers in docs_role_table()
            for request in requests}
    decrypt = rows.get("GET /v1/keys/vault_token?decrypt=true")
    assert decrypt, "docs/access.md does not say who reads the pack's secrets decrypted"
    assert {column: cell for column, (_, _, cell) in decrypt.items()} == {
        "`dbaas_self_service` (app teams)": "no", "`dbaas_admin` (pack owners)": "yes",
        "`k8s_platform_admin` (platform admins)": "no", "built-in `admin`": "yes",
        "built-in `observer`": "yes"}


# --- sign-in (st2-auth-ldap) -------------------------------------------------------------------

def effective_ldap(kwargs):
    return {key: kwargs.get(key, default) for key, default in LDAP_DEFAULTS.items()}


def test_docs_say_how_long_group_changes_take():
    """st2-auth-ldap caches each user's groups (on unless the example turns it off) for
    cache_user_groups_cache_ttl seconds: a moved user keeps the old roles and a user removed
    from every group can still sign in until then (tests/test_rbac_st2.py shows it on slapd)."""
    ldap = effective_ldap(ldap_kwargs())
    docs = " ".join(read(DOCS).split())
    example = " ".join(read(LDAP_EXAMPLE).split())
    default_ttl = LDAP_DEFAULTS["cache_user_groups_cache_ttl"]
    assert "`cache_user_groups_cache_ttl` seconds (default %d)" % default_ttl in docs
    assert ("a user moved between groups signs in again with the old roles, and a user removed "
            "from every group can still sign in") in docs
    if ldap["cache_user_groups_response"]:
        assert "The example sets it to `%d`" % ldap["cache_user_groups_cache_ttl"] in docs
    else:
        assert "The example sets it to `false`" in docs
        assert "cache_user_groups_cache_ttl %d s" % default_ttl in example
    assert "Roles belong to the user, not to the token" in docs
    assert "their tokens keep working with those roles until each expires" in docs


def test_example_token_ttl_is_the_one_the_docs_name():
    ttl = int(st2_conf.substitute(ldap_sections()["auth"]["token_ttl"]))
    assert "`token_ttl` (%d s" % ttl in " ".join(read(DOCS).split())
