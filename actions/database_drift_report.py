"""aws.database_drift_report: compare Database resources with the RDS instances of a region."""

from lib.action import BaseAction
from lib.database.objects import GROUP, PLURAL, VERSION, DatabaseObjects
from lib.database.rds_params import (DEFAULT_INSTANCE_CLASSES, TAG_NAME, TAG_NAMESPACE, TAG_UID,
                                     adoption, db_instance_identifier, spec_differences, tag_map)
from lib.kube.api import api_client_from_config

__all__ = ["DatabaseDriftReport", "drift_report"]


def drift_report(resources, instances, instance_classes=None, region=None, default_region=None):
    """The action's result for Database objects (dicts from the API) and DBInstances[] items.

    Resources being deleted, and resources whose region (spec.region, else ``default_region``)
    is not ``region``, are left out; their instances are not orphans.
    """
    by_identifier = {i.get("DBInstanceIdentifier"): i for i in instances}
    known_uids = set()
    report = {"in_sync": [], "drift": [], "missing": [], "orphans": []}
    for obj in sorted(resources, key=lambda o: (o["metadata"]["namespace"],
                                                o["metadata"]["name"])):
        metadata, spec = obj["metadata"], obj.get("spec") or {}
        known_uids.add(metadata.get("uid"))
        status = obj.get("status") or {}
        if metadata.get("deletionTimestamp"):
            continue
        if region and (spec.get("region") or default_region or region) != region:
            continue
        namespace, name = metadata["namespace"], metadata["name"]
        identifier = (status.get("dbInstanceIdentifier")
                      or db_instance_identifier(namespace, name))
        entry = {"namespace": namespace, "name": name, "db_instance_identifier": identifier}
        instance = by_identifier.get(identifier)
        if instance is None:
            if status.get("phase") == "Ready":
                report["missing"].append(entry)
            continue
        if adoption(instance, metadata.get("uid")) != "adopt":
            report["drift"].append({"namespace": namespace, "name": name,
                                    "field": "tags.%s" % TAG_UID, "spec": metadata.get("uid"),
                                    "actual": tag_map(instance).get(TAG_UID)})
            continue
        differences = spec_differences(spec, instance, instance_classes)
        for field, wanted, actual, _ in differences:
            report["drift"].append({"namespace": namespace, "name": name, "field": field,
                                    "spec": wanted, "actual": actual})
        if not differences:
            report["in_sync"].append(entry)
    for instance in sorted(instances, key=lambda i: i.get("DBInstanceIdentifier") or ""):
        tags = tag_map(instance)
        if tags.get(TAG_UID) and tags[TAG_UID] not in known_uids:
            report["orphans"].append({
                "db_instance_identifier": instance.get("DBInstanceIdentifier"),
                "uid": tags[TAG_UID], "namespace": tags.get(TAG_NAMESPACE),
                "name": tags.get(TAG_NAME)})
    return report


class DatabaseDriftReport(BaseAction):
    def run(self, instances, region=None, group=GROUP, version=VERSION, plural=PLURAL):
        if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
            raise ValueError("instances: expected the DBInstances list of rds "
                             "describe_db_instances (objects with DBInstanceIdentifier, TagList)")
        objects = DatabaseObjects(api_client_from_config(self.config), group, version, plural)
        classes = self.config_value("instance_classes", default=DEFAULT_INSTANCE_CLASSES,
                                    kind=dict)
        default_region = self.config_value("region", default="us-east-1", kind=str)
        report = drift_report(objects.list_all(), instances, classes, region or default_region,
                              default_region)
        self.logger.info("drift report: %d in sync, %d drift, %d missing, %d orphans",
                         len(report["in_sync"]), len(report["drift"]), len(report["missing"]),
                         len(report["orphans"]))
        return report
