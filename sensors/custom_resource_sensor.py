"""Watches Kubernetes custom resources and dispatches aws.custom_resource_{added,modified,deleted}.

One thread per entry of config ``watch_resources``, each running the list-then-watch loop:

1. LIST the resource (paged), diff it against the state saved in the st2 datastore and emit
   the differences: uids gone -> DELETED (from the last payload emitted), new uids -> ADDED,
   changed resourceVersion -> MODIFIED;
2. WATCH from the list's resourceVersion with bookmarks, a server-side timeout
   (``watch_timeout_seconds``) and a client read timeout (``watch_read_timeout_seconds``),
   moving the cursor with every event; a clean end re-watches from the cursor;
3. on 410 Gone (the cursor was compacted away) go back to 1; on any other error back off
   (1 s doubling to 60 s, with jitter) and re-watch from the cursor (or re-list if no list
   succeeded yet, or after a read timeout: a watch from a cursor the API server does not have
   is silent). An error is logged once, with what to do, until it is resolved.

A (uid, resourceVersion) is emitted at most once per run. Across restarts delivery is at
least once: state is written shortly after each event (at once when a new uid is emitted, so a
delete that happens while the sensor is down is never missed). See docs/sensor.md.
"""

import json
import os
import random
import sys
import threading
from collections import deque

from st2reactor.sensor.base import Sensor

# st2's sensor container puts only this folder on sys.path; the shared code is in actions/lib.
_ACTIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "actions")
if _ACTIONS_DIR not in sys.path:
    sys.path.append(_ACTIONS_DIR)

from cr_state import ResourceState  # noqa: E402 pylint: disable=wrong-import-position
from lib.kube import (  # noqa: E402 pylint: disable=wrong-import-position
    ADDED, DELETED, MODIFIED, TRIGGERS, api_client_from_config, deleted_payload,
    resource_from_config, to_payload,
)

__all__ = ["CustomResourceSensor"]

DEFAULT_WATCH_RESOURCES = [
    {"group": "dbaas.stackstorm.com", "version": "v1alpha1", "plural": "databases"},
    {"group": "stackstorm.com", "version": "v1", "plural": "mysqldbs"},
]
CRD_FILES = {
    ("dbaas.stackstorm.com", "databases"): "k8s/crds/database.yaml",
    ("stackstorm.com", "mysqldbs"): "k8s/crds/mysqldb.yaml",
}


class _Gone(Exception):
    """The watch cursor is too old (410): list again."""


class _StreamError(Exception):
    """An ERROR event other than 410 in the watch stream."""

    def __init__(self, status):
        super().__init__(status.get("message") or "watch error")
        self.status = status.get("code")
        self.reason = status.get("reason")


class CustomResourceSensor(Sensor):
    """Emits a trigger for every change of the configured custom resources."""

    backoff_initial = 1.0  # seconds; doubled per consecutive failure
    backoff_max = 60.0
    connect_timeout = 10.0
    state_flush_interval = 1.0  # seconds between writes of changed state
    list_page_size = 500
    stop_timeout = 5.0  # how long cleanup() waits for the watch threads

    def __init__(self, sensor_service, config=None):
        super().__init__(sensor_service=sensor_service, config=config)
        self._logger = sensor_service.get_logger(__name__)
        self._stop = threading.Event()
        self._dispatch_lock = threading.Lock()
        self._datastore_lock = threading.Lock()
        self._watchers = []
        self._threads = []
        self._api_client = None

    # ------------------------------------------------------------------ st2 hooks
    def setup(self):
        config = self.config or {}
        resources = config.get("watch_resources") or DEFAULT_WATCH_RESOURCES
        resources = [resource_from_config(entry, i) for i, entry in enumerate(resources)]
        self.watch_timeout = int(config.get("watch_timeout_seconds") or 300)
        self.read_timeout = float(config.get("watch_read_timeout_seconds") or 90)
        # No urllib3 retries: the watch loop retries with its own backoff and logging.
        self._api_client = api_client_from_config(config, retries=False)
        self._watchers = [_ResourceWatcher(self, resource) for resource in resources]
        for watcher in self._watchers:
            known = watcher.state.load()
            self._logger.info("watching %s; %d objects known from the datastore, cursor %s",
                              watcher.label, known, watcher.state.cursor)

    def run(self):
        self._threads = [
            threading.Thread(target=w.run, name="watch-%s" % w.state.prefix, daemon=True)
            for w in self._watchers
        ]
        self._threads.append(threading.Thread(target=self._flush_loop, name="state-flush",
                                              daemon=True))
        for thread in self._threads:
            thread.start()
        self._stop.wait()  # st2 expects run() to block; it returns once cleanup() is called
        for thread in self._threads:
            thread.join(self.stop_timeout)

    def cleanup(self):
        self._stop.set()
        for watcher in self._watchers:
            watcher.interrupt()
        for thread in self._threads:
            thread.join(self.stop_timeout)
        self._flush_all()
        if self._api_client is not None:
            self._api_client.close()

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass

    # ------------------------------------------------------------------ helpers
    def stopping(self):
        return self._stop.is_set()

    def dispatch(self, payload):
        with self._dispatch_lock:
            self.sensor_service.dispatch(trigger=TRIGGERS[payload["event"]], payload=payload)

    def _flush_loop(self):
        while not self._stop.wait(self.state_flush_interval):
            self._flush_all()

    def _flush_all(self):
        for watcher in self._watchers:
            self.save_state(watcher)

    def save_state(self, watcher, shards=None):
        """Write a watcher's changed state; a datastore failure is logged, and retried by the
        next flush (it must not restart the watch, nor be taken for a Kubernetes error)."""
        try:
            watcher.state.flush(shards=shards)
        except Exception as exc:  # pylint: disable=broad-except
            self._logger.warning("cannot save the state of %s in the st2 datastore "
                                 "(will retry): %s", watcher.label, exc)


class _ResourceWatcher(object):
    """The list-then-watch loop of one watched resource."""

    def __init__(self, sensor, resource):
        from kubernetes import client

        self.sensor = sensor
        self.resource = resource
        self.log = sensor._logger  # pylint: disable=protected-access
        self.api = client.CustomObjectsApi(sensor._api_client)  # pylint: disable=protected-access
        self.state = ResourceState(sensor.sensor_service, resource,
                                   lock=sensor._datastore_lock)  # pylint: disable=protected-access
        namespace = resource["namespace"]
        self.label = "%s.%s/%s %s" % (
            resource["plural"], resource["group"], resource["version"],
            "in namespace %s" % namespace if namespace else "in all namespaces",
        )
        self._response = None
        self._failures = 0
        self._error = None  # signature of the error logged last; None when all is well
        self._recently_deleted = deque(maxlen=1000)
        self.stats = {"lists": 0, "watches": 0, "gone": 0, "errors": 0}

    # ------------------------------------------------------------------ loop
    def run(self):
        need_list = True
        while not self.sensor.stopping():
            try:
                if need_list:
                    self._list_and_reconcile()
                    need_list = False
                    self._ok()
                self._watch()
            except _Gone:
                self.stats["gone"] += 1
                self.log.info("%s: resourceVersion %s is too old (410 Gone); listing again",
                              self.label, self.state.cursor)
                need_list = True
            except Exception as exc:  # pylint: disable=broad-except
                if self.sensor.stopping():
                    break
                if getattr(exc, "status", None) == 410:  # e.g. an expired list continue token
                    self.stats["gone"] += 1
                    need_list = True
                    continue
                self.stats["errors"] += 1
                self._report(exc)
                if self.state.cursor is None or _is_read_timeout(exc):
                    # Silence: a stalled connection, or a cursor the API server does not have
                    # (etcd restored from a backup), whose watch stays silent: list again.
                    need_list = True
                self._backoff()
        self._close_response()

    def interrupt(self):
        """Unblock a read in progress (called from cleanup())."""
        self._close_response()

    def _backoff(self):
        delay = min(self.sensor.backoff_max, self.sensor.backoff_initial * 2 ** self._failures)
        self._failures += 1
        self.sensor._stop.wait(delay * random.uniform(0.5, 1.0))  # pylint: disable=W0212

    def _ok(self):
        self._failures = 0
        if self._error is not None:
            self.log.info("%s: recovered, watching again", self.label)
            self._error = None

    # ------------------------------------------------------------------ API calls
    def _call(self, **kwargs):
        r = self.resource
        kwargs.update(_preload_content=False,
                      _request_timeout=(self.sensor.connect_timeout, self.sensor.read_timeout))
        if r["namespace"]:
            return self.api.list_namespaced_custom_object(
                r["group"], r["version"], r["namespace"], r["plural"], **kwargs)
        return self.api.list_cluster_custom_object(r["group"], r["version"], r["plural"],
                                                   **kwargs)

    def _list(self):
        items, token = [], None
        while True:
            kwargs = {"limit": self.sensor.list_page_size}
            if token:
                kwargs["_continue"] = token
            response = self._call(**kwargs)
            try:
                body = json.loads(response.data)
            finally:
                response.release_conn()
            items.extend(body.get("items") or [])
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return items, body["metadata"]["resourceVersion"]

    def _list_and_reconcile(self):
        items, resource_version = self._list()
        self.stats["lists"] += 1
        listed = set()
        for obj in items:
            listed.add(obj["metadata"]["uid"])
        for uid in self.state.uids():
            if uid not in listed:  # deleted while we were not watching
                payload = deleted_payload(self.state.get(uid))
                self._emit(payload)
                self.state.remove(uid)
                self._recently_deleted.append(uid)
        for obj in items:
            self._upsert(obj, flush=False)
        self.state.set_cursor(resource_version)
        self.sensor.save_state(self)

    def _watch(self):
        self.stats["watches"] += 1
        response = self._call(watch=True, resource_version=self.state.cursor,
                              allow_watch_bookmarks=True,
                              timeout_seconds=self.sensor.watch_timeout)
        self._response = response
        try:
            for line in _lines(response):
                if self.sensor.stopping():
                    return
                self._handle(json.loads(line))
                self._ok()
            self._ok()  # the server ended the watch (timeout_seconds): watch again at once
        finally:
            self._close_response()

    def _close_response(self):
        response, self._response = self._response, None
        if response is None:
            return
        try:
            shutdown = getattr(response, "shutdown", None)  # urllib3 >= 2.3: unblocks a read
            if shutdown is not None:
                shutdown()
            response.close()
            response.release_conn()
        except Exception:  # pylint: disable=broad-except
            pass

    # ------------------------------------------------------------------ events
    def _handle(self, event):
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Gone()
            raise _StreamError(obj)
        resource_version = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            self.state.set_cursor(resource_version)
            return
        if kind == DELETED:
            uid = obj["metadata"]["uid"]
            previous = self.state.get(uid)
            if previous is not None or uid not in self._recently_deleted:
                self._emit(to_payload(DELETED, obj, self.resource, previous))
                self.state.remove(uid)
                self._recently_deleted.append(uid)
        elif kind in (ADDED, MODIFIED):
            self._upsert(obj, flush=True)
        self.state.set_cursor(resource_version)

    def _upsert(self, obj, flush):
        metadata = obj["metadata"]
        uid = metadata["uid"]
        previous = self.state.get(uid)
        if previous is not None and previous["resource_version"] == metadata["resourceVersion"]:
            return  # already emitted
        payload = to_payload(ADDED if previous is None else MODIFIED, obj, self.resource,
                             previous)
        self._emit(payload)
        self.state.put(payload)
        if previous is None and flush:
            # A new uid is saved at once: a restart then sees it gone if it is deleted meanwhile.
            self.sensor.save_state(self, shards=[self.state.shard_of(uid)])

    def _emit(self, payload):
        self.log.debug("%s %s %s/%s resourceVersion %s", payload["event"], payload["kind"],
                       payload["namespace"], payload["name"], payload["resource_version"])
        self.sensor.dispatch(payload)

    # ------------------------------------------------------------------ errors
    def _report(self, exc):
        """Log an error once per kind until it is resolved; later repeats at debug level."""
        status = getattr(exc, "status", None)
        signature = ("connection", None) if _is_connection_error(exc) else (
            type(exc).__name__, status)
        message = self._explain(exc, status)
        if signature == self._error:
            self.log.debug("%s: still failing: %s", self.label, message)
            return
        self._error = signature
        if isinstance(exc, (_StreamError,)) or status is not None or _is_connection_error(exc):
            self.log.error("%s: %s (retrying with backoff up to %ds; logged once until it "
                           "recovers)", self.label, message, self.sensor.backoff_max)
        else:
            self.log.exception("%s: unexpected error, retrying with backoff: %s",
                               self.label, message)

    def _explain(self, exc, status):
        r = self.resource
        what = "%s.%s" % (r["plural"], r["group"])
        where = "namespace %s" % r["namespace"] if r["namespace"] else "all namespaces"
        if status == 401:
            return ("401 Unauthorized: the API server refused the credentials; check pack "
                    "config kube_token / kubeconfig / kube_context")
        if status == 403:
            return ("403 Forbidden: the sensor's identity may not list/watch %s in %s; grant "
                    "get,list,watch on %s (see k8s/rbac/sensor.yaml)" % (what, where, what))
        if status == 404:
            crd = CRD_FILES.get((r["group"], r["plural"]))
            return ("404 Not Found: the API server does not serve %s version %s; is its "
                    "CustomResourceDefinition installed? %s"
                    % (what, r["version"], "apply %s" % crd if crd else
                       "check group/version/plural in pack config watch_resources"))
        if status is not None:
            reason = getattr(exc, "reason", "") or ""
            return "API server answered %s %s" % (status, str(reason).strip())
        if _is_connection_error(exc):
            return "cannot reach the API server: %s: %s" % (type(exc).__name__, exc)
        return "%s: %s" % (type(exc).__name__, exc)


def _is_connection_error(exc):
    import urllib3

    return isinstance(exc, (urllib3.exceptions.HTTPError, OSError, TimeoutError))


def _is_read_timeout(exc):
    import urllib3

    return isinstance(exc, (urllib3.exceptions.ReadTimeoutError, TimeoutError))


def _lines(response):
    """The lines of a watch stream as they arrive."""
    pending = b""
    for chunk in response.stream(amt=None, decode_content=False):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line
    if pending.strip():
        yield pending
