"""aws.boto3action, run from its metadata (tests/st2_params.py) against the real moto server."""

import json
import logging
import threading
import uuid

import boto3
import pytest
from st2tests.base import BaseActionTestCase

from boto3action import ACTION_TIMEOUT, Boto3Action, check_wait_bounds
from lib.aws import AwsCallError, AwsInputError, to_jsonable
from tests.library_names import aws_operations, aws_services, aws_waiters, closest, did_you_mean
from tests.st2_params import (ParamError, action_params, load_action, mask_output,
                              render_params, validate_output)

META = load_action("boto3action")
ACCOUNT = "123456789012"  # moto's account


def test_metadata_follows_the_packs_style():
    assert (META["name"], META["runner_type"], META["entry_point"]) == (
        "boto3action", "python-script", "boto3action.py")
    for name, spec in META["parameters"].items():
        assert spec.get("type") and spec.get("description"), name
        assert spec.get("required") is True or "default" in spec, name
    positions = {spec["position"]: name for name, spec in META["parameters"].items()
                 if "position" in spec}
    assert positions == {1: "service", 2: "action_name", 3: "params"}
    assert META["parameters"]["credentials"]["secret"] is True


def test_the_waiter_bound_is_the_timeout_default():
    assert META["parameters"]["timeout"]["default"] == ACTION_TIMEOUT


def test_params_are_cast_and_defaulted_as_st2_does():
    action, runner = render_params(META, {
        "service": "rds", "action_name": "describe_db_instances", "paginate": "true",
        "params": '{"MaxRecords": 20}', "waiter_delay": "5"})
    assert action == {
        "service": "rds", "action_name": "describe_db_instances",
        "params": {"MaxRecords": 20}, "region": "", "credentials": {}, "endpoint_url": "",
        "paginate": True, "waiter": "", "waiter_params": {}, "waiter_delay": 5,
        "waiter_max_attempts": 20}
    assert runner == {"debug": False, "content_version": None, "env": None, "timeout": 600,
                      "log_level": "DEBUG"}


@pytest.mark.parametrize("live, message", [
    ({"action_name": "x"}, "'service' is a required property"),
    ({"service": "rds", "action_name": "x", "paginate": 3}, "paginate: 3 is not of type 'boolean'"),
    ({"service": "rds", "action_name": "x", "waiter_delay": 0},
     "waiter_delay: 0 is less than the minimum of 1"),
    ({"service": "rds", "action_name": "x", "bogus": 1},
     "Additional properties are not allowed ('bogus' were unexpected)"),
])
def test_st2_refuses_bad_params(live, message):
    with pytest.raises(ParamError) as error:
        render_params(META, live)
    assert str(error.value) == message


def test_st2_params_renders_config_context_defaults_and_masks_arrays():
    meta = {"runner_type": "python-script",
            "parameters": {"region": {"type": "string", "default": "{{ config_context.region }}"},
                           "count": {"type": "integer", "required": True}},
            "output_schema": {"type": "object", "properties": {"keys": {
                "type": "array", "items": {"type": "object", "properties": {
                    "secret": {"type": "string", "secret": True}}}}}}}
    assert action_params(meta, {"count": "3"}, config={"region": "eu-west-1"}) == {
        "region": "eu-west-1", "count": 3}
    with pytest.raises(ParamError) as error:
        action_params(meta, {"count": None})
    assert str(error.value) == "count: None is not of type 'integer'"
    assert mask_output(meta, {"keys": [{"secret": "s", "id": 1}]}) == {
        "keys": [{"secret": "********", "id": 1}]}


def test_a_waiter_that_could_outlive_the_action_is_refused():
    check_wait_bounds(15, 40)
    with pytest.raises(AwsInputError) as error:
        check_wait_bounds(30, 21)
    assert str(error.value) == (
        "waiter_delay x waiter_max_attempts = 30 x 21 = 630 s is longer than the action's timeout "
        "of 600 s (StackStorm would kill it mid-wait); lower them, or wait in the workflow with "
        "a retry")
    with pytest.raises(AwsInputError) as error:
        check_wait_bounds(True, 3)
    assert str(error.value) == "waiter_delay must be an integer >= 1, got True"


def _unique(prefix="st2t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


@pytest.mark.integration
class Boto3ActionTest(BaseActionTestCase):
    action_cls = Boto3Action

    @pytest.fixture(autouse=True)
    def _moto(self, aws_endpoint, stack, caplog):
        section = stack["aws"]
        self.config = {"region": section["region"], "endpoint_url": aws_endpoint,
                       "aws_access_key_id": section["access_key_id"],
                       "aws_secret_access_key": section["secret_access_key"]}
        self.rds = boto3.client(
            "rds", region_name=section["region"], endpoint_url=aws_endpoint,
            aws_access_key_id=section["access_key_id"],
            aws_secret_access_key=section["secret_access_key"])
        self.caplog = caplog
        caplog.set_level(logging.DEBUG)
        # Any kubernetes.client.Configuration() (a kube test or fixture earlier in the session)
        # sets the urllib3 logger to WARNING for the whole process: without this, the waiter's
        # polls and any secret in urllib3's lines would go unseen, whatever the test order.
        caplog.set_level(logging.DEBUG, logger="urllib3")

    def run_action(self, **live):
        params = action_params(META, live)
        result = self.get_action_instance(self.config).run(**params)
        validate_output(META, result)
        json.dumps(result)  # plain JSON, as st2 stores it
        return result

    def test_secret_string_and_sts_credentials_are_masked(self):
        # Response members known to carry secrets are masked by StackStorm in the result.
        name = "st2-test-" + _unique()
        secret = "pw-" + uuid.uuid4().hex
        self.run_action(service="secretsmanager", action_name="create_secret",
                        params={"Name": name, "SecretString": secret})
        got = self.run_action(service="secretsmanager", action_name="get_secret_value",
                              params={"SecretId": name})
        assert got["SecretString"] == secret  # the action returns it; st2 stores it masked
        shown = mask_output(META, got)
        assert shown["SecretString"] == "********"
        assert shown["Name"] == name
        assert secret not in json.dumps(shown)

        token = self.run_action(service="sts", action_name="get_session_token")
        assert set(token["Credentials"]) >= {"AccessKeyId", "SecretAccessKey", "SessionToken"}
        assert mask_output(META, token)["Credentials"] == "********"
        self.run_action(service="secretsmanager", action_name="delete_secret",
                        params={"SecretId": name, "ForceDeleteWithoutRecovery": True})

    def create_params(self, name):
        return {"DBInstanceIdentifier": name, "DBInstanceClass": "db.t3.small",
                "Engine": "postgres", "MasterUsername": "app",
                "MasterUserPassword": "pw-" + uuid.uuid4().hex, "AllocatedStorage": 20}

    def delete_quietly(self, name):
        try:
            self.rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)
        except self.rds.exceptions.DBInstanceNotFoundFault:
            pass

    def test_create_describe_wait_delete_an_rds_instance(self):
        names = [_unique() for _ in range(3)]
        for name in names:
            self.addCleanup(self.delete_quietly, name)
        create = self.create_params(names[0])
        created = self.run_action(service="rds", action_name="create_db_instance",
                                  params=create, waiter="db_instance_available",
                                  waiter_delay=1, waiter_max_attempts=5)
        instance = created["DBInstance"]
        assert "ResponseMetadata" not in created
        assert {k: instance[k] for k in ("DBInstanceIdentifier", "DBInstanceClass", "Engine",
                                         "MasterUsername", "AllocatedStorage")} == {
            "DBInstanceIdentifier": names[0], "DBInstanceClass": "db.t3.small",
            "Engine": "postgres", "MasterUsername": "app", "AllocatedStorage": 20}
        assert isinstance(instance["InstanceCreateTime"], str)  # ISO 8601, not a datetime
        assert create["MasterUserPassword"] not in json.dumps(created)
        assert create["MasterUserPassword"] not in self.caplog.text

        for name in names[1:]:
            self.run_action(service="rds", action_name="CreateDBInstance",
                            params=self.create_params(name))
        # One instance per page: the paginator's three pages come back merged.
        described = self.run_action(
            service="rds", action_name="DescribeDBInstances", paginate=True,
            params={"Filters": [{"Name": "db-instance-id", "Values": names}],
                    "PaginationConfig": {"PageSize": 1}})
        assert list(described) == ["DBInstances"]
        assert sorted(i["DBInstanceIdentifier"] for i in described["DBInstances"]) == sorted(names)
        one_page = self.run_action(
            service="rds", action_name="describe_db_instances",
            params={"Filters": [{"Name": "db-instance-id", "Values": names}], "MaxRecords": 1})
        assert len(one_page["DBInstances"]) == 1 and "Marker" in one_page

        for name in names:
            deleted = self.run_action(
                service="rds", action_name="delete_db_instance",
                params={"DBInstanceIdentifier": name, "SkipFinalSnapshot": True},
                waiter="db_instance_deleted", waiter_delay=1, waiter_max_attempts=5)
            assert deleted["DBInstance"]["DBInstanceIdentifier"] == name
        with pytest.raises(AwsCallError) as error:
            self.run_action(service="rds", action_name="describe_db_instances",
                            params={"DBInstanceIdentifier": names[0]})
        assert str(error.value) == ("rds.describe_db_instances failed: DBInstanceNotFound: "
                                    "DBInstance %s not found. (HTTP 404)" % names[0])

    def test_the_waiter_polls_until_the_instance_is_available(self):
        name = _unique()
        self.addCleanup(self.delete_quietly, name)
        self.rds.create_db_instance(**self.create_params(name))
        self.rds.stop_db_instance(DBInstanceIdentifier=name)
        # The first answers say "stopped"; the instance is started while the waiter polls.
        timer = threading.Timer(1.5, self.rds.start_db_instance,
                                kwargs={"DBInstanceIdentifier": name})
        timer.start()
        self.addCleanup(timer.cancel)
        result = self.run_action(service="rds", action_name="describe_db_instances",
                                 params={"DBInstanceIdentifier": name},
                                 waiter="db_instance_available", waiter_delay=1,
                                 waiter_max_attempts=10)
        # The result is the call's response, made before the wait.
        assert result["DBInstances"][0]["DBInstanceStatus"] == "stopped"
        status = self.rds.describe_db_instances(DBInstanceIdentifier=name)
        assert status["DBInstances"][0]["DBInstanceStatus"] == "available"
        polls = [r.getMessage() for r in self.caplog.records
                 if "POST / HTTP" in r.getMessage()]
        assert len(polls) >= 3  # the call, then at least two waiter polls

    def test_a_waiter_that_gives_up_fails_the_action(self):
        name = _unique()
        self.addCleanup(self.delete_quietly, name)
        self.rds.create_db_instance(**self.create_params(name))
        with pytest.raises(AwsCallError) as error:
            self.run_action(service="rds", action_name="describe_db_instances",
                            params={"DBInstanceIdentifier": name}, waiter="db_instance_deleted",
                            waiter_delay=1, waiter_max_attempts=2)
        assert str(error.value) == ("rds waiter db_instance_deleted failed (at most 2 attempts, "
                                    "1 s apart): Max attempts exceeded")

    def test_assumed_role_credentials_are_used_and_never_shown(self):
        role = _unique("st2t-role")
        iam = boto3.client("iam", region_name=self.config["region"],
                           endpoint_url=self.config["endpoint_url"],
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ACCOUNT}}]}
        arn = iam.create_role(RoleName=role,
                              AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        self.addCleanup(iam.delete_role, RoleName=role)
        sts = boto3.client("sts", region_name=self.config["region"],
                           endpoint_url=self.config["endpoint_url"],
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        # As a workflow passes them: JSON (the expiration an ISO 8601 string).
        creds = to_jsonable(sts.assume_role(RoleArn=arn, RoleSessionName="bench")["Credentials"])
        self.caplog.clear()

        result = self.run_action(service="sts", action_name="get_caller_identity",
                                 credentials=creds)
        assert result == {"UserId": result["UserId"], "Account": ACCOUNT,
                          "Arn": "arn:aws:sts::%s:assumed-role/%s/bench" % (ACCOUNT, role)}
        shown = json.dumps(mask_output(META, result)) + self.caplog.text
        for secret in (creds["SecretAccessKey"], creds["SessionToken"], creds["AccessKeyId"]):
            assert secret not in shown
        assert "identity from the credentials parameter" in self.caplog.text

    def test_unknown_service_names_close_ones(self):
        with pytest.raises(AwsInputError) as error:
            self.run_action(service="stss", action_name="get_caller_identity")
        count = len(boto3.session.Session().get_available_services())
        # botocore's service list grows with each release: the expected names come from it.
        close = closest("stss", aws_services(), n=5)
        assert close[0] == "sts"
        assert str(error.value) == (
            'unknown AWS service "stss"%s (boto3 knows %d services; see '
            "boto3.session.Session().get_available_services())" % (did_you_mean(close), count))

    def test_unknown_operation_names_close_ones(self):
        with pytest.raises(AwsInputError) as error:
            self.run_action(service="rds", action_name="describe_db_instance")
        # The closest operations depend on the installed RDS model: the right one first, then
        # only operations the model has, at most five, in difflib's order.
        operations = aws_operations("rds")
        close = closest("describe_db_instance", operations, n=5)
        assert close[0] == "describe_db_instances" and set(close) <= set(operations)
        assert str(error.value) == (
            'rds has no operation "describe_db_instance"%s' % did_you_mean(close))

    def test_bad_param_type_names_the_field(self):
        with pytest.raises(AwsInputError) as error:
            self.run_action(service="rds", action_name="describe_db_instances",
                            params={"MaxRecords": "twenty"})
        assert str(error.value) == (
            "rds.describe_db_instances: invalid params: Invalid type for parameter MaxRecords, "
            "value: <redacted>, type: <class 'str'>, valid types: <class 'int'>")

    def test_an_unknown_waiter_is_refused_before_the_call(self):
        name = _unique()
        with pytest.raises(AwsInputError) as error:
            self.run_action(service="rds", action_name="create_db_instance",
                            params=self.create_params(name), waiter="db_instance_ready")
        close = closest("db_instance_ready", aws_waiters("rds"), n=5)  # botocore's data
        assert "db_instance_available" in close
        assert str(error.value) == 'rds has no waiter "db_instance_ready"%s' % did_you_mean(close)
        with pytest.raises(self.rds.exceptions.DBInstanceNotFoundFault):
            self.rds.describe_db_instances(DBInstanceIdentifier=name)

    def test_paginate_an_operation_that_cannot(self):
        with pytest.raises(AwsInputError) as error:
            self.run_action(service="sts", action_name="get_caller_identity", paginate=True)
        assert str(error.value) == ("sts.get_caller_identity cannot paginate: boto3 has no "
                                    "paginator for it; call it with paginate=false")
