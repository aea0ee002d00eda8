"""What StackStorm checks when a user calls st2api, and which role grants pass each check.

StackStorm is not installable in the project's CI, so the rules are restated here as data, from
StackStorm/st2 (master c2eaf56b, the same code as v3.9 for everything below) and
StackStorm/st2-rbac-backend (e8229655):

- which permission each request asks for: st2common/st2common/openapi.yaml (`x-permissions`,
  checked by st2common/router.py before the controller runs, as a global permission) and the
  st2api controllers (st2api/controllers/v1/*.py, `assert_user_has_resource_db_permission`);
- which grants answer that question: st2rbac_backend/resolvers.py.

tests/test_rbac_st2.py (opt-in, in StackStorm's virtualenv) runs every request of REQUESTS
against the real st2api with RBAC on and asserts that StackStorm allows exactly what `allows()`
predicts, for the pack's roles, the built-in roles and one-grant roles of every permission type
these roles use: the tables below are checked against StackStorm's code, not only read from it.
"""

SYSTEM_ADMIN_ROLES = {"system_admin", "admin"}
OBSERVER = "observer"
# resolvers.py READ_PERMISSION_NAMES: the built-in observer role passes every check whose
# permission name (PermissionType.get_permission_name: the text after the last "_") is one of
# these, on every resource, datastore keys of the system scope included.
OBSERVER_PERMISSION_NAMES = {"view", "list", "search"}

# Permission types a content resolver accepts for a check, in a grant on the resource itself or
# on its pack (ContentPackResourcePermissionsResolver._user_has_resource_permission): a "view"
# check also accepts the resource's view_grant_permission_types; any other check accepts the
# resource's "_all" type and itself.
CONTENT_VIEW_GRANTS = {
    "action": {"action_all", "action_create", "action_modify", "action_delete",
               "action_execute"},
    "rule": {"rule_all", "rule_create", "rule_modify", "rule_delete"},
    "sensor_type": {"sensor_type_all", "sensor_type_modify"},
}
# KeyValuePermissionsResolver.view_grant_permission_types: every grant on a key lets its holder
# pass key_value_pair_view on it, and st2api's GET /v1/keys/<name>?decrypt=true asks for nothing
# more (st2api/controllers/v1/keyvalue.py get_one).
KEY_VIEW_GRANTS = {"key_value_pair_list", "key_value_pair_set", "key_value_pair_delete",
                   "key_value_pair_all"}

# Global checks answered by another permission type than the one asked for:
# RuleEnforcementPermissionsResolver.user_has_permission asks for rule_list;
# KeyValuePermissionsResolver.user_has_permission answers True for everyone.
GLOBAL_ALIASES = {"rule_enforcement_list": "rule_list"}
GLOBAL_ALWAYS = {"key_value_pair_list"}

# What a grant's permission type does, by the resource type of its resource_uid (None: a grant
# without resource_uid). "scoped": consulted for that resource (and, on a pack, for the pack's
# actions, rules and sensors); "global": consulted only by global checks, which match a grant of
# that type whatever its resource_uid (PermissionsResolver._user_has_global_permission filters on
# the permission type alone), so the grant acts on every pack. A permission type valid for a
# resource type (tests/fixtures/st2_permission_types.txt) but absent here is never consulted:
# st2-apply-rbac-definitions accepts it and it does nothing. pack_all is one:
# PackPermissionsResolver.user_has_resource_db_permission looks for the exact type asked
# (pack_view for GET /v1/packs/<ref> and GET /v1/configs/<ref>), and no check asks for pack_all.
HONOURED = {
    "pack": {
        "scoped": {"pack_view",
                   "action_view", "action_create", "action_modify", "action_delete",
                   "action_execute", "action_all",
                   "rule_view", "rule_create", "rule_modify", "rule_delete", "rule_all",
                   "sensor_type_view", "sensor_type_modify", "sensor_type_all",
                   "action_alias_view", "action_alias_create", "action_alias_modify",
                   "action_alias_delete", "action_alias_all"},
        "global": {"pack_list", "pack_install", "pack_uninstall", "pack_register",
                   "pack_config", "pack_search", "pack_views_index_health"},
    },
    "action": {
        "scoped": {"action_view", "action_create", "action_modify", "action_delete",
                   "action_execute", "action_all"},
        "global": {"action_list"},
    },
    "rule": {
        "scoped": {"rule_view", "rule_create", "rule_modify", "rule_delete", "rule_all"},
        "global": {"rule_list"},
    },
    "sensor_type": {
        "scoped": {"sensor_type_view", "sensor_type_modify", "sensor_type_all"},
        "global": {"sensor_type_list"},
    },
    "key_value_pair": {
        "scoped": {"key_value_pair_view", "key_value_pair_set", "key_value_pair_delete",
                   "key_value_pair_all", "key_value_pair_list"},
        "global": set(),
    },
    None: {
        "scoped": set(),
        # No request asks for trigger_list (openapi.yaml has no x-permissions on the trigger
        # endpoints: any signed-in user lists trigger types) nor for rule_enforcement_list
        # (answered by rule_list, above); key_value_pair_list passes for everyone.
        "global": {"pack_list", "pack_install", "pack_uninstall", "pack_register",
                   "pack_config", "pack_search", "pack_views_index_health",
                   "action_list", "action_alias_list", "action_alias_match",
                   "action_alias_help", "rule_list", "sensor_type_list", "runner_type_list",
                   "execution_list", "execution_views_filters_list", "trace_list",
                   "timer_list", "webhook_list", "api_key_list", "api_key_create",
                   "policy_list", "policy_type_list", "inquiry_list", "stream_view"},
    },
}


def resource_type_of(uid):
    return None if uid is None else uid.split(":", 1)[0]


def pack_uid_of(uid):
    """pack:<ref> of a content uid (action:<pack>:<name>, rule:..., sensor_type:...)."""
    return "pack:" + uid.split(":")[1]


# --- the requests ---------------------------------------------------------------------------
# Each check is a tuple:
#   ("global", permission_type)             router x-permissions / user_has_permission
#   ("resource", permission_type, uid)      a pack, action, rule, sensor type or system key
#   ("execution", permission_type, uid)     an execution of the action `uid`
#                                           (ExecutionPermissionsResolver)
#   ("enforcement", uid)                    rule_enforcement_view on an enforcement of rule `uid`
#   ("admin",)                              rbac_utils.user_is_admin / assert_user_is_admin
#   ("signed_in",)                          no RBAC check: any valid token
# A request needs every check of its list.

DB_CREATE = "action:aws:database_create"
RECONCILE = "action:aws:reconcile_databases"
KEY = "key_value_pair:st2kv.system:%s"
# The platform admins' actions (rbac/roles/k8s_platform_admin.yaml), their rule and sensor.
PLATFORM_ACTIONS = ("kubernetes_call", "cluster_migrate", "cluster_migrate_namespace",
                    "consul_sync")
SYNC_RULE = "rule:aws:consul_sync"
SYNC_SENSOR = "sensor_type:aws:ConsulKVSensor"


def _platform_requests():
    requests = {}
    for name in PLATFORM_ACTIONS:
        uid = "action:aws:" + name
        requests["POST /v1/executions aws.%s" % name] = [("resource", "action_execute", uid)]
        requests["GET /v1/executions/<aws.%s>" % name] = [("execution", "execution_view", uid)]
        requests["POST /v1/executions/<aws.%s>/re_run" % name] = [
            ("execution", "execution_view", uid), ("resource", "action_execute", uid)]
        requests["DELETE /v1/executions/<aws.%s>" % name] = [
            ("execution", "execution_stop", uid)]
    return requests


REQUESTS = {
    # the pack, its content, its config
    "GET /v1/packs/aws": [("resource", "pack_view", "pack:aws")],
    "GET /v1/configs/aws": [("resource", "pack_view", "pack:aws")],
    "GET /v1/actions/aws.boto3action": [("resource", "action_view", "action:aws:boto3action")],
    "GET /v1/actions/aws.kubernetes_call": [
        ("resource", "action_view", "action:aws:kubernetes_call")],
    "GET /v1/rules/aws.database_create": [("resource", "rule_view", "rule:aws:database_create")],
    "GET /v1/rules/aws.consul_sync": [("resource", "rule_view", SYNC_RULE)],
    "GET /v1/sensortypes/aws.CustomResourceSensor": [
        ("resource", "sensor_type_view", "sensor_type:aws:CustomResourceSensor")],
    "GET /v1/sensortypes/aws.ConsulKVSensor": [("resource", "sensor_type_view", SYNC_SENSOR)],
    "GET /v1/ruleenforcements/<enforcement of aws.database_create>": [
        ("enforcement", "rule:aws:database_create")],
    # st2api/controllers/v1/rules.py put: rule_modify on the rule named in the request's body
    # (not on the rule stored under the path's id), then the rule's action needs action_execute
    # (st2rbac_backend/utils.py assert_user_has_rule_trigger_and_action_permission)
    "PUT /v1/rules/aws.database_create": [
        ("resource", "rule_modify", "rule:aws:database_create"),
        ("resource", "action_execute", DB_CREATE)],
    "PUT /v1/rules/aws.consul_sync": [
        ("resource", "rule_modify", SYNC_RULE),
        ("resource", "action_execute", "action:aws:consul_sync")],
    "PUT /v1/sensortypes/aws.CustomResourceSensor": [
        ("resource", "sensor_type_modify", "sensor_type:aws:CustomResourceSensor")],
    "PUT /v1/sensortypes/aws.ConsulKVSensor": [
        ("resource", "sensor_type_modify", SYNC_SENSOR)],
    # rules.py delete; post: rule_create on the new rule (or its pack), then action_execute on
    # its action. actions.py put (action_modify on the stored action), post (action_create on
    # the new one, or its pack).
    "DELETE /v1/rules/aws.database_create": [
        ("resource", "rule_delete", "rule:aws:database_create")],
    "POST /v1/rules aws.new_rule": [
        ("resource", "rule_create", "rule:aws:new_rule"),
        ("resource", "action_execute", RECONCILE)],
    "PUT /v1/actions/aws.database_plan": [
        ("resource", "action_modify", "action:aws:database_plan")],
    "POST /v1/actions aws.new_action": [
        ("resource", "action_create", "action:aws:new_action")],
    "PUT /v1/configs/aws": [("global", "pack_config")],
    "POST /v1/packs/register": [("global", "pack_register")],
    "POST /v1/packs/install": [("global", "pack_install")],
    # running actions and what follows from it
    "POST /v1/executions aws.reconcile_databases": [("resource", "action_execute", RECONCILE)],
    "POST /v1/executions aws.boto3action": [
        ("resource", "action_execute", "action:aws:boto3action")],
    "POST /v1/executions aws.assume_role": [
        ("resource", "action_execute", "action:aws:assume_role")],
    "POST /v1/executions aws.database_create": [("resource", "action_execute", DB_CREATE)],
    "GET /v1/executions/<aws.database_create>": [("execution", "execution_view", DB_CREATE)],
    # st2api/controllers/v1/actionexecutions.py ActionExecutionReRunController.post: the
    # original execution with execution_view, then a new one with action_execute (nothing asks
    # for execution_rerun)
    "POST /v1/executions/<aws.database_create>/re_run": [
        ("execution", "execution_view", DB_CREATE),
        ("resource", "action_execute", DB_CREATE)],
    "DELETE /v1/executions/<aws.database_create>": [("execution", "execution_stop", DB_CREATE)],
    "GET /v1/executions/<aws.reconcile_databases>": [("execution", "execution_view", RECONCILE)],
    "POST /v1/executions/<aws.reconcile_databases>/re_run": [
        ("execution", "execution_view", RECONCILE),
        ("resource", "action_execute", RECONCILE)],
    "DELETE /v1/executions/<aws.reconcile_databases>": [
        ("execution", "execution_stop", RECONCILE)],
    # st2api/controllers/v1/triggers.py TriggerInstanceResendController.post: no x-permissions
    # in openapi.yaml and no check in the controller; the rules engine then enforces the rules
    # of the trigger again (aws.consul_sync runs as the system user).
    "POST /v1/triggerinstances/<instance of aws.consul_kv_changed>/re_emit": [("signed_in",)],
    # the lists of the web UI (every pack's items)
    "GET /v1/packs": [("global", "pack_list")],
    "GET /v1/configs": [("global", "pack_list")],
    "GET /v1/actions": [("global", "action_list")],
    "GET /v1/rules": [("global", "rule_list")],
    "GET /v1/ruleenforcements": [("global", "rule_enforcement_list")],
    "GET /v1/sensortypes": [("global", "sensor_type_list")],
    "GET /v1/triggertypes": [("signed_in",)],
    "GET /v1/executions": [("global", "execution_list")],
    "GET /v1/executions/views/filters": [("global", "execution_views_filters_list")],
    "GET /v1/traces": [("global", "trace_list")],
    "GET /stream/v1/stream": [("global", "stream_view")],
    # the pack's datastore secrets
    "GET /v1/keys/vault_token?decrypt=true": [
        ("resource", "key_value_pair_view", KEY % "vault_token")],
    "PUT /v1/keys/vault_token": [("resource", "key_value_pair_set", KEY % "vault_token")],
    "DELETE /v1/keys/consul_token": [
        ("resource", "key_value_pair_delete", KEY % "consul_token")],
    # st2api/controllers/v1/keyvalue.py get_all: _validate_decrypt_query_parameter
    "GET /v1/keys?decrypt=true": [("admin",)],
    # beyond the pack
    "GET /v1/keys/other_secret?decrypt=true": [
        ("resource", "key_value_pair_view", KEY % "other_secret")],
    "GET /v1/actions/core.local": [("resource", "action_view", "action:core:local")],
    "POST /v1/executions core.local": [("resource", "action_execute", "action:core:local")],
    "GET /v1/rbac/roles": [("admin",)],
}
REQUESTS.update(_platform_requests())


# --- evaluation -----------------------------------------------------------------------------

def _grants(roles):
    for role in roles:
        for grant in role.get("permission_grants") or []:
            yield grant.get("resource_uid"), set(grant.get("permission_types") or [])


def _granted(roles, uids, accepted):
    return any(uid in uids and types & accepted for uid, types in _grants(roles))


def _content_accepted(permission_type):
    resource_type, name = permission_type.rsplit("_", 1)
    if name == "view":
        return CONTENT_VIEW_GRANTS[resource_type] | {permission_type}
    return {resource_type + "_all", permission_type}


def passes(check, roles, system_roles=()):
    """Whether a user with `roles` (role definitions as in rbac/roles/*.yaml) and the built-in
    `system_roles` passes one check."""
    kind = check[0]
    system_roles = set(system_roles)
    if kind == "signed_in":
        return True
    if system_roles & SYSTEM_ADMIN_ROLES:
        return True
    if kind == "admin":
        return False
    permission_type = {"enforcement": "rule_enforcement_view"}.get(kind, check[1])
    if OBSERVER in system_roles and \
            permission_type.rsplit("_", 1)[1] in OBSERVER_PERMISSION_NAMES:
        return True
    if kind == "global":
        if permission_type in GLOBAL_ALWAYS:
            return True
        wanted = GLOBAL_ALIASES.get(permission_type, permission_type)
        return any(wanted in types for _, types in _grants(roles))
    if kind == "resource":
        uid = check[2]
        resource_type = resource_type_of(uid)
        if resource_type == "pack":
            return _granted(roles, {uid}, {permission_type})
        if resource_type == "key_value_pair":
            accepted = {"key_value_pair_all", permission_type}
            if permission_type == "key_value_pair_view":
                accepted |= KEY_VIEW_GRANTS
            return _granted(roles, {uid}, accepted)
        return _granted(roles, {uid, pack_uid_of(uid)}, _content_accepted(permission_type))
    if kind == "execution":
        action_permission = {"execution_view": "action_view",
                             "execution_stop": "action_execute",
                             "execution_all": "action_all"}[permission_type]
        uid = check[2]
        return _granted(roles, {uid, pack_uid_of(uid)}, {"action_all", action_permission})
    if kind == "enforcement":
        uid = check[1]
        return _granted(roles, {uid, pack_uid_of(uid)},
                        CONTENT_VIEW_GRANTS["rule"] | {"rule_view"})
    raise ValueError("unknown check %r" % (check,))


def allows(request, roles, system_roles=()):
    return all(passes(check, roles, system_roles) for check in REQUESTS[request])


def passing(role, check, names):
    """The names for which a role passes `check` (a permission type on action:aws:<name>,
    rule:aws:<name> or sensor_type:aws:<name>), as st2-rbac-backend decides it."""
    resource_type = check.rsplit("_", 1)[0]
    return {name for name in names
            if passes(("resource", check, "%s:aws:%s" % (resource_type, name)), [role])}


def executable_actions(role, actions):
    """Actions of the pack a role lets its users run (action_execute or action_all, on the action
    or on pack:aws)."""
    return passing(role, "action_execute", actions)


def grant_problems(where, role):
    """Grants that do not do what they look like they do, per HONOURED."""
    problems = []
    for index, grant in enumerate(role.get("permission_grants") or []):
        uid = grant.get("resource_uid")
        honoured = HONOURED.get(resource_type_of(uid), {"scoped": set(), "global": set()})
        for permission_type in grant.get("permission_types") or []:
            here = "%s: permission_grants[%d] (%s)" % (where, index, uid or "global")
            if permission_type in honoured["scoped"]:
                continue
            if permission_type in honoured["global"]:
                if uid is not None:
                    problems.append("%s: %s acts on every pack, not only on %s: give it "
                                    "without resource_uid" % (here, permission_type, uid))
                continue
            problems.append("%s: %s is never consulted by st2-rbac-backend's resolvers: it "
                            "grants nothing" % (here, permission_type))
    return problems
