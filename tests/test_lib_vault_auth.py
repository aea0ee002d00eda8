"""lib/stores/vault_auth.py: Vault login by token (renewed), AppRole and Kubernetes auth.

Config errors are checked without a server; logins run against the real OpenBao and Kubernetes
API server of scripts/stack.sh, each test on auth mounts and a policy of its own.
"""

import base64
import logging
import os
import time
import uuid

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from lib.action import ConfigError
from lib.stores.vault import KV, VaultError, client_from_config
from lib.stores.vault_auth import DEFAULT_JWT_PATH, METHODS
from tests.fixtures.database.support import closed_port

URL = "http://127.0.0.1:1"  # config errors come before any request: nothing listens there
FILE_HINT = "set it in /opt/stackstorm/configs/aws.yaml (see aws.yaml.example)"
APPROLE_KEYS = "pack config vault_approle_role_id / vault_approle_secret_id"


def config_error(config):
    with pytest.raises(ConfigError) as exc:
        client_from_config(dict({"vault_url": URL}, **config))
    return str(exc.value)


# --- pack config, checked before any request ---------------------------------------------------

def test_unknown_method_is_named():
    assert config_error({"vault_auth_method": "ldap"}) == (
        'pack config key "vault_auth_method" must be one of token, approle, kubernetes, '
        "got 'ldap'")


@settings(max_examples=50, deadline=None)
@given(st.one_of(st.text().filter(lambda s: s not in METHODS + ("",)),
                 st.integers(), st.booleans(), st.lists(st.text(), max_size=2)))
def test_any_other_method_value_is_refused_naming_the_key(value):
    message = config_error({"vault_auth_method": value, "vault_token": "t"})
    if isinstance(value, str):
        assert message == ('pack config key "vault_auth_method" must be one of token, approle, '
                           "kubernetes, got %r" % value)
    else:
        assert message == ('pack config key "vault_auth_method" must be of type str, got %s'
                           % type(value).__name__)


@pytest.mark.parametrize("config, key, method", [
    ({}, "vault_token", "token"),
    ({"vault_auth_method": "token", "vault_token": ""}, "vault_token", "token"),
    ({"vault_auth_method": "approle"}, "vault_approle_role_id", "approle"),
    ({"vault_auth_method": "approle", "vault_approle_role_id": "r"}, "vault_approle_secret_id",
     "approle"),
    ({"vault_auth_method": "approle", "vault_approle_secret_id": "s", "vault_token": "t"},
     "vault_approle_role_id", "approle"),
    ({"vault_auth_method": "kubernetes", "vault_kubernetes_jwt": "a.b.c"},
     "vault_kubernetes_role", "kubernetes"),
])
def test_a_missing_key_is_named_with_its_method(config, key, method):
    assert config_error(config) == ('pack config key "%s" is required with vault_auth_method %s: '
                                    "%s" % (key, method, FILE_HINT))


@pytest.mark.parametrize("key, value, kind", [
    ("vault_token", 123, "int"),
    ("vault_approle_role_id", ["r"], "list"),
    ("vault_approle_secret_id", 1.5, "float"),
    ("vault_kubernetes_role", True, "bool"),
    ("vault_kubernetes_jwt", {"a": 1}, "dict"),
    ("vault_auth_mount", 7, "int"),
])
def test_a_value_of_the_wrong_type_is_named(key, value, kind):
    method = {"vault_token": "token", "vault_approle_role_id": "approle",
              "vault_approle_secret_id": "approle", "vault_auth_mount": "approle"}.get(
                  key, "kubernetes")
    config = {"vault_auth_method": method, "vault_token": "t", "vault_approle_role_id": "r",
              "vault_approle_secret_id": "s", "vault_kubernetes_role": "st2",
              "vault_kubernetes_jwt": "a.b.c", key: value}
    assert config_error(config) == ('pack config key "%s" must be of type str, got %s'
                                    % (key, kind))


def test_kubernetes_token_file_that_cannot_be_read_is_named(tmp_path):
    path = str(tmp_path / "no-such-token")
    assert config_error({"vault_auth_method": "kubernetes", "vault_kubernetes_role": "st2",
                         "vault_kubernetes_jwt_path": path}) == (
        'pack config key "vault_kubernetes_jwt_path": cannot read %s (No such file or '
        "directory); expected the file of a service account token (in a pod: the projected "
        "token), or set vault_kubernetes_jwt" % path)


@pytest.mark.skipif(os.path.exists(DEFAULT_JWT_PATH), reason="runs in a pod: the file is there")
def test_kubernetes_token_file_defaults_to_the_projected_token():
    assert config_error({"vault_auth_method": "kubernetes", "vault_kubernetes_role": "st2"}) == (
        'pack config key "vault_kubernetes_jwt_path": cannot read '
        "/var/run/secrets/kubernetes.io/serviceaccount/token (No such file or directory); "
        "expected the file of a service account token (in a pod: the projected token), or set "
        "vault_kubernetes_jwt")


def test_kubernetes_token_that_is_no_jwt_is_named(tmp_path):
    path = tmp_path / "token"
    path.write_text("not a token\n")
    assert config_error({"vault_auth_method": "kubernetes", "vault_kubernetes_role": "st2",
                         "vault_kubernetes_jwt_path": str(path)}) == (
        'pack config key "vault_kubernetes_jwt_path": %s: expected a Kubernetes service account '
        "token (a JWT: three base64url parts joined by dots)" % path)
    assert config_error({"vault_auth_method": "kubernetes", "vault_kubernetes_role": "st2",
                         "vault_kubernetes_jwt": "secret-value"}) == (
        'pack config key "vault_kubernetes_jwt": expected a Kubernetes service account token (a '
        "JWT: three base64url parts joined by dots)")


@pytest.mark.parametrize("config, what", [
    ({"vault_auth_method": "approle", "vault_approle_role_id": "role-1",
      "vault_approle_secret_id": "secret-1"},
     "AppRole login (%s, mount approle)" % APPROLE_KEYS),
    ({"vault_auth_method": "approle", "vault_approle_role_id": "role-1",
      "vault_approle_secret_id": "secret-1", "vault_auth_mount": "/approle-ops/"},
     "AppRole login (%s, mount approle-ops)" % APPROLE_KEYS),
    ({"vault_auth_method": "kubernetes", "vault_kubernetes_role": "st2",
      "vault_kubernetes_jwt": "aaa.bbb.ccc"},
     "Kubernetes login (pack config vault_kubernetes_role 'st2', mount kubernetes, token from "
     "vault_kubernetes_jwt)"),
])
def test_unreachable_vault_during_a_login_is_named(config, what):
    url = "http://127.0.0.1:%d" % closed_port()
    with pytest.raises(VaultError) as exc:
        client_from_config(dict(config, vault_url=url))
    assert str(exc.value) == ("Vault at %s (pack config vault_url) is unreachable during the %s: "
                              "ConnectionError" % (url, what))


# --- on the real OpenBao -----------------------------------------------------------------------

def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


@pytest.fixture
def kv_policy(vault_client, vault_path):
    """A policy allowing what lib/stores/vault.py KV does under vault_path (docs/install.md, 3a)."""
    name = unique("stacktest")
    vault_client.sys.create_or_update_policy(name, """
        path "secret/data/%(p)s/*"     { capabilities = ["create", "read", "update"] }
        path "secret/delete/%(p)s/*"   { capabilities = ["update"] }
        path "secret/metadata/%(p)s/*" { capabilities = ["create", "read", "update", "delete"] }
    """ % {"p": vault_path})
    yield name
    vault_client.sys.delete_policy(name)


@pytest.fixture
def auth_mount(vault_client):
    """Enables an auth method at a unique path: auth_mount("approle"); disabled after."""
    mounts = []

    def enable(method):
        path = unique(method)
        vault_client.sys.enable_auth_method(method, path=path)
        mounts.append(path)
        return path

    yield enable
    for path in mounts:
        vault_client.sys.disable_auth_method(path)


def token_config(stack, token):
    return {"vault_url": stack["vault"]["addr"], "vault_token": token}


def assert_kv_works(config, vault_path, client=None):
    kv = KV(config, client=client)
    path = vault_path + "/auth-check"
    kv.claim(path, "uid-1")
    assert kv.write(path, {"password": "p-1"}, cas=0) == 1
    assert kv.read(path) == {"password": "p-1"}
    assert kv.metadata(path).owner == "uid-1"
    kv.delete(path)
    return kv


@pytest.mark.integration
def test_a_token_near_its_end_is_renewed_and_works(stack, vault_client, vault_path, kv_policy,
                                                   caplog):
    caplog.set_level(logging.DEBUG)
    token = vault_client.auth.token.create(ttl="60s", renewable=True, explicit_max_ttl="1h",
                                           policies=[kv_policy])["auth"]["client_token"]
    try:
        time.sleep(2.2)
        before = vault_client.auth.token.lookup(token)["data"]
        assert before["ttl"] <= 58 and "last_renewal_time" not in before
        client = client_from_config(token_config(stack, token))
        after = vault_client.auth.token.lookup(token)["data"]
        assert after["ttl"] > before["ttl"] and after["last_renewal_time"]
        assert_kv_works(token_config(stack, token), vault_path, client=client)
        assert "renewed the Vault token of pack config vault_token: it expires in" in caplog.text
        assert token not in caplog.text
    finally:
        vault_client.auth.token.revoke(token)


@pytest.mark.integration
def test_a_token_with_time_left_is_not_renewed(stack, vault_client, vault_path, kv_policy):
    token = vault_client.auth.token.create(ttl="2h", renewable=True,
                                           policies=[kv_policy])["auth"]["client_token"]
    try:
        assert_kv_works(token_config(stack, token), vault_path)
        assert "last_renewal_time" not in vault_client.auth.token.lookup(token)["data"]
    finally:
        vault_client.auth.token.revoke(token)


@pytest.mark.integration
@pytest.mark.parametrize("end", ["revoked", "expired"])
def test_a_revoked_or_expired_token_is_named(stack, vault_client, kv_policy, end):
    token = vault_client.auth.token.create(ttl="1s" if end == "expired" else "1h",
                                           renewable=False,
                                           policies=[kv_policy])["auth"]["client_token"]
    if end == "revoked":
        vault_client.auth.token.revoke(token)
    else:
        time.sleep(1.5)
    with pytest.raises(VaultError) as exc:
        KV(token_config(stack, token))
    assert str(exc.value) == (
        "Vault at %s refused the token of pack config vault_token: it expired or was revoked (or "
        "its policies do not allow auth/token/lookup-self, which the default policy grants). "
        "Store a valid token with `st2 key set vault_token ... --encrypt`, or set "
        "vault_auth_method to approle or kubernetes, which log in afresh on every run"
        % stack["vault"]["addr"])
    assert token not in str(exc.value)


@pytest.fixture
def approle(stack, vault_client, kv_policy, auth_mount):
    """An AppRole mount with role st2 (policy kv_policy) and the pack config to log in with."""
    mount = auth_mount("approle")
    vault_client.auth.approle.create_or_update_approle(
        "st2", token_policies=[kv_policy], token_ttl="5m", mount_point=mount)
    role_id = vault_client.auth.approle.read_role_id("st2", mount_point=mount)["data"]["role_id"]
    secret_id = vault_client.auth.approle.generate_secret_id(
        "st2", mount_point=mount)["data"]["secret_id"]
    return {"vault_url": stack["vault"]["addr"], "vault_auth_method": "approle",
            "vault_approle_role_id": role_id, "vault_approle_secret_id": secret_id,
            "vault_auth_mount": mount}


@pytest.mark.integration
def test_approle_login_reads_and_writes(approle, vault_path, kv_policy):
    kv = assert_kv_works(approle, vault_path)
    data = kv.client.auth.token.lookup_self()["data"]
    assert (data["meta"]["role_name"], data["path"]) == ("st2", "auth/%s/login"
                                                         % approle["vault_auth_mount"])
    assert kv_policy in data["policies"]
    # A second client logs in again: its own token, nothing cached.
    assert KV(approle).client.token != kv.client.token


@pytest.mark.integration
@pytest.mark.parametrize("wrong", ["vault_approle_secret_id", "vault_approle_role_id"])
def test_approle_refused_login_is_named_without_the_secret(approle, stack, wrong):
    config = dict(approle, **{wrong: str(uuid.uuid4())})
    with pytest.raises(VaultError) as exc:
        client_from_config(config)
    message = str(exc.value)
    assert message == ("Vault at %s refused the AppRole login (%s, mount %s): invalid role or "
                       "secret ID" % (stack["vault"]["addr"], APPROLE_KEYS,
                                      approle["vault_auth_mount"]))
    for secret in (config["vault_approle_secret_id"], config["vault_approle_role_id"],
                   approle["vault_approle_secret_id"]):
        assert secret not in message


@pytest.mark.integration
def test_approle_at_a_mount_that_is_not_there_is_named(approle, stack):
    with pytest.raises(VaultError) as exc:
        client_from_config(dict(approle, vault_auth_mount=unique("approle-absent")))
    assert str(exc.value).startswith("Vault at %s refused the AppRole login (%s, mount "
                                     "approle-absent-" % (stack["vault"]["addr"], APPROLE_KEYS))
    assert str(exc.value).endswith("): permission denied")


# --- Kubernetes auth: OpenBao asks the real API server's TokenReview ---------------------------

def kube_ca_pem(stack):
    """The CA of the kubeconfig's current cluster (certificate-authority-data or -file)."""
    with open(stack["kube"]["kubeconfig"]) as handle:
        kubeconfig = yaml.safe_load(handle)
    context = next(c["context"] for c in kubeconfig["contexts"]
                   if c["name"] == kubeconfig["current-context"])
    cluster = next(c["cluster"] for c in kubeconfig["clusters"] if c["name"] == context["cluster"])
    if cluster.get("certificate-authority-data"):
        return base64.b64decode(cluster["certificate-authority-data"]).decode()
    with open(cluster["certificate-authority"]) as handle:
        return handle.read()


@pytest.fixture
def kube_auth(stack, vault_client, kube_api_client, kube_namespace, kv_policy, auth_mount):
    """A kubernetes auth mount checking tokens with the stack's API server, role st2 bound to
    ServiceAccount st2-actions of kube_namespace; ServiceAccount other is not bound."""
    from kubernetes import client

    core = client.CoreV1Api(kube_api_client)
    rbac = client.RbacAuthorizationV1Api(kube_api_client)
    for name in ("st2-actions", "other", "vault-reviewer"):
        core.create_namespaced_service_account(
            kube_namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name)))

    def token_of(name):
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
        return core.create_namespaced_service_account_token(
            name, kube_namespace, request).status.token

    binding = unique("st2-aws-test-vault-reviewer")
    rbac.create_cluster_role_binding(client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=binding),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                  name="system:auth-delegator"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="vault-reviewer",
                                       namespace=kube_namespace)]))
    try:
        mount = auth_mount("kubernetes")
        vault_client.auth.kubernetes.configure(
            kubernetes_host=stack["kube"]["server"], kubernetes_ca_cert=kube_ca_pem(stack),
            token_reviewer_jwt=token_of("vault-reviewer"), mount_point=mount)
        vault_client.auth.kubernetes.create_role(
            "st2", bound_service_account_names=["st2-actions"],
            bound_service_account_namespaces=[kube_namespace], policies=[kv_policy], ttl="5m",
            mount_point=mount)
        yield {"mount": mount, "token_of": token_of,
               "config": {"vault_url": stack["vault"]["addr"],
                          "vault_auth_method": "kubernetes", "vault_kubernetes_role": "st2",
                          "vault_auth_mount": mount}}
    finally:
        rbac.delete_cluster_role_binding(binding)


def assert_logged_in_as(kv, namespace, name="st2-actions"):
    meta = kv.client.auth.token.lookup_self()["data"]["meta"]
    assert (meta["role"], meta["service_account_namespace"], meta["service_account_name"]) == (
        "st2", namespace, name)


@pytest.mark.integration
def test_kubernetes_login_with_the_token_in_the_config(kube_auth, kube_namespace, vault_path):
    config = dict(kube_auth["config"], vault_kubernetes_jwt=kube_auth["token_of"]("st2-actions"))
    assert_logged_in_as(assert_kv_works(config, vault_path), kube_namespace)


@pytest.mark.integration
def test_kubernetes_login_with_the_token_file(kube_auth, kube_namespace, vault_path, tmp_path):
    path = tmp_path / "token"
    path.write_text(kube_auth["token_of"]("st2-actions") + "\n")  # a trailing newline is fine
    config = dict(kube_auth["config"], vault_kubernetes_jwt_path=str(path))
    assert_logged_in_as(assert_kv_works(config, vault_path), kube_namespace)


@pytest.mark.integration
def test_kubernetes_token_of_another_service_account_is_refused(kube_auth, stack):
    jwt = kube_auth["token_of"]("other")
    with pytest.raises(VaultError) as exc:
        client_from_config(dict(kube_auth["config"], vault_kubernetes_jwt=jwt))
    assert str(exc.value) == (
        "Vault at %s refused the Kubernetes login (pack config vault_kubernetes_role 'st2', "
        "mount %s, token from vault_kubernetes_jwt): service account name not authorized"
        % (stack["vault"]["addr"], kube_auth["mount"]))
    assert jwt not in str(exc.value)


@pytest.mark.integration
def test_kubernetes_unknown_role_is_named(kube_auth, stack, tmp_path):
    path = tmp_path / "token"
    path.write_text(kube_auth["token_of"]("st2-actions"))
    with pytest.raises(VaultError) as exc:
        client_from_config(dict(kube_auth["config"], vault_kubernetes_role="nope",
                                vault_kubernetes_jwt_path=str(path)))
    assert str(exc.value) == (
        "Vault at %s refused the Kubernetes login (pack config vault_kubernetes_role 'nope', "
        "mount %s, token from vault_kubernetes_jwt_path %s): invalid role name \"nope\""
        % (stack["vault"]["addr"], kube_auth["mount"], path))
