"""aws.database_plan as st2 runs it: parameters via the metadata, result via output_schema."""

from database_plan import DatabasePlan
from st2tests.base import BaseActionTestCase
from tests.fixtures.database.support import payload
from tests.st2_params import action_params, load_action, validate_output

META = load_action("database_plan")
UID = "3f1c9a52-7d0e-4b8a-9f6e-2a4b5c6d7e8f"


class DatabasePlanTest(BaseActionTestCase):
    action_cls = DatabasePlan

    def run_action(self, config, **live):
        result = self.get_action_instance(config).run(**action_params(META, live, config))
        validate_output(META, result)
        return result

    def test_uses_pack_config_classes_subnets_and_region(self):
        config = {"region": "eu-central-1", "instance_classes": {"medium": "db.r6g.large"},
                  "db_subnet_group_name": "private", "vpc_security_group_ids": ["sg-1", "sg-2"]}
        result = self.run_action(config, resource=payload())
        assert result["valid"] is True and result["region"] == "eu-central-1"
        create = result["create_params"]
        assert (create["DBInstanceClass"], create["DBSubnetGroupName"],
                create["VpcSecurityGroupIds"]) == ("db.r6g.large", "private", ["sg-1", "sg-2"])

    def test_current_instance_in_another_uid_is_a_conflict(self):
        current = {"DBInstanceIdentifier": "team-a-orders-db-f07cf474", "Engine": "postgres",
                   "EngineVersion": "15.4", "DBInstanceClass": "db.t3.medium",
                   "AllocatedStorage": 50, "TagList": [{"Key": "st2-aws/uid", "Value": "x"}]}
        result = self.run_action({}, resource=payload(), current_instance=current)
        assert (result["adoption"], result["modify_params"]) == ("conflict", {})

    def test_invalid_spec_is_a_result_not_a_failure(self):
        result = self.run_action({}, resource=payload(spec={"engine": "postgres",
                                                            "instanceSize": "giant"}))
        assert result["valid"] is False
        assert result["errors"] == ["spec.instanceSize: expected one of small, medium, large, "
                                    "xlarge, huge, got 'giant'"]
