"""aws.database_resync_plan: which Databases need a run now, and why (the resync's one look).

Reads only. Lists every Database (one paginated Kubernetes list); on a full cycle also lists the
RDS instances and the RDS-managed secrets' versions of each region in use (paginated
``describe_db_instances`` and ``list_secrets``: a handful of calls, not one per Database), and
reads each Ready Database's Vault metadata and Consul key (lib/database/observe.py);
lib/database/resync.py decides. The result lists the update and delete runs to start, each with the
trigger payload the workflows take and the cause; a quiet cycle lists none. Nothing secret is
read: Secrets Manager answers version ids, Vault metadata no data.
"""

from lib.action import BaseAction
from lib.database import resync
from lib.database.objects import GROUP, PLURAL, VERSION, DatabaseObjects
from lib.database.observe import Observer
from lib.database.rds_params import DEFAULT_INSTANCE_CLASSES
from lib.kube.api import MODIFIED, api_client_from_config, to_payload

__all__ = ["DatabaseResyncPlan"]

MAX_ERRORS = 20


class DatabaseResyncPlan(BaseAction):
    def run(self, full=True, credentials=None, region="", namespace="", group=GROUP,
            version=VERSION, plural=PLURAL):
        now = resync.utc_now()
        observer = Observer(self.config, credentials)
        objects = DatabaseObjects(api_client_from_config(self.config), group, version, plural)
        if namespace:
            objects.check_names(namespace, "x")
        databases = objects.list_all(namespace or None)
        default_region = region or self.config_value("region", default="us-east-1", kind=str)
        classes = self.config_value("instance_classes", default=DEFAULT_INSTANCE_CLASSES,
                                    kind=dict)
        observed = observer.observe(databases, default_region) if full else None
        work = resync.select(databases, now, observed, default_region, classes)
        resource = {"group": group, "version": version, "plural": plural}
        runs = {"update": [], "delete": []}
        for item in work:
            runs[item["workflow"]].append({
                "resource": to_payload(MODIFIED, item["object"], resource),
                "cause": item["cause"]})
            self.logger.info("%s/%s: %s run (%s)", item["namespace"], item["name"],
                             item["workflow"], item["cause"])
        summary = dict(observer.counts, databases=len(databases), full=bool(full),
                       updates=len(runs["update"]), deletes=len(runs["delete"]))
        self.logger.info("resync%s: %d Databases, %d updates, %d deletes, %d AWS calls",
                         " (full)" if full else "", len(databases), summary["updates"],
                         summary["deletes"], summary["aws_calls"])
        return {"updates": runs["update"], "deletes": runs["delete"], "summary": summary,
                "causes": ["%s/%s %s: %s" % (i["namespace"], i["name"], i["workflow"], i["cause"])
                           for i in work][:100],
                "errors": observer.errors[:MAX_ERRORS]}
