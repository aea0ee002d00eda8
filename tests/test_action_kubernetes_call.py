"""aws.kubernetes_call, run from its metadata (tests/st2_params.py) against the real API servers:
a core kind, an apps kind and a custom resource; names checked before the call with the
closest valid ones named; the API server's errors with status and reason; Secret data never in
a result or a log unless asked for, and then only where StackStorm masks it."""

import base64
import json
import logging
import uuid

import pytest
from hypothesis import given, settings, strategies as st
from st2tests.base import BaseActionTestCase

from kubernetes_call import KubernetesCall
from lib.action import ConfigError
from lib.kube.call import (KubeCallError, KubeInputError, api_answer, check_params,
                           custom_resource_method, redact, resolve_api, resolve_method,
                           scrub_message)
from tests.fixtures.database.support import ensure_database_crd, unique
from tests.library_names import (closest, did_you_mean, kube_api_classes, kube_methods,
                                 kube_params)
from tests.st2_params import ParamError, action_params, load_action, mask_output, validate_output

META = load_action("kubernetes_call")
MASK = "********"


def test_metadata_positions_and_secrets():
    positions = {spec["position"]: name for name, spec in META["parameters"].items()
                 if "position" in spec}
    assert positions == {1: "api", 2: "method", 3: "params"}
    assert META["parameters"]["secret_params"]["secret"] is True
    assert META["output_schema"]["properties"]["secret_data"]["secret"] is True
    shown = mask_output(META, {"kind": "Secret", "secret_data": {"ns/a": {"k": "dg=="}}})
    assert shown == {"kind": "Secret", "secret_data": MASK}


@pytest.mark.parametrize("live, message", [
    ({"api": "CoreV1Api"}, "'method' is a required property"),
    ({"method": "x", "patch_type": "yaml"},
     "patch_type: 'yaml' is not one of ['', 'strategic', 'merge', 'json', 'apply']"),
    ({"method": "x", "request_timeout": 0}, "request_timeout: 0 is less than the minimum of 1"),
])
def test_st2_refuses_bad_params(live, message):
    with pytest.raises(ParamError) as error:
        action_params(META, live)
    assert str(error.value) == message


def test_importing_the_action_does_not_import_the_client(tmp_path):
    """The python runner imports the action module in a new process per execution: the
    kubernetes client (about 0.4 s) is imported by the call, not by the import."""
    import os
    import subprocess
    import sys

    import st2common

    pack = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [os.path.join(pack, "actions"),
             os.path.dirname(os.path.dirname(os.path.abspath(st2common.__file__)))]
    code = ("import sys, kubernetes_call; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('kubernetes', 'consul', 'hvac', 'boto3')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), check=True,
                         capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(paths)))
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# --- names, checked before anything is sent ---------------------------------------------------

@pytest.mark.parametrize("given_name, expected", [
    ("CoreV1Api", "CoreV1Api"), ("corev1api", "CoreV1Api"), ("core_v1", "CoreV1Api"),
    ("AppsV1", "AppsV1Api"), ("rbac_authorization_v1", "RbacAuthorizationV1Api")])
def test_api_classes_are_found_by_close_spellings(given_name, expected):
    assert resolve_api(given_name) == expected


# The kubernetes client's classes, methods and parameters differ between the versions
# requirements.txt allows (kubernetes 36 added shard_selector to the list methods): the expected
# names are read from the installed client (tests/library_names.py), and the tests assert what
# holds in every version (the right name first, only names the client has, at most n).

def test_unknown_names_name_the_closest():
    with pytest.raises(KubeInputError) as err:
        resolve_api("CoreV2Api")
    classes = kube_api_classes()
    close = closest("CoreV2Api", classes, n=3)
    assert close[:2] == ["CoreV1Api", "CoreApi"] and set(close) <= set(classes)
    assert str(err.value) == (
        'kubernetes.client has no API class "CoreV2Api"%s (it has %d, e.g. CoreV1Api, '
        "AppsV1Api, BatchV1Api, NetworkingV1Api, RbacAuthorizationV1Api, CustomObjectsApi)"
        % (did_you_mean(close), len(classes)))
    with pytest.raises(KubeInputError) as err:
        resolve_method("AppsV1Api", "patch_namespace_deployment")
    close = closest("patch_namespace_deployment", kube_methods("AppsV1Api"), n=5)
    assert close[0] == "patch_namespaced_deployment"
    assert str(err.value) == (
        'AppsV1Api has no method "patch_namespace_deployment"%s' % did_you_mean(close))
    with pytest.raises(KubeInputError) as err:
        resolve_method("CoreV1Api", "get_secret")
    on_secret = [m for m in kube_methods("CoreV1Api") if m.endswith("_secret")][:8]
    assert {"read_namespaced_secret", "list_namespaced_secret"} <= set(on_secret)
    assert str(err.value) == ('CoreV1Api has no method "get_secret"; its methods on secret: '
                              + ", ".join(on_secret))
    assert resolve_method("CoreV1Api", "listNamespacedSecret") == "list_namespaced_secret"
    with pytest.raises(KubeInputError) as err:
        check_params("CoreV1Api", "list_namespaced_secret",
                     {"namespace": "a", "lable_selector": "x", "limt": 2})
    required, optional = kube_params("CoreV1Api", "list_namespaced_secret")
    assert required == ["namespace"] and {"label_selector", "limit", "pretty"} <= set(optional)
    near_label = closest("lable_selector", required + optional, n=3)
    near_limit = closest("limt", required + optional, n=3)
    assert near_label[0] == "label_selector" and near_limit[0] == "limit"
    assert str(err.value) == (
        "CoreV1Api.list_namespaced_secret has no parameter lable_selector (closest: %s), limt "
        "(closest: %s); it takes namespace (required), %s"
        % (", ".join(near_label), ", ".join(near_limit), ", ".join(optional)))
    with pytest.raises(KubeInputError) as err:
        check_params("CoreV1Api", "read_namespaced_secret", {"namespace": "a"})
    assert str(err.value) == ("CoreV1Api.read_namespaced_secret needs parameter(s) name in params "
                              "(required: name, namespace)")
    assert check_params("CoreV1Api", "list_namespaced_secret",
                        {"namespace": "a", "labelSelector": "x", "continue": "t"}) == {
        "namespace": "a", "label_selector": "x", "_continue": "t"}


def test_streams_are_refused():
    with pytest.raises(KubeInputError, match="is a stream"):
        resolve_method("CoreV1Api", "connect_get_namespaced_pod_exec")
    with pytest.raises(KubeInputError, match="watch=true makes a stream"):
        check_params("CoreV1Api", "list_namespaced_secret", {"namespace": "a", "watch": True})


def test_custom_resource_verbs():
    assert custom_resource_method("list", True) == "list_namespaced_custom_object"
    assert custom_resource_method("patchStatus", False) == "patch_cluster_custom_object_status"
    assert custom_resource_method("get_namespaced_custom_object", False) == \
        "get_namespaced_custom_object"
    with pytest.raises(KubeInputError) as err:
        custom_resource_method("lst", True)
    assert str(err.value) == ('"lst" is not a custom-resource method: use one of list, get, '
                              'create, replace, patch, delete, delete_collection, get_status, '
                              'patch_status, replace_status (a namespace in params picks the '
                              'namespaced form); did you mean: list?')


_JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=4)),
                     lambda inner: st.one_of(st.lists(inner, max_size=2),
                                             st.dictionaries(st.text(max_size=4), inner,
                                                             max_size=2)), max_leaves=4)


@settings(max_examples=150, deadline=None)
@given(params=st.dictionaries(st.one_of(st.sampled_from(
    ["namespace", "name", "body", "labelSelector", "limit", "watch", "continue", "dry_run",
     "field_manager"]), st.text(max_size=8)), _JSON, max_size=4),
    method=st.sampled_from(["list_namespaced_config_map", "create_namespaced_config_map",
                            "patch_namespaced_secret", "read_namespace"]))
def test_hostile_params_are_refused_by_name_or_passed_on(params, method):
    try:
        checked = check_params("CoreV1Api", method, params)
    except KubeInputError as exc:
        assert str(exc).startswith("CoreV1Api.%s" % method), str(exc)
    else:
        assert len(checked) == len(params)
        assert all(not k.startswith("_") or k == "_continue" for k in checked)


# --- secrets ----------------------------------------------------------------------------------

def _secret(name, data, namespace="team-a", **meta):
    return {"kind": "Secret", "apiVersion": "v1",
            "metadata": dict({"name": name, "namespace": namespace}, **meta), "data": data}


def test_scrub_message_drops_the_quoted_request_body():
    message = ('Secret in version "v1" cannot be handled as a Secret: v1.Secret.Data: decode '
               'base64: illegal base64 data at input byte 16, error found in #10 byte of '
               '...|etValue!!"}}|..., bigger context ...|x", "data": {"password": '
               '"SuperSecretValue!!"}}|...')
    assert scrub_message(message) == (
        'Secret in version "v1" cannot be handled as a Secret: v1.Secret.Data: decode base64: '
        'illegal base64 data at input byte 16, error found at byte 10 of the request (not '
        'shown: it may hold secrets)')
    assert scrub_message('configmaps "x" not found') == 'configmaps "x" not found'


def _api_exception(body, status=400, reason="Bad Request"):
    from kubernetes.client.exceptions import ApiException

    exc = ApiException(status=status, reason=reason)
    exc.body = body
    return exc


def test_api_answer_takes_the_status_reason_and_message_without_quoted_bodies():
    quoted = json.dumps({"kind": "Status", "reason": "BadRequest", "message": (
        "illegal base64 data at input byte 2, error found in #10 byte of "
        '...|"pw-secret"|..., bigger context ...|{"password": "pw-secret"}|...')})
    assert api_answer(_api_exception(quoted)) == (
        "BadRequest", "illegal base64 data at input byte 2, error found at byte 10 of the "
        "request (not shown: it may hold secrets)")
    assert api_answer(_api_exception(b'{"reason": "NotFound", "message": "gone"}', 404)) == (
        "NotFound", "gone")
    for body in (None, "", "<html>bad gateway</html>", "[1, 2]", '"text"',
                 '{"message": 5}', '{"reason": null}'):
        assert api_answer(_api_exception(body)) == ("Bad Request", ""), body


@given(body=st.one_of(st.none(), st.text(), st.binary(),
                      st.dictionaries(st.sampled_from(["reason", "message", "code"]),
                                      st.one_of(st.none(), st.integers(), st.text(),
                                                st.lists(st.text(), max_size=2)))
                      .map(json.dumps)))
def test_api_answer_takes_any_body(body):
    reason, message = api_answer(_api_exception(body))
    assert isinstance(message, str) and reason is not None


def test_redact_masks_secrets_in_objects_and_lists_and_keeps_them_apart_when_asked():
    applied = json.dumps({"data": {"password": "c2VjcmV0"}})
    obj = _secret("db", {"password": "c2VjcmV0"},
                  annotations={"kubectl.kubernetes.io/last-applied-configuration": applied,
                               "team": "a"})
    assert redact(json.loads(json.dumps(obj))) == (_secret("db", {"password": MASK}, annotations={
        "kubectl.kubernetes.io/last-applied-configuration": MASK, "team": "a"}), {})
    listing = {"kind": "SecretList", "apiVersion": "v1", "metadata": {},
               "items": [{"metadata": {"name": "a", "namespace": "n"}, "data": {"k": "dg=="},
                          "type": "Opaque"}]}
    result, found = redact(listing, keep=True)
    assert result["items"][0]["data"] == {"k": MASK}
    assert found == {"n/a": {"k": "dg=="}}
    mixed = {"kind": "List", "items": [
        {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "plain"}},
        dict(_secret("s", {"k": "dg=="}), stringData={"x": "y"})]}
    result, found = redact(mixed)
    assert result["items"][0]["data"] == {"k": "plain"}
    assert result["items"][1]["data"] == {"k": MASK}
    assert result["items"][1]["stringData"] == {"x": MASK}
    token = {"kind": "TokenRequest", "metadata": {"name": "sa", "namespace": "n"},
             "status": {"token": "eyJ.x.y", "expirationTimestamp": "t"}}
    assert redact(token, keep=True) == ({"kind": "TokenRequest", "metadata": {
        "name": "sa", "namespace": "n"}, "status": {"token": MASK, "expirationTimestamp": "t"}},
        {"n/sa": {"token": "eyJ.x.y"}})
    cm = {"kind": "ConfigMap", "data": {"password": "not a secret kind"}}
    assert redact(dict(cm)) == (cm, {})


# --- against the real API servers -------------------------------------------------------------

@pytest.mark.integration
class KubernetesCallTest(BaseActionTestCase):
    action_cls = KubernetesCall

    @pytest.fixture(autouse=True)
    def _cluster(self, stack, kube_namespace, caplog):
        kube = stack["kube"]
        self.kube = kube
        self.config = {"kubeconfig": kube["kubeconfig"],
                       "kube_clusters": {"limited": {"kubeconfig": kube["kubeconfig"],
                                                     "context": kube["context"] + "-limited"},
                                         "closed": {"api_url": "https://127.0.0.1:9",
                                                    "token": "x"}}}
        self.ns = kube_namespace
        self.caplog = caplog
        caplog.set_level(logging.DEBUG)
        # the client's own loggers at DEBUG too: nothing may reach them either
        for name in ("kubernetes", "kubernetes.client.rest", "urllib3"):
            logging.getLogger(name).setLevel(logging.DEBUG)

    def run_action(self, **live):
        params = action_params(META, live)
        result = self.get_action_instance(self.config).run(**params)
        validate_output(META, result)
        json.dumps(result)  # plain JSON, as st2 stores it
        return result

    def failure(self, error=KubeCallError, **live):
        with pytest.raises(error) as err:
            self.run_action(**live)
        return str(err.value)

    # -- a core kind
    def test_config_maps_created_read_listed_by_page_and_deleted(self):
        for i in range(5):
            made = self.run_action(api="CoreV1Api", method="create_namespaced_config_map",
                                   params={"namespace": self.ns, "body": {
                                       "metadata": {"name": "cm-%d" % i, "labels": {"i": str(i)}},
                                       "data": {"n": str(i)}}})
            assert (made["kind"], made["apiVersion"], made["data"]) == (
                "ConfigMap", "v1", {"n": str(i)})
            assert made["metadata"]["uid"] and made["metadata"]["resourceVersion"]
        got = self.run_action(api="core_v1", method="readNamespacedConfigMap",
                              params={"namespace": self.ns, "name": "cm-3"})
        assert got["data"] == {"n": "3"} and got["metadata"]["labels"] == {"i": "3"}
        listing = self.run_action(api="CoreV1Api", method="list_namespaced_config_map",
                                  params={"namespace": self.ns, "limit": 2}, paginate=True)
        assert listing["kind"] == "ConfigMapList"
        assert sorted(i["metadata"]["name"] for i in listing["items"]) == [
            "cm-%d" % i for i in range(5)]
        assert "continue" not in listing["metadata"]
        one_page = self.run_action(api="CoreV1Api", method="list_namespaced_config_map",
                                   params={"namespace": self.ns, "limit": 2})
        assert len(one_page["items"]) == 2 and one_page["metadata"]["continue"]
        gone = self.run_action(api="CoreV1Api", method="delete_namespaced_config_map",
                               params={"namespace": self.ns, "name": "cm-0"})
        assert (gone["kind"], gone["status"]) == ("Status", "Success")
        message = self.failure(api="CoreV1Api", method="read_namespaced_config_map",
                               params={"namespace": self.ns, "name": "cm-0"})
        assert message == (
            'CoreV1Api.read_namespaced_config_map failed on cluster "default" (%s): the API '
            'server answered 404 NotFound: configmaps "cm-0" not found' % self.kube["server"])
        message = self.failure(api="CoreV1Api", method="create_namespaced_config_map",
                               params={"namespace": self.ns, "body": {"metadata": {
                                   "name": "cm-1"}}})
        assert "the API server answered 409 AlreadyExists: configmaps \"cm-1\" already exists" \
            in message
        message = self.failure(api="CoreV1Api", method="create_namespaced_config_map",
                               params={"namespace": self.ns, "body": {"metadata": {
                                   "name": "Bad_Name"}}})
        assert 'answered 422 Invalid: ConfigMap "Bad_Name" is invalid: metadata.name: ' \
               'Invalid value: "Bad_Name"' in message

    # -- an apps kind, and the patch types
    def test_deployments_patched_by_strategic_merge_json_and_merge_patch(self):
        body = {"metadata": {"name": "web"}, "spec": {
            "replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "web", "image": "nginx:1.25"},
                {"name": "sidecar", "image": "busybox:1.36"}]}}}}
        made = self.run_action(api="AppsV1Api", method="create_namespaced_deployment",
                               params={"namespace": self.ns, "body": body})
        assert (made["kind"], made["apiVersion"]) == ("Deployment", "apps/v1")
        # strategic merge (the default for built-in kinds): containers merged by name
        patched = self.run_action(api="AppsV1Api", method="patch_namespaced_deployment",
                                  params={"namespace": self.ns, "name": "web", "body": {
                                      "spec": {"replicas": 3, "template": {"spec": {
                                          "containers": [{"name": "web",
                                                          "image": "nginx:1.27"}]}}}}})
        containers = patched["spec"]["template"]["spec"]["containers"]
        assert patched["spec"]["replicas"] == 3
        assert [(c["name"], c["image"]) for c in containers] == [
            ("web", "nginx:1.27"), ("sidecar", "busybox:1.36")]
        # a list body is a JSON patch
        patched = self.run_action(api="AppsV1Api", method="patch_namespaced_deployment",
                                  params={"namespace": self.ns, "name": "web", "body": [
                                      {"op": "replace", "path": "/spec/replicas", "value": 2}]})
        assert patched["spec"]["replicas"] == 2
        # a merge patch replaces the list
        patched = self.run_action(api="AppsV1Api", method="patch_namespaced_deployment",
                                  patch_type="merge",
                                  params={"namespace": self.ns, "name": "web", "body": {
                                      "spec": {"template": {"spec": {"containers": [
                                          {"name": "web", "image": "nginx:1.27"}]}}}}})
        assert [c["name"] for c in patched["spec"]["template"]["spec"]["containers"]] == ["web"]
        listing = self.run_action(api="AppsV1Api", method="list_namespaced_deployment",
                                  params={"namespace": self.ns})
        assert [d["metadata"]["name"] for d in listing["items"]] == ["web"]
        message = self.failure(KubeInputError, api="AppsV1Api",
                               method="patch_namespaced_deployment", patch_type="apply",
                               params={"namespace": self.ns, "name": "web", "body": {}})
        assert message == ("patch_type apply (server-side apply) needs field_manager in params, "
                           "e.g. st2")

    # -- a custom resource by group/version/plural
    def test_a_custom_resource_by_group_version_plural(self):
        with self._api_client() as api_client:
            ensure_database_crd(api_client)
        crd = {"group": "dbaas.stackstorm.com", "version": "v1alpha1", "plural": "databases"}
        made = self.run_action(method="create", params={"namespace": self.ns, "body": {
            "apiVersion": "dbaas.stackstorm.com/v1alpha1", "kind": "Database",
            "metadata": {"name": "orders"},
            "spec": {"engine": "postgres", "instanceSize": "small"}}}, **crd)
        assert (made["kind"], made["spec"]["engine"]) == ("Database", "postgres")
        listing = self.run_action(method="list", params={"namespace": self.ns}, **crd)
        assert [(d["kind"], d["metadata"]["name"]) for d in listing["items"]] == [
            ("Database", "orders")]
        patched = self.run_action(method="patch", params={"namespace": self.ns, "name": "orders",
                                                          "body": {"spec": {"storageGB": 30}}},
                                  **crd)
        assert patched["spec"]["storageGB"] == 30 and patched["spec"]["engine"] == "postgres"
        status = self.run_action(method="patch_status", params={
            "namespace": self.ns, "name": "orders", "body": {"status": {"phase": "Ready"}}},
            **crd)
        assert status["status"]["phase"] == "Ready"
        cluster_wide = self.run_action(method="list", **crd)
        assert any(d["metadata"]["namespace"] == self.ns for d in cluster_wide["items"])
        message = self.failure(KubeInputError, method="patch", params={
            "namespace": self.ns, "name": "orders", "body": {}}, patch_type="strategic", **crd)
        assert message == ("custom resources take no strategic merge patch: use patch_type "
                           "merge, json or apply")
        message = self.failure(KubeInputError, method="list", group="dbaas.stackstorm.com",
                               plural="databases")
        assert message.startswith("a custom resource needs group, version and plural; version "
                                  "missing")
        message = self.failure(KubeInputError, api="CoreV1Api", method="list", **crd)
        assert message.startswith("api CoreV1Api cannot be combined with group/version/plural")
        message = self.failure(method="get", params={"namespace": self.ns, "name": "nope"},
                               **crd)
        assert message.endswith('answered 404 NotFound: databases.dbaas.stackstorm.com "nope" '
                                'not found')

    def test_a_custom_resource_the_api_server_does_not_serve_names_the_close_served_ones(self):
        """Issue 18: the API server answers a plain-text "404 page not found" for a
        group/version/plural it does not serve; discovery says what it does serve."""
        with self._api_client() as api_client:
            ensure_database_crd(api_client)
        head = ('CustomObjectsApi.list_namespaced_custom_object failed on cluster "default" (%s): '
                "the API server answered 404 Not Found: " % self.kube["server"])
        message = self.failure(method="list", params={"namespace": self.ns},
                               group="dbaas.stackstorm.com", version="v1alpha1",
                               plural="databasez")
        assert message == head + (
            "databasez.dbaas.stackstorm.com/v1alpha1 is not served by the API server at %s; "
            "served: databases.dbaas.stackstorm.com/v1alpha1" % self.kube["server"])
        message = self.failure(method="list", params={"namespace": self.ns},
                               group="dbaas.stackstorm.com", version="v1", plural="databases")
        assert message == head + (
            "databases.dbaas.stackstorm.com/v1 is not served by the API server at %s; "
            "served: databases.dbaas.stackstorm.com/v1alpha1" % self.kube["server"])
        message = self.failure(method="list", params={"namespace": self.ns},
                               group="dbaas.stackstorm.co", version="v1alpha1",
                               plural="databases")
        assert message.startswith(head + (
            "databases.dbaas.stackstorm.co/v1alpha1 is not served by the API server at %s; "
            "served: databases.dbaas.stackstorm.com/v1alpha1" % self.kube["server"]))
        message = self.failure(method="get", group="qqq.invalid", version="v9",
                               plural="zzz", params={"name": "x"})
        assert message.endswith(
            "zzz.qqq.invalid/v9 is not served by the API server at %s; served: no group "
            "close to qqq.invalid (ApisApi get_api_versions lists them)"
            % self.kube["server"])

    def _api_client(self):
        from lib.kube.api import api_client_from_config

        return api_client_from_config(self.config)

    # -- Secret data
    def test_secret_data_is_masked_unless_asked_for_and_then_masked_by_st2(self):
        password = "pw-" + uuid.uuid4().hex
        encoded = base64.b64encode(password.encode()).decode()
        made = self.run_action(
            api="CoreV1Api", method="create_namespaced_secret",
            params={"namespace": self.ns, "body": {"metadata": {"name": "db-creds"},
                                                   "type": "Opaque"}},
            secret_params={"body": {"data": {"password": encoded}, "stringData": {
                "user": "app"}}})
        assert made["data"] == {"password": MASK, "user": MASK}
        got = self.run_action(api="CoreV1Api", method="read_namespaced_secret",
                              params={"namespace": self.ns, "name": "db-creds"})
        assert got["data"] == {"password": MASK, "user": MASK} and "secret_data" not in got
        listing = self.run_action(api="CoreV1Api", method="list_namespaced_secret",
                                  params={"namespace": self.ns})
        assert [i["data"] for i in listing["items"]] == [{"password": MASK, "user": MASK}]
        asked = self.run_action(api="CoreV1Api", method="read_namespaced_secret",
                                params={"namespace": self.ns, "name": "db-creds"},
                                include_secret_data=True)
        assert asked["data"] == {"password": MASK, "user": MASK}
        assert asked["secret_data"] == {"%s/db-creds" % self.ns: {
            "password": encoded, "user": base64.b64encode(b"app").decode()}}
        shown = mask_output(META, asked)  # what st2 stores and shows
        assert shown["secret_data"] == MASK
        # applied with kubectl apply: the last-applied annotation holds the data too
        annotated = self.run_action(
            api="CoreV1Api", method="patch_namespaced_secret",
            params={"namespace": self.ns, "name": "db-creds"},
            secret_params={"body": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
                    {"data": {"password": encoded}})}}}})
        assert annotated["metadata"]["annotations"] == {
            "kubectl.kubernetes.io/last-applied-configuration": MASK}
        # the API server quotes a body it cannot decode: never shown
        message = self.failure(api="CoreV1Api", method="create_namespaced_secret",
                               params={"namespace": self.ns, "body": {"metadata": {
                                   "name": "bad"}}},
                               secret_params={"body": {"data": {"password": password}}})
        assert message.endswith(
            "the API server answered 400 BadRequest: Secret in version \"v1\" cannot be handled "
            "as a Secret: v1.Secret.Data: decode base64: illegal base64 data at input byte 2, "
            "error found at byte 10 of the request (not shown: it may hold secrets)"), message
        for text in (password, encoded):
            for record in self.caplog.records:
                assert text not in record.getMessage(), record.name
            assert text not in json.dumps([made, got, listing, shown, annotated])

    # -- clusters
    def test_a_named_cluster_and_the_api_servers_refusals(self):
        message = self.failure(api="CoreV1Api", method="list_namespaced_config_map",
                               params={"namespace": self.ns}, cluster="limited")
        assert message.startswith(
            'CoreV1Api.list_namespaced_config_map failed on cluster "limited" (%s): the API '
            'server answered 403 Forbidden: configmaps is forbidden: User "sensor-test" cannot '
            'list resource "configmaps"' % self.kube["server"])
        message = self.failure(api="CoreV1Api", method="list_namespace", cluster="closed")
        assert message.startswith('CoreV1Api.list_namespace failed: cannot reach cluster '
                                  '"closed" (https://127.0.0.1:9)')
        message = self.failure(ConfigError, api="CoreV1Api", method="list_namespace",
                               cluster="blu")
        assert message.startswith('unknown Kubernetes cluster "blu": pack config key '
                                  '"kube_clusters" names "closed", "limited"')
        message = self.failure(api="CoreV1Api", method="read_namespaced_config_map",
                               params={"namespace": self.ns, "name": "x"}, cluster="",
                               request_timeout=5)
        assert "404 NotFound" in message
        # batch/v1 CronJobs came with Kubernetes 1.21; the local API server is 1.20
        message = self.failure(api="BatchV1Api", method="list_namespaced_cron_job",
                               params={"namespace": self.ns})
        assert message.endswith(
            "answered 404 NotFound: the server could not find the requested resource (the API "
            "server does not serve this API group/version: check its Kubernetes version with "
            "VersionApi get_code)")
        version = self.run_action(api="VersionApi", method="get_code")
        assert version["gitVersion"] == "v1.20.2"


@pytest.mark.integration
def test_the_second_cluster_is_another_api_server(stack, stack_b, kube_b_api_client):
    from kubernetes import client

    b = stack_b["kube"]
    config = {"kubeconfig": stack["kube"]["kubeconfig"],
              "kube_clusters": {"b": {"kubeconfig": b["kubeconfig"], "context": b["context"]}}}
    action = KubernetesCall(config=config)
    name = unique("kc-b")
    made = action.run(**action_params(META, {
        "api": "CoreV1Api", "method": "create_namespace", "cluster": "b",
        "params": {"body": {"metadata": {"name": name}}}}))
    try:
        assert made["metadata"]["name"] == name
        client.CoreV1Api(kube_b_api_client).read_namespace(name)
        with pytest.raises(KubeCallError) as err:
            action.run(**action_params(META, {"api": "CoreV1Api", "method": "read_namespace",
                                              "params": {"name": name}}))
        assert err.value.status == 404
    finally:
        client.CoreV1Api(kube_b_api_client).delete_namespace(name)
