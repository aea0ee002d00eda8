"""Vault (or OpenBao) KV version 2 from the pack config, with errors that name the server.

``client_from_config(config)`` builds an ``hvac.Client``; ``KV(config)`` wraps the few KV v2
calls the provisioning actions make and turns transport and permission failures into
``VaultError`` messages naming the address and the pack config key to look at.
"""

import contextlib
import datetime
import re

from lib.action import ConfigError, config_value

__all__ = ["VaultError", "client_from_config", "KV", "SecretState", "OWNER_METADATA_KEY",
           "SOURCE_VERSION_METADATA_KEY"]

TIMEOUT_SECONDS = 15
#: Vault custom_metadata key naming the Database uid that owns a secret.
OWNER_METADATA_KEY = "st2-aws-uid"
#: Vault custom_metadata key holding the VersionId of the Secrets Manager secret version (the
#: RDS-managed master secret) the secret's data was copied from.
SOURCE_VERSION_METADATA_KEY = "st2-aws-source-version"


class SecretState:
    """What a secret's metadata says: owner uid, the Secrets Manager VersionId its data was
    copied from (None: not recorded), current version (0: none), and the current version's
    creation time (datetime, UTC) and whether it is deleted."""

    def __init__(self, data):
        custom = data.get("custom_metadata") or {}
        self.owner = custom.get(OWNER_METADATA_KEY)
        self.source_version = custom.get(SOURCE_VERSION_METADATA_KEY) or None
        self.version = data.get("current_version") or 0
        current = (data.get("versions") or {}).get(str(self.version)) or {}
        self.created = _parse_time(current.get("created_time"))
        self.deleted = bool(current.get("deletion_time")) or bool(current.get("destroyed"))


def _parse_time(text):
    """Vault's RFC 3339 time (nanoseconds allowed) as an aware datetime, or None."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$", text or "")
    if not match:
        return None
    moment = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    micros = int((match.group(2) or ".0")[1:7].ljust(6, "0"))
    return moment.replace(microsecond=micros, tzinfo=datetime.timezone.utc)


class VaultError(RuntimeError):
    """Vault could not be reached, refused the token, or rejected a request."""


def client_from_config(config):
    """An authenticated ``hvac.Client`` for pack config ``vault_url``/``vault_verify`` and
    ``vault_auth_method`` (lib/stores/vault_auth.py: ``vault_token``, AppRole or Kubernetes
    auth)."""
    import hvac  # not on the start-up path of actions that never talk to Vault

    from lib.stores.vault_auth import log_in

    url = config_value(config, "vault_url", required=True, kind=str)
    if not url.startswith(("http://", "https://")):
        raise ConfigError('pack config key "vault_url" must start with http:// or https://, '
                          "got %r" % url)
    verify = config_value(config, "vault_verify", default=True, kind=(bool, str))
    # token="": never VAULT_TOKEN or ~/.vault-token of the environment
    client = hvac.Client(url=url, token="", verify=verify, timeout=TIMEOUT_SECONDS)
    return log_in(client, config)


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
        """The secret's SecretState, or None when there is none."""
        import hvac.exceptions

        with self._errors("reading metadata of", path):
            try:
                data = self.kv.read_secret_metadata(path=path, mount_point=self.mount)["data"]
            except hvac.exceptions.InvalidPath:
                return None
        return SecretState(data)

    def read(self, path, version=None):
        """The data of the current version (or of ``version``), or None when it is absent or
        deleted."""
        import hvac.exceptions

        with self._errors("reading", path):
            try:
                response = self.kv.read_secret_version(path=path, version=version,
                                                       mount_point=self.mount,
                                                       raise_on_deleted_version=False)
            except hvac.exceptions.InvalidPath:
                return None
        return (response.get("data") or {}).get("data")

    def claim(self, path, uid, source_version=None):
        """Mark the path as owned by ``uid`` (custom_metadata), creating its metadata if needed,
        and record ``source_version`` (the Secrets Manager VersionId the data was copied from)
        when given. Vault replaces custom_metadata whole: a claim without ``source_version``
        drops a recorded one."""
        custom = {OWNER_METADATA_KEY: uid}
        if source_version:
            custom[SOURCE_VERSION_METADATA_KEY] = source_version
        with self._errors("writing metadata of", path):
            self.kv.update_metadata(path=path, mount_point=self.mount, custom_metadata=custom)

    def retract(self, path, version):
        """Soft-delete ``version`` (a claim whose password never reached the instance)."""
        with self._errors("deleting a version of", path):
            self.kv.delete_secret_versions(path=path, versions=[version], mount_point=self.mount)

    def try_write(self, path, data, cas):
        """Write a new version with check-and-set; returns the new version number, or None
        when version ``cas`` is no longer the current one (another writer came first)."""
        import hvac.exceptions

        with self._errors("writing", path):
            try:
                response = self.kv.create_or_update_secret(path=path, secret=data, cas=cas,
                                                           mount_point=self.mount)
            except hvac.exceptions.InvalidRequest as exc:
                if "check-and-set" not in str(exc):
                    raise
                return None
        return response["data"]["version"]

    def write(self, path, data, cas):
        """Write a new version with check-and-set; returns the new version number."""
        version = self.try_write(path, data, cas)
        if version is None:
            raise VaultError("Vault secret %s changed while it was being written (check-and-set"
                             " version %d no longer current); nothing was overwritten, retry"
                             % (self.where(path), cas))
        return version

    def delete(self, path):
        with self._errors("deleting", path):
            self.kv.delete_metadata_and_all_versions(path=path, mount_point=self.mount)


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
