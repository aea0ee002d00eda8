"""The Database and MysqlDb CRDs, applied to the real API server: what they accept and reject."""

import os
import re
import subprocess

import pytest
import yaml
from kubernetes.client.rest import ApiException

from lib.database.objects import STATUS_LIMITS
from tests.fixtures.database.support import crd_schema
from tests.test_sensor_custom_resource_sensor import DB, LEGACY, Objects, install_crds

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def crds(kube_api_client):
    install_crds(kube_api_client)  # create or replace: CRDs are cluster-wide and shared


def kubectl(stack, *args):
    return subprocess.run(["/usr/bin/kubectl", "--kubeconfig", stack["kube"]["kubeconfig"], *args],
                          capture_output=True, text=True, timeout=60)


def example(name):
    return os.path.join(PACK_DIR, "k8s", "examples", name)


def rejection(objects, name, spec):
    with pytest.raises(ApiException) as info:
        objects.create(name, spec)
    assert info.value.status == 422
    return info.value.body


def test_invalid_example_is_rejected_at_apply_naming_each_field(crds, stack, kube_namespace):
    result = kubectl(stack, "apply", "-n", kube_namespace, "-f", example("invalid-db.yaml"))
    assert result.returncode != 0
    err = result.stderr
    assert 'The Database "invalid-db" is invalid' in err
    assert 'spec.engine: Unsupported value: "oracle": supported values: "postgres", "mysql", ' \
           '"mariadb"' in err
    assert "spec.storageGB: Invalid value: 5: spec.storageGB in body should be greater than " \
           "or equal to 20" in err
    assert 'spec.databaseName: Invalid value: "1-orders"' in err
    # instanceSize together with instanceClass: no `not` rule any more (its message named no
    # field); the pack's plan refuses it naming both.
    assert "(not)" not in err
    assert kubectl(stack, "get", "-n", kube_namespace, "databases").stdout == ""


def test_valid_example_is_accepted_with_defaults_and_printer_columns(crds, stack,
                                                                     kube_api_client,
                                                                     kube_namespace):
    result = kubectl(stack, "apply", "-n", kube_namespace, "-f", example("orders-db.yaml"))
    assert result.returncode == 0, result.stderr
    obj = Objects(kube_api_client, kube_namespace).get("orders-db")
    assert obj["spec"] == {
        "engine": "postgres", "engineVersion": "15.4", "instanceSize": "medium",
        "storageGB": 50, "databaseName": "orders", "deletionPolicy": "Snapshot",
        "masterUsername": "dbadmin",
        "tags": {"team": "team-a", "cost-center": "1234"},
    }
    objects = Objects(kube_api_client, kube_namespace)
    objects.patch_status(
        "orders-db", {"status": {"phase": "Ready", "endpoint": "orders.example.com",
                                 "port": 5432, "conditions": [
                                     {"type": "Synced", "status": "False"},
                                     {"type": "Ready", "status": "True", "reason": "Ready"}]}})
    table = kubectl(stack, "get", "-n", kube_namespace, "db", "orders-db").stdout.split("\n")
    assert table[0].split() == ["NAME", "ENGINE", "SIZE", "READY", "PHASE", "ENDPOINT", "AGE"]
    assert table[1].split()[:6] == ["orders-db", "postgres", "medium", "True", "Ready",
                                    "orders.example.com"]
    # -o wide: why it is not ready, and when a failed run is tried again.
    objects.patch_status(
        "orders-db", {"status": {"phase": "Failed", "endpoint": None, "retry": {
            "attempts": 2, "nextAttemptAt": "2026-01-01T00:01:00Z", "lastFailure": "timeout"},
            "conditions": [{"type": "Ready", "status": "False", "reason": "Recoverable"}]}})
    wide = kubectl(stack, "get", "-n", kube_namespace, "db", "orders-db", "-o", "wide")
    table = wide.stdout.split("\n")
    assert table[0].split() == ["NAME", "ENGINE", "SIZE", "READY", "PHASE", "ENDPOINT", "AGE",
                                "REASON", "ATTEMPTS", "NEXT", "ATTEMPT"]
    row = table[1].split()
    assert row[:5] + row[-3:] == ["orders-db", "postgres", "medium", "False", "Failed",
                                  "Recoverable", "2", "2026-01-01T00:01:00Z"]


def test_minimal_spec_gets_defaults(crds, kube_api_client, kube_namespace):
    obj = Objects(kube_api_client, kube_namespace).create("min-db", {"engine": "mariadb"})
    assert obj["spec"] == {"engine": "mariadb", "storageGB": 20, "masterUsername": "dbadmin",
                           "deletionPolicy": "Snapshot"}


def test_instance_class_instead_of_size(crds, kube_api_client, kube_namespace):
    objects = Objects(kube_api_client, kube_namespace)
    obj = objects.create("class-db", {"engine": "mysql", "instanceClass": "db.r6g.large"})
    assert obj["spec"]["instanceClass"] == "db.r6g.large"
    assert "instanceSize" not in obj["spec"]
    # both: taken by the API server, refused by the plan naming both fields
    both = objects.create("both-db", {"engine": "mysql", "instanceClass": "db.r6g.large",
                                      "instanceSize": "small"})
    assert both["spec"]["instanceSize"] == "small"
    for bad in ("m5.large", "db.x.y", "db.m5.huge"):
        body = rejection(objects, "bad-class-db", {"engine": "mysql", "instanceClass": bad})
        assert "spec.instanceClass in body should match '^db\\\\.[a-z]+[1-9]" in body


@pytest.mark.parametrize("spec,field", [
    ({}, "spec.engine: Required value"),
    ({"engine": "postgres", "instanceSize": "tiny"}, 'spec.instanceSize: Unsupported value: '
                                                     '\\"tiny\\"'),
    ({"engine": "postgres", "storageGB": 70000}, "spec.storageGB in body should be less than "
                                                 "or equal to 65536"),
    ({"engine": "postgres", "engineVersion": "latest"}, "spec.engineVersion in body should "
                                                        "match"),
    ({"engine": "postgres", "masterUsername": "admin-user"}, "spec.masterUsername in body "
                                                             "should match"),
    ({"engine": "postgres", "deletionPolicy": "Orphan"}, 'spec.deletionPolicy: Unsupported '
                                                         'value: \\"Orphan\\"'),
    ({"engine": "postgres", "tags": {"team": 5}}, "spec.tags.team: Invalid value: "
                                                  "\\\"integer\\\": spec.tags.team in body "
                                                  "must be of type string"),
    ({"engine": "postgres", "region": "Europe"}, "spec.region in body should match"),
    ({"engine": "postgres", "vault": {"path": "/abs/path"}}, "spec.vault.path in body should "
                                                             "match"),
])
def test_each_invalid_field_is_named(crds, kube_api_client, kube_namespace, spec, field):
    body = rejection(Objects(kube_api_client, kube_namespace), "bad-db", spec)
    assert field in body


def test_status_phase_is_an_enum(crds, kube_api_client, kube_namespace):
    objects = Objects(kube_api_client, kube_namespace)
    objects.create("status-db", {"engine": "postgres"})
    with pytest.raises(ApiException) as info:
        objects.patch_status("status-db", {"status": {"phase": "Sleeping"}})
    assert info.value.status == 422
    assert 'status.phase: Unsupported value: \\"Sleeping\\"' in info.value.body
    ok = objects.patch_status("status-db", {"status": {
        "phase": "Failed", "message": "quota exceeded", "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "False", "reason": "QuotaExceeded",
                        "extra": "kept"}]}})
    assert ok["status"]["conditions"][0]["extra"] == "kept"


def test_legacy_mysqldb_keeps_its_top_level_fields(crds, stack, kube_api_client, kube_namespace):
    result = kubectl(stack, "apply", "-n", kube_namespace, "-f", example("legacy-mysqldb.yaml"))
    assert result.returncode == 0, result.stderr
    obj = Objects(kube_api_client, kube_namespace, LEGACY).get("legacy-billing")
    assert {k: v for k, v in obj.items() if k not in ("metadata",)} == {
        "apiVersion": "stackstorm.com/v1", "kind": "MysqlDb",
        "engine_version": "5.7", "instance_size": "small"}


def test_rbac_manifest_grants_what_the_sensor_and_workflows_need():
    with open(os.path.join(PACK_DIR, "k8s", "rbac", "sensor.yaml")) as f:
        docs = list(yaml.safe_load_all(f))
    assert [d["kind"] for d in docs] == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]
    grants = {}
    for rule in docs[1]["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    assert {"get", "list", "watch"} <= grants[(DB["group"], "databases")]
    assert {"get", "list", "watch"} <= grants[(LEGACY["group"], "mysqldbs")]
    for sub in ("databases", "databases/status", "databases/finalizers"):
        assert {"patch", "update"} <= grants[(DB["group"], sub)]
    # aws.database_set_status records Events on the Databases (lib/kube/events.py).
    assert grants[("", "events")] == {"create", "patch"}
    assert not any("secrets" in r for _, r in grants)


def test_rbac_manifest_is_accepted_by_the_api_server(stack):
    result = kubectl(stack, "apply", "--dry-run=server", "-f",
                     os.path.join(PACK_DIR, "k8s", "rbac", "sensor.yaml"))
    # The ServiceAccount's namespace (stackstorm) may not exist on the test server.
    assert "clusterrole.rbac.authorization.k8s.io/st2-aws-pack created (server dry run)" \
        in result.stdout, result.stderr
    assert "clusterrolebinding.rbac.authorization.k8s.io/st2-aws-pack created (server dry " \
           "run)" in result.stdout, result.stderr


def _unbounded(node, where):
    """Strings without maxLength (or enum), arrays without maxItems, maps without
    maxProperties, anywhere under ``node``."""
    found = []
    if not isinstance(node, dict):
        return found
    kind = node.get("type")
    if kind == "string" and "maxLength" not in node and "enum" not in node:
        found.append(where)
    if kind == "array" and "maxItems" not in node:
        found.append(where)
    if kind == "object" and "maxProperties" not in node and (
            node.get("additionalProperties") or node.get("x-kubernetes-preserve-unknown-fields")):
        found.append(where)
    for name, child in (node.get("properties") or {}).items():
        found += _unbounded(child, "%s.%s" % (where, name))
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found += _unbounded(node[key], "%s[%s]" % (where, key))
    return found


def test_every_string_list_and_map_of_spec_and_status_is_bounded():
    schema = crd_schema()["properties"]
    assert _unbounded(schema["spec"], "spec") + _unbounded(schema["status"], "status") == []
    assert schema["spec"]["maxProperties"] >= len(schema["spec"]["properties"])


@pytest.mark.parametrize("spec,field", [
    ({"engine": "postgres", "engineVersion": "9" * 5000},
     "spec.engineVersion in body should be at most 16 chars long"),
    ({"engine": "postgres", "tags": {"t%d" % i: "v" for i in range(48)}},
     "spec.tags in body should have at most 47 properties"),
    ({"engine": "postgres", "tags": {"team": "v" * 257}},
     "spec.tags.team in body should be at most 256 chars long"),
    ({"engine": "postgres", "vault": {"path": "a/" * 200}},
     "spec.vault.path in body should be at most 256 chars long"),
    ({"engine": "postgres", "region": "us-east-1" * 10},
     "spec.region in body should be at most 32 chars long"),
    ({"engine": "postgres", "maintenanceWindow": "sun:05:00-sun:06:00" * 3},
     "spec.maintenanceWindow in body should be at most 19 chars long"),
    ({"engine": "postgres", "backup": {"window": "03:00-04:00" * 3}},
     "spec.backup.window in body should be at most 11 chars long"),
    ({"engine": "postgres", "backup": {"retentionDays": 36}},
     "spec.backup.retentionDays in body should be less than or equal to 35"),
    ({"engine": "postgres", "backup": {"retentionDays": -1}},
     "spec.backup.retentionDays in body should be greater than or equal to 0"),
    ({"engine": "postgres", "multiAZ": "yes"},
     'spec.multiAZ: Invalid value: \\"string\\": spec.multiAZ in body must be of type '
     'boolean'),
    ({"engine": "postgres", "maintenanceWindow": "sunday 05:00"},
     "spec.maintenanceWindow in body should match"),
    ({"engine": "postgres", "caCertificateIdentifier": "rds-ca-2019"},
     'spec.caCertificateIdentifier: Unsupported value: \\"rds-ca-2019\\"'),
    ({"engine": "postgres", "applyChanges": "Later"},
     'spec.applyChanges: Unsupported value: \\"Later\\"'),
    ({"engine": "postgres", "iamAuthentication": "yes"},
     "spec.iamAuthentication in body must be of type boolean"),
    ({"engine": "postgres", "passwordRotationDays": 0},
     "spec.passwordRotationDays in body should be greater than or equal to 1"),
    ({"engine": "postgres", "passwordRotationDays": 1001},
     "spec.passwordRotationDays in body should be less than or equal to 1000"),
    ({"engine": "postgres", "parameters": {"p%d" % i: "1" for i in range(101)}},
     "spec.parameters in body should have at most 100 properties"),
    ({"engine": "postgres", "parameters": {"work_mem": "9" * 4097}},
     "spec.parameters.work_mem in body should be at most 4096 chars long"),
    ({"engine": "postgres", "storage": {"type": "gp2"}},
     'spec.storage.type: Unsupported value: \\"gp2\\"'),
    ({"engine": "postgres", "storage": {"maxGB": 70000}},
     "spec.storage.maxGB in body should be less than or equal to 65536"),
    ({"engine": "postgres", "storage": {"iops": 999}},
     "spec.storage.iops in body should be greater than or equal to 1000"),
    ({"engine": "postgres", "storage": {"throughput": 4001}},
     "spec.storage.throughput in body should be less than or equal to 4000"),
])
def test_oversized_fields_are_refused_at_apply_naming_the_field(crds, kube_api_client,
                                                                kube_namespace, spec, field):
    body = rejection(Objects(kube_api_client, kube_namespace), "big-db", spec)
    assert field in body, body


def test_optional_strings_are_left_out_for_the_default_as_the_descriptions_say(
        crds, kube_api_client, kube_namespace):
    """The descriptions say to leave a field out for its default, never to set it empty (the
    patterns refuse ""); a spec without them is accepted and the pack picks the defaults."""
    schema = crd_schema()["properties"]["spec"]["properties"]
    fields = {"engineVersion": schema["engineVersion"], "region": schema["region"],
              "vault.path": schema["vault"]["properties"]["path"],
              "consul.key": schema["consul"]["properties"]["key"]}
    for name, field in fields.items():
        assert "leave it out" in " ".join(field["description"].split()), name
        assert "empty" not in field["description"], name
        assert not re.match(field["pattern"], ""), name
    obj = Objects(kube_api_client, kube_namespace).create("defaults-db", {"engine": "postgres"})
    assert not {"engineVersion", "region", "vault", "consul"} & set(obj["spec"])
    body = rejection(Objects(kube_api_client, kube_namespace), "empty-db",
                     {"engine": "postgres", "engineVersion": ""})
    assert "spec.engineVersion" in body


def test_a_status_message_longer_than_the_limit_is_refused(crds, kube_api_client,
                                                           kube_namespace):
    objects = Objects(kube_api_client, kube_namespace)
    objects.create("long-status-db", {"engine": "postgres"})
    with pytest.raises(ApiException) as info:
        objects.patch_status("long-status-db", {"status": {"phase": "Failed",
                                                           "message": "x" * 1025}})
    assert "status.message in body should be at most 1024 chars long" in info.value.body


def test_status_retry_is_bounded_as_the_pack_writes_it():
    retry = crd_schema()["properties"]["status"]["properties"]["retry"]
    assert retry["properties"] == {
        "attempts": {"type": "integer", "minimum": 0,
                     "description": "Failed runs since the Database was last Ready."},
        "nextAttemptAt": {"type": "string", "format": "date-time", "maxLength": 64,
                          "description": "When the next run is due (RFC 3339, UTC)."},
        "lastFailure": {"type": "string", "maxLength": STATUS_LIMITS["message"],
                        "description": "The message of the last failure."}}


@pytest.mark.parametrize("retry,field", [
    ({"attempts": -1}, "status.retry.attempts in body should be greater than or equal to 0"),
    ({"attempts": "2"}, "status.retry.attempts in body must be of type integer"),
    ({"nextAttemptAt": "in 30 seconds"},
     "status.retry.nextAttemptAt in body must be of type date-time"),
    ({"lastFailure": "x" * 1025}, "status.retry.lastFailure in body should be at most 1024 "
                                  "chars long"),
])
def test_a_bad_status_retry_is_refused_naming_the_field(crds, kube_api_client, kube_namespace,
                                                        retry, field):
    objects = Objects(kube_api_client, kube_namespace)
    objects.create("retry-db", {"engine": "postgres"})
    with pytest.raises(ApiException) as info:
        objects.patch_status("retry-db", {"status": {"phase": "Failed", "retry": retry}})
    assert info.value.status == 422
    assert field in info.value.body, info.value.body
    ok = objects.patch_status("retry-db", {"status": {"phase": "Failed", "retry": {
        "attempts": 3, "nextAttemptAt": "2026-01-01T00:02:00Z", "lastFailure": "x" * 1024}}})
    assert ok["status"]["retry"]["attempts"] == 3
