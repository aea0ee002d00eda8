"""Helpers shared by the migration tests and bench/bench_migration.py: a namespace in the source
cluster holding a few objects of each kind the migration copies, made with the plain client;
objects in a comparable form; a pack config naming two clusters and two Consul agents.

The local API servers run without a controller-manager, so nothing makes a namespace's
ServiceAccount token Secret or its ``kube-root-ca.crt`` ConfigMap: ``seed_namespace`` makes
them by hand, as a real cluster would have, to show they are not copied.
"""

import uuid

from kubernetes import client

FINGERPRINT = "migration.stackstorm.com/fingerprint"
# kind -> (list function of the plain client, API version)
LISTS = {
    "ServiceAccount": ("CoreV1Api", "list_namespaced_service_account"),
    "Secret": ("CoreV1Api", "list_namespaced_secret"),
    "ConfigMap": ("CoreV1Api", "list_namespaced_config_map"),
    "Role": ("RbacAuthorizationV1Api", "list_namespaced_role"),
    "RoleBinding": ("RbacAuthorizationV1Api", "list_namespaced_role_binding"),
    "ResourceQuota": ("CoreV1Api", "list_namespaced_resource_quota"),
    "LimitRange": ("CoreV1Api", "list_namespaced_limit_range"),
    "NetworkPolicy": ("NetworkingV1Api", "list_namespaced_network_policy"),
}


def unique(prefix="mig"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def pack_config(stack_a, stack_b, b_name="b"):
    """The pack config of the tests: the main set is the default cluster and Consul agent,
    the second set is named ``b_name``."""
    return {
        "kubeconfig": stack_a["kube"]["kubeconfig"],
        "kube_clusters": {b_name: {"kubeconfig": stack_b["kube"]["kubeconfig"],
                                   "context": stack_b["kube"]["context"]}},
        "consul_host": stack_a["consul"]["host"], "consul_port": stack_a["consul"]["port"],
        "consul_clusters": {b_name: {"host": stack_b["consul"]["host"],
                                     "port": stack_b["consul"]["port"]}},
    }


def seed_namespace(api_client, name, config_maps=2, secrets=2, labels=None):
    """Namespace ``name`` with, of each kind: ConfigMaps (``config_maps``), Opaque Secrets
    (``secrets``), a ServiceAccount with its token Secret, the root CA ConfigMap, a Role, a
    RoleBinding, a ResourceQuota, a LimitRange and a NetworkPolicy. Returns the names made,
    by kind."""
    core = client.CoreV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)
    net = client.NetworkingV1Api(api_client)
    core.create_namespace({"metadata": {
        "name": name, "labels": dict({"team": "payments", "stacktest": "true"}, **(labels or {})),
        "annotations": {"owner": "payments@example.com"}}})
    made = {kind: [] for kind in LISTS}
    for i in range(config_maps):
        core.create_namespaced_config_map(name, {"metadata": {
            "name": "app-config-%d" % i, "labels": {"app": "shop"}},
            "data": {"LOG_LEVEL": "info", "INDEX": str(i)}})
        made["ConfigMap"].append("app-config-%d" % i)
    # what the cluster's root-CA publisher would have made
    core.create_namespaced_config_map(name, {"metadata": {"name": "kube-root-ca.crt"},
                                             "data": {"ca.crt": "-----BEGIN CERTIFICATE-----"}})
    for i in range(secrets):
        core.create_namespaced_secret(name, {"metadata": {"name": "db-creds-%d" % i},
                                             "type": "Opaque",
                                             "stringData": {"password": "pw-%d-%s" % (
                                                 i, uuid.uuid4().hex)}})
        made["Secret"].append("db-creds-%d" % i)
    core.create_namespaced_service_account(name, {"metadata": {"name": "deployer"},
                                                  "imagePullSecrets": [{"name": "registry"}]})
    made["ServiceAccount"].append("deployer")
    # what the token controller would have made for it
    core.create_namespaced_secret(name, {"metadata": {
        "name": "deployer-token-abcde",
        "annotations": {"kubernetes.io/service-account.name": "deployer"}},
        "type": "kubernetes.io/service-account-token",
        "data": {"token": "ZXlKaGJHY2lPaUpTVXpJMU5pSXMuZmFrZQ=="}})
    rbac.create_namespaced_role(name, {"metadata": {"name": "deployer"}, "rules": [{
        "apiGroups": ["apps"], "resources": ["deployments"],
        "verbs": ["get", "list", "patch"]}]})
    made["Role"].append("deployer")
    rbac.create_namespaced_role_binding(name, {
        "metadata": {"name": "deployer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "deployer"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": name}]})
    made["RoleBinding"].append("deployer")
    core.create_namespaced_resource_quota(name, {"metadata": {"name": "quota"}, "spec": {
        "hard": {"pods": "20", "requests.cpu": "4"}}})
    made["ResourceQuota"].append("quota")
    core.create_namespaced_limit_range(name, {"metadata": {"name": "limits"}, "spec": {
        "limits": [{"type": "Container", "default": {"cpu": "500m"},
                    "defaultRequest": {"cpu": "100m"}}]}})
    made["LimitRange"].append("limits")
    net.create_namespaced_network_policy(name, {"metadata": {"name": "deny-ingress"}, "spec": {
        "podSelector": {}, "policyTypes": ["Ingress"]}})
    made["NetworkPolicy"].append("deny-ingress")
    return made


def raw_objects(api_client, namespace):
    """{kind: {name: object as the API server sent it}} of the namespace (no client models)."""
    import json

    result = {}
    for kind, (api, method) in LISTS.items():
        function = getattr(getattr(client, api)(api_client), method)
        answer = json.loads(function(namespace, _preload_content=False).data)
        result[kind] = {item["metadata"]["name"]: item for item in answer["items"]}
    return result


def comparable(kind, obj):
    """The object as the issue defines "equal after stripping": its name, labels, annotations
    (without the migration's fingerprint) and content, without what a cluster generates (uid,
    resourceVersion, creationTimestamp, managedFields, status, a ServiceAccount's token list)."""
    metadata = obj["metadata"]
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items()
                   if k != FINGERPRINT}
    content = {k: v for k, v in obj.items()
               if k not in ("metadata", "status", "apiVersion", "kind")}
    if kind == "ServiceAccount":
        content.pop("secrets", None)
    return {"name": metadata["name"], "labels": metadata.get("labels") or {},
            "annotations": annotations, "content": content}


def resource_versions(api_client, namespace):
    """{(kind, name): resourceVersion} of the namespace and its objects: equal before and
    after a run that changed nothing."""
    versions = {("Namespace", namespace): client.CoreV1Api(api_client).read_namespace(
        namespace).metadata.resource_version}
    for kind, objects in raw_objects(api_client, namespace).items():
        for name, obj in objects.items():
            versions[(kind, name)] = obj["metadata"]["resourceVersion"]
    return versions


# --- Consul --------------------------------------------------------------------------------------

def seed_prefix(consul_client, prefix, count, size=40):
    """``count`` keys ``<prefix>key-NNNN`` with distinct values, written in transactions."""
    import base64
    import json as _json

    values = {}
    for i in range(count):
        values["%skey-%04d" % (prefix, i)] = ("value-%04d-" % i + uuid.uuid4().hex * 4)[:size]
    keys = sorted(values)
    for start in range(0, count, 64):
        ops = [{"KV": {"Verb": "set", "Key": k, "Value": base64.b64encode(
            values[k].encode()).decode()}} for k in keys[start:start + 64]]
        response = consul_client.http.put(lambda r: r, "/v1/txn", data=_json.dumps(ops))
        assert response.code == 200, response.body
    return values


def kv_snapshot(consul_client, prefix):
    """{key: value as text} of every key under ``prefix``."""
    _, items = consul_client.kv.get(prefix, recurse=True)
    return {item["Key"]: (item["Value"] or b"").decode() for item in items or []}


class KVWatcher:
    """Follows ``prefix`` on an agent with blocking queries (in a thread) and records when each
    expected state of a key (a value, or None: deleted) is first seen there."""

    def __init__(self, consul_client, prefix, wait="5s"):
        import threading
        import time

        self._time = time.monotonic
        self.client, self.prefix, self.wait = consul_client, prefix, wait
        self.lock = threading.Lock()
        self.expected = {}  # key -> (value or None, write time)
        self.lags = {}  # key -> seconds from the write on the source to the state here
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def expect(self, key, value, written_at):
        with self.lock:
            self.expected[key] = (value, written_at)

    def _check(self, state, now):
        with self.lock:
            for key, (value, written_at) in list(self.expected.items()):
                if state.get(key) == value:
                    self.lags[key] = now - written_at
                    del self.expected[key]

    def _run(self):
        index = None
        while not self.stop.is_set():
            index, items = self.client.kv.get(self.prefix, recurse=True, index=index,
                                              wait=self.wait)
            state = {i["Key"]: (i["Value"] or b"").decode() for i in items or []}
            self._check(state, self._time())

    def wait_done(self, timeout=60):
        import time

        deadline = self._time() + timeout
        while self._time() < deadline:
            with self.lock:
                if not self.expected:
                    return True
            time.sleep(0.05)
        return False

    def close(self):
        self.stop.set()


def rule_parameters(payload, rule_file="consul_sync.yaml"):
    """The action parameters of a rule for ``payload``, rendered and cast as st2's rules engine
    does (tests/st2_rules_engine.py); tests/st2_params.action_params then finalizes them."""
    import os

    from tests.st2_rules_engine import PACK_DIR, load_yaml, render_action_parameters

    rule = load_yaml(os.path.join(PACK_DIR, "rules", rule_file))
    return render_action_parameters(rule, payload)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


class SyncLoop:
    """aws.ConsulKVSensor in a thread, as st2's sensor container runs it, and what the rules
    engine does with its triggers: each aws.consul_kv_changed through the parameters of rule
    aws.consul_sync (rendered and cast as st2 does) into aws.consul_sync, in order."""

    def __init__(self, config, service=None, wait_seconds=5):
        import threading

        from consul_kv_sensor import ConsulKVSensor
        from tests.sensor_service import SensorService

        self.config = dict(config, consul_sync_wait_seconds=wait_seconds)
        self.service = service or SensorService(class_name="ConsulKVSensor")
        self.sensor = ConsulKVSensor(sensor_service=self.service, config=self.config)
        self.sensor.backoff_initial, self.sensor.backoff_max = 0.2, 1.0
        self.results = []  # (trigger payload, succeeded, action result)
        self.start_index = len(self.service.dispatched_triggers)
        self._done = threading.Event()
        self._threads = []

    def __enter__(self):
        import threading

        self.sensor.setup()
        self._threads = [threading.Thread(target=self.sensor.run, daemon=True),
                         threading.Thread(target=self._consume, daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.sensor.cleanup()
        self._done.set()
        for thread in self._threads:
            thread.join(15)

    def _consume(self):
        import time

        from consul_sync import ConsulSync
        from tests.st2_params import action_params, load_action

        meta = load_action("consul_sync")
        handled = self.start_index
        while not self._done.is_set():
            triggers = self.service.dispatched_triggers
            if handled >= len(triggers):
                time.sleep(0.01)
                continue
            payload = triggers[handled]["payload"]
            handled += 1
            params = action_params(meta, rule_parameters(payload))
            ok, result = ConsulSync(config=self.config).run(**params)
            self.results.append((payload, ok, result))

    @property
    def triggers(self):
        return [t["payload"] for t in self.service.dispatched_triggers[self.start_index:]]

    def wait_results(self, count, timeout=60):
        import time

        deadline = time.monotonic() + timeout
        while len(self.results) < count:
            assert time.monotonic() < deadline, "%d results, expected %d" % (
                len(self.results), count)
            time.sleep(0.02)
        return self.results
