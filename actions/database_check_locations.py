"""aws.database_check_locations: who owns a Database's Vault secret and Consul key (reads only).

The create and update workflows run it right after the plan: a location another Database (of
the same namespace: other namespaces cannot name it, lib/stores/kv_layout.py) already holds is a
Failed status naming the spec field, before the finalizer, AWS, Vault or Consul are touched.
database_store_credentials and database_publish_config still check ownership when they write.
"""

from lib.action import BaseAction
from lib.stores.consul_kv import KV as ConsulKV, owner_of
from lib.database.spec import check_kv_path, check_text
from lib.stores.vault import KV as VaultKV

__all__ = ["DatabaseCheckLocations"]


def _owner(owner):
    return ("Database uid %s" % owner if owner
            else "no Database (it was not written by this pack)")


class DatabaseCheckLocations(BaseAction):
    def run(self, vault_path, consul_key, uid):
        check_kv_path("vault_path", vault_path)
        check_kv_path("consul_key", consul_key)
        check_text("uid", uid, "the Database's metadata.uid")
        vault, consul = VaultKV(self.config), ConsulKV(self.config)
        result = {"vault": "absent", "consul": "absent", "problems": []}
        meta = vault.metadata(vault_path)
        if meta is not None:
            result["vault"] = "owned" if meta.owner == uid else "taken"
            if meta.owner != uid:
                result["problems"].append(
                    "spec.vault.path: Vault secret %s belongs to %s; choose another path"
                    % (vault.where(vault_path), _owner(meta.owner)))
        current = consul.get(consul_key)
        if current is not None:
            owner = owner_of(current[0])
            result["consul"] = "owned" if owner == uid else "taken"
            if owner != uid:
                result["problems"].append(
                    "spec.consul.key: Consul key %s belongs to %s; choose another key"
                    % (consul_key, _owner(owner)))
        if result["problems"]:
            self.logger.info("Database uid %s: %s", uid, "; ".join(result["problems"]))
        return result
