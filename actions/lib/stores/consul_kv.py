"""Consul KV from the pack config, with errors that name the agent's address.

``client_from_config(config)`` builds a ``consul.Consul`` (py-consul); ``KV(config)`` wraps the
KV calls of the provisioning actions and turns transport and ACL failures into ``ConsulError``.
``cluster`` names an entry of the pack config's ``consul_clusters`` ("" is the agent of the flat
``consul_*`` keys).
"""

import contextlib
import json

from lib.action import config_value
from lib.kube.clusters import consul_cluster_config

__all__ = ["ConsulError", "client_from_config", "KV", "owner_of"]

TIMEOUT_SECONDS = 15


class ConsulError(RuntimeError):
    """Consul could not be reached, refused the token, or rejected a request."""


def client_from_config(config, cluster=""):
    """A ``consul.Consul`` for pack config consul_host/port/scheme/token/verify (or those of
    ``consul_clusters.<cluster>``)."""
    config, _ = consul_cluster_config(config, cluster)
    import consul  # py-consul; imported here to keep it off the start-up path

    token = config_value(config, "consul_token", kind=str)
    client = consul.Consul(
        host=config_value(config, "consul_host", default="127.0.0.1", kind=str),
        port=config_value(config, "consul_port", default=8500, kind=int),
        scheme=config_value(config, "consul_scheme", default="http", kind=str),
        token=token,
        verify=config_value(config, "consul_verify", default=True, kind=(bool, str)),
        connections_timeout=TIMEOUT_SECONDS,
    )
    if token:  # py-consul would take $CONSUL_HTTP_TOKEN over it
        client.token = token
    return client


def owner_of(value):
    """The ``uid`` recorded in a key's JSON value, or None (not JSON, or no uid)."""
    try:
        data = json.loads(value) if value else None
    except ValueError:
        return None
    return data.get("uid") if isinstance(data, dict) else None


def address(config, cluster=""):
    config, _ = consul_cluster_config(config, cluster)
    return "%s://%s:%s" % (config_value(config, "consul_scheme", default="http"),
                           config_value(config, "consul_host", default="127.0.0.1"),
                           config_value(config, "consul_port", default=8500))


class KV:
    """get / cas put / cas delete on Consul KV."""

    def __init__(self, config, client=None, cluster=""):
        self.client = client or client_from_config(config, cluster)
        self.address = address(config, cluster)
        self.where = ("pack config consul_clusters.%s" % cluster if cluster
                      else "pack config consul_host/consul_port")

    @contextlib.contextmanager
    def _errors(self, doing, key):
        import consul
        import requests

        try:
            yield
        except requests.exceptions.RequestException as exc:
            raise ConsulError("Consul at %s (%s) is unreachable while %s %s: %s"
                              % (self.address, self.where, doing, key,
                                 type(exc).__name__)) from None
        except consul.ACLPermissionDenied:
            raise ConsulError("Consul at %s refused the token (pack config consul_token) while "
                              "%s %s: permission denied" % (self.address, doing, key)) from None
        except consul.ConsulException as exc:
            raise ConsulError("Consul at %s failed while %s %s: %s"
                              % (self.address, doing, key, str(exc).strip()[:200])) from None

    def get(self, key):
        """(value as text, ModifyIndex), or None when the key is absent."""
        with self._errors("reading", key):
            _, item = self.client.kv.get(key)
        if item is None:
            return None
        value = item.get("Value")
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        return value, item["ModifyIndex"]

    def put(self, key, value, cas):
        """Write with check-and-set; True when written, False when the index moved."""
        with self._errors("writing", key):
            return bool(self.client.kv.put(key, value, cas=cas))

    def delete(self, key, cas):
        with self._errors("deleting", key):
            return bool(self.client.kv.delete(key, cas=cas))
