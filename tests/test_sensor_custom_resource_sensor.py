"""Integration tests of the custom-resource sensor against the real API server (docs/sensor.md).

Each test runs the sensor in a background thread, watching only its own namespace, and asserts
the exact triggers dispatched (trigger name and full payload, with uid/resourceVersion taken
from the API server's answers). Outages that would disturb other engineers' tests (API server
restart, etcd compaction) run on a private kube stack.
"""

import copy
import json
import logging
import os
import select
import socket
import subprocess
import threading
import time
import uuid

import jsonschema
import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from tests.sensor_service import SensorService

from cr_state import ResourceState
from custom_resource_sensor import CustomResourceSensor

DB = {"group": "dbaas.stackstorm.com", "version": "v1alpha1", "plural": "databases"}
LEGACY = {"group": "stackstorm.com", "version": "v1", "plural": "mysqldbs"}


def wait_until(predicate, timeout=30.0, interval=0.05, what="condition"):
    """Poll ``predicate`` until it returns a true value (returned) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class RecordingHandler(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def messages(self, level=logging.INFO):
        return [r.getMessage() for r in self.records if r.levelno >= level]


class SensorRunner(object):
    """A CustomResourceSensor running in a background thread, as st2's sensor container runs it.

    Pass the same ``service`` to a second runner to restart the sensor with its datastore.
    """

    def __init__(self, config, service=None, backoff=(0.2, 1.0)):
        self.service = service or SensorService()
        self.sensor = CustomResourceSensor(sensor_service=self.service, config=config)
        self.sensor.backoff_initial, self.sensor.backoff_max = backoff
        self.sensor.state_flush_interval = 0.2
        self.log = RecordingHandler()
        self._logger = logging.getLogger("custom_resource_sensor")
        self._thread = None
        self.start_index = len(self.service.dispatched_triggers)

    def __enter__(self):
        self._logger.addHandler(self.log)
        self._logger.setLevel(logging.DEBUG)
        self.sensor.setup()
        self._thread = threading.Thread(target=self.sensor.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self._thread is None:
            return
        self.sensor.cleanup()
        self._thread.join(10)
        self._logger.removeHandler(self.log)
        assert not self._thread.is_alive(), "run() did not return after cleanup()"
        self._thread = None

    @property
    def triggers(self):
        """(trigger, payload) dispatched by this run."""
        return [(t["trigger"], t["payload"])
                for t in self.service.dispatched_triggers[self.start_index:]]

    def wait_for(self, count, timeout=30.0):
        wait_until(lambda: len(self.triggers) >= count, timeout,
                   what="%d triggers (got %r)" % (count, [
                       (p["event"], p["name"]) for _, p in self.triggers]))
        return self.triggers

    def watchers(self):
        return self.sensor._watchers  # pylint: disable=protected-access

    def barrier(self, objects):
        """Create a marker Database and wait for its ADDED: every trigger caused before it has
        arrived by then (one watch stream delivers in order). Returns the triggers before it."""
        name = "zz-barrier-%s" % uuid.uuid4().hex[:6]
        objects.create(name, {"engine": "postgres"})
        wait_until(lambda: any(p["name"] == name for _, p in self.triggers),
                   what="the barrier object %s" % name)
        triggers = self.triggers
        assert triggers[-1][1]["name"] == name, triggers[-1]
        return triggers[:-1]


class TcpProxy(object):
    """A TCP proxy in front of the API server, to cut or stall the sensor's connections.

    ``stall()`` freezes the connections open now (nothing forwarded, nothing closed); new
    connections are forwarded normally. ``refuse()`` closes every connection and refuses new
    ones until ``forward()``.
    """

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(50)
        self.port = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs = []  # [client, upstream, stalled]
        self._refusing = False
        self._closed = False
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self._refusing:
                conn.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                conn.close()
                continue
            pair = [conn, upstream, False]
            with self._lock:
                self._pairs.append(pair)
                self.connections += 1
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair):
        conn, upstream = pair[0], pair[1]
        try:
            while not self._closed:
                if pair[2]:
                    time.sleep(0.05)
                    continue
                readable, _, _ = select.select([conn, upstream], [], [], 0.05)
                for sock in readable:
                    if pair[2]:
                        break
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is conn else conn).sendall(data)
        except OSError:
            pass
        finally:
            if not pair[2] or self._closed:
                for sock in (conn, upstream):
                    try:
                        sock.close()
                    except OSError:
                        pass

    def stall(self):
        with self._lock:
            for pair in self._pairs:
                pair[2] = True

    def refuse(self):
        self._refusing = True
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for conn, upstream, _ in pairs:
            for sock in (conn, upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                except OSError:
                    pass

    def forward(self):
        self._refusing = False

    def close(self):
        self._closed = True
        self.refuse()
        self.listener.close()


# ---------------------------------------------------------------------------- fixtures, helpers
PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KUBECTL = "/usr/bin/kubectl"
FINALIZER = "dbaas.stackstorm.com/rds-protection"


def load_yaml(relpath):
    with open(os.path.join(PACK_DIR, relpath)) as f:
        return yaml.safe_load(f)


def as_jsonschema(payload_schema):
    """st2's payload_schema dialect (draft 4 with `required: true` on each property) as draft 4."""
    schema = dict(payload_schema, properties={})
    schema["required"] = []
    for name, spec in payload_schema["properties"].items():
        spec = dict(spec)
        if spec.pop("required", False):
            schema["required"].append(name)
        schema["properties"][name] = spec
    return schema


TRIGGER_SCHEMAS = {
    "aws." + load_yaml("triggers/custom_resource_%s.yaml" % e)["name"]:
        as_jsonschema(load_yaml("triggers/custom_resource_%s.yaml" % e)["payload_schema"])
    for e in ("added", "modified", "deleted")
}


def check_schemas(triggers):
    """Every payload matches its trigger type's payload_schema (the published contract)."""
    for trigger, payload in triggers:
        jsonschema.validate(payload, TRIGGER_SCHEMAS[trigger])


def install_crds(api_client, docs=None):
    """Create or replace CRDs (default: the pack's) and wait until they are served."""
    ext = client.ApiextensionsV1Api(api_client)
    docs = docs or [load_yaml("k8s/crds/database.yaml"), load_yaml("k8s/crds/mysqldb.yaml")]
    for body in docs:
        name = body["metadata"]["name"]
        try:
            ext.create_custom_resource_definition(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            body = copy.deepcopy(body)
            body["metadata"]["resourceVersion"] = \
                ext.read_custom_resource_definition(name).metadata.resource_version
            ext.replace_custom_resource_definition(name, body)

        def established(name=name):
            conditions = ext.read_custom_resource_definition(name).status.conditions or []
            return any(c.type == "Established" and c.status == "True" for c in conditions)
        wait_until(established, what="CRD %s established" % name)


@pytest.fixture(scope="session")
def crds(kube_api_client):
    install_crds(kube_api_client)


class Objects(object):
    """Create/patch/delete custom objects of one namespace (answers are the API's dicts)."""

    def __init__(self, api_client, namespace, resource=DB):
        self.api = client.CustomObjectsApi(api_client)
        self.namespace = namespace
        self.r = resource

    def _args(self):
        return self.r["group"], self.r["version"], self.namespace, self.r["plural"]

    def create(self, name, spec, finalizers=None, labels=None):
        kind = "Database" if self.r["plural"] == "databases" else "MysqlDb"
        body = {"apiVersion": "%s/%s" % (self.r["group"], self.r["version"]), "kind": kind,
                "metadata": {"name": name, "labels": labels or {}}}
        if finalizers:
            body["metadata"]["finalizers"] = finalizers
        if kind == "Database":
            body["spec"] = spec
        else:
            body.update(spec)
        return self.api.create_namespaced_custom_object(*self._args(), body)

    def get(self, name):
        return self.api.get_namespaced_custom_object(*self._args(), name)

    def patch(self, name, body):
        return self.api.patch_namespaced_custom_object(*self._args(), name, body)

    def patch_status(self, name, body):
        return self.api.patch_namespaced_custom_object_status(*self._args(), name, body)

    def delete(self, name):
        return self.api.delete_namespaced_custom_object(*self._args(), name)


def expected(event, obj, resource=DB, spec_changed=True, deletion_requested=False, **override):
    """The payload the contract promises for API object ``obj`` (docs/sensor.md)."""
    md = obj["metadata"]
    annotations = dict(md.get("annotations") or {})
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if "spec" in obj:
        spec = obj["spec"]
    else:
        spec = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata",
                                                          "status")}
    payload = {
        "event": event, "api_version": obj["apiVersion"], "group": resource["group"],
        "version": resource["version"], "plural": resource["plural"], "kind": obj["kind"],
        "namespace": md["namespace"], "name": md["name"], "uid": md["uid"],
        "resource_version": md["resourceVersion"], "generation": md.get("generation"),
        "labels": md.get("labels") or {}, "annotations": annotations,
        "finalizers": md.get("finalizers") or [],
        "deletion_timestamp": md.get("deletionTimestamp"), "spec": spec,
        "status": obj.get("status") or {}, "spec_changed": spec_changed,
        "deletion_requested": deletion_requested,
        "pruned_fields": [],
    }
    payload.update(override)
    return payload


def assert_deleted(trigger, previous_obj, resource=DB, **override):
    """DELETED of an object deleted by the test: the delete's resourceVersion is not in the API's
    answer (a Status), so check it is newer than the last one seen, and the rest exactly."""
    name, payload = trigger
    assert name == "aws.custom_resource_deleted"
    assert int(payload["resource_version"]) > int(previous_obj["metadata"]["resourceVersion"])
    assert payload == expected("DELETED", previous_obj, resource, spec_changed=False,
                               resource_version=payload["resource_version"], **override)


def sensor_config(kubeconfig, namespace, resources=(DB, LEGACY), **extra):
    config = {"kubeconfig": kubeconfig,
              "watch_resources": [dict(r, namespace=namespace) for r in resources],
              "watch_timeout_seconds": 60, "watch_read_timeout_seconds": 30}
    config.update(extra)
    return config


def kubectl(kubeconfig, *args):
    return subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, *args], capture_output=True,
                          text=True, timeout=60)


def first_list_done(run):
    wait_until(lambda: all(w.stats["lists"] for w in run.watchers()), what="the first list")


# ---------------------------------------------------------------------------- the shared stack
@pytest.mark.integration
def test_database_apply_modify_status_delete(crds, stack, kube_api_client, kube_namespace):
    kubeconfig = stack["kube"]["kubeconfig"]
    objects = Objects(kube_api_client, kube_namespace)
    with SensorRunner(sensor_config(kubeconfig, kube_namespace)) as run:
        first_list_done(run)
        applied = kubectl(kubeconfig, "apply", "-n", kube_namespace, "-f",
                          os.path.join(PACK_DIR, "k8s/examples/orders-db.yaml"))
        assert applied.returncode == 0, applied.stderr
        created = objects.get("orders-db")
        assert "kubectl.kubernetes.io/last-applied-configuration" in \
            created["metadata"]["annotations"]
        run.wait_for(1)
        spec_patched = objects.patch("orders-db", {"spec": {"instanceSize": "large"}})
        run.wait_for(2)
        status_patched = objects.patch_status(
            "orders-db", {"status": {"phase": "Provisioning", "message": "creating"}})
        run.wait_for(3)
        objects.delete("orders-db")
        run.wait_for(4)
        triggers = run.barrier(objects)

    md = created["metadata"]
    assert triggers[0] == ("aws.custom_resource_added", {
        "event": "ADDED", "api_version": "dbaas.stackstorm.com/v1alpha1",
        "group": "dbaas.stackstorm.com", "version": "v1alpha1", "plural": "databases",
        "kind": "Database", "namespace": kube_namespace, "name": "orders-db",
        "uid": md["uid"], "resource_version": md["resourceVersion"], "generation": 1,
        "labels": {"app": "orders"}, "annotations": {}, "finalizers": [],
        "deletion_timestamp": None,
        "spec": {"engine": "postgres", "engineVersion": "15.4", "instanceSize": "medium",
                 "storageGB": 50, "databaseName": "orders", "deletionPolicy": "Snapshot",
                 "masterUsername": "dbadmin",
                 "tags": {"team": "team-a", "cost-center": "1234"}},
        "status": {}, "spec_changed": True, "deletion_requested": False, "pruned_fields": [],
    })
    assert spec_patched["metadata"]["generation"] == 2
    assert triggers[1] == ("aws.custom_resource_modified",
                           expected("MODIFIED", spec_patched, spec_changed=True))
    assert triggers[1][1]["spec"]["instanceSize"] == "large"
    # A status-only change (what the pack's own workflows make) does not bump the generation.
    assert status_patched["metadata"]["generation"] == 2
    assert triggers[2] == ("aws.custom_resource_modified",
                           expected("MODIFIED", status_patched, spec_changed=False))
    assert triggers[2][1]["status"] == {"phase": "Provisioning", "message": "creating"}
    assert_deleted(triggers[3], status_patched)
    assert len(triggers) == 4
    check_schemas(triggers)


@pytest.mark.integration
def test_database_with_finalizer_deletion(crds, stack, kube_api_client, kube_namespace):
    objects = Objects(kube_api_client, kube_namespace)
    with SensorRunner(sensor_config(stack["kube"]["kubeconfig"], kube_namespace)) as run:
        created = objects.create("payments-db", {"engine": "mysql", "instanceClass": "db.m5.large"},
                                 finalizers=[FINALIZER], labels={"app": "payments"})
        run.wait_for(1)
        deleting = objects.delete("payments-db")  # held by the finalizer: only marked
        run.wait_for(2)
        released = objects.patch("payments-db", {"metadata": {"finalizers": None}})
        run.wait_for(3)
        triggers = run.barrier(objects)

    assert created["spec"] == {"engine": "mysql", "instanceClass": "db.m5.large",
                               "storageGB": 20, "masterUsername": "dbadmin",
                               "deletionPolicy": "Snapshot"}
    assert triggers[0] == ("aws.custom_resource_added", expected("ADDED", created))
    assert triggers[0][1]["finalizers"] == [FINALIZER]
    assert deleting["metadata"]["deletionTimestamp"]
    # Setting deletionTimestamp bumps metadata.generation in Kubernetes, hence spec_changed.
    assert triggers[1] == ("aws.custom_resource_modified", expected(
        "MODIFIED", deleting, deletion_requested=True,
        spec_changed=deleting["metadata"]["generation"] != created["metadata"]["generation"]))
    assert triggers[1][1]["deletion_timestamp"] == deleting["metadata"]["deletionTimestamp"]
    # The API server's DELETED event carries the object as stored before the update that
    # removed the last finalizer (and so deleted it): finalizers still listed.
    assert not released["metadata"].get("finalizers")
    assert_deleted(triggers[2], deleting)
    assert len(triggers) == 3
    check_schemas(triggers)


@pytest.mark.integration
def test_legacy_mysqldb(crds, stack, kube_api_client, kube_namespace):
    legacy = Objects(kube_api_client, kube_namespace, LEGACY)
    example = load_yaml("k8s/examples/legacy-mysqldb.yaml")
    with SensorRunner(sensor_config(stack["kube"]["kubeconfig"], kube_namespace)) as run:
        created = legacy.create(example["metadata"]["name"],
                                {"engine_version": "5.7", "instance_size": "small"})
        run.wait_for(1)
        modified = legacy.patch("legacy-billing", {"instance_size": "large"})
        run.wait_for(2)
        legacy.delete("legacy-billing")
        run.wait_for(3)
        triggers = run.barrier(Objects(kube_api_client, kube_namespace))

    assert triggers[0] == ("aws.custom_resource_added", {
        "event": "ADDED", "api_version": "stackstorm.com/v1", "group": "stackstorm.com",
        "version": "v1", "plural": "mysqldbs", "kind": "MysqlDb",
        "namespace": kube_namespace, "name": "legacy-billing",
        "uid": created["metadata"]["uid"],
        "resource_version": created["metadata"]["resourceVersion"],
        "generation": created["metadata"]["generation"], "labels": {}, "annotations": {},
        "finalizers": [], "deletion_timestamp": None,
        "spec": {"engine_version": "5.7", "instance_size": "small"}, "status": {},
        "spec_changed": True, "deletion_requested": False, "pruned_fields": [],
    })
    assert triggers[1] == ("aws.custom_resource_modified",
                           expected("MODIFIED", modified, LEGACY, spec_changed=True))
    assert triggers[1][1]["spec"] == {"engine_version": "5.7", "instance_size": "large"}
    assert_deleted(triggers[2], modified, LEGACY)
    assert len(triggers) == 3
    check_schemas(triggers)


@pytest.mark.integration
def test_restart_emits_each_missed_change_once(crds, stack, kube_api_client, kube_namespace):
    objects = Objects(kube_api_client, kube_namespace)
    config = sensor_config(stack["kube"]["kubeconfig"], kube_namespace)
    with SensorRunner(config) as first:
        a = objects.create("a-db", {"engine": "postgres"})
        b = objects.create("b-db", {"engine": "postgres"})
        c = objects.create("c-db", {"engine": "mariadb"})
        first.wait_for(3)
    assert first.triggers == [("aws.custom_resource_added", expected("ADDED", obj))
                              for obj in (a, b, c)]
    assert first.service.get_value(
        "crs.dbaas.stackstorm.com.v1alpha1.databases.%s.meta" % kube_namespace)

    # While the sensor is down: create d, change b's spec, delete c, create and delete e.
    d = objects.create("d-db", {"engine": "mysql"})
    b2 = objects.patch("b-db", {"spec": {"storageGB": 100}})
    objects.delete("c-db")
    objects.create("e-db", {"engine": "mysql"})
    objects.delete("e-db")

    with SensorRunner(config, service=first.service) as second:
        second.wait_for(3)
        triggers = second.barrier(objects)

    assert triggers == [
        ("aws.custom_resource_deleted", dict(expected("DELETED", c), spec_changed=False)),
        ("aws.custom_resource_modified", expected("MODIFIED", b2, spec_changed=True)),
        ("aws.custom_resource_added", expected("ADDED", d)),
    ]
    assert a["metadata"]["uid"] not in [p["uid"] for _, p in triggers]
    check_schemas(triggers)


@pytest.mark.integration
def test_watches_ended_by_the_server_resume_from_the_cursor(
        crds, stack, kube_api_client, kube_namespace):
    # The API server ends every watch at timeout_seconds (and drops a watcher that falls too far
    # behind): the sensor watches again from its cursor, without a list, missing nothing.
    objects = Objects(kube_api_client, kube_namespace)
    config = sensor_config(stack["kube"]["kubeconfig"], kube_namespace, resources=(DB,),
                           watch_timeout_seconds=1)
    changed = []
    with SensorRunner(config) as run:
        first_list_done(run)
        watcher = run.watchers()[0]
        for name in ("a-db", "b-db", "c-db"):
            watches = watcher.stats["watches"]
            changed.append(objects.create(name, {"engine": "postgres"}))
            wait_until(lambda before=watches: watcher.stats["watches"] >= before + 2,
                       what="two more watches")
        changed.append(objects.patch("a-db", {"spec": {"storageGB": 30}}))
        triggers = run.barrier(objects)
    assert triggers == [("aws.custom_resource_added", expected("ADDED", obj))
                        for obj in changed[:3]] + [
        ("aws.custom_resource_modified", expected("MODIFIED", changed[3]))]
    assert (watcher.stats["lists"], watcher.stats["gone"], watcher.stats["errors"]) == (1, 0, 0)


class FlakyDatastoreService(SensorService):
    """A sensor service whose datastore writes fail while ``down`` is set (st2api unreachable)."""

    def __init__(self):
        super().__init__()
        self.down = threading.Event()

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        if self.down.is_set():
            raise ConnectionError("st2api: connection refused")
        return super().set_value(name, value, ttl=ttl, local=local, scope=scope,
                                 encrypt=encrypt)


@pytest.mark.integration
def test_datastore_outage_is_a_warning_and_the_state_is_saved_later(
        crds, stack, kube_api_client, kube_namespace):
    # Saving a new uid's state at once fails while st2's datastore is down: the watch goes on
    # (no restart, no error blamed on the Kubernetes API), and the next flush saves it.
    objects = Objects(kube_api_client, kube_namespace)
    service = FlakyDatastoreService()
    config = sensor_config(stack["kube"]["kubeconfig"], kube_namespace, resources=(DB,))
    with SensorRunner(config, service=service) as run:
        first_list_done(run)
        service.down.set()
        a = objects.create("a-db", {"engine": "postgres"})
        b = objects.create("b-db", {"engine": "mysql"})
        run.wait_for(2)
        service.down.clear()
        triggers = run.barrier(objects)
        watcher = run.watchers()[0]
    assert triggers == [("aws.custom_resource_added", expected("ADDED", a)),
                        ("aws.custom_resource_added", expected("ADDED", b))]
    assert (watcher.stats["watches"], watcher.stats["errors"]) == (1, 0)
    assert run.log.messages(logging.ERROR) == []
    assert any("cannot save the state of databases.dbaas.stackstorm.com/v1alpha1 in namespace "
               "%s in the st2 datastore (will retry): st2api: connection refused"
               % kube_namespace in m for m in run.log.messages(logging.WARNING))
    saved = ResourceState(service, dict(DB, namespace=kube_namespace))
    saved.load()
    assert {a["metadata"]["uid"], b["metadata"]["uid"]} <= set(saved.uids())


@pytest.mark.integration
def test_silent_stall_is_detected_by_the_read_timeout(
        crds, stack, kube_api_client, kube_namespace):
    kube = stack["kube"]
    host, port = kube["server"].split("//")[1].split(":")
    proxy = TcpProxy(host, int(port))
    objects = Objects(kube_api_client, kube_namespace)
    config = sensor_config(None, kube_namespace, resources=(DB,),
                           kube_api_url="https://127.0.0.1:%d" % proxy.port,
                           kube_token=kube["token"], kube_ca_file=kube["ca_file"],
                           watch_read_timeout_seconds=5)
    try:
        with SensorRunner(config) as run:
            a = objects.create("a-db", {"engine": "postgres"})
            run.wait_for(1)
            connections = proxy.connections
            proxy.stall()  # the watch connection stays open but nothing more arrives on it
            b = objects.create("b-db", {"engine": "postgres"})
            run.wait_for(2, timeout=40)
            triggers = run.barrier(objects)
            messages = run.log.messages(logging.WARNING)
    finally:
        proxy.close()
    assert triggers == [("aws.custom_resource_added", expected("ADDED", a)),
                        ("aws.custom_resource_added", expected("ADDED", b))]
    assert proxy.connections > connections  # it connected again
    assert run.watchers()[0].stats["errors"] >= 1
    assert [m for m in messages if "timed out" in m.lower()], messages


@pytest.mark.integration
def test_a_cursor_the_api_server_does_not_have_yet_is_dropped_after_the_read_timeout(
        crds, stack, kube_api_client, kube_namespace):
    # A watch from a resourceVersion newer than the API server's (etcd restored from a backup
    # under a running sensor) gets 200 and then nothing, not even bookmarks: after the read
    # timeout the sensor must list again, not re-watch from the same cursor forever.
    objects = Objects(kube_api_client, kube_namespace)
    config = sensor_config(stack["kube"]["kubeconfig"], kube_namespace, resources=(DB,),
                           watch_read_timeout_seconds=3)
    with SensorRunner(config) as run:
        first_list_done(run)
        watcher = run.watchers()[0]
        watcher.state.set_cursor(str(int(watcher.state.cursor) + 10 ** 9))
        watches = watcher.stats["watches"]
        watcher.interrupt()  # the current watch ends; the next one starts from that cursor
        wait_until(lambda: watcher.stats["watches"] > watches, what="a watch from the cursor")
        a = objects.create("a-db", {"engine": "postgres"})
        run.wait_for(1, timeout=30)
        triggers = run.barrier(objects)
    assert triggers == [("aws.custom_resource_added", expected("ADDED", a))]
    assert watcher.stats["lists"] == 2


@pytest.mark.integration
def test_forbidden_is_logged_once_and_recovers(crds, stack, kube_api_client, kube_namespace):
    kube = stack["kube"]
    objects = Objects(kube_api_client, kube_namespace)
    config = sensor_config(None, kube_namespace, resources=(DB,),
                           kube_api_url=kube["server"], kube_token=kube["limited_token"],
                           kube_ca_file=kube["ca_file"])
    with SensorRunner(config, backoff=(0.05, 0.2)) as run:
        wait_until(lambda: run.watchers()[0].stats["errors"] >= 4, what="4 failed attempts")
        rbac = client.RbacAuthorizationV1Api(kube_api_client)
        rbac.create_namespaced_role(kube_namespace, {
            "metadata": {"name": "sensor-test"},
            "rules": [{"apiGroups": ["dbaas.stackstorm.com"], "resources": ["databases"],
                       "verbs": ["get", "list", "watch"]}]})
        rbac.create_namespaced_role_binding(kube_namespace, {
            "metadata": {"name": "sensor-test"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": "sensor-test"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                          "name": kube["limited_user"]}]})
        a = objects.create("a-db", {"engine": "postgres"})
        run.wait_for(1)
        triggers = run.barrier(objects)
    errors = run.log.messages(logging.ERROR)
    assert len(errors) == 1, errors
    assert "databases.dbaas.stackstorm.com/v1alpha1 in namespace %s: 403 Forbidden" \
        % kube_namespace in errors[0]
    assert "grant get,list,watch on databases.dbaas.stackstorm.com" in errors[0]
    assert "k8s/rbac/sensor.yaml" in errors[0]
    assert any("recovered" in m for m in run.log.messages(logging.INFO))
    assert triggers == [("aws.custom_resource_added", expected("ADDED", a))]


@pytest.mark.integration
def test_missing_crd_is_logged_once_and_recovers(stack, kube_api_client, kube_namespace):
    group = "h3%s.stacktest.example.com" % uuid.uuid4().hex[:8]
    resource = dict(DB, group=group)
    crd = load_yaml("k8s/crds/database.yaml")
    crd["metadata"]["name"] = "databases.%s" % group
    crd["spec"]["group"] = group
    config = sensor_config(stack["kube"]["kubeconfig"], kube_namespace, resources=(resource,))
    ext = client.ApiextensionsV1Api(kube_api_client)
    try:
        with SensorRunner(config, backoff=(0.05, 0.2)) as run:
            wait_until(lambda: run.watchers()[0].stats["errors"] >= 4, what="4 failed attempts")
            install_crds(kube_api_client, [crd])
            a = Objects(kube_api_client, kube_namespace, resource).create(
                "a-db", {"engine": "postgres"})
            run.wait_for(1)
    finally:
        ext.delete_custom_resource_definition(crd["metadata"]["name"])
    errors = run.log.messages(logging.ERROR)
    assert len(errors) == 1, errors
    assert ("databases.%s/v1alpha1 in namespace %s: 404 Not Found" % (group, kube_namespace)
            in errors[0])
    assert "is its CustomResourceDefinition installed?" in errors[0]
    assert run.triggers == [("aws.custom_resource_added", expected("ADDED", a, resource))]


# ---------------------------------------------------------------------------- a private stack
@pytest.fixture(scope="module")
def private_kube(tmp_path_factory):
    """A kube-apiserver + etcd of our own, for outages that would disturb other tests."""
    from tests.stack_plugin import private_kube_env, run_stack_script

    env = private_kube_env(str(tmp_path_factory.mktemp("private-stack")))
    proc = run_stack_script("up", "kube", env=env)
    if proc.returncode != 0:
        run_stack_script("down", "kube", env=env)  # stop what did start (etcd)
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(env["STACK_DIR"], "stack.json")) as f:
        info = json.load(f)
    info["env"] = env
    from kubernetes import config as kube_config
    info["api_client"] = kube_config.new_client_from_config(config_file=info["kube"]["kubeconfig"])
    install_crds(info["api_client"])
    try:
        yield info
    finally:
        info["api_client"].close()
        run_stack_script("down", "kube", env=env)


def _private_namespace(private):
    name = "private-%s" % uuid.uuid4().hex[:8]
    client.CoreV1Api(private["api_client"]).create_namespace({"metadata": {"name": name}})
    return name


def _restart_apiserver(private):
    from tests.stack_plugin import run_stack_script

    for command in ("down", "up"):
        proc = run_stack_script(command, "kube", env=private["env"])
        assert proc.returncode == 0, proc.stderr


def _compact_etcd(private):
    etcd = private["etcd"]
    env = dict(os.environ, **etcd["etcdctl_env"])
    status = subprocess.run([etcd["etcdctl"], "--endpoints", etcd["endpoints"], "endpoint",
                             "status", "-w", "json"], env=env, capture_output=True, text=True,
                            check=True)
    revision = json.loads(status.stdout)[0]["Status"]["header"]["revision"]
    subprocess.run([etcd["etcdctl"], "--endpoints", etcd["endpoints"], "compact",
                    str(revision)], env=env, capture_output=True, check=True)
    return revision


@pytest.mark.integration
def test_compacted_cursor_410_relists_and_misses_nothing(private_kube):
    kube = private_kube["kube"]
    namespace = _private_namespace(private_kube)
    objects = Objects(private_kube["api_client"], namespace)
    proxy = TcpProxy("127.0.0.1", int(kube["server"].rsplit(":", 1)[1]))
    config = sensor_config(None, namespace, resources=(DB,),
                           kube_api_url="https://127.0.0.1:%d" % proxy.port,
                           kube_token=kube["token"], kube_ca_file=kube["ca_file"])
    try:
        with SensorRunner(config) as run:
            a = objects.create("a-db", {"engine": "postgres"})
            x = objects.create("x-db", {"engine": "postgres"})
            run.wait_for(2)
            proxy.refuse()  # the sensor is cut off; its cursor stays where it is
            b = objects.create("b-db", {"engine": "mysql"})
            a2 = objects.patch("a-db", {"spec": {"storageGB": 40}})
            objects.delete("x-db")
            _compact_etcd(private_kube)
            # The API server's watch cache would still serve the old cursor (it keeps up to
            # ~100k events); a restart empties it, so the watch has only compacted etcd behind.
            _restart_apiserver(private_kube)
            objects = Objects(private_kube["api_client"], namespace)
            proxy.forward()
            run.wait_for(5, timeout=60)
            triggers = run.barrier(objects)
    finally:
        proxy.close()
    assert triggers[:2] == [("aws.custom_resource_added", expected("ADDED", a)),
                            ("aws.custom_resource_added", expected("ADDED", x))]
    assert triggers[2:] == [
        ("aws.custom_resource_deleted", dict(expected("DELETED", x), spec_changed=False)),
        ("aws.custom_resource_modified", expected("MODIFIED", a2, spec_changed=True)),
        ("aws.custom_resource_added", expected("ADDED", b)),
    ]
    assert run.watchers()[0].stats["gone"] >= 1
    assert any("410 Gone" in m for m in run.log.messages(logging.INFO))
    check_schemas(triggers)


@pytest.mark.integration
def test_apiserver_restart_mid_watch(private_kube):
    namespace = _private_namespace(private_kube)
    objects = Objects(private_kube["api_client"], namespace)
    config = sensor_config(private_kube["kube"]["kubeconfig"], namespace, resources=(DB,))
    with SensorRunner(config) as run:
        a = objects.create("a-db", {"engine": "postgres"})
        run.wait_for(1)
        _restart_apiserver(private_kube)
        b = objects.create("b-db", {"engine": "postgres"})
        a2 = objects.patch("a-db", {"spec": {"engine": "mysql"}})
        run.wait_for(3, timeout=60)
        triggers = run.barrier(objects)
    assert triggers[0] == ("aws.custom_resource_added", expected("ADDED", a))
    # Whether these come from the resumed watch or a relist decides their order.
    assert sorted(triggers[1:], key=lambda t: t[1]["name"]) == [
        ("aws.custom_resource_modified", expected("MODIFIED", a2, spec_changed=True)),
        ("aws.custom_resource_added", expected("ADDED", b)),
    ]
    assert run.watchers()[0].stats["errors"] >= 1
    assert any("recovered" in m for m in run.log.messages(logging.INFO))
    assert len([m for m in run.log.messages(logging.ERROR) if "cannot reach" in m]) == 1


def test_sensor_yaml_lists_the_trigger_types():
    sensor = load_yaml("sensors/custom_resource_sensor.yaml")
    assert sensor["class_name"] == "CustomResourceSensor"
    assert sensor["entry_point"] == "custom_resource_sensor.py"
    for declared, event in zip(sensor["trigger_types"], ("added", "modified", "deleted")):
        trigger = load_yaml("triggers/custom_resource_%s.yaml" % event)
        assert trigger["pack"] == "aws"
        assert declared == {k: v for k, v in trigger.items() if k != "pack"}
        jsonschema.Draft4Validator.check_schema(as_jsonschema(trigger["payload_schema"]))
        assert len(TRIGGER_SCHEMAS["aws." + trigger["name"]]["required"]) == 20
        assert trigger["payload_schema"]["properties"]["event"]["enum"] == [event.upper()]
    assert len(sensor["trigger_types"]) == 3
