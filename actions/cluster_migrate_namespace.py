"""aws.cluster_migrate_namespace: make one namespace's infrastructure objects in the target
cluster equal to the source cluster's (A/B upgrades); one item of aws.cluster_migrate.

All of lib/kube/migrate.py's rules apply: generated fields and objects are not copied, every
write is tried by the target first (server-side dry run), objects changed by hand in the target
are reported as conflicts and kept, nothing is deleted unless ``prune``. The result is the
namespace's report, with a one-line ``summary``; the execution fails when the namespace could
not be (fully) migrated, with the report saying what was done and why it stopped, so that a
re-run completes it; and, as aws.consul_sync does, when conflicts were kept (the target still
differs from the source), unless it was a dry run or ``accept_conflicts``.
"""

import re

from lib.action import BaseAction, ConfigError
from lib.kube.clusters import kube_cluster_config
from lib.kube.api import api_client_from_config
from lib.kube.migrate import NamespaceMigration, Rest, kinds_for

__all__ = ["ClusterMigrateNamespace"]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _failed(namespace, source_cluster, target_cluster, dry_run, error):
    return {"namespace": namespace, "source_cluster": source_cluster,
            "target_cluster": target_cluster, "dry_run": bool(dry_run), "status": "failed",
            "error": error, "counts": {}, "kinds": {},
            "summary": "%s: not started: %s" % (namespace, error)}


class ClusterMigrateNamespace(BaseAction):
    def run(self, namespace, target_cluster, source_cluster="", kinds=None,
            include_workloads=False, dry_run=False, prune=False, overwrite_conflicts=False,
            accept_conflicts=False, request_timeout=30):
        source_cluster = source_cluster or ""
        target_cluster = target_cluster or ""

        def failed(error):
            return False, _failed(namespace, source_cluster, target_cluster, dry_run, error)

        if not isinstance(namespace, str) or not _DNS_LABEL.match(namespace):
            return failed("namespace must be a namespace name (lower-case letters, digits and "
                          "-, at most 63), got %r" % (namespace,))
        if source_cluster == target_cluster:
            return failed('source_cluster and target_cluster are both "%s": name two clusters '
                          "of the pack config (kube_clusters; empty is the default one)"
                          % source_cluster)
        try:
            selected = kinds_for(kinds or None, include_workloads)
        except ValueError as exc:
            return failed(str(exc))
        clients = []
        try:
            for name in (source_cluster, target_cluster):  # both names first, then clients
                kube_cluster_config(self.config, name)
            for name in (source_cluster, target_cluster):
                clients.append(api_client_from_config(self.config, cluster=name))
            source_client, target_client = clients
            hosts = [c.configuration.host for c in clients]
            if hosts[0] == hosts[1]:
                return failed("source_cluster and target_cluster reach the same API server "
                              "(%s)" % hosts[0])
            label = 'cluster "%s" (%s)'
            migration = NamespaceMigration(
                Rest(source_client, label % (source_cluster or "default", hosts[0]),
                     timeout=request_timeout),
                Rest(target_client, label % (target_cluster or "default", hosts[1]),
                     timeout=request_timeout),
                namespace, selected, dry_run=dry_run, prune=prune,
                overwrite_conflicts=overwrite_conflicts,
                accept_conflicts=bool(accept_conflicts), logger=self.logger)
            report = migration.run()
        except ConfigError as exc:
            return failed(str(exc))
        finally:
            for api_client in clients:
                api_client.close()
        report = dict(report, source_cluster=source_cluster, target_cluster=target_cluster)
        self.logger.info("%s from %s to %s: %s", "planned" if dry_run else "migrated",
                         source_cluster or "default", target_cluster or "default",
                         report["summary"])
        for kind, outcomes in report["kinds"].items():
            for conflict in outcomes.get("conflict", ()):
                self.logger.warning("migration conflict on %s %s/%s: %s (fields: %s)", kind,
                                    namespace, conflict["name"], conflict["reason"],
                                    ", ".join(conflict["fields"]) or "-")
        # conflicts fail the execution (status "conflict") so that they show, as in
        # aws.consul_sync, unless a dry run or accept_conflicts
        return report["status"] == "succeeded", report
