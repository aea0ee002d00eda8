"""aws.assume_role, run from its metadata (tests/st2_params.py) against the real moto server;
its credentials then drive aws.boto3action."""

import datetime
import json
import logging
import os
import uuid

import boto3
import jsonschema
import pytest
from st2tests.base import BaseActionTestCase

from assume_role import AssumeRoleAction, session_name_for
from boto3action import Boto3Action
from lib.aws import AwsInputError
from tests.st2_params import (MASKED, ParamError, action_params, load_action, mask_output,
                              render_params, validate_output)

META = load_action("assume_role")
BOTO3ACTION = load_action("boto3action")
ACCOUNT = "123456789012"  # moto's account


def test_metadata_follows_the_packs_style():
    assert (META["name"], META["runner_type"], META["entry_point"]) == (
        "assume_role", "python-script", "assume_role.py")
    for name, spec in META["parameters"].items():
        assert spec.get("type") and spec.get("description"), name
        assert spec.get("required") is True or "default" in spec, name
    assert META["output_schema"]["properties"]["credentials"]["secret"] is True


def test_defaults_as_st2_passes_them():
    action, runner = render_params(META, {})
    assert action == {"role_arn": "", "session_name": "", "external_id": "",
                      "duration_seconds": 0, "policy": {}, "region": "", "endpoint_url": ""}
    assert runner["timeout"] == 600
    with pytest.raises(ParamError) as error:
        render_params(META, {"duration_seconds": 50000})
    assert str(error.value) == "duration_seconds: 50000 is greater than the maximum of 43200"


def test_output_schema_masks_the_credentials_only():
    result = {"credentials": {"aws_access_key_id": "ASIA", "aws_secret_access_key": "s",
                              "aws_session_token": "t", "expiration": "2030-01-01T00:00:00+00:00"},
              "assumed_role_user": {"arn": "arn:x", "assumed_role_id": "AROA:x"},
              "expiration": "2030-01-01T00:00:00+00:00"}
    validate_output(META, result)
    assert mask_output(META, result) == dict(result, credentials=MASKED)
    with pytest.raises(jsonschema.ValidationError):
        validate_output(META, dict(result, extra=1))


@pytest.mark.parametrize("name, environ, expected", [
    ("", {"ST2_ACTION_EXECUTION_ID": "5f1a2b3c4d5e6f7a8b9c0d1e"}, "st2-5f1a2b3c4d5e6f7a8b9c0d1e"),
    ("deploy orders/db#1", {}, "deploy-orders-db-1"),
    ("x", {}, "x-"),
    ("a" * 70, {}, "a" * 64),
    ("ok_+=,.@-Name9", {}, "ok_+=,.@-Name9"),
    ("héllo", {}, "h-llo"),
])
def test_session_names(name, environ, expected):
    assert session_name_for(name, environ) == expected


def test_session_name_without_an_execution_id_is_a_timestamp():
    name = session_name_for("", {})
    assert name.startswith("st2-aws-") and len(name) == len("st2-aws-20240506T070809Z")
    datetime.datetime.strptime(name[len("st2-aws-"):], "%Y%m%dT%H%M%SZ")


@pytest.mark.integration
class AssumeRoleTest(BaseActionTestCase):
    action_cls = AssumeRoleAction

    @pytest.fixture(autouse=True)
    def _moto(self, aws_endpoint, stack, caplog, monkeypatch):
        section = stack["aws"]
        self.config = {"region": section["region"], "endpoint_url": aws_endpoint,
                       "aws_access_key_id": section["access_key_id"],
                       "aws_secret_access_key": section["secret_access_key"]}
        self.iam = boto3.client(
            "iam", region_name=section["region"], endpoint_url=aws_endpoint,
            aws_access_key_id=section["access_key_id"],
            aws_secret_access_key=section["secret_access_key"])
        self.caplog = caplog
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("ST2_ACTION_EXECUTION_ID", uuid.uuid4().hex[:24])
        caplog.set_level(logging.DEBUG)

    def make_role(self):
        name = "st2t-role-%s" % uuid.uuid4().hex[:10]
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ACCOUNT}}]}
        role = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        self.addCleanup(self.iam.delete_role, RoleName=name)
        return name, role["Role"]["Arn"]

    def assume(self, config=None, **live):
        params = action_params(META, live)
        result = self.get_action_instance(config or self.config).run(**params)
        validate_output(META, result)
        return result

    def test_assume_a_role_and_call_aws_with_its_credentials(self):
        role, arn = self.make_role()
        execution = "st2-" + os.environ["ST2_ACTION_EXECUTION_ID"]
        before = datetime.datetime.now(datetime.timezone.utc)
        result = self.assume(role_arn=arn, duration_seconds=1800, external_id="ext-1",
                             policy={"Version": "2012-10-17", "Statement": [
                                 {"Effect": "Allow", "Action": "rds:*", "Resource": "*"}]})
        creds = result["credentials"]
        assert sorted(result) == ["assumed_role_user", "credentials", "expiration"]
        assert sorted(creds) == ["aws_access_key_id", "aws_secret_access_key",
                                 "aws_session_token", "expiration"]
        assert creds["expiration"] == result["expiration"]
        assert result["assumed_role_user"] == {
            "arn": "arn:aws:sts::%s:assumed-role/%s/%s" % (ACCOUNT, role, execution),
            "assumed_role_id": result["assumed_role_user"]["assumed_role_id"]}
        assert result["assumed_role_user"]["assumed_role_id"].endswith(":" + execution)
        lifetime = datetime.datetime.fromisoformat(result["expiration"]) - before
        assert datetime.timedelta(seconds=1790) < lifetime <= datetime.timedelta(seconds=1810)

        # What `st2 execution get` shows, and what the logs hold: no credential.
        shown = json.dumps(mask_output(META, result)) + self.caplog.text
        for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            assert creds[key] not in shown, key

        # The credentials are exactly what aws.boto3action's credentials parameter takes.
        boto3action = Boto3Action(config=self.config)
        identity = boto3action.run(**action_params(BOTO3ACTION, {
            "service": "sts", "action_name": "GetCallerIdentity", "credentials": creds}))
        assert identity["Arn"] == result["assumed_role_user"]["arn"]
        assert identity["Account"] == ACCOUNT
        for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            assert creds[key] not in json.dumps(identity) + self.caplog.text, key

    def test_role_and_duration_from_the_pack_config(self):
        role, arn = self.make_role()
        config = dict(self.config, role_arn=arn, role_session_duration=900)
        before = datetime.datetime.now(datetime.timezone.utc)
        result = self.assume(config=config, session_name="nightly report")
        assert result["assumed_role_user"]["arn"] == (
            "arn:aws:sts::%s:assumed-role/%s/nightly-report" % (ACCOUNT, role))
        lifetime = datetime.datetime.fromisoformat(result["expiration"]) - before
        assert datetime.timedelta(seconds=890) < lifetime <= datetime.timedelta(seconds=910)

    def test_no_role_names_the_parameter_and_the_config_key(self):
        with pytest.raises(AwsInputError) as error:
            self.assume()
        assert str(error.value) == ('role_arn is required: pass the "role_arn" parameter or set '
                                    'pack config key "role_arn"')

    def test_bad_duration_in_the_config_names_the_key(self):
        with pytest.raises(AwsInputError) as error:
            self.assume(config=dict(self.config, role_session_duration=60),
                        role_arn="arn:aws:iam::%s:role/x" % ACCOUNT)
        assert str(error.value) == ('pack config key "role_session_duration" must be an integer '
                                    "number of seconds from 900 to 43200, got 60")

    def test_short_duration_parameter_is_refused_before_the_call(self):
        with pytest.raises(AwsInputError) as error:
            self.assume(role_arn="arn:aws:iam::%s:role/x" % ACCOUNT, duration_seconds=100)
        assert str(error.value) == ('parameter "duration_seconds" must be an integer number of '
                                    "seconds from 900 to 43200, got 100")

    def test_a_bad_role_arn_is_named_by_botocore(self):
        with pytest.raises(AwsInputError) as error:
            self.assume(role_arn="short")
        assert str(error.value) == ("sts.assume_role: invalid params: Invalid length for "
                                    "parameter RoleArn, value: 5, valid min length: 20")

    def test_a_policy_string_must_be_json(self):
        with pytest.raises(AwsInputError) as error:
            self.get_action_instance(self.config).run(
                role_arn="arn:aws:iam::%s:role/x" % ACCOUNT, policy="{not json")
        assert str(error.value) == ('parameter "policy" is not valid JSON: Expecting property '
                                    "name enclosed in double quotes: line 1 column 2 (char 1)")
