"""aws.assume_role: temporary credentials for an IAM role, in the shape aws.boto3action takes."""

import json
import os
import re
import time

from lib.action import BaseAction, config_value
from lib.aws import AwsInputError, call_operation, make_client, to_jsonable

__all__ = ["AssumeRoleAction", "session_name_for"]

MIN_DURATION, MAX_DURATION = 900, 43200
_SESSION_NAME_BAD_CHARS = re.compile(r"[^\w+=,.@-]", re.ASCII)


def session_name_for(name=None, environ=None):
    """A role session name STS accepts (``[\\w+=,.@-]{2,64}``): ``name`` with other characters
    replaced by ``-``; by default ``st2-<execution id>`` (st2 sets ``ST2_ACTION_EXECUTION_ID``
    for python actions), else ``st2-aws-<UTC timestamp>``."""
    environ = os.environ if environ is None else environ
    if not name:
        execution_id = environ.get("ST2_ACTION_EXECUTION_ID")
        if execution_id:
            name = "st2-%s" % execution_id
        else:
            name = "st2-aws-%s" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = _SESSION_NAME_BAD_CHARS.sub("-", name)[:64]
    return name if len(name) >= 2 else (name + "--")[:2]


def _duration(duration_seconds, config):
    if duration_seconds:
        value, source = duration_seconds, 'parameter "duration_seconds"'
    else:
        value = config_value(config, "role_session_duration", default=3600)
        source = 'pack config key "role_session_duration"'
    if isinstance(value, bool) or not isinstance(value, int) \
            or not MIN_DURATION <= value <= MAX_DURATION:
        raise AwsInputError("%s must be an integer number of seconds from %d to %d, got %r"
                            % (source, MIN_DURATION, MAX_DURATION, value))
    return value


def _policy_json(policy):
    if policy in (None, "", {}):
        return None
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError as exc:
            raise AwsInputError('parameter "policy" is not valid JSON: %s' % exc) from None
    if not isinstance(policy, dict):
        raise AwsInputError('parameter "policy" must be an IAM policy document (an object), '
                            "got %s" % type(policy).__name__)
    return json.dumps(policy, separators=(",", ":"), sort_keys=True)


class AssumeRoleAction(BaseAction):
    def run(self, role_arn="", session_name="", external_id="", duration_seconds=0, policy=None,
            region="", endpoint_url=""):
        role_arn = role_arn or self.config_value("role_arn", kind=str)
        if not role_arn:
            raise AwsInputError('role_arn is required: pass the "role_arn" parameter or set '
                                'pack config key "role_arn"')
        params = {
            "RoleArn": role_arn,
            "RoleSessionName": session_name_for(session_name),
            "DurationSeconds": _duration(duration_seconds, self.config),
        }
        if external_id:
            params["ExternalId"] = external_id
        policy_json = _policy_json(policy)
        if policy_json:
            params["Policy"] = policy_json

        # The STS call itself uses the pack's own identity (config keys or boto3's chain).
        client = make_client(self.config, "sts", region=region or None,
                             endpoint_url=endpoint_url or None)
        self.logger.debug("aws sts.assume_role: %s as session %s for %d s",
                          role_arn, params["RoleSessionName"], params["DurationSeconds"])
        response = call_operation(client, "assume_role", params)
        creds = response["Credentials"]
        expiration = to_jsonable(creds["Expiration"])
        user = response.get("AssumedRoleUser") or {}
        return {
            "credentials": {
                "aws_access_key_id": creds["AccessKeyId"],
                "aws_secret_access_key": creds["SecretAccessKey"],
                "aws_session_token": creds["SessionToken"],
                "expiration": expiration,
            },
            "assumed_role_user": {
                "arn": user.get("Arn"),
                "assumed_role_id": user.get("AssumedRoleId"),
            },
            "expiration": expiration,
        }
