"""Many teams, one Vault and one Consul: a namespace owns the Vault paths and Consul keys under
its prefix (default "<namespace>/"), and a Database that claims another namespace's location is
refused before anything is changed (issue 10, item 2). On the local servers, through the API
server and lib/chain.py, with the pack's default layout."""

import json

import hvac
import pytest
from kubernetes import client

from lib.chain import run_workflow
from lib.kube.api import to_payload
from lib.database.rds_params import db_instance_identifier
from tests.fixtures.database.support import (aws_config, changing_calls, consul_config,
                                             create_database, ensure_database_crd, get_database,
                                             vault_config)
from tests.stack_plugin import _vault_destroy_tree
from tests.workflow_paths import assert_run_follows

pytestmark = pytest.mark.integration

DB = {"group": "dbaas.stackstorm.com", "version": "v1alpha1", "plural": "databases"}


@pytest.fixture
def second_namespace(kube_api_client, kube_namespace):
    name = kube_namespace + "-b"
    core = client.CoreV1Api(kube_api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=name, labels={"stacktest": "true"})))
    yield name
    core.delete_namespace(name)


@pytest.fixture
def config(stack):
    return dict(aws_config(stack), **vault_config(stack), **consul_config(stack),
                kubeconfig=stack["kube"]["kubeconfig"],
                role_arn="arn:aws:iam::123456789012:role/st2-database-provisioner")


@pytest.fixture
def cleanup(vault_client, consul_client, stack):
    namespaces = []
    yield namespaces.append
    kv = vault_client.secrets.kv.v2
    import boto3  # pylint: disable=import-outside-toplevel

    rds = boto3.client("rds", **{"endpoint_url": stack["aws"]["endpoint_url"],
                                 "region_name": stack["aws"]["region"],
                                 "aws_access_key_id": "testing",
                                 "aws_secret_access_key": "testing"})
    for namespace in namespaces:
        _vault_destroy_tree(kv, namespace)
        consul_client.kv.delete(namespace + "/", recurse=True)
        for item in rds.describe_db_instances()["DBInstances"]:
            tags = {t["Key"]: t["Value"] for t in item.get("TagList", [])}
            if tags.get("st2-aws/namespace") == namespace:
                rds.delete_db_instance(DBInstanceIdentifier=item["DBInstanceIdentifier"],
                                       SkipFinalSnapshot=True)


def test_a_namespace_cannot_take_another_namespaces_default_location(
        config, kube_api_client, kube_namespace, second_namespace, vault_client,
        consul_client, cleanup):
    ensure_database_crd(kube_api_client)
    team_a, team_b = kube_namespace, second_namespace
    cleanup(team_a)
    cleanup(team_b)
    # B's defaults are "<team_b>/orders-db" (Vault) and "<team_b>/orders-db/config" (Consul).
    taker = create_database(kube_api_client, team_a, "taker", spec={
        "engine": "postgres", "vault": {"path": "%s/orders-db" % team_b},
        "consul": {"key": "%s/orders-db/config" % team_b}})
    run = run_workflow("database_create", to_payload("ADDED", taker, DB), config,
                       poll_delay=0)
    assert run["status"] == "failed"
    assert_run_follows(run, "invalid")
    assert changing_calls(run) == []
    status = get_database(kube_api_client, team_a, "taker")["status"]
    assert status["phase"] == "Failed"
    assert status["message"] == (
        "invalid spec: spec.vault.path: '{b}/orders-db' is outside the Vault paths of namespace "
        "{a}; expected a path under '{a}/' (pack config vault_path_prefix); spec.consul.key: "
        "'{b}/orders-db/config' is outside the Consul keys of namespace {a}; expected a path "
        "under '{a}/' (pack config consul_key_prefix) (fix the spec and apply it again)"
        .format(a=team_a, b=team_b))
    with pytest.raises(hvac.exceptions.InvalidPath):
        vault_client.secrets.kv.v2.read_secret_metadata(path="%s/orders-db" % team_b,
                                                        mount_point="secret")
    assert consul_client.kv.get("%s/orders-db/config" % team_b)[1] is None

    owner = create_database(kube_api_client, team_b, "orders-db", spec={
        "engine": "postgres", "databaseName": "orders"})
    run = run_workflow("database_create", to_payload("ADDED", owner, DB), config,
                       poll_delay=0)
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "created")
    status = get_database(kube_api_client, team_b, "orders-db")["status"]
    assert (status["phase"], status["vaultPath"], status["consulKey"]) == (
        "Ready", "%s/orders-db" % team_b, "%s/orders-db/config" % team_b)
    meta = vault_client.secrets.kv.v2.read_secret_metadata(path=status["vaultPath"],
                                                           mount_point="secret")["data"]
    # the owner, and the RDS-managed secret's version the copy was made from
    assert sorted(meta["custom_metadata"]) == ["st2-aws-source-version", "st2-aws-uid"]
    assert meta["custom_metadata"]["st2-aws-uid"] == owner["metadata"]["uid"]
    _, item = consul_client.kv.get(status["consulKey"])
    assert json.loads(item["Value"])["db_instance_identifier"] == db_instance_identifier(
        team_b, "orders-db")


def test_a_location_another_database_of_the_namespace_holds_is_refused_before_any_change(
        config, kube_api_client, kube_namespace, vault_client, consul_client, cleanup):
    ensure_database_crd(kube_api_client)
    cleanup(kube_namespace)
    first = create_database(kube_api_client, kube_namespace, "first", spec={"engine": "postgres"})
    run = run_workflow("database_create", to_payload("ADDED", first, DB), config, poll_delay=0)
    assert run["status"] == "succeeded", run["output"]
    uid = first["metadata"]["uid"]

    second = create_database(kube_api_client, kube_namespace, "second", spec={
        "engine": "postgres", "vault": {"path": "%s/first" % kube_namespace}})
    run = run_workflow("database_create", to_payload("ADDED", second, DB), config,
                       poll_delay=0)
    assert run["status"] == "failed"
    assert_run_follows(run, "location_taken")
    assert changing_calls(run) == []
    status = get_database(kube_api_client, kube_namespace, "second")["status"]
    assert status["message"] == (
        "invalid spec: spec.vault.path: Vault secret secret/%s/first belongs to Database uid "
        "%s; choose another path (fix the spec and apply it again)" % (kube_namespace, uid))

    # The second's fix moves onto the Consul key of a third: the update refuses it too.
    third = create_database(kube_api_client, kube_namespace, "third",
                            spec={"engine": "postgres"})
    assert run_workflow("database_create", to_payload("ADDED", third, DB), config,
                        poll_delay=0)["status"] == "succeeded"
    previous = to_payload("ADDED", get_database(kube_api_client, kube_namespace, "second"), DB)
    moved = client.CustomObjectsApi(kube_api_client).patch_namespaced_custom_object(
        DB["group"], DB["version"], kube_namespace, DB["plural"], "second",
        {"spec": {"vault": None, "consul": {"key": "%s/third/config" % kube_namespace}}})
    run = run_workflow("database_update", to_payload("MODIFIED", moved, DB, previous), config,
                       poll_delay=0)
    assert run["status"] == "failed"
    assert_run_follows(run, "location_taken")
    assert changing_calls(run) == []
    assert get_database(kube_api_client, kube_namespace, "second")["status"]["message"] == (
        "invalid spec: spec.consul.key: Consul key %s/third/config belongs to Database uid %s; "
        "choose another key (fix the spec and apply it again)"
        % (kube_namespace, third["metadata"]["uid"]))

    # A Ready Database's locations stay where its status records them.
    previous = to_payload("ADDED", get_database(kube_api_client, kube_namespace, "first"), DB)
    moved = client.CustomObjectsApi(kube_api_client).patch_namespaced_custom_object(
        DB["group"], DB["version"], kube_namespace, DB["plural"], "first",
        {"spec": {"consul": {"key": "%s/elsewhere" % kube_namespace}}})
    run = run_workflow("database_update", to_payload("MODIFIED", moved, DB, previous), config,
                       poll_delay=0)
    assert_run_follows(run, "invalid")
    assert changing_calls(run) == []
    assert get_database(kube_api_client, kube_namespace, "first")["status"]["message"] == (
        "invalid spec: spec.consul.key: this Database's config is at '%s/first/config'; moving "
        "it is not supported, expected '%s/first/config' (or leave spec.consul.key out) (fix the "
        "spec and apply it again)" % (kube_namespace, kube_namespace))
