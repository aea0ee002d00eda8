"""aws.database_resync_plan: which Databases need a run now, and why (the resync's one look).

Reads only. Lists every Database (one paginated Kubernetes list); on a full cycle also lists the
RDS instances and the RDS-managed secrets' versions of each region in use (paginated
``describe_db_instances`` and ``list_secrets``: a handful of calls, not one per Database), and
reads each Ready Database's Vault metadata and Consul key. lib/resync.py decides. The result
lists the update and delete runs to start, each with the trigger payload the workflows take and
the cause; a quiet cycle lists none. Nothing secret is read: Secrets Manager answers version ids,
Vault metadata no data.
"""

import json

from lib.action import BaseAction
from lib.database_objects import GROUP, PLURAL, VERSION, DatabaseObjects
from lib.kube import MODIFIED, api_client_from_config, to_payload
from lib.rds_params import DEFAULT_INSTANCE_CLASSES
from lib import resync

__all__ = ["DatabaseResyncPlan"]

#: RDS names the master user secrets it manages rds!db-<id> (rds!cluster-<id> for clusters).
RDS_SECRET_PREFIX = "rds!"
MAX_ERRORS = 20


class DatabaseResyncPlan(BaseAction):
    def run(self, full=True, credentials=None, region="", namespace="", group=GROUP,
            version=VERSION, plural=PLURAL):
        now = resync.utc_now()
        self.errors, self.counts = [], {"aws_calls": 0, "vault_reads": 0, "consul_reads": 0}
        objects = DatabaseObjects(api_client_from_config(self.config), group, version, plural)
        if namespace:
            objects.check_names(namespace, "x")
        databases = objects.list_all(namespace or None)
        default_region = region or self.config_value("region", default="us-east-1", kind=str)
        classes = self.config_value("instance_classes", default=DEFAULT_INSTANCE_CLASSES,
                                    kind=dict)
        observed = self._observe(databases, credentials, default_region) if full else None
        work = resync.select(databases, now, observed, default_region, classes)
        resource = {"group": group, "version": version, "plural": plural}
        runs = {"update": [], "delete": []}
        for item in work:
            runs[item["workflow"]].append({
                "resource": to_payload(MODIFIED, item["object"], resource),
                "cause": item["cause"]})
            self.logger.info("%s/%s: %s run (%s)", item["namespace"], item["name"],
                             item["workflow"], item["cause"])
        summary = dict(self.counts, databases=len(databases), full=bool(full),
                       updates=len(runs["update"]), deletes=len(runs["delete"]))
        self.logger.info("resync%s: %d Databases, %d updates, %d deletes, %d AWS calls",
                         " (full)" if full else "", len(databases), summary["updates"],
                         summary["deletes"], summary["aws_calls"])
        return {"updates": runs["update"], "deletes": runs["delete"], "summary": summary,
                "causes": ["%s/%s %s: %s" % (i["namespace"], i["name"], i["workflow"], i["cause"])
                           for i in work][:100],
                "errors": self.errors[:MAX_ERRORS]}

    # -- what AWS, Vault and Consul say, for the Ready Databases ----------------------------
    def _observe(self, databases, credentials, default_region):
        ready = [o for o in databases if not o["metadata"].get("deletionTimestamp")
                 and (o.get("status") or {}).get("phase") == "Ready"]
        regions = sorted({(o.get("spec") or {}).get("region") or default_region for o in ready})
        observed = {"instances": {}, "secret_versions": {}, "secret_rotation": {}, "vault": {},
                    "consul": {}}
        for region in regions:
            self._observe_region(region, credentials, observed)
        self._observe_parameters(ready, default_region, credentials, observed)
        self._observe_vault(ready, observed["vault"])
        self._observe_consul(ready, observed["consul"])
        return observed

    def _client(self, service, region, credentials):
        from lib.aws import make_client  # pylint: disable=import-outside-toplevel

        client = make_client(self.config, service, region=region, credentials=credentials)

        def count(**_):
            self.counts["aws_calls"] += 1
        client.meta.events.register("before-send", count)
        return client

    def _observe_region(self, region, credentials, observed):
        from lib.aws import AwsCallError, AwsInputError, call_operation  # pylint: disable=C0415

        try:
            rds = self._client("rds", region, credentials)
            found = call_operation(rds, "describe_db_instances", {}, paginate=True)
        except (AwsCallError, AwsInputError) as exc:
            self.errors.append("region %s: %s (its Databases were not checked)" % (region, exc))
            return
        observed["instances"][region] = {i.get("DBInstanceIdentifier"): i
                                         for i in found.get("DBInstances") or []}
        try:
            secrets = self._client("secretsmanager", region, credentials)
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

    def _observe_parameters(self, ready, default_region, credentials, observed):
        """spec.parameters: the parameters set in each Ready Database's group (group name ->
        {name: value}; left out when it could not be read: nothing is known)."""
        from lib.aws import AwsCallError, AwsInputError, call_operation  # pylint: disable=C0415
        from lib.parameter_groups import spec_group  # pylint: disable=import-outside-toplevel

        observed["parameters"] = {}
        for obj in ready:
            spec = obj.get("spec") or {}
            region = spec.get("region") or default_region
            identifier = (obj.get("status") or {}).get("dbInstanceIdentifier")
            group = spec_group(identifier, spec)[0]
            if group is None or region not in observed["instances"]:
                continue
            try:
                rds = self._client("rds", region, credentials)
                found = call_operation(rds, "describe_db_parameters", {
                    "DBParameterGroupName": group, "Source": "user"}, paginate=True)
            except (AwsCallError, AwsInputError) as exc:
                self.errors.append("parameter group %s: %s (not checked)" % (group, exc))
                continue
            observed["parameters"][group] = {
                p["ParameterName"]: p.get("ParameterValue")
                for p in found.get("Parameters") or []
                if p.get("Source", "user") == "user" and p.get("ParameterValue") is not None}

    def _observe_vault(self, ready, found):
        from lib.vault import KV, VaultError  # pylint: disable=import-outside-toplevel

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

    def _observe_consul(self, ready, found):
        from lib.consul_kv import KV, ConsulError  # pylint: disable=import-outside-toplevel

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
