"""Which Vault paths and Consul keys a namespace's Databases may claim.

Many teams share one StackStorm, one Vault and one Consul, so each namespace owns a prefix of
each: a Database may only put its credentials (``spec.vault.path``) and its connection config
(``spec.consul.key``) under its own namespace's prefix, and the defaults are there too. The
prefixes come from the pack config:

    vault_path_prefix: "{namespace}/"      # default
    consul_key_prefix: "{namespace}/"      # default

A prefix is '/'-separated segments ending with '/', exactly one of which is ``{namespace}``
(replaced by the Database's namespace), e.g. ``databases/{namespace}/`` or
``tenants/{namespace}/db/``. Since a namespace name has no '/', two namespaces' prefixes then
never overlap: neither is a prefix of the other, so no namespace can reach a path of another.
"""

import re

from lib.action import ConfigError, config_value

__all__ = ["DEFAULT_PREFIX", "PLACEHOLDER", "Layout", "parse_prefix"]

PLACEHOLDER = "{namespace}"
DEFAULT_PREFIX = PLACEHOLDER + "/"
MAX_PREFIX = 128
_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]+$")
#: the pack config key of each kind of location, and the spec field a Database sets it with
KINDS = {
    "vault": ("vault_path_prefix", "spec.vault.path", "Vault paths"),
    "consul": ("consul_key_prefix", "spec.consul.key", "Consul keys"),
}


def parse_prefix(key, value):
    """The prefix template of pack config ``key`` (default ``{namespace}/``); ConfigError
    naming the key unless it is segments ending in '/', exactly one of them ``{namespace}``."""
    if value in (None, ""):
        return DEFAULT_PREFIX
    expected = ("'/'-separated segments of letters, digits, '_', '.', '-' ending with '/', "
                "exactly one of them {namespace} (e.g. {namespace}/ or databases/{namespace}/)")
    if not isinstance(value, str) or len(value) > MAX_PREFIX or not value.endswith("/"):
        raise ConfigError('pack config key "%s": expected %s, got %r'
                          % (key, expected, value if not isinstance(value, str)
                             else value[:MAX_PREFIX]))
    segments = value[:-1].split("/")
    placeholders = [s for s in segments if s == PLACEHOLDER]
    others = [s for s in segments if s != PLACEHOLDER]
    if len(placeholders) != 1 or any(not _SEGMENT.match(s) or s in (".", "..")
                                     for s in others):
        raise ConfigError('pack config key "%s": expected %s, got %r' % (key, expected, value))
    return value


class Layout:
    """The namespace prefixes of Vault paths and Consul keys, and the default locations."""

    def __init__(self, vault_prefix=None, consul_prefix=None):
        self.templates = {
            "vault": parse_prefix(KINDS["vault"][0], vault_prefix),
            "consul": parse_prefix(KINDS["consul"][0], consul_prefix),
        }

    @classmethod
    def from_config(cls, config):
        """The layout of the pack config; ConfigError naming the key of a wrong prefix."""
        return cls(config_value(config, KINDS["vault"][0], kind=str),
                   config_value(config, KINDS["consul"][0], kind=str))

    def prefix(self, kind, namespace):
        return self.templates[kind].replace(PLACEHOLDER, str(namespace))

    def default(self, kind, namespace, name):
        """``<prefix><name>`` for Vault, ``<prefix><name>/config`` for Consul."""
        path = self.prefix(kind, namespace) + str(name)
        return path + "/config" if kind == "consul" else path

    def problem(self, kind, value, namespace):
        """None when ``value`` (a checked relative path) lies under ``namespace``'s prefix,
        else a message naming the spec field, the prefix and the pack config key."""
        key, field, what = KINDS[kind]
        prefix = self.prefix(kind, namespace)
        if value.startswith(prefix) and len(value) > len(prefix):
            return None
        return ("%s: %r is outside the %s of namespace %s; expected a path under %r "
                "(pack config %s)" % (field, value, what, namespace, prefix, key))
