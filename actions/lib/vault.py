"""Vault (or OpenBao) KV version 2 from the pack config, with errors that name the server.

``client_from_config(config)`` builds an ``hvac.Client``; ``KV(config)`` wraps the few KV v2
calls the provisioning actions make and turns transport and permission failures into
``VaultError`` messages naming the address and the pack config key to look at.
"""

import contextlib

from lib.action import ConfigError, config_value

__all__ = ["VaultError", "client_from_config", "KV", "OWNER_METADATA_KEY"]

TIMEOUT_SECONDS = 15
#: Vault custom_metadata key naming the Database uid that owns a secret.
OWNER_METADATA_KEY = "st2-aws-uid"


class VaultError(RuntimeError):
    """Vault could not be reached, refused the token, or rejected a request."""


def client_from_config(config):
    """An ``hvac.Client`` for pack config ``vault_url``/``vault_token``/``vault_verify``."""
    import hvac  # not on the start-up path of actions that never talk to Vault

    url = config_value(config, "vault_url", required=True, kind=str)
    if not url.startswith(("http://", "https://")):
        raise ConfigError('pack config key "vault_url" must start with http:// or https://, '
                          "got %r" % url)
    token = config_value(config, "vault_token", required=True, kind=str)
    verify = config_value(config, "vault_verify", default=True, kind=(bool, str))
    return hvac.Client(url=url, token=token, verify=verify, timeout=TIMEOUT_SECONDS)


class KV:
    """KV v2 operations on the pack's mount (pack config ``vault_kv_mount``, default secret)."""

    def __init__(self, config, client=None):
        self.client = client or client_from_config(config)
        self.url = self.client.url
        self.mount = config_value(config, "vault_kv_mount", default="secret", kind=str).strip("/")
        self.kv = self.client.secrets.kv.v2

    def where(self, path):
        return "%s/%s" % (self.mount, path)

    @contextlib.contextmanager
    def _errors(self, doing, path):
        import hvac.exceptions
        import requests

        try:
            yield
        except requests.exceptions.RequestException as exc:
            raise VaultError("Vault at %s (pack config vault_url) is unreachable while %s %s: %s"
                             % (self.url, doing, self.where(path), type(exc).__name__)) from None
        except hvac.exceptions.Forbidden:
            raise VaultError("Vault at %s refused the token (pack config vault_token) while %s %s:"
                             " permission denied" % (self.url, doing, self.where(path))) from None
        except hvac.exceptions.VaultError as exc:
            raise VaultError("Vault at %s failed while %s %s: %s"
                             % (self.url, doing, self.where(path), _first_line(exc))) from None

    def metadata(self, path):
        """(owner uid or None, current_version) of the secret, or None when there is none."""
        import hvac.exceptions

        with self._errors("reading metadata of", path):
            try:
                data = self.kv.read_secret_metadata(path=path, mount_point=self.mount)["data"]
            except hvac.exceptions.InvalidPath:
                return None
        owner = (data.get("custom_metadata") or {}).get(OWNER_METADATA_KEY)
        return owner, data.get("current_version") or 0

    def read(self, path):
        """The current version's data, or None when it is absent or deleted."""
        import hvac.exceptions

        with self._errors("reading", path):
            try:
                response = self.kv.read_secret_version(path=path, mount_point=self.mount,
                                                       raise_on_deleted_version=False)
            except hvac.exceptions.InvalidPath:
                return None
        return (response.get("data") or {}).get("data")

    def claim(self, path, uid):
        """Mark the path as owned by ``uid`` (custom_metadata), creating its metadata if needed."""
        with self._errors("writing metadata of", path):
            self.kv.update_metadata(path=path, mount_point=self.mount,
                                    custom_metadata={OWNER_METADATA_KEY: uid})

    def write(self, path, data, cas):
        """Write a new version with check-and-set; returns the new version number."""
        import hvac.exceptions

        with self._errors("writing", path):
            try:
                response = self.kv.create_or_update_secret(path=path, secret=data, cas=cas,
                                                           mount_point=self.mount)
            except hvac.exceptions.InvalidRequest as exc:
                if "check-and-set" not in str(exc):
                    raise
                raise VaultError("Vault secret %s changed while it was being written (check-and-set"
                                 " version %d no longer current); nothing was overwritten, retry"
                                 % (self.where(path), cas)) from None
        return response["data"]["version"]

    def delete(self, path):
        with self._errors("deleting", path):
            self.kv.delete_metadata_and_all_versions(path=path, mount_point=self.mount)


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
