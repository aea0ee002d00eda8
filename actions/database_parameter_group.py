"""aws.database_parameter_group: the DB parameter group of spec.parameters
(lib.database.parameter_groups).

``ensure`` creates the group the plan named (tagged with the Database's uid, as the instance is)
when it is missing and applies only the parameters that differ; ``delete`` deletes the groups
named from the instance identifier that this uid owns, after the instance is gone. A group
another uid (or nobody) owns is never changed or deleted. The action never reboots: its
``reboot`` result tells the update workflow whether spec.applyChanges lets it reboot the instance
now for parameters that wait for one (see lib.database.parameter_groups.reboot_plan).
"""

from lib.action import BaseAction
from lib.database.spec import check_text
from lib.database.parameter_groups import ParameterGroups
from lib.database.rds_params import TAG_UID

__all__ = ["DatabaseParameterGroup"]


class DatabaseParameterGroup(BaseAction):
    def run(self, operation, db_instance_identifier, uid, group_name=None, family=None,
            engine=None, parameters=None, apply_changes=None, tags=None, new_instance=False,
            reboot_pending=False, reboot_allowed=False, maintenance_window=None,
            credentials=None, region=None, endpoint_url=None):
        # pylint: disable=import-outside-toplevel
        from lib.aws import call_operation, make_client

        check_text("db_instance_identifier", db_instance_identifier, "an RDS instance identifier")
        check_text("uid", uid, "the Database's metadata.uid")
        client = make_client(self.config, "rds", region=region or None,
                             credentials=credentials or None, endpoint_url=endpoint_url or None)

        def call(method, params):  # ParameterGroups follows the groups' Marker itself
            return call_operation(client, method, params,
                                  paginate=method == "describe_db_parameters")

        groups = ParameterGroups(call, TAG_UID)
        if operation == "delete":
            return groups.delete(db_instance_identifier, uid)
        check_text("group_name", group_name, "the plan's parameter_group")
        check_text("family", family, "the plan's parameter_family")
        if not group_name.startswith(db_instance_identifier + "-"):
            raise ValueError("group_name %s is not named from the instance identifier %s"
                             % (group_name, db_instance_identifier))
        reboot = {"new_instance": bool(new_instance), "pending": bool(reboot_pending),
                  "allowed": bool(reboot_allowed), "window": maintenance_window or ""}
        return groups.ensure(group_name, family, engine, dict(parameters or {}), uid,
                             list(tags or []), apply_changes, reboot)
