"""aws.database_set_status: merge-patch a Database's status subresource."""

import datetime

from lib.action import BaseAction
from lib.database_objects import (GROUP, PLURAL, STATUS_LIMITS, VERSION, DatabaseObjects,
                                  KubeError, bounded, ready_condition)
from lib.kube import api_client_from_config

__all__ = ["DatabaseSetStatus"]

STATUS_FIELDS = ("dbInstanceIdentifier", "endpoint", "port", "vaultPath", "consulKey")


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class DatabaseSetStatus(BaseAction):
    def run(self, namespace, name, phase, message="", observed_generation=None, fields=None,
            group=GROUP, version=VERSION, plural=PLURAL, warnings=None):
        fields = fields or {}
        unknown = sorted(set(fields) - set(STATUS_FIELDS))
        if unknown:
            raise ValueError("fields: unknown status fields %s; expected some of %s"
                             % (", ".join(unknown), ", ".join(STATUS_FIELDS)))
        # Within the CRD's limits: a status too large for the API server (or etcd) would be
        # refused, and the resource would be left without any.
        message = bounded(message or "", STATUS_LIMITS["message"])
        if warnings is not None:
            shown = [bounded(w, STATUS_LIMITS["warning"]) for w in warnings]
            if len(shown) > STATUS_LIMITS["warnings"]:
                shown = shown[:STATUS_LIMITS["warnings"] - 1] + [
                    "%d more warnings" % (len(shown) - STATUS_LIMITS["warnings"] + 1)]
            warnings = shown
        objects = DatabaseObjects(api_client_from_config(self.config), group, version, plural)
        for _ in range(objects.ATTEMPTS):
            obj = objects.get(namespace, name)
            if obj is None:
                return {"patched": False, "phase": phase, "reason": "not found"}
            current = obj.get("status") or {}
            status = dict(fields)
            status.update(phase=phase, message=message)
            if observed_generation is not None:
                status["observedGeneration"] = observed_generation
            if warnings is not None:
                status["warnings"] = warnings
            status["conditions"] = ready_condition(current.get("conditions"), phase, message,
                                                   observed_generation, utc_now())
            # resourceVersion makes the patch fail with 409 if the object changed since the
            # read, so the conditions list (replaced whole by a merge patch) is never stale.
            body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
                    "status": status}
            try:
                objects.patch(namespace, name, body, status=True)
            except KubeError as exc:
                if exc.status == 404:
                    return {"patched": False, "phase": phase, "reason": "not found"}
                if exc.status == 409:
                    continue
                raise
            self.logger.info("%s/%s status: %s %s", namespace, name, phase, message)
            return {"patched": True, "phase": phase}
        raise KubeError("status of %s kept changing during %d attempts; retry"
                        % (objects.what(namespace, name), objects.ATTEMPTS))
