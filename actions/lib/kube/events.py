"""Kubernetes Events about an object, as controllers record them, so `kubectl describe` shows
what the pack did to it.

``record_event(api_client, obj, reason, message, event_type)`` creates one core/v1 Event in the
object's namespace the way client-go's event recorder does (involvedObject, reason, message,
type, source, first and last timestamps, count 1, name ``<object name>.<16 hex>``).

Events are a record, not the work: a failure to write one (403 without the RBAC grant, 404 for
a namespace being deleted, an unreachable API server, a refused body) is logged as a warning
and ``record_event`` returns False; it never raises.

An event carries only what it is given (a reason and a message): callers pass the status
message, never credentials, as events are readable by anyone who may list events in the
namespace.
"""

import datetime
import logging
import os
import re
import time

from lib.database.objects import bounded

__all__ = ["COMPONENT", "EVENT_TYPES", "MESSAGE_LIMIT", "REASON", "record_event", "event_name"]

#: source.component and reportingComponent of every event the pack records.
COMPONENT = "st2-aws-pack"
EVENT_TYPES = ("Normal", "Warning")
#: Longest event message written (the message is cut with ``bounded``, saying so).
MESSAGE_LIMIT = 1024
#: A reason: CamelCase, at most 128 characters (the events API's limit).
REASON = re.compile(r"^[A-Z][A-Za-z0-9]{0,127}$")
# Longest object name: metadata.name of the event (a DNS subdomain) is at most 253.
_NAME_LIMIT = 253
_SUFFIX = 17  # "." and 16 hex digits
# Seconds to wait for the API server: an event must not hold up the action.
_TIMEOUT = 10

_log = logging.getLogger(__name__)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_name(object_name, stamp=None):
    """``<object name>.<16 hex>``, as client-go names events (the hex is the time in
    nanoseconds); the object name is cut so that the whole stays a valid DNS subdomain."""
    stamp = time.time_ns() if stamp is None else stamp
    prefix = (object_name or "event")[:_NAME_LIMIT - _SUFFIX].rstrip("-.") or "event"
    return "%s.%016x" % (prefix, stamp & 0xFFFFFFFFFFFFFFFF)


def _why(exc):
    """A short description of a failed request, without its body's echo of our event."""
    status = getattr(exc, "status", None)
    if status:
        import json  # pylint: disable=import-outside-toplevel

        detail = ""
        try:
            detail = json.loads(exc.body).get("message", "")
        except (TypeError, ValueError, AttributeError):
            pass
        return "the API server answered %s %s%s" % (
            status, getattr(exc, "reason", "") or "", ": %s" % bounded(detail, 300)
            if detail else "")
    return "the API server is unreachable (%s)" % type(exc).__name__


def record_event(api_client, obj, reason, message, event_type="Normal", logger=None):
    """Record a core/v1 Event about ``obj`` (a dict as the API server returns it: apiVersion,
    kind, metadata name/namespace/uid/resourceVersion). Returns True when the API server
    created it; False (with a warning in ``logger``) when it could not be written."""
    logger = logger or _log
    obj = obj if isinstance(obj, dict) else {}
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name, namespace = meta.get("name"), meta.get("namespace")
    what = "%s %s/%s" % (obj.get("kind") or "object", namespace, name)
    problem = None
    if not isinstance(reason, str) or not REASON.match(reason):
        problem = "reason %r is not CamelCase of 1-128 letters and digits" % (reason,)
    elif event_type not in EVENT_TYPES:
        problem = "type %r is not one of %s" % (event_type, ", ".join(EVENT_TYPES))
    elif not (isinstance(name, str) and name and isinstance(namespace, str) and namespace):
        problem = "the object has no metadata.name and metadata.namespace"
    if problem:
        logger.warning("could not record event on %s: %s", what, problem)
        return False
    now = _now()
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(name), "namespace": namespace},
        "involvedObject": {key: value for key, value in (
            ("apiVersion", obj.get("apiVersion")), ("kind", obj.get("kind")),
            ("name", name), ("namespace", namespace), ("uid", meta.get("uid")),
            ("resourceVersion", meta.get("resourceVersion"))) if value},
        "reason": reason,
        "message": bounded(message if message is not None else "", MESSAGE_LIMIT),
        "type": event_type,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        from kubernetes import client  # pylint: disable=import-outside-toplevel

        api = client.CoreV1Api(api_client)
        for attempt in range(2):
            try:
                api.create_namespaced_event(namespace, body, _request_timeout=_TIMEOUT)
                return True
            except Exception as exc:  # pylint: disable=broad-except
                if getattr(exc, "status", None) != 409 or attempt:
                    raise
                # Another event got the same name (same nanosecond): take a random one.
                body["metadata"]["name"] = event_name(name, int.from_bytes(os.urandom(8), "big"))
    except Exception as exc:  # pylint: disable=broad-except  # an event is never the work
        logger.warning("could not record event %s (%s) on %s: %s", reason, event_type, what,
                       _why(exc))
    return False
