"""aws.database_cleanup: delete a database's Vault secret and Consul key if this uid owns them."""

from lib.action import BaseAction
from lib.stores.consul_kv import KV as ConsulKV, ConsulError, owner_of
from lib.database.spec import check_kv_path, check_text
from lib.stores.vault import KV as VaultKV

__all__ = ["DatabaseCleanup"]


def _kept(owner):
    return "kept: owned by %s" % (owner or "nobody (no owner recorded)")


class DatabaseCleanup(BaseAction):
    def run(self, vault_path, consul_key, uid):
        check_kv_path("vault_path", vault_path)
        check_kv_path("consul_key", consul_key)
        check_text("uid", uid, "the Database's metadata.uid")
        vault, consul = VaultKV(self.config), ConsulKV(self.config)
        # Read both first: an unreachable server fails the action before anything is deleted.
        meta = vault.metadata(vault_path)
        current = consul.get(consul_key)
        result = {}
        if meta is None:
            result["vault"] = "absent"
        elif meta.owner != uid:
            result["vault"] = _kept(meta.owner)
        else:
            vault.delete(vault_path)
            result["vault"] = "deleted"
        if current is None:
            result["consul"] = "absent"
        elif owner_of(current[0]) != uid:
            result["consul"] = _kept(owner_of(current[0]))
        elif consul.delete(consul_key, cas=current[1]):
            result["consul"] = "deleted"
        else:
            raise ConsulError("Consul key %s changed while it was being deleted; it was left as "
                              "it is (Vault: %s), retry" % (consul_key, result["vault"]))
        self.logger.info("cleanup for Database uid %s: Vault %s/%s %s, Consul %s %s", uid,
                         vault.mount, vault_path, result["vault"], consul_key, result["consul"])
        return result
