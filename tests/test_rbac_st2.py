"""docs/access.md, rbac/ and st2/ against StackStorm itself: st2api, st2-rbac-backend, st2auth,
st2-auth-ldap and oslo.config, when they are importable (StackStorm's virtualenv, e.g. under
st2-run-pack-tests or /work/shared/st2check/check); skipped otherwise. The LDAP part also needs
Debian's slapd (apt-get install slapd ldap-utils) and starts its own on 127.0.0.1.

Each probe (tests/st2_probes/) runs in a process of its own, because StackStorm's configuration
is process-global; MongoDB is mongomock, everything else is StackStorm's code. The CI's
restatement of StackStorm's rules (tests/st2_rbac_model.py, tests/st2_conf.py, the LDAP
defaults of tests/test_rbac.py) is compared with what StackStorm does here.
"""

import inspect
import json
import os
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

for module in ("st2api.app", "st2auth.app", "st2stream.app", "st2rbac_backend.resolvers",
               "mongomock", "webtest"):
    pytest.importorskip(module)

from tests import st2_conf  # noqa: E402
from tests import st2_rbac_model as model  # noqa: E402
from tests.rbac_files import (  # noqa: E402
    LDAP_DEFAULTS, LDAP_EXAMPLE, LDAP_REQUIRED, PACK_DIR, PERMISSION_TYPES, docs_role_table,
    load_renderer, passwords, read, role_named)

PASSWORDS = passwords()


def run_probe(module, *args, timeout=900):
    done = subprocess.run([sys.executable, "-m", module] + [str(a) for a in args],
                          cwd=PACK_DIR, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


# --- st2api with RBAC on --------------------------------------------------------------------

@pytest.fixture(scope="module")
def api(tmp_path_factory):
    return run_probe("tests.st2_probes.rbac_api", tmp_path_factory.mktemp("st2api"))


def roles_of(info):
    """(pack role definitions, system roles) of a probe user."""
    if info["grant"]:
        uid, permission_type = info["grant"]
        grant = {"permission_types": [permission_type]}
        if uid:
            grant["resource_uid"] = uid
        return [{"permission_grants": [grant]}], []
    pack_roles = [role_named(name) for name in info["roles"] if not name.startswith("probe_")
                  and name not in ("admin", "observer", "system_admin")]
    system = [name for name in info["roles"] if name in ("admin", "observer", "system_admin")]
    return pack_roles, system


def test_st2api_allows_exactly_what_the_model_says(api):
    """Every request of the model, as ~100 users (the pack's roles, admin, observer, nobody and
    one-grant roles of every permission type st2 accepts on the pack's resources and globally):
    st2api answers 403 exactly where tests/st2_rbac_model.py says no, and never fails."""
    assert len(api["users"]) > 90
    wrong, errors = [], []
    for request, per_user in api["results"].items():
        for user, (status, detail) in per_user.items():
            roles, system = roles_of(api["users"][user])
            predicted = model.allows(request, roles, system)
            if predicted != (status not in (401, 403)):
                wrong.append((request, user, api["users"][user], status, detail))
            if status >= 500:
                errors.append((request, user, status, detail))
    assert wrong == [] and errors == []


def test_pack_roles_are_what_the_mappings_give(api):
    assert api["users"]["member_of_dbaas_admin"]["roles"] == ["dbaas_admin"]
    assert api["users"]["member_of_dbaas_self_service"]["roles"] == ["dbaas_self_service"]
    assert api["users"]["member_of_k8s_platform_admin"]["roles"] == ["k8s_platform_admin"]


def test_docs_role_table_is_what_st2api_answers(api):
    users = {"dbaas_self_service": "member_of_dbaas_self_service",
             "dbaas_admin": "member_of_dbaas_admin",
             "k8s_platform_admin": "member_of_k8s_platform_admin", "admin": "admin",
             "observer": "observer"}
    rows = docs_role_table()
    assert rows, "docs/access.md has no table with a `requests` column"
    wrong = []
    for what, requests, answers in rows:
        for column, (role, system_role, cell) in answers.items():
            user = users[role or system_role]
            statuses = {r: api["results"][r][user][0] for r in requests}
            allowed = {status not in (401, 403) for status in statuses.values()}
            if allowed != {cell == "yes"}:
                wrong.append((what, column, cell, statuses))
    assert wrong == []


def test_only_platform_admins_run_stop_and_rerun_the_platform_actions(api):
    """Executed by st2api, not only predicted: the pack's other roles get 403 on running,
    re-running and stopping aws.kubernetes_call, the migration and the sync, and on editing the
    sync's rule and sensor; they still open those executions."""
    requests = ["GET /v1/actions/aws.kubernetes_call", "GET /v1/rules/aws.consul_sync",
                "PUT /v1/rules/aws.consul_sync", "GET /v1/sensortypes/aws.ConsulKVSensor",
                "PUT /v1/sensortypes/aws.ConsulKVSensor"]
    for name in model.PLATFORM_ACTIONS:
        requests += ["POST /v1/executions aws.%s" % name, "GET /v1/executions/<aws.%s>" % name,
                     "POST /v1/executions/<aws.%s>/re_run" % name,
                     "DELETE /v1/executions/<aws.%s>" % name]
    for request in requests:
        statuses = {user: api["results"][request][user][0]
                    for user in ("member_of_dbaas_self_service", "member_of_dbaas_admin",
                                 "member_of_k8s_platform_admin", "admin")}
        refused = {user for user, status in statuses.items() if status == 403}
        if request.startswith("GET "):
            assert refused == set(), (request, statuses)
        else:
            assert refused == {"member_of_dbaas_self_service", "member_of_dbaas_admin"}, \
                (request, statuses)


def test_pack_roles_cannot_write_their_rule_over_the_other_sides(api):
    """st2api checks a rule update against the rule the body names (rules.py put): with
    rule_delete on its own rule a role deletes it and writes it over any rule (wider_rule_all,
    consul_sync gone); with rule_modify only, the unique (pack, name) index refuses it."""
    overwrite = api["extra"]["platform_boundary"]["rule_overwrite"]
    assert overwrite["member_of_dbaas_admin"] == {
        "DELETE own": 403, "PUT own over other": 409,
        "other afterwards": [200, "aws.consul_sync"]}
    assert overwrite["member_of_k8s_platform_admin"] == {
        "DELETE own": 403, "PUT own over other": 409,
        "other afterwards": [200, "aws.database_create"]}
    assert overwrite["wider_rule_all"] == {
        "DELETE own": 204, "PUT own over other": 200, "other afterwards": [404, None]}


def test_pack_owners_cannot_turn_a_database_action_into_a_platform_one(api):
    """action_modify (action_all) on aws.database_plan alone lets its holder give it
    aws.kubernetes_call's entry point: dbaas_admin has action_execute only."""
    boundary = api["extra"]["platform_boundary"]
    assert boundary["action_rewrite"] == {"member_of_dbaas_admin": [403, "database_plan.py"],
                                          "wider_action_all": [200, "kubernetes_call.py"]}
    assert boundary["rule_to_platform_action"] == {"member_of_dbaas_admin": 403,
                                                   "wider_rule_all": 403}


def test_registering_the_pack_turns_the_sync_back_on_unless_overridden(api):
    """What docs/access.md says of pack_register: a registration puts the sync's rule and
    sensor back to their files' `enabled`; an override file keeps them off."""
    assert api["extra"]["platform_boundary"]["register"] == {
        "disabled by admin": [False, False], "status": 200, "after register": [True, True],
        "after register with the override": [False, False]}


def test_pack_all_alone_opens_neither_the_pack_nor_its_config(api):
    [user] = [u for u, info in api["users"].items() if info["grant"] == ["pack:aws", "pack_all"]]
    assert api["results"]["GET /v1/packs/aws"][user][0] == 403
    assert api["results"]["GET /v1/configs/aws"][user][0] == 403
    allowed = [r for r, per_user in api["results"].items()
               if per_user[user][0] not in (401, 403) and model.REQUESTS[r] != [("signed_in",)]]
    assert allowed == []


def test_decrypt_returns_the_plain_secret_to_whoever_may_view_the_key(api):
    results = api["results"]["GET /v1/keys/vault_token?decrypt=true"]
    for user in ("member_of_dbaas_admin", "observer", "admin"):
        status, detail = results[user]
        assert status == 200 and detail in ("value=initial-vault_token",
                                            "value=" + api["secret"]), (user, detail)
    assert results["member_of_dbaas_self_service"][0] == 403


def test_pack_config_is_read_as_the_system_user(api):
    config = api["extra"]["config_as_caller"]
    assert "User \"stanley\" doesn't have required permission \"key_value_pair_view\"" in \
        config["stanley []"]
    assert config["stanley ['admin']"] in ("vault_token=initial-vault_token",
                                           "vault_token=" + api["secret"])


def test_permission_isolation_hides_rule_started_executions_from_non_admins(api):
    assert api["extra"]["isolation"] == {"admin": 200, "member_of_dbaas_self_service": 403,
                                         "member_of_dbaas_admin": 403}


def test_sensor_service_needs_the_admin_role_as_the_docs_say(api):
    """docs/access.md: without a role st2api lists no key to the sensor (an empty answer, not an
    error) and refuses its writes; the built-in admin role is what the docs assign."""
    name = "aws.CustomResourceSensor:crs.dbaas.stackstorm.com.v1alpha1.databases._all.meta"
    assert api["extra"]["sensor_service_keys"] == {
        "no role": {"list": [200, []], "PUT": 403},
        "admin": {"list": [200, [name]], "PUT": 200}}
    docs = " ".join(read(os.path.join(PACK_DIR, "docs", "access.md")).split())
    assert ("`sensor_service` the `admin` role (`/opt/stackstorm/rbac/assignments/"
            "sensor_service.yaml`: `username: \"sensor_service\"`, `roles: [\"admin\"]`)") in docs
    assert "lists no key to the sensor (an empty answer, not an error) and refuses its writes" \
        in docs


def test_apply_rbac_definitions_refuses_without_naming_the_file(api):
    refusals = api["extra"]["apply_refusals"]
    assert refusals["pack_fly"].startswith("ValidationError: 'pack_fly' is not one of")
    assert refusals["rule_view"] == ('ValueError: Invalid permission type "rule_view" for '
                                     'resource type "action"')
    assert "zz_bad" not in refusals["pack_fly"] + refusals["rule_view"]
    assert refusals["role removed with its file"] == [True, None]


# --- the restated tables against StackStorm's own ------------------------------------------

def test_permission_types_fixture_is_stackstorms():
    from st2common.rbac.types import (GLOBAL_PERMISSION_TYPES,
                                      RESOURCE_TYPE_TO_PERMISSION_TYPES_MAP)
    assert PERMISSION_TYPES["global"] == set(GLOBAL_PERMISSION_TYPES)
    for resource_type, types in RESOURCE_TYPE_TO_PERMISSION_TYPES_MAP.items():
        assert PERMISSION_TYPES[resource_type] == set(types), resource_type


def test_ldap_arguments_and_defaults_are_st2_auth_ldaps():
    from st2auth_ldap.ldap_backend import LDAPAuthenticationBackend
    parameters = inspect.signature(LDAPAuthenticationBackend.__init__).parameters
    required = {n for n, p in parameters.items() if n != "self" and p.default is p.empty}
    defaults = {n: p.default for n, p in parameters.items() if p.default is not p.empty}
    assert required == LDAP_REQUIRED
    assert defaults == LDAP_DEFAULTS


# --- oslo.config ----------------------------------------------------------------------------

class OsloProbe:
    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.st2_probes.oslo_conf"], cwd=PACK_DIR,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def backend_kwargs(self, text):
        self.process.stdin.write(json.dumps(text) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait(30)


@pytest.fixture(scope="module")
def oslo():
    probe = OsloProbe()
    yield probe
    probe.close()


def test_example_as_oslo_reads_it(oslo):
    example = read(LDAP_EXAMPLE)
    assert oslo.backend_kwargs(example) == {
        "value": st2_conf.value(example, "auth", "backend_kwargs")}


@pytest.mark.parametrize("pasted, expected", [
    ("b1nd$ecret", {"error": "NoSuchOptError: no such option ecret in group [DEFAULT]"}),
    ("pa$host", "pa127.0.0.1"),
    ("b1nd$$ecret", "b1nd$ecret"),
])
def test_a_pasted_dollar_as_docs_say(oslo, pasted, expected):
    answer = oslo.backend_kwargs(read(LDAP_EXAMPLE).replace("<from your secret store>", pasted))
    if "value" in answer:
        answer = json.loads(answer["value"])["bind_password"]
    assert answer == expected


@settings(max_examples=150, deadline=None)
@given(password=PASSWORDS)
def test_rendered_password_reaches_st2auth_unchanged_with_oslo(oslo, password):
    rendered = load_renderer().render(read(LDAP_EXAMPLE), password)
    answer = oslo.backend_kwargs(rendered)
    assert json.loads(answer["value"])["bind_password"] == password


RAW = st.text(alphabet=st.sampled_from("$\\{}ab_.1 xhost"), max_size=16)


@settings(max_examples=300, deadline=None)
@given(raw=RAW)
def test_st2_conf_substitutes_as_oslo_does(oslo, raw):
    """tests/st2_conf.py (the CI's reading of st2.conf) agrees with oslo.config: same value, or
    oslo substitutes/fails where st2_conf raises Substitution."""
    text = "[auth]\nbackend_kwargs = x%sx\n" % raw
    answer = oslo.backend_kwargs(text)
    try:
        expected = st2_conf.value(text, "auth", "backend_kwargs")
    except st2_conf.Substitution:
        assert "error" in answer or answer["value"] != "x%sx" % raw.replace("$$", "$")
    else:
        assert answer == {"value": expected}


# --- sign-in: st2auth + st2-auth-ldap against slapd ------------------------------------------

needs_slapd = pytest.mark.skipif(
    not (shutil.which("slapd") or os.access("/usr/sbin/slapd", os.X_OK)),
    reason="needs Debian's slapd (apt-get install slapd ldap-utils)")


def ldap_run(tmp_path_factory, ttl):
    pytest.importorskip("st2auth_ldap.ldap_backend")
    result = run_probe("tests.st2_probes.ldap_signin", tmp_path_factory.mktemp("ldap"), ttl)
    return {step["step"]: step for step in result["steps"]}, result["extra"]


@needs_slapd
def test_sign_in_as_the_example_ships_it(tmp_path_factory):
    """Group cache off (the example): a group change applies at the next sign-in, a user removed
    from every group is refused at once, and their earlier token keeps the last roles."""
    steps, extra = ldap_run(tmp_path_factory, 0)
    assert steps["wrong password"]["status"] == 401
    assert steps["wrong password"]["log"] == ['Failed authenticating user "alice".']
    first = steps["in app-teams"]
    assert (first["status"], first["roles"], first["/v1/packs/aws"]) == \
        (201, ["dbaas_self_service"], 200)
    moved = steps["moved to dbaas-admins, at once"]
    assert (moved["status"], moved["roles"], moved["/v1/packs/aws"]) == (201, ["dbaas_admin"], 200)
    removed = steps["removed from every group, at once"]
    assert (removed["status"], removed["roles"]) == (401, ["dbaas_admin"])
    assert removed["log"][0].startswith('Unable to verify membership for user "alice"')
    earlier = steps["token issued while in app-teams"]
    assert (earlier["roles"], earlier["/v1/packs/aws"],
            earlier["/v1/keys/vault_token?decrypt=true"]) == (["dbaas_admin"], 200, 404)
    carol = steps["member of cn=ST2-Admins (the mapping says cn=st2-admins)"]
    assert (carol["status"], carol["roles"], carol["/v1/packs/aws"]) == (201, [], 403)
    cut = steps["after deleting alice's remote assignments and tokens in MongoDB"]
    assert (cut["roles"], cut["/v1/packs/aws"], cut["/v1/packs"]) == ([], 401, 401)
    assert extra["collections"] == {"TokenDB": "token_d_b",
                                    "UserRoleAssignmentDB": "user_role_assignment_d_b"}
    assert extra["assignments_seen_by_alice"] == [
        {"user": "alice", "role": "dbaas_admin", "is_remote": True,
         "source": "mappings/dbaas_admins.yaml"}]
    assert extra["assignments_of_alice_seen_by_carol"] == 403
    assert "'bind_password': 'b1nd$ecret'" in extra["backend_error"]


@needs_slapd
def test_sign_in_with_the_group_cache_on(tmp_path_factory):
    """cache_user_groups_response on (st2-auth-ldap's default), TTL 3 s: for the TTL a moved user
    signs in with the old roles and a user removed from every group still signs in."""
    steps, _ = ldap_run(tmp_path_factory, 3)
    moved = steps["moved to dbaas-admins, at once"]
    assert (moved["status"], moved["roles"]) == (201, ["dbaas_self_service"])
    later = steps["moved to dbaas-admins, after the cache TTL"]
    assert (later["status"], later["roles"]) == (201, ["dbaas_admin"])
    removed = steps["removed from every group, at once"]
    assert (removed["status"], removed["roles"], removed["/v1/packs/aws"]) == \
        (201, ["dbaas_admin"], 200)
    refused = steps["removed from every group, after the cache TTL"]
    assert (refused["status"], refused["roles"]) == (401, ["dbaas_admin"])
