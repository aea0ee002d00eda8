"""aws.database_store_credentials: copy an RDS instance's master credentials into Vault.

The password is read from the Secrets Manager secret RDS manages (``MasterUserSecret``). An
instance without one (created outside the pack, then adopted) gets a new random password set
with ``modify_db_instance`` here, in this one action. The password is never returned or logged.
"""

import json
import secrets
import string

from lib.action import BaseAction
from lib.database_spec import check_kv_path, check_text
from lib.rds_params import TAG_UID, tag_map
from lib.vault import KV, VaultError

__all__ = ["DatabaseStoreCredentials", "generate_password"]

# RDS master passwords: printable ASCII except '/', '"', '@' and space; 41 characters is the
# MySQL/MariaDB maximum. Letters and digits only keep it safe in URLs and shells.
PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 40


class CredentialsError(RuntimeError):
    """The instance or its credentials are not in a state that can be copied to Vault."""


def generate_password(length=PASSWORD_LENGTH):
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


class DatabaseStoreCredentials(BaseAction):
    def __init__(self, config=None, action_service=None):
        super().__init__(config=config, action_service=action_service)
        self._clients, self._aws_args = {}, {}

    def run(self, db_instance_identifier, vault_path, uid, credentials=None, region=None,
            endpoint_url=None):
        check_text("db_instance_identifier", db_instance_identifier, "an RDS instance identifier")
        check_kv_path("vault_path", vault_path)
        check_text("uid", uid, "the Database's metadata.uid")
        vault = KV(self.config)
        where = vault.where(vault_path)
        # Ownership first: nothing is touched in AWS or Vault for a path someone else owns,
        # and an unreachable Vault fails here, before anything is written.
        meta = vault.metadata(vault_path)
        if meta is not None and meta[0] != uid:
            raise VaultError("Vault secret %s belongs to %s, not Database uid %s; it was not "
                             "overwritten (choose another spec.vault.path)"
                             % (where, "Database uid %s" % meta[0] if meta[0]
                                else "no Database (no st2-aws-uid custom_metadata)", uid))
        self._clients = {}
        self._aws_args = {"region": region, "credentials": credentials,
                          "endpoint_url": endpoint_url}
        instance = self._instance(db_instance_identifier, uid)
        endpoint = instance.get("Endpoint") or {}
        if not endpoint.get("Address"):
            raise CredentialsError("RDS instance %s has no endpoint yet (status %s); store the "
                                   "credentials once it is available"
                                   % (db_instance_identifier, instance.get("DBInstanceStatus")))
        if meta is None:
            # Claim the path before the password can change: a Vault that refuses writes (a
            # wrong mount, a read-only token) fails here, not after a new password is set.
            vault.claim(vault_path, uid)
        current = vault.read(vault_path) if meta is not None and meta[1] else None
        password = self._password(instance, current)
        data = {
            "username": instance.get("MasterUsername"),
            "password": password,
            "engine": instance.get("Engine"),
            "host": endpoint["Address"],
            "port": endpoint.get("Port"),
            "dbname": instance.get("DBName") or "",
        }
        result = {"vault_path": vault_path, "vault_mount": vault.mount}
        if current == data:
            self.logger.info("Vault secret %s is up to date (version %d)", where, meta[1])
            result["version"] = meta[1]
            return result
        result["version"] = vault.write(vault_path, data, cas=meta[1] if meta else 0)
        vault.claim(vault_path, uid)  # a concurrent claimer lost the check-and-set above
        self.logger.info("wrote credentials of RDS instance %s to Vault secret %s (version %d)",
                         db_instance_identifier, where, result["version"])
        return result

    def _aws(self, service, method, **params):
        """``<service>.<method>(**params)`` with the run's credentials; AWS errors raise
        AwsCallError naming the operation (lib.aws)."""
        from lib.aws import call_operation, make_client  # pylint: disable=import-outside-toplevel

        if service not in self._clients:
            self._clients[service] = make_client(self.config, service, **self._aws_args)
        return call_operation(self._clients[service], method, params)

    def _instance(self, identifier, uid):
        response = self._aws("rds", "describe_db_instances", DBInstanceIdentifier=identifier)
        instance = response["DBInstances"][0]
        owner = tag_map(instance).get(TAG_UID)
        if owner != uid:
            raise CredentialsError("RDS instance %s belongs to %s, not Database uid %s; its "
                                   "credentials were not copied"
                                   % (identifier, "Database uid %s" % owner if owner
                                      else "no Database (no %s tag)" % TAG_UID, uid))
        return instance

    def _password(self, instance, current):
        secret = instance.get("MasterUserSecret") or {}
        identifier = instance["DBInstanceIdentifier"]
        if secret.get("SecretArn"):
            response = self._aws("secretsmanager", "get_secret_value",
                                 SecretId=secret["SecretArn"])
            try:
                return json.loads(response["SecretString"])["password"]
            except (KeyError, TypeError, ValueError):
                raise CredentialsError("the master user secret of RDS instance %s (%s) holds no "
                                       "JSON password" % (identifier, secret["SecretArn"])
                                       ) from None
        if current and current.get("password") and current.get("host") == (
                instance.get("Endpoint") or {}).get("Address"):
            return current["password"]  # set by an earlier run of this action
        password = generate_password()
        self._aws("rds", "modify_db_instance", DBInstanceIdentifier=identifier,
                  MasterUserPassword=password, ApplyImmediately=True)
        self.logger.info("RDS instance %s has no managed master secret: set a new master "
                         "password", identifier)
        return password
