"""Secrets and config stores.

- vault: Vault (or OpenBao) KV version 2 from the pack config.
- vault_auth: Vault login by token, AppRole or Kubernetes auth.
- consul_kv: Consul KV from the pack config.
- kv_layout: which Vault paths and Consul keys a namespace's Databases may claim.
- kv_sync: keeping a Consul KV prefix on a target agent equal to a source agent's.
"""
