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
