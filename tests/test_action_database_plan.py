"""aws.database_plan as st2 runs it: parameters via the metadata, result via output_schema."""

import pytest

from database_plan import DatabasePlan
from lib.action import ConfigError
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

    def test_a_non_object_vault_or_consul_is_a_result_naming_the_field(self):
        for section in ("vault", "consul"):
            spec = dict(payload()["spec"], **{section: "team-a/orders-db"})
            result = self.run_action({}, resource=payload(spec=spec))
            assert result["valid"] is False
            assert result["errors"] == ["spec.%s: expected an object with %s, got "
                                        "'team-a/orders-db'"
                                        % (section, "path" if section == "vault" else "key")]

    def test_the_pack_config_sets_the_namespace_layout(self):
        config = {"vault_path_prefix": "databases/{namespace}/",
                  "consul_key_prefix": "databases/{namespace}/"}
        result = self.run_action(config, resource=payload(spec={"engine": "postgres"}))
        assert (result["vault_path"], result["consul_key"]) == (
            "databases/team-a/orders-db", "databases/team-a/orders-db/config")
        refused = self.run_action(config, resource=payload())  # team-a/... is outside
        assert refused["valid"] is False
        assert refused["errors"][0].startswith("spec.vault.path: 'team-a/orders-db' is outside")

    def test_a_layout_that_lets_namespaces_overlap_fails_naming_the_config_key(self):
        with pytest.raises(ConfigError) as exc:
            self.run_action({"consul_key_prefix": "shared/"}, resource=payload())
        assert str(exc.value).startswith('pack config key "consul_key_prefix": expected')
