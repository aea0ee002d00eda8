"""aws.database_plan: validate a Database trigger payload and translate it into RDS parameters."""

from lib.action import BaseAction
from lib.database.plan import plan
from lib.stores.kv_layout import Layout
from lib.database.rds_params import DEFAULT_INSTANCE_CLASSES

__all__ = ["DatabasePlan"]


class DatabasePlan(BaseAction):
    def run(self, resource, current_instance=None):
        config = {
            "region": self.config_value("region", default="us-east-1", kind=str),
            "instance_classes": self.config_value(
                "instance_classes", default=DEFAULT_INSTANCE_CLASSES, kind=dict),
            "db_subnet_group_name": self.config_value("db_subnet_group_name", kind=str),
            "vpc_security_group_ids": self.config_value("vpc_security_group_ids", default=[],
                                                        kind=list),
            "on_instance_missing": self.config_value("on_instance_missing", default="Report",
                                                     kind=str),
            # A wrong layout is the operator's to fix: the action fails naming the config key.
            "layout": Layout.from_config(self.config),
        }
        result = plan(resource, current_instance or None, config)
        if not result["valid"]:
            self.logger.info("Database %s/%s is invalid: %s", result["namespace"],
                             result["name"], result["message"])
        for warning in result["warnings"]:
            self.logger.warning("Database %s/%s: %s", result["namespace"], result["name"],
                                warning)
        return result
