"""Database objects in the Kubernetes API: get, merge-patch and list, and the status they carry.

``DatabaseObjects`` wraps the custom-objects calls of the status, finalizer and drift actions
with errors naming the object; ``ready_condition`` and ``bounded`` shape what the status holds,
within the CRD's limits (k8s/crds/database.yaml), so a status patch is never refused for size;
``retry_schedule`` is the ``status.retry`` of a failed run that is retried later.
"""

import datetime
import random
import re

__all__ = [
    "GROUP", "VERSION", "PLURAL", "KIND", "FINALIZER", "STATUS_LIMITS", "KubeError",
    "DatabaseObjects", "ready_condition", "progressing_condition", "bounded", "retry_schedule",
    "rfc3339", "IN_PROGRESS_PHASES",
]

GROUP = "dbaas.stackstorm.com"
VERSION = "v1alpha1"
PLURAL = "databases"
KIND = "Database"
FINALIZER = "dbaas.stackstorm.com/rds-protection"

#: Longest strings and lists the status may hold (the CRD's maxLength/maxItems; the pack cuts
#: what it writes to these, and tests/test_crd_database.py keeps the CRD equal).
STATUS_LIMITS = {"message": 1024, "warning": 512, "warnings": 10, "conditions": 8,
                 "reason": 128, "type": 64}

# Kubernetes names: a namespace is an RFC 1123 label, a custom object's name a DNS subdomain.
KUBE_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
KUBE_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?"
                       r"(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def bounded(text, limit):
    """``text`` cut to at most ``limit`` characters, saying how much was cut."""
    text = text if isinstance(text, str) else str(text)
    if len(text) <= limit:
        return text
    tail = "... (%d more characters)" % (len(text) - limit)
    return text[:max(0, limit - len(tail) - 8)] + tail


def _quote(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "..."


def _with_condition(conditions, kind, status, reason, message, observed_generation, now):
    """``conditions`` (anything: odd entries dropped, old messages bounded) with condition
    ``kind`` set; lastTransitionTime changes only when its status does, as Kubernetes
    conventions ask. Returns (the other conditions, the new one, the old one's index)."""
    conditions = [dict(c) for c in (conditions if isinstance(conditions, list) else [])
                  if isinstance(c, dict)]
    for condition in conditions:  # written before the CRD bounded them
        if isinstance(condition.get("message"), str):
            condition["message"] = bounded(condition["message"], STATUS_LIMITS["message"])
    index = next((i for i, c in enumerate(conditions) if c.get("type") == kind), None)
    old = conditions[index] if index is not None else None
    new = {"type": kind, "status": status, "reason": bounded(reason, STATUS_LIMITS["reason"]),
           "message": bounded(message, STATUS_LIMITS["message"]), "lastTransitionTime": now}
    if old is not None and old.get("status") == status and old.get("lastTransitionTime"):
        new["lastTransitionTime"] = old["lastTransitionTime"]
    if observed_generation is not None:
        new["observedGeneration"] = observed_generation
    elif old is not None and "observedGeneration" in old:
        new["observedGeneration"] = old["observedGeneration"]
    return conditions, new, index


def ready_condition(conditions, phase, message, observed_generation, now, reason=None):
    """``conditions`` with the ``Ready`` condition set for ``phase`` (others kept as they are).

    Ready is "True" only in phase Ready; its reason is ``reason`` (e.g. Recoverable or Terminal
    for a Failed phase), by default the phase. It comes first.
    """
    conditions, new, _ = _with_condition(conditions, "Ready",
                                         "True" if phase == "Ready" else "False",
                                         reason or phase, message, observed_generation, now)
    others = [c for c in conditions if c.get("type") != "Ready"]
    return ([new] + others)[:STATUS_LIMITS["conditions"]]


#: Phases of a run in progress: condition Progressing is True in them.
IN_PROGRESS_PHASES = ("Pending", "Provisioning", "Updating", "Deleting")


def progressing_condition(conditions, phase, message, observed_generation, now):
    """``conditions`` with the ``Progressing`` condition set for ``phase``: True while a run is
    at work (Pending, Provisioning, Updating, Deleting), else False. Its lastTransitionTime is
    when the current run began (or ended): the resync tells a run that died from a long one by
    it. Kept where it is in the list, after Ready when new."""
    conditions, new, index = _with_condition(
        conditions, "Progressing", "True" if phase in IN_PROGRESS_PHASES else "False", phase,
        message, observed_generation, now)
    if index is not None:
        conditions[index] = new
    else:
        ready = next((i for i, c in enumerate(conditions) if c.get("type") == "Ready"), -1)
        conditions.insert(ready + 1, new)
    return conditions[:STATUS_LIMITS["conditions"]]


def rfc3339(moment):
    """``moment`` (an aware datetime) as RFC 3339 UTC to the second: 2026-01-01T00:00:00Z."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def retry_schedule(previous, message, now, initial_seconds, max_seconds, rand=random.random):
    """``status.retry`` after one more recoverable failure, and the delay in seconds.

    ``previous`` is the current ``status.retry`` (anything: a missing or odd one counts as no
    attempt yet). The delay doubles from ``initial_seconds`` with each attempt, capped at
    ``max_seconds``, then moves by up to 20% either way (``rand()`` in [0, 1)) so that many
    Databases failing together are not retried together; it never exceeds ``max_seconds``
    and is a whole number of seconds, at least 1. ``now`` is an aware datetime.
    """
    attempts = previous.get("attempts") if isinstance(previous, dict) else None
    attempts = attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else 0
    attempts = max(0, attempts) + 1
    base = min(max_seconds, initial_seconds * 2 ** min(attempts - 1, 62))
    delay = max(1, min(max_seconds, int(round(base * (0.8 + 0.4 * rand())))))
    start = now.astimezone(datetime.timezone.utc).replace(microsecond=0)
    retry = {"attempts": attempts,
             "nextAttemptAt": rfc3339(start + datetime.timedelta(seconds=delay)),
             "lastFailure": bounded(message or "", STATUS_LIMITS["message"])}
    return retry, delay


class KubeError(RuntimeError):
    """The Kubernetes API could not be reached or refused a request."""


class DatabaseObjects:
    """get / merge-patch / list of one custom resource kind, with errors naming the object."""

    # Optimistic-concurrency attempts on 409 Conflict. Each conflict means another writer
    # succeeded, so N attempts always succeed against up to N - 1 concurrent writers.
    ATTEMPTS = 10

    def __init__(self, api_client, group=GROUP, version=VERSION, plural=PLURAL):
        from kubernetes import client  # pylint: disable=import-outside-toplevel

        self.api = client.CustomObjectsApi(api_client)
        self.host = api_client.configuration.host
        self.group, self.version, self.plural = group, version, plural

    def what(self, namespace=None, name=None):
        kind = "%s.%s" % (self.plural, self.group)
        return "%s %s/%s" % (kind, namespace, name) if name else kind

    def error(self, exc, doing, namespace=None, name=None):
        """A KubeError for an ApiException or a transport error."""
        status = getattr(exc, "status", None)
        if status:
            reason = getattr(exc, "reason", "") or ""
            detail = _api_message(exc)
            return KubeError("Kubernetes API at %s answered %s %s while %s %s%s"
                             % (self.host, status, reason, doing, self.what(namespace, name),
                                ": %s" % detail if detail else ""))
        return KubeError("Kubernetes API at %s is unreachable while %s %s: %s"
                         % (self.host, doing, self.what(namespace, name), type(exc).__name__))

    @staticmethod
    def check_names(namespace, name):
        """Raise ``ValueError`` naming the parameter unless both are valid Kubernetes names: an
        empty or odd one would address another URL (a list, or nothing) and read as "gone"."""
        if not isinstance(namespace, str) or not KUBE_NAMESPACE.match(namespace):
            raise ValueError("namespace: expected a Kubernetes namespace name (lowercase letters, "
                             "digits and '-', at most 63), got %s" % _quote(namespace))
        if not isinstance(name, str) or not KUBE_NAME.match(name):
            raise ValueError("name: expected a Kubernetes object name (lowercase letters, digits, "
                             "'-' and '.', at most 253), got %s" % _quote(name))

    def get(self, namespace, name):
        """The object as a dict, or None when it does not exist."""
        self.check_names(namespace, name)
        try:
            return self.api.get_namespaced_custom_object(
                self.group, self.version, namespace, self.plural, name)
        except Exception as exc:  # pylint: disable=broad-except
            if getattr(exc, "status", None) == 404:
                return None
            raise self.error(exc, "reading", namespace, name) from None

    def patch(self, namespace, name, body, status=False):
        """Merge-patch the object (or its status subresource); returns the new object.

        Raises ``KubeError`` with ``.status`` 404 or 409 left on it for the caller to act on.
        """
        self.check_names(namespace, name)
        method = (self.api.patch_namespaced_custom_object_status if status
                  else self.api.patch_namespaced_custom_object)
        try:
            return method(self.group, self.version, namespace, self.plural, name, body,
                          _content_type="application/merge-patch+json")
        except Exception as exc:  # pylint: disable=broad-except
            error = self.error(exc, "patching status of" if status else "patching",
                               namespace, name)
            error.status = getattr(exc, "status", None)
            raise error from None

    def list_all(self, namespace=None):
        """Every object of the kind in all namespaces, or in ``namespace`` (all pages)."""
        items, token = [], None
        while True:
            kwargs = {"limit": 500}
            if token:
                kwargs["_continue"] = token
            try:
                if namespace:
                    page = self.api.list_namespaced_custom_object(
                        self.group, self.version, namespace, self.plural, **kwargs)
                else:
                    page = self.api.list_cluster_custom_object(self.group, self.version,
                                                               self.plural, **kwargs)
            except Exception as exc:  # pylint: disable=broad-except
                raise self.error(exc, "listing") from None
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items


def _api_message(exc):
    import json  # pylint: disable=import-outside-toplevel

    try:
        return json.loads(exc.body).get("message", "")
    except (TypeError, ValueError, AttributeError):
        return ""
