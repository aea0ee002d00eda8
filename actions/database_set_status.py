"""aws.database_set_status: merge-patch a Database's status subresource, schedule the retry of
a failed run, and record a Kubernetes Event for each transition (the status and events are
composed by lib/database/status.py).

Nothing is written when the status would not change (a periodic resync re-confirming Ready
costs one read and no write, and records no event).
"""

import datetime
import random

from lib.action import BaseAction, ConfigError
from lib.database.objects import (GROUP, PLURAL, STATUS_LIMITS, VERSION, DatabaseObjects,
                                  KubeError, bounded)
from lib.database.status import (RETRY_DEFAULTS, check_inputs, compose, extra_event,
                                 shown_warnings, transition_event, unchanged)
from lib.kube.api import api_client_from_config
from lib.kube.events import record_event

__all__ = ["DatabaseSetStatus"]


class DatabaseSetStatus(BaseAction):
    #: Random number in [0, 1) for the retry delay's jitter (tests may pin it).
    jitter = staticmethod(random.random)

    def run(self, namespace, name, phase, message="", observed_generation=None, fields=None,
            group=GROUP, version=VERSION, plural=PLURAL, warnings=None, outcome="",
            event_reason="", event_message=""):
        fields, outcome, event_reason = check_inputs(phase, fields, outcome, event_reason)
        limits = self._retry_limits() if outcome == "recoverable" else None
        message = bounded(message or "", STATUS_LIMITS["message"])
        warnings = shown_warnings(warnings)
        api_client = api_client_from_config(self.config)
        objects = DatabaseObjects(api_client, group, version, plural)
        for _ in range(objects.ATTEMPTS):
            obj = objects.get(namespace, name)
            if obj is None:
                return {"patched": False, "phase": phase, "reason": "not found"}
            current = obj.get("status") if isinstance(obj.get("status"), dict) else {}
            status, retry, delay = compose(
                current, fields, phase, message, observed_generation, warnings, outcome,
                datetime.datetime.now(datetime.timezone.utc), limits, self.jitter)
            if unchanged(current, status):
                result = {"patched": False, "phase": phase, "reason": "unchanged"}
                return self._with_events(result, api_client, obj, [
                    extra_event(phase, message, event_reason, event_message)])
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
                transition_event(current, status, outcome, retry),
                extra_event(phase, message, event_reason, event_message)])
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

    def _with_events(self, result, api_client, obj, events):
        """``result`` with the reasons of the events recorded (none may fail the action)."""
        recorded = [reason for reason, text, kind in filter(None, events)
                    if record_event(api_client, obj, reason, text, kind, logger=self.logger)]
        if recorded:
            result["events"] = recorded
        return result
