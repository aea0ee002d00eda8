"""The Kubernetes platform admins' role (rbac/roles/k8s_platform_admin.yaml): exactly the
Kubernetes, migration and Consul sync actions, the rule and the sensor of the sync; nothing of
the database provisioning or AWS; and no other role of the pack's users runs them.
The checks of every role and mapping against StackStorm's rules, and of what each role runs
and edits (LISTED), are in tests/test_rbac.py."""

from tests import st2_rbac_model as model
from tests.rbac_files import MAPPINGS, pack_actions, role_named, workflow_calls
from tests.st2_rbac_model import executable_actions

PLATFORM_ACTIONS = set(model.PLATFORM_ACTIONS)


def test_platform_admins_run_exactly_the_kubernetes_actions():
    role = role_named("k8s_platform_admin")
    assert executable_actions(role, pack_actions()) == PLATFORM_ACTIONS
    uids = {g.get("resource_uid") for g in role["permission_grants"]}
    assert {"rule:aws:consul_sync", "sensor_type:aws:ConsulKVSensor"} <= uids
    assert not [u for u in uids if u and u.startswith("key_value_pair:")]


def test_the_platform_workflows_call_only_what_the_role_runs():
    role = role_named("k8s_platform_admin")
    runs = executable_actions(role, pack_actions())
    for name in sorted(runs):
        for called, _ in workflow_calls(name):
            assert called in runs or called == "core.noop", (name, called)


def test_application_teams_and_pack_owners_run_none_of_them():
    for name in ("dbaas_self_service", "dbaas_admin"):
        role = role_named(name)
        assert not executable_actions(role, pack_actions()) & PLATFORM_ACTIONS, name
        for action in sorted(PLATFORM_ACTIONS):
            uid = "action:aws:" + action
            assert not model.passes(("execution", "execution_stop", uid), [role]), (name, action)
            assert model.passes(("execution", "execution_view", uid), [role]), (name, action)


def test_only_platform_admins_edit_the_sync_rule_and_sensor():
    for name, allowed in (("dbaas_self_service", False), ("dbaas_admin", False),
                          ("k8s_platform_admin", True)):
        role = role_named(name)
        for request in ("PUT /v1/rules/aws.consul_sync", "PUT /v1/sensortypes/aws.ConsulKVSensor"):
            assert model.allows(request, [role]) is allowed, (name, request)


def test_the_platform_admins_mapping_names_the_role():
    assert MAPPINGS["rbac/mappings/platform_admins.yaml"]["roles"] == ["k8s_platform_admin"]
