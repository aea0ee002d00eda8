"""Vault (or OpenBao) login from the pack config: a token, AppRole, or Kubernetes auth.

``log_in(client, config)`` gives the ``hvac.Client`` built by
``lib.stores.vault.client_from_config`` its token, as pack config ``vault_auth_method`` says:

``token`` (the default)
    ``vault_token`` itself. It is looked up first, and renewed when it is renewable and less
    than half of its TTL (or less than an hour) is left, so a renewable token the pack uses at
    least that often lives up to its max TTL. A token Vault refuses (expired, revoked) fails
    with a message naming ``vault_token``.
``approle``
    ``vault_approle_role_id`` and ``vault_approle_secret_id``, at auth mount
    ``vault_auth_mount`` (default ``approle``).
``kubernetes``
    a Kubernetes service account token, ``vault_kubernetes_jwt`` or the file
    ``vault_kubernetes_jwt_path`` (default: the pod's projected token), as role
    ``vault_kubernetes_role`` at auth mount ``vault_auth_mount`` (default ``kubernetes``); Vault
    checks the token with the API server's TokenReview.

Actions are short-lived processes: an AppRole or Kubernetes login per client is their renewal,
and nothing is cached on disk. Messages and logs name config keys, mounts and roles, never a
token or a secret.
"""

import contextlib
import logging
import re

from lib.action import ConfigError, config_value
from lib.stores.vault import VaultError

__all__ = ["METHODS", "DEFAULT_JWT_PATH", "log_in"]

LOG = logging.getLogger(__name__)

METHODS = ("token", "approle", "kubernetes")
#: Where Kubernetes mounts a pod's projected service account token.
DEFAULT_JWT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
#: A renewable vault_token is renewed when less than this (or half its TTL) is left.
RENEW_BELOW_SECONDS = 3600

TOKEN_REFUSED = (
    "Vault at %s refused the token of pack config vault_token: it expired or was revoked (or its "
    "policies do not allow auth/token/lookup-self, which the default policy grants). Store a "
    "valid token with `st2 key set vault_token ... --encrypt`, or set vault_auth_method to "
    "approle or kubernetes, which log in afresh on every run")


def log_in(client, config):
    """Authenticate ``client`` as pack config ``vault_auth_method`` says; returns it."""
    method = config_value(config, "vault_auth_method", default="token", kind=str)
    if method == "token":
        _use_token(client, config)
    elif method == "approle":
        _approle_login(client, config)
    elif method == "kubernetes":
        _kubernetes_login(client, config)
    else:
        raise ConfigError('pack config key "vault_auth_method" must be one of %s, got %r'
                          % (", ".join(METHODS), method))
    return client


def _required(config, key, method):
    value = config_value(config, key, kind=str)
    if value is None:
        raise ConfigError('pack config key "%s" is required with vault_auth_method %s: set it in '
                          "/opt/stackstorm/configs/aws.yaml (see aws.yaml.example)" % (key, method))
    return value


def _mount(config, method):
    return config_value(config, "vault_auth_mount", default=method, kind=str).strip("/") or method


def _use_token(client, config):
    import hvac.exceptions
    import requests

    client.token = _required(config, "vault_token", "token")
    try:
        data = client.auth.token.lookup_self()["data"]
    except requests.exceptions.RequestException:
        return  # unreachable: the first KV call says so, naming what it was doing
    except hvac.exceptions.Forbidden:
        raise VaultError(TOKEN_REFUSED % client.url) from None
    except hvac.exceptions.VaultError as exc:
        raise VaultError("Vault at %s failed while looking up the token of pack config "
                         "vault_token: %s" % (client.url, _reason(exc))) from None
    ttl, half = data.get("ttl") or 0, (data.get("creation_ttl") or 0) / 2
    if not ttl or ttl >= max(half, RENEW_BELOW_SECONDS):
        return  # never expires (a root token), or not yet due
    if not data.get("renewable"):
        if ttl < half:
            LOG.warning("the Vault token of pack config vault_token expires in %d s and is not "
                        "renewable; replace it, or set vault_auth_method to approle or kubernetes",
                        ttl)
        return
    try:
        ttl = client.auth.token.renew_self()["auth"]["lease_duration"]
    except (requests.exceptions.RequestException, hvac.exceptions.VaultError) as exc:
        LOG.warning("Vault at %s did not renew the token of pack config vault_token (%s); it "
                    "expires in %d s", client.url, _reason(exc), ttl)
        return
    LOG.info("renewed the Vault token of pack config vault_token: it expires in %d s", ttl)
    if ttl < half:
        LOG.warning("the Vault token of pack config vault_token reached its max TTL: it expires "
                    "in %d s; replace it, or set vault_auth_method to approle or kubernetes", ttl)


def _approle_login(client, config):
    role_id = _required(config, "vault_approle_role_id", "approle")
    secret_id = _required(config, "vault_approle_secret_id", "approle")
    mount = _mount(config, "approle")
    what = ("AppRole login (pack config vault_approle_role_id / vault_approle_secret_id, "
            "mount %s)" % mount)
    with _login_errors(client, what, (role_id, secret_id)):
        client.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=mount)


def _kubernetes_login(client, config):
    role = _required(config, "vault_kubernetes_role", "kubernetes")
    jwt = config_value(config, "vault_kubernetes_jwt", kind=str)
    if jwt is not None:
        source, jwt = "vault_kubernetes_jwt", jwt.strip()
        _check_jwt(jwt, 'pack config key "vault_kubernetes_jwt"')
    else:
        path = config_value(config, "vault_kubernetes_jwt_path", default=DEFAULT_JWT_PATH,
                            kind=str)
        source = "vault_kubernetes_jwt_path %s" % path
        jwt = _read_jwt(path).strip()
        _check_jwt(jwt, 'pack config key "vault_kubernetes_jwt_path": %s' % path)
    mount = _mount(config, "kubernetes")
    what = ("Kubernetes login (pack config vault_kubernetes_role %r, mount %s, token from %s)"
            % (role, mount, source))
    with _login_errors(client, what, (jwt,)):
        client.auth.kubernetes.login(role=role, jwt=jwt, mount_point=mount)


def _check_jwt(jwt, where):
    if jwt.count(".") != 2:
        raise ConfigError("%s: expected a Kubernetes service account token (a JWT: three "
                          "base64url parts joined by dots)" % where)


def _read_jwt(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise ConfigError('pack config key "vault_kubernetes_jwt_path": cannot read %s (%s); '
                          "expected the file of a service account token (in a pod: the projected "
                          "token), or set vault_kubernetes_jwt"
                          % (path, exc.strerror or type(exc).__name__)) from None


@contextlib.contextmanager
def _login_errors(client, what, secrets):
    import hvac.exceptions
    import requests

    try:
        yield
    except requests.exceptions.RequestException as exc:
        raise VaultError("Vault at %s (pack config vault_url) is unreachable during the %s: %s"
                         % (client.url, what, type(exc).__name__)) from None
    except (hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest,
            hvac.exceptions.Unauthorized) as exc:
        raise VaultError("Vault at %s refused the %s: %s"
                         % (client.url, what, _reason(exc, secrets))) from None
    except hvac.exceptions.VaultError as exc:
        raise VaultError("Vault at %s failed during the %s: %s"
                         % (client.url, what, _reason(exc, secrets))) from None


def _reason(exc, secrets=()):
    """Vault's error messages on one line, without the URL hvac appends, secrets redacted."""
    text = "; ".join(str(e) for e in (getattr(exc, "errors", None) or [str(exc)]))
    items = re.findall(r"^\s*\* (.+)$", text, re.M)  # "1 error occurred:\n\t* permission denied"
    text = "; ".join(items) if items else " ".join(text.split())
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    return text or type(exc).__name__
