"""What the sensor tests and bench/bench_sensor.py share (the bench must not import a test file).

- ``SensorRunner``: a CustomResourceSensor in a background thread, as st2's sensor container runs
  it, with its log records; ``TcpProxy``: a TCP proxy to cut or stall its connections;
- ``install_crds``, ``Objects``, ``sensor_config``, ``proxied_sensor_config`` (through a
  ``TcpProxy``), ``wait_until``, ``stored_values``, ``saved_state`` (what a restart would read
  from the datastore).
"""

import copy
import logging
import os
import select
import socket
import threading
import time
import uuid

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from tests.sensor_service import SensorService

from cr_state import ResourceState
from cr_store import StateStore
from custom_resource_sensor import CustomResourceSensor

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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

    def __init__(self, config, service=None, backoff=(0.2, 1.0), log_level=logging.DEBUG):
        """``log_level``: what the runner records (DEBUG: a record per trigger, which a bench
        of 100,000 objects does not want to keep)."""
        self.service = service or SensorService()
        self.log_level = log_level
        self.sensor = CustomResourceSensor(sensor_service=self.service, config=config)
        self.sensor.backoff_initial, self.sensor.backoff_max = backoff
        self.sensor.state_flush_interval = 0.2
        self.log = RecordingHandler()
        self._logger = logging.getLogger("custom_resource_sensor")
        self._thread = None
        self.start_index = len(self.service.dispatched_triggers)

    def __enter__(self):
        self._logger.addHandler(self.log)
        self._logger.setLevel(self.log_level)
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
        self._pairs = []  # [client, upstream, stalled, pump thread]
        self._refusing = False
        self._closed = False
        self.connections = 0
        self.refused = 0  # connections closed at once while refusing
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self._refusing:
                self.refused += 1
                conn.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                conn.close()
                continue
            pair = [conn, upstream, False]
            pump = threading.Thread(target=self._pump, args=(pair,), daemon=True)
            pair.append(pump)
            with self._lock:
                self._pairs.append(pair)
                self.connections += 1
            pump.start()

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
        except (OSError, ValueError):  # ValueError: a socket closed meanwhile (eventlet)
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
        for pair in pairs:
            for sock in pair[:2]:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                except OSError:
                    pass
        # Wait until their pumps have left select(): under eventlet (st2-run-pack-tests) a green
        # select still waiting on a closed socket's descriptor holds a listener on that number,
        # and the next file that gets the number (a subprocess's pipe) fails with "Second
        # simultaneous read on fileno N" (found by ../shared/st2check/check).
        for pair in pairs:
            if not pair[2] and pair[3] is not threading.current_thread():
                pair[3].join(2.0)

    def forward(self):
        self._refusing = False

    def close(self):
        self._closed = True
        self.refuse()
        self.listener.close()


# ---------------------------------------------------------------------------- fixtures, helpers
def load_yaml(relpath):
    with open(os.path.join(PACK_DIR, relpath)) as f:
        return yaml.safe_load(f)


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


def sensor_config(kubeconfig, namespace, resources=(DB, LEGACY), **extra):
    config = {"kubeconfig": kubeconfig,
              "watch_resources": [dict(r, namespace=namespace) for r in resources],
              "watch_timeout_seconds": 60, "watch_read_timeout_seconds": 30}
    config.update(extra)
    return config


def proxied_sensor_config(kube, namespace, **extra):
    """(a TcpProxy in front of the API server of ``kube``, a stack.json "kube" section; a
    sensor_config that reaches that API server through the proxy with the section's token)."""
    host, port = kube["server"].split("//")[1].rsplit(":", 1)
    proxy = TcpProxy(host, int(port))
    return proxy, sensor_config(None, namespace,
                                kube_api_url="https://127.0.0.1:%d" % proxy.port,
                                kube_token=kube["token"], kube_ca_file=kube["ca_file"], **extra)


def stored_values(service, prefix="crs."):
    """Every datastore value of the sensor whose name starts with ``prefix``, paging as a
    caller of st2's list_values must (it returns at most 100 keys per call)."""
    values, offset = {}, 0
    while True:
        page = service.list_values(local=True, prefix=prefix, offset=offset)
        new = [kvp for kvp in page if kvp.name not in values]
        if not new:
            return values
        for kvp in new:
            values[kvp.name] = kvp.value
        offset += len(page)


def saved_state(service, resource):
    """The ResourceState a restarted sensor would read from ``service``'s datastore."""
    state = ResourceState(resource)
    StateStore(service, state).load()
    return state
