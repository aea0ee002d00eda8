"""aws.database_set_status: merge-patch a Database's status subresource, schedule the retry of
a failed run, and record a Kubernetes Event for each transition.

Nothing is written when the status would not change (a periodic resync re-confirming Ready
costs one read and no write, and records no event).
"""

import datetime
import random

from lib.action import BaseAction, ConfigError
from lib.database_objects import (GROUP, PLURAL, STATUS_LIMITS, VERSION, DatabaseObjects,
                                  KubeError, bounded, progressing_condition, ready_condition,
                                  retry_schedule, rfc3339)
from lib.kube import api_client_from_config
from lib.kube_events import MESSAGE_LIMIT, REASON, record_event

__all__ = ["DatabaseSetStatus"]

STATUS_FIELDS = ("dbInstanceIdentifier", "endpoint", "port", "vaultPath", "consulKey")
OUTCOMES = ("", "recoverable", "terminal")
# The Ready condition's reason of a Failed phase, by outcome ("" keeps the phase).
CONDITION_REASONS = {"recoverable": "Recoverable", "terminal": "Terminal"}
RETRY_DEFAULTS = {"retry_initial_seconds": 30, "retry_max_seconds": 900}


def _merged(target, patch):
    """``target`` after the JSON merge patch ``patch`` (RFC 7386), as a new value."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merged(result.get(key), value)
    return result


def _absent_if_empty(status):
    """``status`` with empty strings written as absent: "" means "none", and some API servers
    (kube-apiserver 1.20 as the tests build it) turn "" in a custom resource into null and
    refuse the patch. A top-level "" becomes null (the merge patch removes the field)."""
    status = {key: None if value == "" else value for key, value in status.items()}
    if isinstance(status.get("warnings"), list):
        status["warnings"] = [w for w in status["warnings"] if w != ""]
    for key in ("conditions",):
        if isinstance(status.get(key), list):
            status[key] = [{k: v for k, v in item.items() if v != ""}
                           if isinstance(item, dict) else item for item in status[key]]
    if isinstance(status.get("retry"), dict):
        status["retry"] = {k: v for k, v in status["retry"].items() if v != ""}
    return status


def _ready_reason(status):
    conditions = status.get("conditions")
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition.get("reason")
    return None


class DatabaseSetStatus(BaseAction):
    #: Random number in [0, 1) for the retry delay's jitter (tests may pin it).
    jitter = staticmethod(random.random)

    def run(self, namespace, name, phase, message="", observed_generation=None, fields=None,
            group=GROUP, version=VERSION, plural=PLURAL, warnings=None, outcome="",
            event_reason="", event_message=""):
        fields = fields or {}
        unknown = sorted(set(fields) - set(STATUS_FIELDS))
        if unknown:
            raise ValueError("fields: unknown status fields %s; expected some of %s"
                             % (", ".join(unknown), ", ".join(STATUS_FIELDS)))
        outcome = outcome or ""
        if outcome not in OUTCOMES:
            raise ValueError("outcome: expected \"\", \"recoverable\" or \"terminal\", got %r"
                             % (outcome,))
        event_reason = event_reason or ""
        if event_reason and not (isinstance(event_reason, str) and REASON.match(event_reason)):
            raise ValueError("event_reason: expected a CamelCase reason of 1-128 letters and "
                             "digits such as DriftRepaired, got %r" % (bounded(event_reason, 80),))
        if phase != "Failed":
            outcome = ""  # an outcome only qualifies a failure
        limits = self._retry_limits() if outcome == "recoverable" else None
        # Within the CRD's limits: a status too large for the API server (or etcd) would be
        # refused, and the resource would be left without any.
        message = bounded(message or "", STATUS_LIMITS["message"])
        if warnings is not None:
            shown = [bounded(w, STATUS_LIMITS["warning"]) for w in warnings]
            if len(shown) > STATUS_LIMITS["warnings"]:
                shown = shown[:STATUS_LIMITS["warnings"] - 1] + [
                    "%d more warnings" % (len(shown) - STATUS_LIMITS["warnings"] + 1)]
            warnings = shown
        api_client = api_client_from_config(self.config)
        objects = DatabaseObjects(api_client, group, version, plural)
        for _ in range(objects.ATTEMPTS):
            obj = objects.get(namespace, name)
            if obj is None:
                return {"patched": False, "phase": phase, "reason": "not found"}
            current = obj.get("status") if isinstance(obj.get("status"), dict) else {}
            now = datetime.datetime.now(datetime.timezone.utc)
            status = dict(fields)
            status.update(phase=phase, message=message)
            if observed_generation is not None:
                status["observedGeneration"] = observed_generation
            if warnings is not None:
                status["warnings"] = warnings
            retry = delay = None
            if outcome == "recoverable":
                retry, delay = retry_schedule(current.get("retry"), message, now, *limits,
                                              rand=self.jitter)
                status["retry"] = retry
            elif phase == "Ready" or outcome == "terminal":
                status["retry"] = None  # merge patch: removed
            status["conditions"] = progressing_condition(
                ready_condition(current.get("conditions"), phase, message, observed_generation,
                                rfc3339(now), reason=CONDITION_REASONS.get(outcome)),
                phase, message, observed_generation, rfc3339(now))
            status = _absent_if_empty(status)
            if _merged(current, status) == current:
                result = {"patched": False, "phase": phase, "reason": "unchanged"}
                return self._with_events(result, api_client, obj, [
                    self._extra_event(phase, message, event_reason, event_message)])
            # resourceVersion makes the patch fail with 409 if the object changed since the
            # read, so the conditions list (replaced whole by a merge patch) is never stale.
            body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
                    "status": status}
            try:
                patched = objects.patch(namespace, name, body, status=True)
            except KubeError as exc:
                if exc.status == 404:
                    return {"patched": False, "phase": phase, "reason": "not found"}
                if exc.status == 409:
                    continue
                raise
            self.logger.info("%s/%s status: %s %s", namespace, name, phase, message)
            result = {"patched": True, "phase": phase}
            if retry is not None:
                result["retry"] = {"attempts": retry["attempts"],
                                   "nextAttemptAt": retry["nextAttemptAt"],
                                   "delaySeconds": delay}
            return self._with_events(result, api_client, patched or obj, [
                self._transition_event(current, status, outcome, retry),
                self._extra_event(phase, message, event_reason, event_message)])
        raise KubeError("status of %s kept changing during %d attempts; retry"
                        % (objects.what(namespace, name), objects.ATTEMPTS))

    def _retry_limits(self):
        """(retry_initial_seconds, retry_max_seconds) of the pack config."""
        limits = []
        for key in ("retry_initial_seconds", "retry_max_seconds"):
            value = self.config_value(key, default=RETRY_DEFAULTS[key], kind=int)
            if isinstance(value, bool) or value < 1:
                raise ConfigError('pack config key "%s" must be a whole number of seconds of at '
                                  "least 1, got %r" % (key, value))
            limits.append(value)
        return tuple(limits)

    @staticmethod
    def _transition_event(current, status, outcome, retry):
        """(reason, message, type) of the event for this change of status, or None."""
        phase, message = status["phase"], status["message"] or ""
        if retry is not None:
            suffix = " (retry %d at %s)" % (retry["attempts"], retry["nextAttemptAt"])
            text = bounded(message or "failed", MESSAGE_LIMIT - len(suffix)) + suffix
            return ("RetryScheduled", text, "Warning")
        changed = current.get("phase") != phase
        if phase == "Failed":
            changed = changed or (current.get("message") or "") != message or (
                _ready_reason(current) != CONDITION_REASONS.get(outcome, phase))
            return ("Failed", message or "phase Failed", "Warning") if changed else None
        return (phase, message or "phase %s" % phase, "Normal") if changed else None

    @staticmethod
    def _extra_event(phase, message, event_reason, event_message):
        if not event_reason:
            return None
        return (event_reason, event_message or message or "phase %s" % phase,
                "Warning" if phase == "Failed" else "Normal")

    def _with_events(self, result, api_client, obj, events):
        """``result`` with the reasons of the events recorded (none may fail the action)."""
        recorded = [reason for reason, text, kind in filter(None, events)
                    if record_event(api_client, obj, reason, text, kind, logger=self.logger)]
        if recorded:
            result["events"] = recorded
        return result
