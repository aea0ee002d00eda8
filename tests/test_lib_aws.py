"""actions/lib/aws.py: conversion, names, credentials, sessions, clients, error messages.

These need no server: botocore builds clients and validates params offline. The endpoint below
is a closed port, so a test that wrongly reached the network would fail, not pass.
"""

import datetime
import decimal
import io
import json
import logging
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from lib.action import ConfigError
from lib.aws import (AwsCallError, AwsInputError, call_operation, format_client_error,
                     make_client, make_session, normalize_credentials, resolve_operation,
                     resolve_service, resolve_waiter, run_waiter, to_jsonable,
                     waiter_params_from)
from tests.library_names import aws_operations, aws_services, aws_waiters, closest, did_you_mean

CLOSED = "http://127.0.0.1:9"  # discard port: nothing listens
CONFIG = {"region": "eu-west-1", "endpoint_url": CLOSED,
          "aws_access_key_id": "AKIDCONFIG", "aws_secret_access_key": "config-secret"}
FUTURE = "2999-01-01T00:00:00+00:00"
EXPECTED_KEYS = ('aws_access_key_id, aws_secret_access_key, aws_session_token, expiration '
                 '(as aws.assume_role returns under "credentials") or AccessKeyId, '
                 'SecretAccessKey, SessionToken, Expiration (as STS returns)')


@pytest.fixture(scope="module")
def rds():
    return make_client(CONFIG, "rds")


# --- to_jsonable --------------------------------------------------------------------------------

def test_to_jsonable_converts_a_nested_response():
    tz = datetime.timezone.utc
    response = {
        "When": datetime.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=tz),
        "Day": datetime.date(2024, 5, 6),
        "Blob": b"\x00\xffhi",
        "Count": decimal.Decimal("42"),
        "Ratio": decimal.Decimal("0.25"),
        "Tags": {"b", "a"},
        "Pair": (1, "x"),
        "Nested": [{"At": datetime.datetime(2024, 1, 1, tzinfo=tz), "N": None, "B": True}],
        "Text": StreamingBody(io.BytesIO(b'{"ok": true}'), 12),
        "Binary": StreamingBody(io.BytesIO(b"\xff\xfe\x00"), 3),
    }
    result = to_jsonable(response)
    assert result == {
        "When": "2024-05-06T07:08:09.123000+00:00",
        "Day": "2024-05-06",
        "Blob": "AP9oaQ==",
        "Count": 42,
        "Ratio": 0.25,
        "Tags": ["a", "b"],
        "Pair": [1, "x"],
        "Nested": [{"At": "2024-01-01T00:00:00+00:00", "N": None, "B": True}],
        "Text": '{"ok": true}',
        "Binary": "//4A",
    }
    assert isinstance(result["Count"], int)
    assert json.loads(json.dumps(result)) == result


def test_to_jsonable_refuses_unknown_types():
    with pytest.raises(TypeError, match="cannot convert object to JSON"):
        to_jsonable({"x": object()})


# --- normalize_credentials ----------------------------------------------------------------------

def test_credentials_in_the_packs_shape():
    creds = {"aws_access_key_id": "ASIA1", "aws_secret_access_key": "s", "aws_session_token": "t",
             "expiration": FUTURE}
    assert normalize_credentials(creds) == creds


def test_credentials_in_stss_shape():
    creds = {"AccessKeyId": "ASIA1", "SecretAccessKey": "s", "SessionToken": "t",
             "Expiration": datetime.datetime(2999, 1, 1, tzinfo=datetime.timezone.utc)}
    assert normalize_credentials(creds) == {
        "aws_access_key_id": "ASIA1", "aws_secret_access_key": "s", "aws_session_token": "t",
        "expiration": FUTURE}


def test_static_keys_without_token_or_expiration():
    assert normalize_credentials({"aws_access_key_id": "AKID", "aws_secret_access_key": "s"}) == {
        "aws_access_key_id": "AKID", "aws_secret_access_key": "s", "aws_session_token": None,
        "expiration": None}


@pytest.mark.parametrize("value", [None, {}])
def test_no_credentials(value):
    assert normalize_credentials(value) is None


@pytest.mark.parametrize("creds, message", [
    ({"aws_access_key_id": "AKID", "aws_secret_access_key": "SECRETVALUE", "token": "TOKVALUE"},
     "credentials has unknown keys: token; expected " + EXPECTED_KEYS),
    ({"credentials": {"aws_access_key_id": "AKID"}, "assumed_role_user": {}, "expiration": FUTURE},
     "credentials has unknown keys: assumed_role_user, credentials (pass the \"credentials\" "
     "member of aws.assume_role's result, not all of it); expected " + EXPECTED_KEYS),
    ({"aws_access_key_id": "AKID"},
     "credentials lacks aws_secret_access_key; expected " + EXPECTED_KEYS),
    ({"aws_access_key_id": "AKID", "AccessKeyId": "AKID2", "aws_secret_access_key": "SECRETVALUE"},
     "credentials gives aws_access_key_id twice (in both naming styles)"),
    ({"aws_access_key_id": "AKID", "aws_secret_access_key": 12345},
     "credentials.aws_secret_access_key must be a string, got int"),
    ("AKID:SECRETVALUE",
     "credentials must be an object with keys " + EXPECTED_KEYS + "; got str"),
    ({"aws_access_key_id": "AKID", "aws_secret_access_key": "SECRETVALUE",
      "expiration": "2000-01-01T00:00:00Z"},
     "credentials expired at 2000-01-01T00:00:00Z; assume the role again (aws.assume_role)"),
    # A secret pasted into the wrong key is not echoed back either.
    ({"aws_access_key_id": "AKID", "aws_secret_access_key": "SECRETVALUE",
      "expiration": "TOKVALUE"},
     "credentials.expiration must be an ISO 8601 date-time such as 2024-05-06T08:08:09+00:00 "
     "(the value is not shown: credentials are secret)"),
])
def test_bad_credentials_name_keys_never_secret_values(creds, message):
    with pytest.raises(AwsInputError) as error:
        normalize_credentials(creds)
    assert str(error.value) == message
    assert "SECRETVALUE" not in message and "TOKVALUE" not in message


# --- sessions and clients -----------------------------------------------------------------------

def _frozen(session):
    creds = session.get_credentials().get_frozen_credentials()
    return creds.access_key, creds.secret_key, creds.token


def test_session_from_config():
    session = make_session(CONFIG)
    assert session.region_name == "eu-west-1"
    assert _frozen(session) == ("AKIDCONFIG", "config-secret", None)


def test_session_credentials_and_region_override_config():
    session = make_session(CONFIG, region="ap-south-1", credentials={
        "AccessKeyId": "ASIAGIVEN", "SecretAccessKey": "given", "SessionToken": "tok",
        "Expiration": FUTURE})
    assert session.region_name == "ap-south-1"
    assert _frozen(session) == ("ASIAGIVEN", "given", "tok")


def test_session_without_keys_uses_boto3s_default_chain(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    session = make_session({"region": "us-west-2", "aws_access_key_id": ""})
    assert _frozen(session) == ("AKIDENV", "env-secret", None)
    assert session.get_credentials().method == "env"


def test_session_with_half_a_key_pair_names_the_missing_key():
    with pytest.raises(ConfigError) as error:
        make_session({"aws_access_key_id": "AKID"})
    assert str(error.value) == ('pack config key "aws_secret_access_key" is required when the '
                                'other of aws_access_key_id/aws_secret_access_key is set')


def test_client_has_the_packs_retries_and_endpoint():
    client = make_client(dict(CONFIG, retry_mode="adaptive", max_attempts=7), "rds")
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 7}
    assert client.meta.endpoint_url == CLOSED
    assert client.meta.region_name == "eu-west-1"
    other = make_client(CONFIG, "sts", region="us-east-2", endpoint_url="http://127.0.0.1:7")
    assert other.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert (other.meta.endpoint_url, other.meta.region_name) == ("http://127.0.0.1:7",
                                                                 "us-east-2")


@pytest.mark.parametrize("config, message", [
    ({"retry_mode": "fast"},
     "pack config key \"retry_mode\" must be one of standard, adaptive, legacy, got 'fast'"),
    ({"max_attempts": 0}, 'pack config key "max_attempts" must be an integer >= 1, got 0'),
    ({"max_attempts": "3"}, 'pack config key "max_attempts" must be of type int, got str'),
])
def test_bad_retry_config(config, message):
    with pytest.raises(ConfigError) as error:
        make_client(dict(CONFIG, **config), "rds")
    assert str(error.value) == message


def test_sdk_debug_logs_are_kept_off(caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("botocore").setLevel(logging.NOTSET)
    make_session(CONFIG)
    assert logging.getLogger("botocore").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("boto3").getEffectiveLevel() == logging.INFO


# --- names --------------------------------------------------------------------------------------

def test_unknown_service_names_close_ones_before_any_call():
    with pytest.raises(AwsInputError) as error:
        make_client(CONFIG, "rdss")
    count = len(make_session(CONFIG).get_available_services())
    # botocore's service list grows with each release: the expected names come from it.
    close = closest("rdss", aws_services(), n=5)
    assert close[0] == "rds"
    assert str(error.value) == (
        'unknown AWS service "rdss"%s (boto3 knows %d services; see '
        "boto3.session.Session().get_available_services())" % (did_you_mean(close), count))


def test_service_names_are_case_insensitive():
    session = make_session(CONFIG)
    assert resolve_service(session, "RDS") == "rds"
    with pytest.raises(AwsInputError, match="^service must be a boto3 service name"):
        resolve_service(session, " ")


@pytest.mark.parametrize("name, method", [
    ("describe_db_instances", "describe_db_instances"),
    ("DescribeDBInstances", "describe_db_instances"),
    ("DescribeDbInstances", "describe_db_instances"),
    (" create_db_instance ", "create_db_instance"),
])
def test_operation_names(rds, name, method):
    assert resolve_operation(rds, name) == method


def test_unknown_operation_names_close_ones(rds):
    with pytest.raises(AwsInputError) as error:
        resolve_operation(rds, "DescribeDBInstance")
    message = str(error.value)
    prefix = 'rds has no operation "DescribeDBInstance"; did you mean: '
    assert message.startswith(prefix) and message.endswith("?"), message
    named = message[len(prefix):-1].split(", ")
    # What the name is closest to depends on the installed RDS model (botocore 1.44 added
    # describe_branches): the right operation first, then only operations the model has, at
    # most five, in difflib's order over the model's operation names (snake_case; the name
    # given is compared as snake_case too: describe_dbinstance).
    operations = aws_operations("rds")
    assert named[0] == "describe_db_instances"
    assert set(named) <= set(operations) and len(named) <= 5
    assert named == closest("describe_dbinstance", operations, n=5)


def test_unknown_operation_without_close_names(rds):
    with pytest.raises(AwsInputError) as error:
        resolve_operation(rds, "zzzzzz")
    assert str(error.value) == 'rds has no operation "zzzzzz"'


def test_waiter_names(rds):
    assert resolve_waiter(rds, "db_instance_available") == "db_instance_available"
    assert resolve_waiter(rds, "DBInstanceAvailable") == "db_instance_available"
    with pytest.raises(AwsInputError) as error:
        resolve_waiter(rds, "db_instance_ready")
    # RDS's waiters are botocore's data: the expected names are read from it.
    close = closest("db_instance_ready", aws_waiters("rds"), n=5)
    assert "db_instance_available" in close
    assert str(error.value) == 'rds has no waiter "db_instance_ready"%s' % did_you_mean(close)
    sts = make_client(CONFIG, "sts")
    with pytest.raises(AwsInputError) as error:
        resolve_waiter(sts, "anything")
    assert str(error.value) == 'sts has no waiters; leave "waiter" empty'


def test_waiter_params_are_the_calls_params_the_waiter_accepts(rds):
    params = {"DBInstanceIdentifier": "orders", "DBInstanceClass": "db.t3.small",
              "MasterUserPassword": "pw", "Engine": "postgres"}
    assert waiter_params_from(rds, "db_instance_available", params) == {
        "DBInstanceIdentifier": "orders"}


# --- calls and errors ---------------------------------------------------------------------------

def test_bad_params_name_the_field_and_hide_the_value(rds):
    with pytest.raises(AwsInputError) as error:
        call_operation(rds, "create_db_instance", {
            "DBInstanceIdentifier": "orders", "DBInstanceClass": "db.t3.small",
            "Engine": "postgres", "MasterUserPassword": 123456789, "Bogus": 1})
    assert str(error.value) == (
        "rds.create_db_instance: invalid params: Unknown parameter in input: \"Bogus\", must be "
        "one of: " + ", ".join(rds.meta.service_model.operation_model("CreateDBInstance")
                               .input_shape.members) + "; "
        "Invalid type for parameter MasterUserPassword, value: <redacted>, "
        "type: <class 'int'>, valid types: <class 'str'>")


def test_a_multi_line_bad_value_is_hidden_too(rds):
    with pytest.raises(AwsInputError) as error:
        call_operation(rds, "describe_db_instances", {"MaxRecords": "line one\nSECRETVALUE"})
    assert str(error.value) == (
        "rds.describe_db_instances: invalid params: Invalid type for parameter MaxRecords, "
        "value: <redacted>, type: <class 'str'>, valid types: <class 'int'>")


def test_missing_required_param(rds):
    with pytest.raises(AwsInputError) as error:
        call_operation(rds, "delete_db_instance", {})
    assert str(error.value) == ('rds.delete_db_instance: invalid params: Missing required '
                                'parameter in input: "DBInstanceIdentifier"')


def test_params_must_be_an_object(rds):
    with pytest.raises(AwsInputError) as error:
        call_operation(rds, "describe_db_instances", ["x"])
    assert str(error.value) == ("params must be an object of rds.describe_db_instances's "
                                "parameters, got list")


def test_paginate_an_operation_that_cannot(rds):
    with pytest.raises(AwsInputError) as error:
        call_operation(rds, "create_db_instance", {}, paginate=True)
    assert str(error.value) == ("rds.create_db_instance cannot paginate: boto3 has no paginator "
                                "for it; call it with paginate=false")


def test_client_error_message():
    error = ClientError({"Error": {"Code": "DBInstanceNotFound", "Message": "DBInstance x not "
                                   "found."}, "ResponseMetadata": {"HTTPStatusCode": 404}},
                        "DescribeDBInstances")
    assert format_client_error("rds", "describe_db_instances", error) == (
        "rds.describe_db_instances failed: DBInstanceNotFound: DBInstance x not found. (HTTP 404)")
    assert issubclass(AwsCallError, RuntimeError)


def test_an_unreachable_endpoint_fails_with_the_operation_named():
    client = make_client(dict(CONFIG, max_attempts=1), "sts")
    with pytest.raises(AwsCallError) as error:
        call_operation(client, "get_caller_identity", {})
    assert str(error.value) == ('sts.get_caller_identity failed: Could not connect to the '
                                'endpoint URL: "%s/"' % CLOSED)


def test_no_region_anywhere(monkeypatch):
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(AwsInputError) as error:
        make_client({"aws_access_key_id": "a", "aws_secret_access_key": "b"}, "rds")
    assert str(error.value) == ('no AWS region for rds: pass "region" or set pack config key '
                                '"region"')


# A truncated STS answer: botocore's parse error quotes the whole body, secret key included.
TRUNCATED_STS_BODY = (b'<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                      b"<AssumeRoleResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId>"
                      b"<SecretAccessKey>LEAKED-SECRET-KEY</SecretAccessKey><SessionTo")


# The server runs in its own process: under StackStorm's st2tests (eventlet monkey-patched at
# import) a server thread's blocking poll would starve the client in the same OS thread.
GARBLING_SERVER = """
import http.server, sys
BODY = %r

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
""" % (TRUNCATED_STS_BODY,)


@pytest.fixture
def garbling_endpoint():
    """A real HTTP server that answers every request 200 with TRUNCATED_STS_BODY."""
    server = subprocess.Popen([sys.executable, "-c", GARBLING_SERVER], stdout=subprocess.PIPE,
                              text=True)
    try:
        port = int(server.stdout.readline())
        yield "http://127.0.0.1:%d" % port
    finally:
        server.kill()
        server.wait()


def test_an_unparsable_response_fails_without_quoting_the_body(garbling_endpoint, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(dict(CONFIG, endpoint_url=garbling_endpoint, max_attempts=1), "sts")
    with pytest.raises(AwsCallError) as error:
        call_operation(client, "assume_role", {"RoleArn": "arn:aws:iam::123456789012:role/x",
                                               "RoleSessionName": "st2"})
    assert str(error.value) == (
        "sts.assume_role failed: the response could not be parsed (Unable to parse response "
        "(unclosed token: line 1, column 191), invalid XML received); its body is not shown, "
        "it may hold secrets")
    assert "LEAKED-SECRET-KEY" not in caplog.text


def test_a_waiter_on_an_unparsable_response_fails_without_quoting_the_body(garbling_endpoint):
    client = make_client(dict(CONFIG, endpoint_url=garbling_endpoint, max_attempts=1), "rds")
    with pytest.raises(AwsCallError) as error:
        run_waiter(client, "db_instance_available", {"DBInstanceIdentifier": "x"}, 1, 1)
    assert str(error.value) == (
        "rds waiter db_instance_available failed: the response could not be parsed (Unable to "
        "parse response (unclosed token: line 1, column 191), invalid XML received); its body "
        "is not shown, it may hold secrets")


def test_a_waiter_on_an_unreachable_endpoint_names_the_waiter():
    client = make_client(dict(CONFIG, max_attempts=1), "rds")
    with pytest.raises(AwsCallError) as error:
        run_waiter(client, "db_instance_available", {"DBInstanceIdentifier": "x"}, 1, 1)
    assert str(error.value) == ('rds waiter db_instance_available failed: Could not connect to '
                                'the endpoint URL: "%s/"' % CLOSED)


@pytest.mark.parametrize("given, config, error_class, message", [
    ("localhost:5000", {}, AwsInputError, 'parameter "endpoint_url" must be an http(s) URL such '
     'as https://rds.eu-west-1.amazonaws.com, got \'localhost:5000\''),
    (None, {"endpoint_url": "not a url"}, ConfigError, 'pack config key "endpoint_url" must be '
     'an http(s) URL such as https://rds.eu-west-1.amazonaws.com, got \'not a url\''),
])
def test_a_bad_endpoint_url_names_where_it_came_from(given, config, error_class, message):
    with pytest.raises(error_class) as error:
        make_client(dict(CONFIG, **config), "rds", endpoint_url=given)
    assert str(error.value) == message
