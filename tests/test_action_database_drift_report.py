"""aws.database_drift_report on real Database objects and moto RDS instances."""

import boto3
import pytest

from database_drift_report import DatabaseDriftReport
from st2tests.base import BaseActionTestCase
from tests.fixtures.database.support import (aws_config, create_database, ensure_database_crd,
                                             get_database, kube_config, unique)
from tests.st2_params import action_params, load_action, validate_output

META = load_action("database_drift_report")


@pytest.mark.integration
class DriftReportTest(BaseActionTestCase):
    action_cls = DatabaseDriftReport

    @pytest.fixture(autouse=True)
    def _servers(self, stack, aws_endpoint, kube_api_client, kube_namespace):
        ensure_database_crd(kube_api_client)
        self.api, self.ns = kube_api_client, kube_namespace
        self.config = dict(kube_config(stack), **aws_config(stack))
        aws = stack["aws"]
        self.rds = boto3.client("rds", endpoint_url=aws_endpoint, region_name=aws["region"],
                                aws_access_key_id="testing", aws_secret_access_key="testing")
        self.created = []
        yield
        for identifier in self.created:
            self.rds.delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True)

    def instance_for(self, name, uid, **overrides):
        params = {"DBInstanceIdentifier": unique("st2drift"), "Engine": "postgres",
                  "EngineVersion": "15.4", "DBInstanceClass": "db.t3.small",
                  "AllocatedStorage": 20, "MasterUsername": "dbadmin",
                  "ManageMasterUserPassword": True,
                  "Tags": [{"Key": "st2-aws/uid", "Value": uid},
                           {"Key": "st2-aws/namespace", "Value": self.ns},
                           {"Key": "st2-aws/name", "Value": name}]}
        params.update(overrides)
        self.created.append(params["DBInstanceIdentifier"])
        return self.rds.create_db_instance(**params)["DBInstance"]

    def database(self, name, spec, identifier=None, phase="Ready"):
        create_database(self.api, self.ns, name, spec)
        if identifier or phase:
            from kubernetes import client
            status = {"phase": phase}
            if identifier:
                status["dbInstanceIdentifier"] = identifier
            client.CustomObjectsApi(self.api).patch_namespaced_custom_object_status(
                "dbaas.stackstorm.com", "v1alpha1", self.ns, "databases", name,
                {"status": status})
        return get_database(self.api, self.ns, name)

    def test_in_sync_drift_missing_and_orphans(self):
        spec = {"engine": "postgres", "engineVersion": "15", "instanceSize": "small",
                "storageGB": 20}
        synced = self.database("synced", spec)
        synced_i = self.instance_for("synced", synced["metadata"]["uid"])
        self.api_patch_identifier("synced", synced_i["DBInstanceIdentifier"])
        drifted = self.database("drifted", dict(spec, storageGB=100, instanceSize="medium"))
        drifted_i = self.instance_for("drifted", drifted["metadata"]["uid"])
        self.api_patch_identifier("drifted", drifted_i["DBInstanceIdentifier"])
        self.database("gone", spec, identifier="st2drift-never-created")
        self.database("pending", spec, phase="Pending")
        orphan = self.instance_for("deleted-long-ago", unique("dead-uid"))

        instances = self.rds.describe_db_instances()["DBInstances"]
        live = {"instances": [dict(i, InstanceCreateTime=str(i.get("InstanceCreateTime")))
                              for i in instances]}
        result = self.get_action_instance(self.config).run(
            **action_params(META, live, self.config))
        validate_output(META, result)
        mine = {k: [e for e in v if e.get("namespace") == self.ns] for k, v in result.items()}
        assert mine["in_sync"] == [{"namespace": self.ns, "name": "synced",
                                    "db_instance_identifier": synced_i["DBInstanceIdentifier"]}]
        assert mine["drift"] == [
            {"namespace": self.ns, "name": "drifted", "field": "instanceSize",
             "spec": "db.t3.medium", "actual": "db.t3.small"},
            {"namespace": self.ns, "name": "drifted", "field": "storageGB", "spec": 100,
             "actual": 20}]
        assert mine["missing"] == [{"namespace": self.ns, "name": "gone",
                                    "db_instance_identifier": "st2drift-never-created"}]
        assert mine["orphans"] == [{
            "db_instance_identifier": orphan["DBInstanceIdentifier"],
            "uid": orphan["TagList"][0]["Value"], "namespace": self.ns,
            "name": "deleted-long-ago"}]

    def api_patch_identifier(self, name, identifier):
        from kubernetes import client
        client.CustomObjectsApi(self.api).patch_namespaced_custom_object_status(
            "dbaas.stackstorm.com", "v1alpha1", self.ns, "databases", name,
            {"status": {"dbInstanceIdentifier": identifier}})
