"""Kubernetes helpers shared by the sensor and the actions.

- ``api_client_from_config(config)``: a ``kubernetes.client.ApiClient`` built from the pack config.
- ``to_payload(event, obj, resource, previous)``: the trigger payload for one custom resource.
- ``deleted_payload(previous)``: the DELETED payload rebuilt from the last payload emitted.
- ``pruned_fields(obj)``: fields of the last applied configuration the object does not carry.

The ``kubernetes`` package is imported inside the functions that need it: it takes about half a
second to import, and actions that only build payloads should not pay for it.
"""

import json
import os

from lib.action import ConfigError, config_value
from lib.kube.clusters import kube_cluster_config, label

__all__ = [
    "ADDED",
    "MODIFIED",
    "DELETED",
    "TRIGGERS",
    "LAST_APPLIED_ANNOTATION",
    "ConfigError",
    "api_client_from_config",
    "resource_from_config",
    "object_spec",
    "to_payload",
    "deleted_payload",
    "pruned_fields",
]

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
TRIGGERS = {
    ADDED: "aws.custom_resource_added",
    MODIFIED: "aws.custom_resource_modified",
    DELETED: "aws.custom_resource_deleted",
}
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
_NOT_SPEC = ("apiVersion", "kind", "metadata", "status")
MAX_PRUNED = 20
MAX_PATH = 256


def api_client_from_config(config, retries=None, cluster=""):
    """Return a ``kubernetes.client.ApiClient`` for the pack config.

    In order of precedence: ``kube_api_url`` with ``kube_token`` (and ``kube_ca_file``,
    ``kube_verify_ssl``); the in-cluster service account if ``kube_in_cluster``; else the
    kubeconfig file ``kubeconfig`` (or $KUBECONFIG, ~/.kube/config) with ``kube_context``.
    ``cluster`` names an entry of ``kube_clusters`` (the same settings without the ``kube_``
    prefix); "" is the default cluster of the flat keys.
    ``retries`` (e.g. False) replaces urllib3's default of 3 silent retries per request.
    Raises ``ConfigError`` naming the config key at fault.
    """
    config, labels = kube_cluster_config(config, cluster)
    from kubernetes import client, config as kube_config
    from kubernetes.config.config_exception import ConfigException

    url = config_value(config, "kube_api_url", kind=str)
    if url:
        token = config_value(config, "kube_token", kind=str)
        if not token:
            raise ConfigError(
                '%s is required when "%s" is set (a service account token with the rights '
                "the sensor and the actions need)"
                % (label(labels, "kube_token"), labels.get("kube_api_url", "kube_api_url"))
            )
        if not url.startswith(("https://", "http://")):
            raise ConfigError(
                "%s must be an http(s) URL such as https://kubernetes.example.com:6443, "
                "got %r" % (label(labels, "kube_api_url"), url)
            )
        configuration = client.Configuration()
        configuration.host = url.rstrip("/")
        configuration.api_key = {"authorization": "Bearer " + token}
        configuration.verify_ssl = bool(config_value(config, "kube_verify_ssl", default=True))
        ca_file = config_value(config, "kube_ca_file", kind=str)
        if ca_file:
            if not os.path.isfile(ca_file):
                raise ConfigError(
                    "%s names %r, which is not a readable file"
                    % (label(labels, "kube_ca_file"), ca_file)
                )
            configuration.ssl_ca_cert = ca_file
        configuration.retries = retries
        return client.ApiClient(configuration)

    if config_value(config, "kube_in_cluster", default=False):
        configuration = client.Configuration()
        try:
            kube_config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise ConfigError(
                "%s is true but no in-cluster service account was found (%s); run inside a "
                "pod or set kube_api_url/kubeconfig" % (label(labels, "kube_in_cluster"), exc)
            ) from exc
        configuration.retries = retries
        return client.ApiClient(configuration)

    path = config_value(config, "kubeconfig", kind=str)
    context = config_value(config, "kube_context", kind=str)
    if path and not os.path.isfile(path):
        raise ConfigError("%s names %r, which is not a file" % (label(labels, "kubeconfig"), path))
    configuration = client.Configuration()
    try:
        kube_config.load_kube_config(config_file=path, context=context,
                                     client_configuration=configuration, persist_config=False)
    except ConfigException as exc:
        key = "kube_context" if context and "context" in str(exc).lower() else "kubeconfig"
        raise ConfigError(
            "%s: cannot load the kubeconfig %s: %s"
            % (label(labels, key), path or "($KUBECONFIG or ~/.kube/config)", exc)
        ) from exc
    configuration.retries = retries
    return client.ApiClient(configuration)


def resource_from_config(entry, index=0):
    """Validate one item of config ``watch_resources``; return it as a plain dict."""
    where = 'pack config key "watch_resources" item %d' % index
    if not isinstance(entry, dict):
        raise ConfigError("%s must be an object with group, version, plural" % where)
    resource = {}
    for field in ("group", "version", "plural"):
        value = entry.get(field)
        if not isinstance(value, str) or not value:
            raise ConfigError(
                '%s needs "%s" (a non-empty string, e.g. %s)'
                % (where, field, {"group": "dbaas.stackstorm.com", "version": "v1alpha1",
                                  "plural": "databases"}[field])
            )
        resource[field] = value
    namespace = entry.get("namespace") or None
    if namespace is not None and not isinstance(namespace, str):
        raise ConfigError('%s: "namespace" must be a string' % where)
    resource["namespace"] = namespace
    unknown = sorted(set(entry) - {"group", "version", "plural", "namespace"})
    if unknown:
        raise ConfigError("%s has unknown fields %s" % (where, ", ".join(unknown)))
    return resource


def _own_fields(obj):
    """The object's top-level fields other than apiVersion, kind, metadata and status."""
    return {key: value for key, value in obj.items() if key not in _NOT_SPEC}


def object_spec(obj):
    """The object's spec; for objects without one (legacy MysqlDb) its other top-level fields."""
    if "spec" in obj:
        return obj.get("spec") or {}
    return _own_fields(obj)


def _missing(applied, actual, prefix, found):
    for key in sorted(applied, key=str):
        if len(found) > MAX_PRUNED:
            return
        value = applied[key]
        path = ("%s.%s" % (prefix, key) if prefix else str(key))[:MAX_PATH]
        if value is None:
            continue  # null in an applied file means "unset", not a field the server dropped
        if key not in actual:
            found.append(path)
        elif isinstance(value, dict) and isinstance(actual[key], dict):
            _missing(value, actual[key], path, found)


def pruned_fields(obj):
    """Dotted paths (e.g. ``spec.storagegb``) that the object's last applied configuration has
    and the object lacks: fields the API server pruned because the schema does not know them,
    which a client that does not validate (plain API calls, ``kubectl --validate=false``) sent
    without a word. Only where the object still carries what was applied (kubectl's
    last-applied-configuration annotation); at most 20, sorted."""
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED_ANNOTATION)
    if not isinstance(text, str) or not text:
        return []
    try:
        applied = json.loads(text)
    except ValueError:
        return []
    if not isinstance(applied, dict):
        return []
    found = []
    _missing(_own_fields(applied), obj, "", found)
    if len(found) > MAX_PRUNED:
        found = found[:MAX_PRUNED - 1] + ["(and more)"]
    return found


def to_payload(event, obj, resource, previous=None):
    """The trigger payload for custom resource ``obj`` (a dict as the API server sends it).

    ``resource``: mapping with group, version, plural. ``previous``: the last payload emitted
    for this object's uid, or None on first sight; it decides ``spec_changed`` (generation
    differs, or for objects without a generation the spec differs) and ``deletion_requested``
    (deletionTimestamp set now and not in ``previous``).
    """
    metadata = obj.get("metadata") or {}
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(LAST_APPLIED_ANNOTATION, None)
    spec = object_spec(obj)
    generation = metadata.get("generation")
    deletion_timestamp = metadata.get("deletionTimestamp")
    if previous is None:
        spec_changed = True
        deletion_requested = deletion_timestamp is not None
    else:
        if generation is None or previous.get("generation") is None:
            spec_changed = spec != previous.get("spec")
        else:
            spec_changed = generation != previous.get("generation")
        deletion_requested = (deletion_timestamp is not None
                              and previous.get("deletion_timestamp") is None)
    group, version = resource["group"], resource["version"]
    return {
        "event": event,
        "api_version": obj.get("apiVersion") or "%s/%s" % (group, version),
        "group": group,
        "version": version,
        "plural": resource["plural"],
        "kind": obj.get("kind"),
        "namespace": metadata.get("namespace"),
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
        "resource_version": metadata.get("resourceVersion"),
        "generation": generation,
        "labels": dict(metadata.get("labels") or {}),
        "annotations": annotations,
        "finalizers": list(metadata.get("finalizers") or []),
        "deletion_timestamp": deletion_timestamp,
        "spec": spec,
        "status": obj.get("status") or {},
        "spec_changed": spec_changed,
        "deletion_requested": deletion_requested,
        "pruned_fields": pruned_fields(obj),
    }


def deleted_payload(previous):
    """A DELETED payload for an object that vanished unseen (e.g. while the sensor was down).

    It is the last payload emitted for the object with ``event`` DELETED; nothing changed since,
    so ``spec_changed`` and ``deletion_requested`` are false.
    """
    payload = dict(previous)
    payload.update(event=DELETED, spec_changed=False, deletion_requested=False)
    payload.setdefault("pruned_fields", [])  # state saved before the field existed
    return payload
