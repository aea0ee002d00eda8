"""The resync's look at AWS, Vault and Consul for the Ready Databases (what
aws.database_resync_plan hands lib.database.resync.select as ``observed``).

Per region in use: one paginated ``describe_db_instances`` and one ``list_secrets`` of the
RDS-managed secrets (version ids and rotation schedules, no value); per Ready Database with
spec.parameters, its group's ``describe_db_parameters``; per Ready Database its Vault metadata
(no data) and its Consul key. A source that cannot be read is named in ``errors`` and left out
of ``observed`` (nothing is known of it, so nothing is started for it); ``counts`` has the calls
made.
"""

import json

__all__ = ["RDS_SECRET_PREFIX", "Observer"]

#: RDS names the master user secrets it manages rds!db-<id> (rds!cluster-<id> for clusters).
RDS_SECRET_PREFIX = "rds!"


class Observer:
    def __init__(self, config, credentials=None):
        self.config = config
        self.credentials = credentials
        self.errors = []
        self.counts = {"aws_calls": 0, "vault_reads": 0, "consul_reads": 0}
        self.clients = {}

    def observe(self, databases, default_region):
        """What AWS, Vault and Consul say of the Ready Databases among ``databases``: the
        ``observed`` argument of lib.database.resync.select."""
        ready = [o for o in databases if not o["metadata"].get("deletionTimestamp")
                 and (o.get("status") or {}).get("phase") == "Ready"]
        regions = sorted({(o.get("spec") or {}).get("region") or default_region for o in ready})
        observed = {"instances": {}, "secret_versions": {}, "secret_rotation": {}, "vault": {},
                    "consul": {}}
        for region in regions:
            self._region(region, observed)
        self._parameters(ready, default_region, observed)
        self._vault(ready, observed["vault"])
        self._consul(ready, observed["consul"])
        return observed

    def _client(self, service, region):
        """One client per service and region for the whole look (each Database's parameter
        group is read with its region's client)."""
        from lib.aws import make_client  # pylint: disable=import-outside-toplevel

        if (service, region) not in self.clients:
            client = make_client(self.config, service, region=region,
                                 credentials=self.credentials)

            def count(**_):
                self.counts["aws_calls"] += 1
            client.meta.events.register("before-send", count)
            self.clients[(service, region)] = client
        return self.clients[(service, region)]

    def _region(self, region, observed):
        from lib.aws import AwsCallError, AwsInputError, call_operation  # pylint: disable=C0415

        try:
            rds = self._client("rds", region)
            found = call_operation(rds, "describe_db_instances", {}, paginate=True)
        except (AwsCallError, AwsInputError) as exc:
            self.errors.append("region %s: %s (its Databases were not checked)" % (region, exc))
            return
        observed["instances"][region] = {i.get("DBInstanceIdentifier"): i
                                         for i in found.get("DBInstances") or []}
        try:
            secrets = self._client("secretsmanager", region)
            listed = call_operation(secrets, "list_secrets", {
                "Filters": [{"Key": "name", "Values": [RDS_SECRET_PREFIX]}]}, paginate=True)
        except (AwsCallError, AwsInputError) as exc:
            self.errors.append("region %s: %s (rotations not checked)" % (region, exc))
            return
        for secret in listed.get("SecretList") or []:
            # the rotation schedule (spec.passwordRotationDays), None when the list has none
            rules = secret.get("RotationRules")
            rules = rules if isinstance(rules, dict) else {}
            observed["secret_rotation"][secret.get("ARN")] = rules.get("AutomaticallyAfterDays")
            for version_id, stages in (secret.get("SecretVersionsToStages") or {}).items():
                if "AWSCURRENT" in (stages or []):
                    observed["secret_versions"][secret.get("ARN")] = version_id

    def _parameters(self, ready, default_region, observed):
        """spec.parameters: the parameters set in each Ready Database's group (group name ->
        {name: value}; left out when it could not be read: nothing is known)."""
        from lib.aws import AwsCallError, AwsInputError, call_operation  # pylint: disable=C0415
        from lib.database.parameter_groups import spec_group  # pylint: disable=C0415

        observed["parameters"] = {}
        for obj in ready:
            spec = obj.get("spec") or {}
            region = spec.get("region") or default_region
            identifier = (obj.get("status") or {}).get("dbInstanceIdentifier")
            group = spec_group(identifier, spec)[0]
            if group is None or region not in observed["instances"]:
                continue
            try:
                rds = self._client("rds", region)
                found = call_operation(rds, "describe_db_parameters", {
                    "DBParameterGroupName": group, "Source": "user"}, paginate=True)
            except (AwsCallError, AwsInputError) as exc:
                self.errors.append("parameter group %s: %s (not checked)" % (group, exc))
                continue
            observed["parameters"][group] = {
                p["ParameterName"]: p.get("ParameterValue")
                for p in found.get("Parameters") or []
                if p.get("Source", "user") == "user" and p.get("ParameterValue") is not None}

    def _vault(self, ready, found):
        from lib.stores.vault import KV, VaultError  # pylint: disable=import-outside-toplevel

        paths = [(o, (o.get("status") or {}).get("vaultPath")) for o in ready]
        paths = [(o, p) for o, p in paths if p]
        if not paths:
            return
        try:
            vault = KV(self.config)
            for obj, path in paths:
                self.counts["vault_reads"] += 1
                state = vault.metadata(path)
                found[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = {
                    "exists": bool(state and state.version and not state.deleted),
                    "source_version": getattr(state, "source_version", None)}
        except VaultError as exc:
            self.errors.append("Vault: %s (credentials not checked)" % exc)

    def _consul(self, ready, found):
        from lib.stores.consul_kv import KV, ConsulError  # pylint: disable=import-outside-toplevel

        keys = [(o, (o.get("status") or {}).get("consulKey")) for o in ready]
        keys = [(o, k) for o, k in keys if k]
        if not keys:
            return
        try:
            consul = KV(self.config)
            for obj, key in keys:
                self.counts["consul_reads"] += 1
                item = consul.get(key)
                try:
                    value = json.loads(item[0]) if item else None
                except ValueError:
                    value = {}  # not JSON: stale, written again by the run
                found[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = value
        except ConsulError as exc:
            self.errors.append("Consul: %s (configs not checked)" % exc)
