"""Named clusters in the pack config: Kubernetes API servers and Consul agents.

The flat keys of the pack config (``kube_api_url``, ``kube_token``, ``kubeconfig``, ...,
``consul_host``, ``consul_port``, ...) describe the default cluster and agent, named ``""``.
``kube_clusters`` and ``consul_clusters`` add more by name (an A/B upgrade: ``blue``,
``green``)::

    kube_clusters:
      green: {kubeconfig: /opt/stackstorm/configs/kubeconfig-upgrade, context: green}
    consul_clusters:
      green: {host: consul.green.example.com, port: 8500}

``kube_cluster_config(config, name)`` and ``consul_cluster_config(config, name)`` return the
cluster's settings under the flat keys (so one code path builds every client), and the name of
each key as the user wrote it, for error messages (``pack config key
"kube_clusters.green.token"``). Nothing here imports a client library.
"""

import difflib

from lib.action import ConfigError

__all__ = ["KUBE_FIELDS", "CONSUL_FIELDS", "ConfigError", "cluster_names",
           "consul_cluster_config", "kube_cluster_config", "label"]

# field of a kube_clusters entry -> (flat key of the default cluster, accepted types)
KUBE_FIELDS = {
    "kubeconfig": ("kubeconfig", (str,)),
    "context": ("kube_context", (str,)),
    "api_url": ("kube_api_url", (str,)),
    "token": ("kube_token", (str,)),
    "ca_file": ("kube_ca_file", (str,)),
    "verify_ssl": ("kube_verify_ssl", (bool,)),
    "in_cluster": ("kube_in_cluster", (bool,)),
}
CONSUL_FIELDS = {
    "host": ("consul_host", (str,)),
    "port": ("consul_port", (int,)),
    "scheme": ("consul_scheme", (str,)),
    "token": ("consul_token", (str,)),
    "verify": ("consul_verify", (bool, str)),
}
_KINDS = {
    "kube": ("kube_clusters", KUBE_FIELDS, "Kubernetes cluster"),
    "consul": ("consul_clusters", CONSUL_FIELDS, "Consul agent"),
}


def label(labels, flat_key):
    """How to name ``flat_key`` in a message: ``pack config key "..."``."""
    return 'pack config key "%s"' % labels.get(flat_key, flat_key)


def _close(word, choices):
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    return "; did you mean %s?" % ", ".join('"%s"' % c for c in close) if close else ""


def cluster_names(config, kind):
    """Names of the clusters of ``kind`` (``kube`` or ``consul``), the default ``""`` first."""
    key = _KINDS[kind][0]
    named = (config or {}).get(key) or {}
    return [""] + sorted(named) if isinstance(named, dict) else [""]


def _cluster_config(config, name, kind):
    key, fields, what = _KINDS[kind]
    config = config or {}
    if name is None or name == "":
        return config, {}
    if not isinstance(name, str):
        raise ConfigError("a %s name must be a string, got %s" % (what, type(name).__name__))
    named = config.get(key) or {}
    if not isinstance(named, dict):
        raise ConfigError('pack config key "%s" must be an object of %ss by name, got %s'
                          % (key, what, type(named).__name__))
    if name not in named:
        known = ", ".join('"%s"' % n for n in sorted(named)) or "none"
        raise ConfigError('unknown %s "%s": pack config key "%s" names %s (and "" is the '
                          "default one of the flat keys)%s"
                          % (what, name, key, known, _close(name, list(named))))
    entry = named[name]
    where = "%s.%s" % (key, name)
    if not isinstance(entry, dict):
        raise ConfigError('pack config key "%s" must be an object with %s, got %s'
                          % (where, ", ".join(sorted(fields)), type(entry).__name__))
    unknown = sorted(set(entry) - set(fields))
    if unknown:
        raise ConfigError('pack config key "%s" has unknown field(s) %s%s; expected %s'
                          % (where, ", ".join(unknown), _close(unknown[0], list(fields)),
                             ", ".join(sorted(fields))))
    flat, labels = {}, {}
    for field, (flat_key, kinds) in fields.items():
        labels[flat_key] = "%s.%s" % (where, field)
        value = entry.get(field)
        if value is None or value == "":
            continue
        if not isinstance(value, kinds) or (int in kinds and isinstance(value, bool)):
            raise ConfigError('pack config key "%s.%s" must be of type %s, got %s'
                              % (where, field, "/".join(k.__name__ for k in kinds),
                                 type(value).__name__))
        flat[flat_key] = value
    return flat, labels


def kube_cluster_config(config, name=""):
    """``(settings, labels)`` of Kubernetes cluster ``name`` ("" is the default one)."""
    return _cluster_config(config, name, "kube")


def consul_cluster_config(config, name=""):
    """``(settings, labels)`` of Consul agent ``name`` ("" is the default one). A named agent
    needs a ``host``; its other fields default as the flat keys do."""
    settings, labels = _cluster_config(config, name, "consul")
    if name and not settings.get("consul_host"):
        raise ConfigError('%s is required (the agent\'s host name or address)'
                          % label(labels, "consul_host"))
    return settings, labels
