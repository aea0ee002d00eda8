"""aws.database_finalizer: add or remove a finalizer on a Database (idempotent)."""

from lib.action import BaseAction
from lib.database.objects import FINALIZER, GROUP, PLURAL, VERSION, DatabaseObjects, KubeError
from lib.kube.api import api_client_from_config

__all__ = ["DatabaseFinalizer"]


class DatabaseFinalizer(BaseAction):
    def run(self, namespace, name, operation, finalizer=FINALIZER, group=GROUP, version=VERSION,
            plural=PLURAL, uid=""):
        if operation not in ("add", "remove"):
            raise ValueError("operation: expected add or remove, got %r" % (operation,))
        objects = DatabaseObjects(api_client_from_config(self.config), group, version, plural)
        for _ in range(objects.ATTEMPTS):
            obj = objects.get(namespace, name)
            if obj is None:
                if operation == "remove":
                    return {"finalizers": [], "changed": False}
                raise KubeError("cannot add finalizer %s: %s does not exist"
                                % (finalizer, objects.what(namespace, name)))
            metadata = obj["metadata"]
            if operation == "add":
                # A run started from an older view (a resync, a replayed trigger) must not
                # provision an object that is being deleted, or a new object of the same name.
                if uid and metadata.get("uid") != uid:
                    raise KubeError("not adding finalizer %s: %s is now another object (uid %s, "
                                    "not %s); nothing was provisioned for the old one"
                                    % (finalizer, objects.what(namespace, name),
                                       metadata.get("uid"), uid))
                if metadata.get("deletionTimestamp"):
                    raise KubeError("not adding finalizer %s: %s is being deleted (since %s); "
                                    "nothing is provisioned for it"
                                    % (finalizer, objects.what(namespace, name),
                                       metadata["deletionTimestamp"]))
            finalizers = list(metadata.get("finalizers") or [])
            if operation == "add" and finalizer not in finalizers:
                wanted = finalizers + [finalizer]
            elif operation == "remove" and finalizer in finalizers:
                wanted = [f for f in finalizers if f != finalizer]
            else:
                return {"finalizers": finalizers, "changed": False}
            body = {"metadata": {"resourceVersion": metadata["resourceVersion"],
                                 "finalizers": wanted}}
            try:
                patched = objects.patch(namespace, name, body)
            except KubeError as exc:
                if exc.status == 409:
                    continue
                if exc.status == 404 and operation == "remove":
                    return {"finalizers": [], "changed": False}
                raise
            self.logger.info("%s finalizer %s on %s/%s", operation, finalizer, namespace, name)
            return {"finalizers": list(patched["metadata"].get("finalizers") or []),
                    "changed": True}
        raise KubeError("%s kept changing during %d attempts; retry"
                        % (objects.what(namespace, name), objects.ATTEMPTS))
