"""Property: whatever spec a team applies, it is refused at apply naming the field, or the
workflow ends Failed naming the field without changing anything in AWS, Vault or Consul, or
it ends Ready. Never a crash, never a run that ends without a status (issue 10).

hypothesis draws specs (tests/hostile_specs.py: valid ones with up to three hostile fields)
and drives each through the real Kubernetes API server (the CRD's validation), the trigger
payload the sensor would build (lib.kube.api.to_payload), and lib/chain.py's create workflow
against the local moto, Vault and Consul. A spec that became Ready is then replaced by another
drawn spec and driven through the update workflow, which must satisfy the same property.

The number of examples is ST2_PACK_PROPERTY_EXAMPLES (default 40, what CI runs: about half a
minute); run more by hand, e.g.

    ST2_PACK_PROPERTY_EXAMPLES=1000 python -m pytest -s tests/test_chain_properties.py

which prints the counts of each outcome at the end.
"""

import collections
import json
import os

import boto3
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from kubernetes import client
from kubernetes.client.rest import ApiException

from lib.chain import run_workflow
from lib.kube.api import to_payload
from lib.database.rds_params import db_instance_identifier
from tests.fixtures.database.support import (aws_config, consul_config, ensure_database_crd,
                                             vault_config)
from tests.hostile_specs import specs
from tests.stack_plugin import _vault_destroy_tree

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "dbaas.stackstorm.com", "v1alpha1", "databases"
DB = {"group": GROUP, "version": VERSION, "plural": PLURAL}
EXAMPLES = int(os.environ.get("ST2_PACK_PROPERTY_EXAMPLES", "40"))
STATUS_MESSAGE_MAX = 1024
# Actions whose every call changes something (a finalizer, Vault, Consul); aws.boto3action
# changes something unless the operation only reads.
CHANGING = ("aws.database_finalizer", "aws.database_store_credentials",
            "aws.database_publish_config", "aws.database_cleanup",
            "aws.database_parameter_group")
READ_ONLY = ("describe_", "list_", "get_")


class Outcomes:
    """Counts of what happened to the drawn specs (printed at the end)."""

    def __init__(self):
        self.counts = collections.Counter()

    def add(self, what):
        self.counts[what] += 1
        event(what)

    def report(self):
        total = sum(v for k, v in self.counts.items() if k.startswith("create:"))
        lines = ["property suite: %d specs through the API server and the chain" % total]
        lines += ["  %-34s %d" % (k, v) for k, v in sorted(self.counts.items())]
        return "\n".join(lines)


@pytest.fixture(scope="module")
def outcomes():
    counts = Outcomes()
    yield counts
    print("\n" + counts.report())


@pytest.fixture
def world(stack, kube_api_client, kube_namespace, vault_client, consul_client):
    """Config for the local servers with the default layout (the namespace owns
    "<namespace>/"), an RDS client, and cleanup of everything under the namespace."""
    ensure_database_crd(kube_api_client)
    config = dict(aws_config(stack), **vault_config(stack), **consul_config(stack),
                  kubeconfig=stack["kube"]["kubeconfig"],
                  role_arn="arn:aws:iam::123456789012:role/st2-database-provisioner")
    rds = boto3.client("rds", endpoint_url=stack["aws"]["endpoint_url"],
                       region_name=stack["aws"]["region"], aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    state = {"config": config, "rds": rds, "namespace": kube_namespace, "count": 0,
             "api": client.CustomObjectsApi(kube_api_client), "vault": vault_client,
             "consul": consul_client}
    yield state
    _vault_destroy_tree(vault_client.secrets.kv.v2, kube_namespace)
    consul_client.kv.delete(kube_namespace + "/", recurse=True)


def changing_calls(run):
    found = []
    for step in run["steps"]:
        for inner in [step] + step.get("steps", []):
            action = inner["action"]
            name = (inner.get("parameters") or {}).get("action_name") or ""
            if action in CHANGING or (action == "aws.boto3action"
                                      and not name.startswith(READ_ONLY)):
                found.append(inner["task"])
    return found


def names_a_field(text):
    return "spec." in text or "spec:" in text or "resource." in text


def refused_at_apply(exc):
    """The API server's answer names a field of the spec in each of its causes."""
    assert exc.status == 422, (exc.status, exc.body[:500])
    causes = json.loads(exc.body).get("details", {}).get("causes") or []
    assert causes, exc.body[:1000]
    for cause in causes:
        # The CRD has no `not` rule any more (its message named no field): every cause does.
        assert cause.get("field", "").startswith("spec"), exc.body[:1000]


def location_untouched(world, namespace, spec):
    """No Vault secret or Consul key at the spec's (or the default) locations."""
    import hvac  # pylint: disable=import-outside-toplevel

    vault = (spec.get("vault") or {}) if isinstance(spec.get("vault"), dict) else {}
    consul = (spec.get("consul") or {}) if isinstance(spec.get("consul"), dict) else {}
    for path in {vault.get("path"), "%s/%s" % (namespace[0], namespace[1])} - {None}:
        if not isinstance(path, str) or not path or path.startswith("/") or ".." in path:
            continue
        try:
            world["vault"].secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")
        except (hvac.exceptions.InvalidPath, hvac.exceptions.InvalidRequest):
            continue
        raise AssertionError("Vault secret %s was written" % path)
    for key in {consul.get("key"), "%s/%s/config" % namespace} - {None}:
        if isinstance(key, str) and key and not key.startswith("/") and ".." not in key:
            assert world["consul"].kv.get(key)[1] is None, "Consul key %s was written" % key


def check_run(world, name, run, spec, outcomes, kind):
    """The property for one run of ``kind`` (create / update)."""
    namespace = world["namespace"]
    obj = world["api"].get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    status = obj.get("status") or {}
    assert status.get("phase") in ("Ready", "Failed"), (kind, run["output"], status)
    assert len(status.get("message", "")) <= STATUS_MESSAGE_MAX
    if status["phase"] == "Ready":
        assert run["status"] == "succeeded", run["output"]
        world["vault"].secrets.kv.v2.read_secret_metadata(path=status["vaultPath"],
                                                          mount_point="secret")
        assert world["consul"].kv.get(status["consulKey"])[1] is not None
        outcomes.add("%s: Ready" % kind)
        return True
    assert run["status"] == "failed"
    assert names_a_field(status["message"]), status["message"]
    assert changing_calls(run) == [], (changing_calls(run), status["message"])
    if kind == "create":
        assert world["rds"].describe_db_instances(Filters=[{
            "Name": "db-instance-id",
            "Values": [db_instance_identifier(namespace, name)]}])["DBInstances"] == []
        location_untouched(world, (namespace, name), spec)
    outcomes.add("%s: Failed naming the field" % kind)
    return False


def remove(world, name):
    """Delete what a Ready example made (instance, secret, key) and its finalizer."""
    namespace = world["namespace"]
    identifier = db_instance_identifier(namespace, name)
    try:
        world["rds"].modify_db_instance(DBInstanceIdentifier=identifier, DeletionProtection=False,
                                        ApplyImmediately=True)
        world["rds"].delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True)
    except world["rds"].exceptions.DBInstanceNotFoundFault:
        pass
    obj = world["api"].get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    world["api"].patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                                {"metadata": {"finalizers": None}})
    status = obj.get("status") or {}
    if status.get("vaultPath"):
        world["vault"].secrets.kv.v2.delete_metadata_and_all_versions(
            path=status["vaultPath"], mount_point="secret")
    if status.get("consulKey"):
        world["consul"].kv.delete(status["consulKey"])


@settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                 HealthCheck.large_base_example])
@given(data=st.data())
def test_every_spec_is_refused_at_apply_or_fails_naming_the_field_or_becomes_ready(
        world, outcomes, data):
    namespace = world["namespace"]
    world["count"] += 1
    name = "prop-%d" % world["count"]
    # Both specs drawn first, locations under this example's own name: what is drawn never
    # depends on what happened to earlier examples (hypothesis replays and shrinks examples).
    own, other = "%s/%s/" % (namespace, name), namespace + "-other/"
    spec = data.draw(specs(own, other), label="spec")
    changed = data.draw(specs(own, other), label="changed spec")
    body = {"apiVersion": "%s/%s" % (GROUP, VERSION), "kind": "Database",
            "metadata": {"name": name}, "spec": spec}
    try:
        obj = world["api"].create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                           body)
    except ApiException as exc:
        refused_at_apply(exc)
        outcomes.add("create: refused at apply")
        return
    run = run_workflow("database_create", to_payload("ADDED", obj, DB), world["config"],
                       poll_delay=0)
    if not check_run(world, name, run, obj["spec"], outcomes, "create"):
        return

    # Ready: the second spec applied on top goes through the update workflow.
    current = world["api"].get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    previous = to_payload("ADDED", current, DB)
    current["spec"] = changed
    try:
        updated = world["api"].replace_namespaced_custom_object(GROUP, VERSION, namespace,
                                                                PLURAL, name, current)
    except ApiException as exc:
        refused_at_apply(exc)
        outcomes.add("update: refused at apply")
        remove(world, name)
        return
    payload = to_payload("MODIFIED", updated, DB, previous)
    if payload["spec_changed"]:
        run = run_workflow("database_update", payload, world["config"], poll_delay=0)
        check_run(world, name, run, updated["spec"], outcomes, "update")
    remove(world, name)
