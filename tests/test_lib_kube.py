"""lib.kube.api: the trigger payload contract and the API client built from the pack config."""

import copy
import json
import os

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from lib.action import ConfigError
from lib.kube.api import (api_client_from_config, deleted_payload, pruned_fields,
                          resource_from_config, to_payload)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "k8s")
DB = {"group": "dbaas.stackstorm.com", "version": "v1alpha1", "plural": "databases"}
LEGACY = {"group": "stackstorm.com", "version": "v1", "plural": "mysqldbs"}


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def previous_of(obj, **changes):
    """The payload emitted for an earlier state of ``obj``."""
    payload = to_payload("ADDED", obj, DB)
    payload.update(changes)
    return payload


def test_payload_strips_managed_fields_and_last_applied_and_flags_the_deletion():
    obj = fixture("database_object.json")
    previous = previous_of(obj, generation=3, deletion_timestamp=None, resource_version="4700")
    assert to_payload("MODIFIED", obj, DB, previous) == fixture("database_payload_modified.json")
    assert "managedFields" not in json.dumps(to_payload("MODIFIED", obj, DB, previous))


def test_first_sight_sets_spec_changed_and_deletion_requested_if_already_deleting():
    obj = fixture("database_object.json")
    payload = to_payload("ADDED", obj, DB)
    assert (payload["spec_changed"], payload["deletion_requested"]) == (True, True)
    del obj["metadata"]["deletionTimestamp"]
    payload = to_payload("ADDED", obj, DB)
    assert (payload["deletion_requested"], payload["deletion_timestamp"]) == (False, None)


def test_generation_decides_spec_changed_and_deletion_is_requested_once():
    obj = fixture("database_object.json")
    same = previous_of(obj)  # deletionTimestamp already emitted, same generation
    assert to_payload("MODIFIED", obj, DB, same)["spec_changed"] is False
    assert to_payload("MODIFIED", obj, DB, same)["deletion_requested"] is False
    older = previous_of(obj, generation=2)
    assert to_payload("MODIFIED", obj, DB, older)["spec_changed"] is True


def test_legacy_object_spec_is_its_top_level_fields_and_compared_by_content():
    obj = fixture("mysqldb_object.json")
    payload = to_payload("ADDED", obj, LEGACY)
    assert payload["spec"] == {"engine_version": "5.7", "instance_size": "small"}
    assert (payload["kind"], payload["generation"], payload["status"]) == ("MysqlDb", None, {})
    changed = copy.deepcopy(obj)
    changed["instance_size"] = "large"
    changed["metadata"]["resourceVersion"] = "13"
    assert to_payload("MODIFIED", changed, LEGACY, payload)["spec_changed"] is True
    relabelled = copy.deepcopy(obj)
    relabelled["metadata"]["labels"] = {"a": "b"}
    assert to_payload("MODIFIED", relabelled, LEGACY, payload)["spec_changed"] is False


def test_deleted_payload_is_the_last_state_with_event_deleted():
    last = to_payload("MODIFIED", fixture("database_object.json"), DB,
                      previous_of(fixture("database_object.json"), deletion_timestamp=None))
    expected = dict(fixture("database_payload_modified.json"), event="DELETED",
                    deletion_requested=False)
    assert deleted_payload(last) == expected
    assert last["event"] == "MODIFIED"  # not changed in place


@pytest.mark.parametrize("entry,message", [
    ("databases", 'pack config key "watch_resources" item 0 must be an object'),
    ({"group": "g", "version": "v1"}, 'item 0 needs "plural" (a non-empty string, e.g. databases)'),
    ({"group": "", "version": "v1", "plural": "x"}, 'item 0 needs "group"'),
    ({"group": "g", "version": "v1", "plural": "x", "kind": "X"}, "unknown fields kind"),
    ({"group": "g", "version": "v1", "plural": "x", "namespace": 3}, '"namespace" must be'),
])
def test_resource_from_config_names_the_problem(entry, message):
    with pytest.raises(ConfigError) as info:
        resource_from_config(entry)
    assert message in str(info.value)


def test_resource_from_config_empty_namespace_means_all():
    assert resource_from_config(dict(DB, namespace="")) == dict(DB, namespace=None)


@pytest.mark.parametrize("config,message", [
    ({"kube_api_url": "https://k:6443"}, 'pack config key "kube_token" is required when'),
    ({"kube_api_url": "k:6443", "kube_token": "t"}, 'pack config key "kube_api_url" must be an'),
    ({"kube_api_url": "https://k:6443", "kube_token": "t", "kube_ca_file": "/nope/ca.crt"},
     'pack config key "kube_ca_file" names \'/nope/ca.crt\''),
    ({"kube_in_cluster": True}, 'pack config key "kube_in_cluster" is true but no in-cluster'),
    ({"kubeconfig": "/nope/kubeconfig"}, 'pack config key "kubeconfig" names'),
    ({"kube_api_url": 6443}, 'pack config key "kube_api_url" must be of type str'),
])
def test_config_errors_name_the_key(config, message, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError) as info:
        api_client_from_config(config)
    assert message in str(info.value)


@pytest.mark.integration
def test_unknown_context_names_kube_context(stack):
    with pytest.raises(ConfigError) as info:
        api_client_from_config({"kubeconfig": stack["kube"]["kubeconfig"],
                                "kube_context": "nope"})
    assert 'pack config key "kube_context"' in str(info.value)


@pytest.mark.integration
def test_url_and_token_reach_the_api_server(stack):
    kube = stack["kube"]
    api = api_client_from_config({"kube_api_url": kube["server"], "kube_token": kube["token"],
                                  "kube_ca_file": kube["ca_file"]})
    try:
        assert client.VersionApi(api).get_code().git_version.startswith("v1.20")
    finally:
        api.close()


@pytest.mark.integration
def test_kubeconfig_context_selects_the_identity(stack):
    """Context <context>-limited (stack-limited on the main set) is the no-permission user:
    listing namespaces is refused."""
    api = api_client_from_config({"kubeconfig": stack["kube"]["kubeconfig"],
                                  "kube_context": stack["kube"]["context"] + "-limited"})
    try:
        with pytest.raises(ApiException) as info:
            client.CoreV1Api(api).list_namespace()
        assert info.value.status == 403
        assert 'User "sensor-test" cannot list resource "namespaces"' in \
            json.loads(info.value.body)["message"]
    finally:
        api.close()
    admin = api_client_from_config({"kubeconfig": stack["kube"]["kubeconfig"]}, retries=False)
    try:
        assert client.CoreV1Api(admin).list_namespace(limit=1).items
    finally:
        admin.close()


@pytest.mark.integration
def test_unverified_ssl_is_possible_but_verified_is_the_default(stack):
    kube = stack["kube"]
    base = {"kube_api_url": kube["server"], "kube_token": kube["token"]}
    assert api_client_from_config(base).configuration.verify_ssl is True
    insecure = api_client_from_config(dict(base, kube_verify_ssl=False))
    try:
        assert insecure.configuration.verify_ssl is False
        assert client.VersionApi(insecure).get_code().major == "1"
    finally:
        insecure.close()


def test_pruned_fields_are_what_the_last_applied_configuration_has_and_the_object_lacks():
    obj = fixture("database_object.json")
    applied = {"apiVersion": "dbaas.stackstorm.com/v1alpha1", "kind": "Database",
               "metadata": {"name": "orders-db"},
               "spec": {"engine": "postgres", "storagegb": 500, "vault": {"pth": "x"},
                        "tags": None, "engineVersion": "15.4"},
               "extra": 1}
    obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = \
        json.dumps(applied)
    obj["spec"]["vault"] = {}
    assert pruned_fields(obj) == ["extra", "spec.storagegb", "spec.vault.pth"]
    assert to_payload("ADDED", obj, DB)["pruned_fields"] == ["extra", "spec.storagegb",
                                                             "spec.vault.pth"]
    # Not JSON, not an object, no annotation at all: nothing to compare with.
    for text in ("{", "[1]", ""):
        obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = text
        assert pruned_fields(obj) == []
    del obj["metadata"]["annotations"]
    assert pruned_fields(obj) == []


def test_pruned_fields_are_bounded():
    obj = fixture("database_object.json")
    applied = {"spec": {"f%02d" % i: i for i in range(50)}}
    obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = \
        json.dumps(applied)
    found = pruned_fields(obj)
    assert len(found) == 20 and found[-1] == "(and more)"


def test_deleted_payload_of_state_saved_before_pruned_fields_existed():
    last = to_payload("MODIFIED", fixture("database_object.json"), DB)
    del last["pruned_fields"]
    assert deleted_payload(last)["pruned_fields"] == []
