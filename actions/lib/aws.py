"""Shared AWS helpers: sessions and clients from the pack config, names, errors, JSON results.

boto3 and botocore are imported inside the functions that need them, so importing this module
costs nothing for actions that only use ``to_jsonable`` or ``normalize_credentials``.

Contracts other actions rely on (names are stable):

- ``make_session(config, region=None, credentials=None)`` and
  ``make_client(config, service, region=None, credentials=None, endpoint_url=None,
  session=None)``
- ``normalize_credentials(credentials)``: the shape ``aws.assume_role`` returns, or STS's own
- ``to_jsonable(obj)``: a boto3 response as plain JSON
- ``resolve_service(session, service)``, ``resolve_operation(client, action_name)``,
  ``resolve_waiter(client, waiter)``
- ``call_operation(client, method, params, paginate=False)``: one call (or every page), with
  the pack's error messages; ``run_waiter`` / ``waiter_params_from`` for waiters
"""

import base64
import datetime
import decimal
import logging
import re

from lib.action import ConfigError, config_value
from lib.name_hints import snake, squash, suggest

__all__ = [
    "AwsCallError",
    "AwsInputError",
    "call_operation",
    "client_config",
    "format_client_error",
    "format_param_error",
    "format_parser_error",
    "make_client",
    "make_session",
    "normalize_credentials",
    "quiet_sdk_loggers",
    "resolve_operation",
    "resolve_service",
    "resolve_waiter",
    "run_waiter",
    "to_jsonable",
    "waiter_params_from",
]

LOG = logging.getLogger(__name__)

# Key names of the credentials dict aws.assume_role returns, and STS's names for the same.
PACK_CREDENTIAL_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token",
                        "expiration")
STS_CREDENTIAL_KEYS = ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")
_STS_TO_PACK = dict(zip(STS_CREDENTIAL_KEYS, PACK_CREDENTIAL_KEYS))
_REQUIRED_CREDENTIAL_KEYS = ("aws_access_key_id", "aws_secret_access_key")

RETRY_MODES = ("standard", "adaptive", "legacy")

# botocore logs request bodies and response bodies (STS credentials included) at DEBUG, and
# StackStorm runs python actions at log level DEBUG by default: keep the SDK at INFO.
_SDK_LOGGERS = ("botocore", "boto3", "s3transfer")


class AwsInputError(ValueError):
    """The action's input is wrong: unknown service or operation, bad credentials or params."""


class AwsCallError(RuntimeError):
    """AWS answered with an error, or a waiter gave up."""


def quiet_sdk_loggers():
    """Set boto3/botocore loggers to INFO at least (also when unset, as they would follow a
    DEBUG root logger), so their DEBUG output (request and response bodies) never shows."""
    for name in _SDK_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


# --- credentials -------------------------------------------------------------------------------

def _expected_credential_keys():
    return "%s (as aws.assume_role returns under \"credentials\") or %s (as STS returns)" % (
        ", ".join(PACK_CREDENTIAL_KEYS), ", ".join(STS_CREDENTIAL_KEYS))


def normalize_credentials(credentials):
    """Return credentials as ``{"aws_access_key_id", "aws_secret_access_key",
    "aws_session_token", "expiration"}`` (token and expiration may be None); None or an empty
    dict (no credentials given) gives None.

    Accepts that shape (what aws.assume_role returns) or STS's ``{"AccessKeyId",
    "SecretAccessKey", "SessionToken", "Expiration"}``. Errors name keys, never values.
    """
    if credentials is None or credentials == {}:
        return None
    if not isinstance(credentials, dict):
        raise AwsInputError("credentials must be an object with keys %s; got %s"
                            % (_expected_credential_keys(), type(credentials).__name__))
    result = dict.fromkeys(PACK_CREDENTIAL_KEYS)
    unknown, duplicate = [], []
    for key, value in credentials.items():
        name = key if key in PACK_CREDENTIAL_KEYS else _STS_TO_PACK.get(key)
        if name is None:
            unknown.append(str(key))
        elif result[name] is not None:
            duplicate.append(name)
        else:
            result[name] = value
    if unknown:
        hint = ""
        if "credentials" in unknown:
            hint = ' (pass the "credentials" member of aws.assume_role\'s result, not all of it)'
        raise AwsInputError("credentials has unknown keys: %s%s; expected %s"
                            % (", ".join(sorted(unknown)), hint, _expected_credential_keys()))
    if duplicate:
        raise AwsInputError("credentials gives %s twice (in both naming styles)"
                            % ", ".join(sorted(duplicate)))
    missing = [k for k in _REQUIRED_CREDENTIAL_KEYS if result[k] in (None, "")]
    if missing:
        raise AwsInputError("credentials lacks %s; expected %s"
                            % (", ".join(missing), _expected_credential_keys()))
    for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
        if result[key] is not None and not isinstance(result[key], str):
            raise AwsInputError("credentials.%s must be a string, got %s"
                                % (key, type(result[key]).__name__))
    if result["aws_session_token"] == "":
        result["aws_session_token"] = None
    expiration = result["expiration"]
    if isinstance(expiration, (datetime.datetime, datetime.date)):
        result["expiration"] = expiration.isoformat()
    elif expiration == "":
        result["expiration"] = None
    elif expiration is not None and not isinstance(expiration, str):
        raise AwsInputError("credentials.expiration must be an ISO 8601 string, got %s"
                            % type(expiration).__name__)
    _check_not_expired(result["expiration"])
    return result


def _check_not_expired(expiration):
    if not expiration:
        return
    try:
        when = datetime.datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    except ValueError:
        raise AwsInputError("credentials.expiration must be an ISO 8601 date-time such as "
                            "2024-05-06T08:08:09+00:00 (the value is not shown: credentials are "
                            "secret)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    if when <= datetime.datetime.now(datetime.timezone.utc):
        raise AwsInputError("credentials expired at %s; assume the role again (aws.assume_role)"
                            % expiration)


# --- sessions and clients ----------------------------------------------------------------------

def make_session(config, region=None, credentials=None):
    """A ``boto3.session.Session`` for ``region`` (else config ``region``) and ``credentials``
    (else config ``aws_access_key_id``/``aws_secret_access_key``, else boto3's default chain)."""
    import boto3.session  # pylint: disable=import-outside-toplevel

    quiet_sdk_loggers()
    kwargs = {}
    region = region or config_value(config, "region", kind=str)
    if region:
        kwargs["region_name"] = region
    creds = normalize_credentials(credentials)
    if creds:
        kwargs["aws_access_key_id"] = creds["aws_access_key_id"]
        kwargs["aws_secret_access_key"] = creds["aws_secret_access_key"]
        if creds["aws_session_token"]:
            kwargs["aws_session_token"] = creds["aws_session_token"]
    else:
        key_id = config_value(config, "aws_access_key_id", kind=str)
        secret = config_value(config, "aws_secret_access_key", kind=str)
        if bool(key_id) != bool(secret):
            missing = "aws_secret_access_key" if key_id else "aws_access_key_id"
            raise ConfigError('pack config key "%s" is required when the other of '
                              'aws_access_key_id/aws_secret_access_key is set' % missing)
        if key_id:
            kwargs["aws_access_key_id"] = key_id
            kwargs["aws_secret_access_key"] = secret
    return boto3.session.Session(**kwargs)


def client_config(config):
    """botocore ``Config`` with the pack's retries (config ``retry_mode``, ``max_attempts``)."""
    from botocore.config import Config  # pylint: disable=import-outside-toplevel

    mode = config_value(config, "retry_mode", default="standard", kind=str)
    if mode not in RETRY_MODES:
        raise ConfigError('pack config key "retry_mode" must be one of %s, got %r'
                          % (", ".join(RETRY_MODES), mode))
    attempts = config_value(config, "max_attempts", default=5, kind=int)
    if isinstance(attempts, bool) or attempts < 1:
        raise ConfigError('pack config key "max_attempts" must be an integer >= 1, got %r'
                          % (attempts,))
    # botocore's "max_attempts" counts retries only; "total_max_attempts" counts the first try
    # too, which is what the config key means (as AWS_MAX_ATTEMPTS does).
    return Config(retries={"mode": mode, "total_max_attempts": attempts})


def make_client(config, service, region=None, credentials=None, endpoint_url=None, session=None):
    """A boto3 client for ``service`` with the pack's retry settings; ``endpoint_url`` falls back
    to config ``endpoint_url``. An unknown service raises ``AwsInputError`` naming close ones."""
    session = session or make_session(config, region=region, credentials=credentials)
    service = resolve_service(session, service)
    if endpoint_url:
        _check_endpoint_url(endpoint_url, 'parameter "endpoint_url"', AwsInputError)
    else:
        endpoint_url = config_value(config, "endpoint_url", kind=str)
        _check_endpoint_url(endpoint_url, 'pack config key "endpoint_url"', ConfigError)
    kwargs = {"config": client_config(config)}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    from botocore.exceptions import NoRegionError  # pylint: disable=import-outside-toplevel

    try:
        return session.client(service, **kwargs)
    except NoRegionError:
        raise AwsInputError('no AWS region for %s: pass "region" or set pack config key '
                            '"region"' % service) from None


def _check_endpoint_url(url, source, error_class):
    if url and not re.match(r"^https?://[^\s/]+", url):
        raise error_class("%s must be an http(s) URL such as https://rds.eu-west-1.amazonaws.com,"
                          " got %r" % (source, url))


# --- names -------------------------------------------------------------------------------------

def resolve_service(session, service):
    """Return ``service`` if boto3 knows it; else raise ``AwsInputError`` naming close names."""
    if not isinstance(service, str) or not service.strip():
        raise AwsInputError("service must be a boto3 service name such as rds, sts or iam")
    services = session.get_available_services()
    if service in services:
        return service
    lowered = service.strip().lower()
    if lowered in services:
        return lowered
    raise AwsInputError('unknown AWS service "%s"%s (boto3 knows %d services; see '
                        "boto3.session.Session().get_available_services())"
                        % (service, suggest(lowered, services), len(services)))


def resolve_operation(client, action_name):
    """Return the client method name for ``action_name``, given as the method's snake_case name
    (``describe_db_instances``) or the API's PascalCase name (``DescribeDBInstances``).

    Unknown names raise ``AwsInputError`` naming the closest operations of the client's service.
    """
    service = client.meta.service_model.service_name
    mapping = client.meta.method_to_api_mapping  # snake_case method -> PascalCase API name
    if not isinstance(action_name, str) or not action_name.strip():
        raise AwsInputError("action_name must name an operation of %s, e.g. %s"
                            % (service, ", ".join(sorted(mapping)[:3])))
    name = action_name.strip()
    if name in mapping:
        return name
    by_api = {api: method for method, api in mapping.items()}
    if name in by_api:
        return by_api[name]
    squashed = {squash(method): method for method in mapping}
    if squash(name) in squashed:
        return squashed[squash(name)]
    raise AwsInputError('%s has no operation "%s"%s'
                        % (service, name, suggest(snake(name), list(mapping))))


def resolve_waiter(client, waiter):
    """Return the client's waiter name for ``waiter`` (snake_case or PascalCase); unknown names
    raise ``AwsInputError`` naming close ones (or all of the service's waiters)."""
    service = client.meta.service_model.service_name
    names = client.waiter_names
    if not names:
        raise AwsInputError('%s has no waiters; leave "waiter" empty' % service)
    if waiter in names:
        return waiter
    squashed = {squash(name): name for name in names}
    if squash(waiter) in squashed:
        return squashed[squash(waiter)]
    hint = suggest(snake(waiter), names) or "; %s has: %s" % (service, ", ".join(names))
    raise AwsInputError('%s has no waiter "%s"%s' % (service, waiter, hint))


# --- calls and errors --------------------------------------------------------------------------

# botocore prints the value with str(): a string may span lines (hence DOTALL).
_TYPE_ERROR_VALUE = re.compile(r"(Invalid type for (?:document )?parameter [^,\n]+, value: ).*?"
                               r"(, type: <class '[^']*'>, valid types:)", re.DOTALL)


def format_param_error(service, method, error):
    """botocore's ParamValidationError report (it names each field and the reason), with the
    offending values of type errors replaced: they may be secrets."""
    report = error.kwargs.get("report", str(error))
    report = _TYPE_ERROR_VALUE.sub(r"\1<redacted>\2", report)
    return "%s.%s: invalid params: %s" % (service, method, report.replace("\n", "; "))


def format_client_error(service, method, error):
    """``<service>.<operation> failed: <Code>: <Message> (HTTP <status>)``."""
    response = getattr(error, "response", None) or {}
    err = response.get("Error") or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    message = "%s.%s failed: %s: %s" % (service, method, err.get("Code", "Unknown"),
                                        err.get("Message", str(error)))
    if status:
        message += " (HTTP %s)" % status
    return message


def format_parser_error(what, error):
    """botocore's ResponseParserError quotes the whole response body after its first line (a
    truncated STS answer holds a secret key): keep the first line, without its ":" tail."""
    reason = str(error).split("\n", 1)[0].split(". Further retries", 1)[0].rstrip(":. ")
    return ("%s failed: the response could not be parsed (%s); its body is not shown, it may "
            "hold secrets" % (what, reason[:300]))


def call_operation(client, method, params, paginate=False):
    """Call ``client.<method>(**params)`` (all pages merged when ``paginate``) and return the
    response with ``ResponseMetadata`` removed (its request id is logged at DEBUG).

    Raises ``AwsInputError`` for bad params (botocore checks them before sending anything) and
    ``AwsCallError`` for AWS errors, with messages naming ``<service>.<method>``.
    """
    from botocore.exceptions import (  # pylint: disable=import-outside-toplevel
        BotoCoreError, ClientError, ParamValidationError)
    from botocore.parsers import ResponseParserError  # pylint: disable=import-outside-toplevel

    service = client.meta.service_model.service_name
    if not isinstance(params, dict):
        raise AwsInputError("params must be an object of %s.%s's parameters, got %s"
                            % (service, method, type(params).__name__))
    try:
        if paginate:
            if not client.can_paginate(method):
                raise AwsInputError(
                    "%s.%s cannot paginate: boto3 has no paginator for it; call it with "
                    "paginate=false" % (service, method))
            response = client.get_paginator(method).paginate(**params).build_full_result()
        else:
            response = getattr(client, method)(**params)
    except ParamValidationError as exc:
        raise AwsInputError(format_param_error(service, method, exc)) from None
    except ClientError as exc:
        raise AwsCallError(format_client_error(service, method, exc)) from None
    except BotoCoreError as exc:  # no credentials, endpoint unreachable, ...
        raise AwsCallError("%s.%s failed: %s" % (service, method, exc)) from None
    except ResponseParserError as exc:
        raise AwsCallError(format_parser_error("%s.%s" % (service, method), exc)) from None
    metadata = response.pop("ResponseMetadata", None) or {}
    LOG.debug("%s.%s: request id %s", service, method, metadata.get("RequestId"))
    return response


def waiter_params_from(client, waiter_name, params):
    """The entries of ``params`` that the waiter's operation accepts (e.g. DBInstanceIdentifier
    of a create_db_instance call, for db_instance_available)."""
    operation = client.get_waiter(waiter_name).config.operation
    accepted = client.meta.service_model.operation_model(operation).input_shape.members
    return {key: value for key, value in params.items() if key in accepted}


def run_waiter(client, waiter_name, params, delay, max_attempts):
    """``client.get_waiter(waiter_name).wait(**params)``, ``delay`` seconds apart, at most
    ``max_attempts`` times; errors name the service, the waiter and why it stopped."""
    from botocore.exceptions import (  # pylint: disable=import-outside-toplevel
        BotoCoreError, ParamValidationError, WaiterError)
    from botocore.parsers import ResponseParserError  # pylint: disable=import-outside-toplevel

    service = client.meta.service_model.service_name
    waiter = client.get_waiter(waiter_name)
    try:
        waiter.wait(WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts}, **params)
    except ParamValidationError as exc:
        raise AwsInputError(format_param_error(service, "waiter " + waiter_name, exc)) from None
    except WaiterError as exc:
        raise AwsCallError("%s waiter %s failed (at most %d attempts, %d s apart): %s" % (
            service, waiter_name, max_attempts, delay, exc.kwargs.get("reason", exc))) from None
    except BotoCoreError as exc:  # endpoint unreachable, ...
        raise AwsCallError("%s waiter %s failed: %s" % (service, waiter_name, exc)) from None
    except ResponseParserError as exc:
        raise AwsCallError(format_parser_error("%s waiter %s" % (service, waiter_name), exc)
                           ) from None


# --- results -----------------------------------------------------------------------------------

def to_jsonable(obj):
    """Plain JSON (dict, list, str, int, float, bool, None) from a boto3 response.

    - datetime/date/time -> ISO 8601 string (botocore's datetimes carry their UTC offset)
    - bytes/bytearray -> base64 string (as the AWS CLI prints blobs)
    - a streaming body (anything with ``read()``, e.g. S3 ``Body``, Lambda ``Payload``) -> read
      whole; UTF-8 text when it decodes, else base64
    - Decimal -> int when integral, else float; set/frozenset/tuple -> list; nested throughout
    """
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        return {str(key): to_jsonable(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(item) for item in obj]
    if isinstance(obj, (set, frozenset)):
        items = [to_jsonable(item) for item in obj]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, decimal.Decimal):
        if obj.is_finite() and obj == obj.to_integral_value():
            return int(obj)
        return float(obj)
    if isinstance(obj, (bytes, bytearray)):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if callable(getattr(obj, "read", None)):
        data = obj.read()
        close = getattr(obj, "close", None)
        if callable(close):
            close()
        if isinstance(data, str):
            return data
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(bytes(data)).decode("ascii")
    raise TypeError("cannot convert %s to JSON" % type(obj).__name__)
