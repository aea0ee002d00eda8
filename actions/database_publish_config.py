"""aws.database_publish_config: write a database's connection config as JSON to Consul KV."""

import json

from lib.action import BaseAction
from lib.stores.consul_kv import KV, ConsulError, owner_of
from lib.database.spec import check_kv_path, check_text

__all__ = ["DatabasePublishConfig"]

REQUIRED_KEYS = ("host", "port", "engine", "dbname", "db_instance_identifier", "vault_path",
                 "region")
#: The client's TLS mode that refuses an unencrypted connection, in each engine's client's
#: spelling (libpq sslmode, MySQL/MariaDB --ssl-mode).
SSL_MODES = {"postgres": "require", "mysql": "REQUIRED", "mariadb": "REQUIRED"}
#: RDS's certificate bundle of a region (every CA RDS uses there).
CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem"


def tls_facts(config):
    """``config`` with the TLS facts a client needs: ssl_mode (from the engine) and
    ca_bundle_url (from the region); ca_certificate_identifier and iam_authentication come
    from the instance, as the workflow passes them."""
    facts = {"ssl_mode": SSL_MODES.get(config.get("engine"), "REQUIRED")}
    if isinstance(config.get("region"), str) and config["region"]:
        facts["ca_bundle_url"] = CA_BUNDLE_URL.format(region=config["region"])
    return dict(facts, **config)


# A key whose name contains one of these (case, "_" and "-" ignored), at any depth, is refused.
SECRET_WORDS = ("password", "passwd", "secret", "token", "credential")
ATTEMPTS = 3


def secret_keys(value, prefix=""):
    """Dotted paths of the keys in ``value`` (nested objects too) that name a secret."""
    found = []
    for key, item in sorted((value or {}).items(), key=lambda kv: str(kv[0])):
        path = prefix + str(key)
        squashed = str(key).lower().replace("_", "").replace("-", "")
        if any(word in squashed for word in SECRET_WORDS):
            found.append(path)
        elif isinstance(item, dict):
            found += secret_keys(item, path + ".")
    return found


class DatabasePublishConfig(BaseAction):
    def run(self, consul_key, uid, config):
        check_kv_path("consul_key", consul_key)
        check_text("uid", uid, "the Database's metadata.uid")
        if not isinstance(config, dict):
            raise ValueError("config: expected an object with %s" % ", ".join(REQUIRED_KEYS))
        missing = [k for k in REQUIRED_KEYS if k not in config]
        if missing:
            raise ValueError("config: missing %s; expected %s"
                             % (", ".join(missing), ", ".join(REQUIRED_KEYS)))
        secret = secret_keys(config)
        if secret:
            raise ValueError("config.%s: secrets do not belong in Consul; they are in Vault at "
                             "config.vault_path" % secret[0])
        value = json.dumps(dict(tls_facts(config), uid=uid), sort_keys=True)
        kv = KV(self.config)
        for _ in range(ATTEMPTS):
            current = kv.get(consul_key)
            if current is None:
                cas = 0
            else:
                owner = owner_of(current[0])
                if owner != uid:
                    raise ConsulError(
                        "Consul key %s belongs to %s, not Database uid %s; it was not overwritten "
                        "(choose another spec.consul.key)"
                        % (consul_key, "Database uid %s" % owner if owner
                           else "no Database (no uid in its JSON value)", uid))
                if current[0] == value:
                    return {"consul_key": consul_key, "modify_index": current[1]}
                cas = current[1]
            if kv.put(consul_key, value, cas):
                written = kv.get(consul_key)
                self.logger.info("published config of %s to Consul key %s",
                                 config["db_instance_identifier"], consul_key)
                return {"consul_key": consul_key, "modify_index": written[1]}
        raise ConsulError("Consul key %s kept changing during %d attempts; nothing was "
                          "overwritten, retry" % (consul_key, ATTEMPTS))
