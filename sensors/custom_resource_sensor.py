"""Watches Kubernetes custom resources and dispatches aws.custom_resource_{added,modified,deleted}.

One thread per entry of config ``watch_resources``, each running the list-then-watch loop:

1. read the state saved in the st2 datastore (retrying while st2 cannot answer: an outage is
   not "no state", which would emit every object again);
2. LIST the resource page by page and emit the differences with what is known as each page
   arrives (new uid -> ADDED, after the DELETED of an object that had the same name; changed
   resourceVersion -> MODIFIED), then uids not listed -> DELETED (from the last payload emitted);
3. WATCH from the list's resourceVersion with bookmarks, a server-side timeout
   (``watch_timeout_seconds``) and a client read timeout (``watch_read_timeout_seconds``),
   moving the cursor with every event; a clean end re-watches from the cursor. So does the
   read timeout, quietly: a watch of a resource nothing writes is silent (kube-apiserver 1.20
   sends a bookmark only 2 s before timeoutSeconds, and none for a kind not written since it
   started), so silence is not an error. Before watching again the sensor reads the API
   server's current resourceVersion (a list of one object): a cursor newer than that one
   (etcd restored from a backup) would stay silent for ever, so it lists again; and an event
   older than that one arriving on the new watch shows the old connection was dead (a stall:
   logged);
4. on 410 Gone (the cursor was compacted away) go back to 2. When the API server cannot be
   reached (refused, reset, TLS EOF through a proxy, read timeout of a request: one kind of
   error), probe its /readyz every half second (every tenth while it says it is starting) and
   watch again as soon as it is ready; one log line per outage for the whole sensor. On an
   answer that needs a person (401, 403, 404) back off 1 s doubling to 60 s, logged once until
   it is resolved. A stall is logged at most once an hour per resource (repeats at DEBUG).

A writer thread saves the state (cr_store.py): a new uid within ``new_object_delay`` (0.1 s)
of its ADDED, other changes within ``state_flush_interval`` (1 s), each time in one batch, so a
burst of N changes costs far fewer than N datastore writes (each one an st2 API call), and the
bytes written per change do not depend on how many objects are known. A (uid, resourceVersion)
is emitted at most once per run; across restarts delivery is at least once. See docs/sensor.md.
"""

import json
import os
import random
import signal
import sys
import threading
import time
from collections import deque

from st2reactor.sensor.base import Sensor

# st2's sensor container puts only this folder on sys.path; the shared code is in actions/lib.
_ACTIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "actions")
if _ACTIONS_DIR not in sys.path:
    sys.path.append(_ACTIONS_DIR)

from cr_state import ResourceState  # noqa: E402 pylint: disable=wrong-import-position
from cr_store import StateStore  # noqa: E402 pylint: disable=wrong-import-position
from lib.kube.api import (  # noqa: E402 pylint: disable=wrong-import-position
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
# HTTP answers that mean "not ready yet, try again soon" rather than "a person must act".
_TRANSIENT_STATUS = (429, 500, 502, 503, 504)


class _Gone(Exception):
    """The watch cursor is too old (410): list again."""


class _Stopping(Exception):
    """The sensor is stopping: emit nothing more."""


class _StreamError(Exception):
    """An ERROR event other than 410 in the watch stream."""

    def __init__(self, status):
        super().__init__(status.get("message") or "watch error")
        self.status = status.get("code")
        self.reason = status.get("reason")


class CustomResourceSensor(Sensor):
    """Emits a trigger for every change of the configured custom resources."""

    backoff_initial = 1.0  # seconds, after an answer that needs a person (401/403/404); doubled
    backoff_max = 60.0
    probe_initial = 0.25  # seconds between readiness probes while the API server is unreachable
    probe_max = 0.5
    probe_starting = 0.1  # ... while it answers that it is not ready yet (it is starting)
    connect_timeout = 10.0
    probe_timeout = 2.0
    new_object_delay = 0.1  # seconds: a new uid is saved within this (plus the write)
    state_flush_interval = 1.0  # seconds: other changes are saved within this
    state_retry_max = 30.0  # seconds between attempts while the datastore refuses writes
    list_page_size = 500
    stop_timeout = 4.0  # how long a stop waits for the threads (st2 kills the process at 5 s)
    stall_log_interval = 3600.0  # seconds: a stall is logged at WARNING at most this often

    def __init__(self, sensor_service, config=None):
        super().__init__(sensor_service=sensor_service, config=config)
        self._logger = sensor_service.get_logger(__name__)
        self._stop = threading.Event()
        self._dispatch_lock = threading.Lock()
        self._datastore_lock = threading.Lock()
        self._shutdown_lock = threading.Lock()
        self._shut_down = False
        self._watchers = []
        self._threads = []
        self._api_client = None
        self.writer = _StateWriter(self)
        self.reachability = None

    # ------------------------------------------------------------------ st2 hooks
    def setup(self):
        config = self.config or {}
        resources = config.get("watch_resources") or DEFAULT_WATCH_RESOURCES
        resources = [resource_from_config(entry, i) for i, entry in enumerate(resources)]
        self.watch_timeout = int(config.get("watch_timeout_seconds") or 300)
        self.read_timeout = float(config.get("watch_read_timeout_seconds") or 90)
        # No urllib3 retries: the watch loop retries with its own probe, backoff and logging.
        self._api_client = api_client_from_config(config, retries=False)
        self.reachability = _Reachability(self, self._api_client.configuration.host)
        self._watchers = [_ResourceWatcher(self, resource) for resource in resources]
        self._stop_on_sigterm()

    def run(self):
        self._threads = [
            threading.Thread(target=w.run, name="watch-%s" % w.store.prefix, daemon=True)
            for w in self._watchers
        ]
        self._threads.append(threading.Thread(target=self.writer.run, name="state-writer",
                                              daemon=True))
        for thread in self._threads:
            thread.start()
        self._stop.wait()  # st2 expects run() to block; it returns once the sensor stops
        self._shutdown()

    def cleanup(self):
        self._stop.set()
        self._shutdown()

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass

    # ------------------------------------------------------------------ stopping
    def _stop_on_sigterm(self):
        """In st2's sensor process, stop cleanly on SIGTERM.

        st2sensorcontainer stops a sensor by sending its process SIGTERM (and SIGKILL 5 s later;
        st2reactor/container/process_container.py), and the sensor process has no handler for
        it (st2reactor/container/sensor_wrapper.py), so cleanup() would never run and changes
        not yet saved would be lost. Here SIGTERM makes run() return: it stops the threads and
        saves the state, then the wrapper exits (and calls cleanup() at exit). Only in that
        process: a sensor run by a test or another host program leaves its signals alone.
        """
        if os.path.basename(sys.argv[0] if sys.argv else "") != "sensor_wrapper.py":
            return
        try:
            signal.signal(signal.SIGTERM, lambda signum, frame: self._stop.set())
        except ValueError:  # not the main thread
            pass

    def _shutdown(self):
        with self._shutdown_lock:
            if self._shut_down:
                return
            for watcher in self._watchers:
                watcher.interrupt()
            self.writer.notify()
            deadline = time.monotonic() + self.stop_timeout
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join(max(0.0, deadline - time.monotonic()))
            self.flush_state()
            if self._api_client is not None:
                self._api_client.close()
            self._shut_down = True

    def stopping(self):
        return self._stop.is_set()

    def wait(self, seconds):
        """Sleep ``seconds`` or until the sensor stops; True if it is stopping."""
        return self._stop.wait(seconds)

    # ------------------------------------------------------------------ helpers
    def dispatch(self, payload):
        with self._dispatch_lock:
            self.sensor_service.dispatch(trigger=TRIGGERS[payload["event"]], payload=payload)

    def flush_state(self):
        """Write every watcher's pending changes now."""
        for watcher in self._watchers:
            if watcher.store.loaded:
                self.writer.save(watcher)

    def probe(self):
        """Whether the API server answers: "ready" (/readyz 200), "answering" (an answer that
        does not tell readiness, e.g. 403), "starting" (it answers that it is not ready: 5xx,
        429), or "down" (no answer)."""
        from kubernetes.client.exceptions import ApiException

        try:
            response = self._api_client.call_api(
                "/readyz", "GET", auth_settings=["BearerToken"], _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=(self.probe_timeout, self.probe_timeout))
            try:
                response.read()
            finally:
                response.release_conn()
            return "ready"
        except ApiException as exc:
            if not exc.status:
                return "down"
            return "starting" if exc.status in _TRANSIENT_STATUS else "answering"
        except Exception as exc:  # pylint: disable=broad-except
            return "down" if _is_connection_error(exc) else "answering"


class _StateWriter(object):
    """Saves the watchers' pending state changes in batches (one thread for the sensor)."""

    def __init__(self, sensor):
        self.sensor = sensor
        self._wake = threading.Event()
        self._wake_at = None  # when the writer will look again on its own (None: never)
        self._retry_at = {}  # store prefix -> monotonic time of the next attempt
        self._failures = {}  # store prefix -> consecutive failed attempts
        self._failing = {}  # store prefix -> True while its failure is logged
        self._warned_other = {}  # store prefix -> True once another writer was reported

    def notify(self, urgent=False):
        """A change is pending (``urgent``: a new uid). Wakes the writer only if it would not
        look in time on its own, so a burst does not wake it for every event."""
        wake_at = self._wake_at
        if wake_at is not None:
            soon = self.sensor.new_object_delay if urgent else self.sensor.state_flush_interval
            if wake_at <= time.monotonic() + soon:
                return
        if not self._wake.is_set():
            self._wake.set()

    def run(self):
        while not self.sensor.stopping():
            self._wake.clear()
            self._wake_at = None  # at work: a change made now wakes it again
            timeout = self._work()
            if timeout == 0:
                time.sleep(0)  # a compaction is under way: let other (green) threads run
                continue
            self._wake_at = None if timeout is None else time.monotonic() + timeout
            self._wake.wait(timeout)

    def _work(self):
        """Save what is due; returns the seconds until something is due (None: nothing)."""
        sensor, now, next_in = self.sensor, time.monotonic(), None
        for watcher in sensor._watchers:  # pylint: disable=protected-access
            store, state = watcher.store, watcher.state
            if not store.loaded:
                continue
            key = store.prefix
            retry_at = self._retry_at.get(key)
            if retry_at is not None and now < retry_at:
                next_in = _earliest(next_in, retry_at - now)
                continue
            due = None
            if state.urgent_since is not None:
                due = state.urgent_since + sensor.new_object_delay
            if state.pending_since is not None:
                due = min(due or float("inf"), state.pending_since + sensor.state_flush_interval)
            if due is not None and (due <= now or retry_at is not None):
                if not self.save(watcher):
                    next_in = _earliest(next_in, self._retry_at[key] - time.monotonic())
                    continue
            elif due is not None:
                next_in = _earliest(next_in, due - now)
            if store.compacting() or store.compaction_due():
                if self._attempt(watcher, store.compaction_step) and store.compacting():
                    next_in = 0
                if store.other_writer and not self._warned_other.get(key):
                    self._warned_other[key] = True
                    sensor._logger.error(  # pylint: disable=protected-access
                        "another instance of aws.CustomResourceSensor writes the state of %s in "
                        "the st2 datastore (%s): every change is emitted twice and the saved "
                        "state may lose objects; run exactly one instance (docs/install.md, "
                        "section 7)", watcher.label, store.other_writer)
        return next_in

    def save(self, watcher):
        """Write the watcher's pending changes; False (logged, retried later) if st2 refused."""
        return self._attempt(watcher, watcher.store.flush)

    def _attempt(self, watcher, write):
        key = watcher.store.prefix
        try:
            write()
        except Exception as exc:  # pylint: disable=broad-except
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
            delay = min(self.sensor.state_retry_max, 2.0 ** failures)
            self._retry_at[key] = time.monotonic() + delay
            log = self.sensor._logger  # pylint: disable=protected-access
            if not self._failing.get(key):
                self._failing[key] = True
                log.warning("cannot save the state of %s in the st2 datastore (will retry): %s",
                            watcher.label, exc)
            else:
                log.debug("still cannot save the state of %s: %s", watcher.label, exc)
            return False
        self._retry_at.pop(key, None)
        self._failures.pop(key, None)
        if self._failing.pop(key, None):
            self.sensor._logger.info(  # pylint: disable=protected-access
                "saved the state of %s in the st2 datastore again", watcher.label)
        return True


def _earliest(current, candidate):
    candidate = max(0.0, candidate)
    return candidate if current is None else min(current, candidate)


class _Reachability(object):
    """Whether the API server answers, shared by the watchers: one log line per outage."""

    def __init__(self, sensor, host):
        self.sensor = sensor
        self.host = host
        self._lock = threading.Lock()
        self._since = None

    def lost(self, exc):
        with self._lock:
            first = self._since is None
            if first:
                self._since = time.monotonic()
        log = self.sensor._logger  # pylint: disable=protected-access
        if first:
            log.error("cannot reach the Kubernetes API server at %s: %s (probing it every %gs "
                      "and watching again as soon as it is ready; logged once per outage)",
                      self.host, _describe(exc), self.sensor.probe_max)
        else:
            log.debug("API server %s still unreachable: %s", self.host, _describe(exc))

    def answered(self):
        if self._since is None:
            return
        with self._lock:
            since, self._since = self._since, None
        if since is not None:
            self.sensor._logger.info(  # pylint: disable=protected-access
                "the Kubernetes API server at %s answers again after %.1fs; recovered, "
                "watching again", self.host, time.monotonic() - since)


class _ResourceWatcher(object):
    """The list-then-watch loop of one watched resource."""

    def __init__(self, sensor, resource):
        from kubernetes import client

        self.sensor = sensor
        self.resource = resource
        self.log = sensor._logger  # pylint: disable=protected-access
        self.api = client.CustomObjectsApi(sensor._api_client)  # pylint: disable=protected-access
        self.state = ResourceState(resource)
        self.store = StateStore(sensor.sensor_service, self.state,
                                lock=sensor._datastore_lock)  # pylint: disable=protected-access
        namespace = resource["namespace"]
        self.label = "%s.%s/%s %s" % (
            resource["plural"], resource["group"], resource["version"],
            "in namespace %s" % namespace if namespace else "in all namespaces",
        )
        self._response = None
        self._failures = 0  # consecutive failed attempts, reset by a success
        self._error = None  # signature of the error logged last; None when all is well
        self._recently_deleted = deque(maxlen=1000)
        self._silence_rv = None  # the API server's resourceVersion read after a silent watch
        self._warned_at = {}  # kind of stall warning -> time.monotonic() it was logged
        # quiet: watches ended by the read timeout; checks: requests for the current
        # resourceVersion after one (a list of one object).
        self.stats = {"lists": 0, "watches": 0, "gone": 0, "errors": 0, "quiet": 0,
                      "checks": 0}
        self._interrupted = False

    # ------------------------------------------------------------------ loop
    def run(self):
        if not self._load_state():
            return
        need_list = True
        while not self.sensor.stopping():
            try:
                if need_list:
                    self._list_and_reconcile()
                    need_list = False
                    self._ok()
                if self._watch():  # nothing received for read_timeout seconds
                    need_list = self._after_silence()
            except _Gone:
                self.stats["gone"] += 1
                self.log.info("%s: resourceVersion %s is too old (410 Gone); listing again",
                              self.label, self.state.cursor)
                need_list = True
            except Exception as exc:  # pylint: disable=broad-except
                if self.sensor.stopping():
                    break
                if self._interrupted:
                    self._interrupted = False
                    self.log.debug("%s: the watch was interrupted (%s); watching again from "
                                   "resourceVersion %s", self.label, type(exc).__name__,
                                   self.state.cursor)
                    need_list = need_list or self.state.cursor is None
                    continue
                if getattr(exc, "status", None) == 410:  # e.g. an expired list continue token
                    self.stats["gone"] += 1
                    need_list = True
                    continue
                self.stats["errors"] += 1
                self._failures += 1
                if self.state.cursor is None:
                    need_list = True
                # Otherwise watch again from the cursor: a 410 there says when to list again.
                if _is_connection_error(exc) or getattr(exc, "status", None) \
                        in _TRANSIENT_STATUS:
                    if _is_read_timeout(exc) or not _is_connection_error(exc):
                        self._report(exc)
                    else:
                        self.sensor.reachability.lost(exc)
                    self._await_api_server()
                    if self._failures > 2:  # it answers, yet the requests keep failing
                        self._backoff(self._failures - 3)
                else:
                    self._report(exc)
                    self._backoff(self._failures - 1)
        self._close_response()

    def interrupt(self):
        """Unblock a read in progress (called when the sensor stops). Whatever the read then
        raises (a reset connection; under eventlet's green SSL, "Read on closed or unwrapped
        SSL socket") is this interruption's, not an error of the API server's."""
        self._interrupted = True
        self._close_response()

    def _load_state(self):
        """Read the saved state, retrying while the datastore cannot answer. False if the
        sensor stopped first."""
        failures = 0
        while not self.sensor.stopping():
            try:
                known = self.store.load()
            except Exception as exc:  # pylint: disable=broad-except
                if not failures:
                    self.log.warning(
                        "cannot read the state of %s from the st2 datastore (will retry; "
                        "nothing is emitted for it until it is read): %s", self.label, exc)
                failures += 1
                self.sensor.wait(min(self.sensor.state_retry_max, 2.0 ** (failures - 1)))
                continue
            for problem in self.store.problems:
                self.log.warning("the state of %s in the st2 datastore: %s", self.label,
                                 problem)
            if failures:
                self.log.info("read the state of %s from the st2 datastore", self.label)
            self.log.info("watching %s; %d objects known from the datastore", self.label, known)
            self.sensor.writer.notify()
            return True
        return False

    def _await_api_server(self):
        """Return once the API server is ready (or answers without telling), or the sensor
        stops. Unreachable, it is probed every half second (a refused connection costs it
        nothing); starting (/readyz answers 5xx), every tenth of a second, as it is about to
        be ready. So it is found within half a second of its return."""
        delay = self.sensor.probe_initial
        while not self.sensor.stopping():
            answer = self.sensor.probe()
            if answer in ("ready", "answering"):
                return
            if answer == "starting":
                pause = self.sensor.probe_starting
            else:
                pause, delay = delay, min(self.sensor.probe_max, delay * 2)
            if self.sensor.wait(pause * random.uniform(0.8, 1.0)):
                return

    def _backoff(self, exponent):
        delay = min(self.sensor.backoff_max, self.sensor.backoff_initial * 2 ** max(0, exponent))
        self.sensor.wait(delay * random.uniform(0.5, 1.0))

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
            response = self.api.list_namespaced_custom_object(
                r["group"], r["version"], r["namespace"], r["plural"], **kwargs)
        else:
            response = self.api.list_cluster_custom_object(r["group"], r["version"],
                                                           r["plural"], **kwargs)
        self.sensor.reachability.answered()
        return response

    def _read_json(self, response):
        self._response = response
        try:
            return json.loads(response.data)
        finally:
            self._response = None
            response.release_conn()

    def _after_silence(self):
        """The watch received nothing for read_timeout seconds: no event, no bookmark. That is
        what an idle resource looks like (kube-apiserver 1.20 sends a bookmark only 2 s before
        the watch's timeoutSeconds, and none for a kind nothing has written since it started),
        so watch again from the same cursor, quietly; a 410 there lists again. Unless the
        cursor is newer than the API server's current resourceVersion (etcd restored from a
        backup under the sensor): such a watch stays silent for ever, so list again. Returns
        whether to list again."""
        self.stats["quiet"] += 1
        self.stats["checks"] += 1
        body = self._read_json(self._call(limit=1))
        current = (body.get("metadata") or {}).get("resourceVersion")
        cursor = self.state.cursor
        if _rv_number(cursor) is not None and _rv_number(current) is not None \
                and _rv_number(cursor) > _rv_number(current):
            self._warn_stall(
                "cursor", "%s: nothing received for %gs and resourceVersion %s is newer than "
                "the API server's %s (etcd restored from a backup?); listing again",
                self.label, self.sensor.read_timeout, cursor, current)
            return True
        self._silence_rv = current
        self.log.debug("%s: nothing received for %gs (no change, no bookmark); watching again "
                       "from resourceVersion %s", self.label, self.sensor.read_timeout, cursor)
        self._ok()
        return False

    def _warn_stall(self, kind, message, *args):
        """A stall warning, at most once per ``stall_log_interval`` of each kind; repeats at
        DEBUG."""
        now = time.monotonic()
        last = self._warned_at.get(kind)
        if last is not None and now - last < self.sensor.stall_log_interval:
            self.log.debug(message, *args)
            return
        self._warned_at[kind] = now
        self.log.warning(message + " (logged at most once every %ds; repeats at DEBUG)",
                         *(args + (self.sensor.stall_log_interval,)))

    def _list_and_reconcile(self):
        """LIST page by page, emitting the differences as each page arrives: only one page
        of objects is held at a time."""
        unseen = set(self.state.uids())
        token = None
        while True:
            kwargs = {"limit": self.sensor.list_page_size}
            if token:
                kwargs["_continue"] = token
            response = self._call(**kwargs)
            self._response = response
            try:
                body = json.loads(response.data)
            finally:
                self._response = None
                response.release_conn()
            for obj in body.get("items") or []:
                metadata = obj["metadata"]
                uid = metadata["uid"]
                unseen.discard(uid)
                if uid not in self.state:
                    # A new object whose name a known one had: that one is gone; say so first.
                    old = self.state.uid_named(metadata.get("namespace"), metadata.get("name"))
                    if old is not None:
                        unseen.discard(old)
                        self._emit_deleted(old, deleted_payload(self.state.get(old)))
                self._upsert(obj)
            metadata = body.get("metadata") or {}
            token = metadata.get("continue")
            if not token:
                break
            del body
        gone = [(self.state.get(uid), uid) for uid in unseen]  # deleted while not watching
        for previous, uid in sorted(gone, key=lambda item: (item[0]["namespace"] or "",
                                                            item[0]["name"], item[1])):
            self._emit_deleted(uid, deleted_payload(previous))
        self.state.set_cursor(metadata["resourceVersion"])
        self.stats["lists"] += 1

    def _watch(self):
        """One watch from the cursor. True if it ended because nothing arrived for
        read_timeout seconds (see _after_silence); False when the server ended it."""
        self.stats["watches"] += 1
        self._interrupted = False  # an interruption of an earlier watch is over
        silence_rv, self._silence_rv = _rv_number(self._silence_rv), None
        cursor = self.state.cursor
        response = self._call(watch=True, resource_version=cursor,
                              allow_watch_bookmarks=True,
                              timeout_seconds=self.sensor.watch_timeout)
        self._response = response
        try:
            if self.sensor.stopping():  # it stopped while this request was being made
                return False
            try:
                for line in _lines(response):
                    if self.sensor.stopping():
                        return False
                    event = json.loads(line)
                    if silence_rv is not None and event.get("type") in (ADDED, MODIFIED,
                                                                        DELETED):
                        rv = _rv_number(((event.get("object") or {}).get("metadata") or {})
                                        .get("resourceVersion"))
                        if rv is not None and rv <= silence_rv:
                            # Written before the silence ended, yet not received: the old
                            # connection was dead (a proxy holding it open, sending nothing).
                            self._warn_stall(
                                "stall", "%s: the watch stalled: nothing received for %gs "
                                "although resourceVersion %s had been written; it arrived on a "
                                "new watch from resourceVersion %s (nothing lost)", self.label,
                                self.sensor.read_timeout, rv, cursor)
                        silence_rv = None
                    self._handle(event)
                    self._ok()
            except Exception as exc:  # pylint: disable=broad-except
                if _is_read_timeout(exc) and not self.sensor.stopping():
                    return True
                raise
            self._ok()  # the server ended the watch (timeout_seconds): watch again at once
            return False
        finally:
            self._close_response()

    def _close_response(self):
        response, self._response = self._response, None
        if response is None:
            return
        _shutdown_socket(response)
        try:
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
                self._emit_deleted(uid, to_payload(DELETED, obj, self.resource, previous))
        elif kind in (ADDED, MODIFIED):
            self._upsert(obj)
        self.state.set_cursor(resource_version)

    def _upsert(self, obj):
        metadata = obj["metadata"]
        uid = metadata["uid"]
        known = self.state.resource_version(uid)
        if known is not None and known == metadata["resourceVersion"]:
            return  # already emitted
        previous = None if known is None else self.state.get(uid)
        payload = to_payload(ADDED if previous is None else MODIFIED, obj, self.resource,
                             previous)
        self._emit(payload)
        self.sensor.writer.notify(urgent=self.state.put(payload))

    def _emit_deleted(self, uid, payload):
        self._emit(payload)
        self.state.remove(uid)
        self._recently_deleted.append(uid)
        self.sensor.writer.notify()

    def _emit(self, payload):
        if self.sensor.stopping():
            raise _Stopping()
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
        if _is_read_timeout(exc):
            self._warn_stall("request", "%s: %s", self.label, message)
        elif status in _TRANSIENT_STATUS:
            self.log.error("%s: %s (retrying as soon as the API server is ready; logged once "
                           "until it recovers)", self.label, message)
        elif isinstance(exc, _StreamError) or status is not None or _is_connection_error(exc):
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
        if _is_read_timeout(exc):
            return ("the connection stalled: a request got no answer for %gs (read timed "
                    "out); trying again" % self.sensor.read_timeout)
        if status:
            reason = getattr(exc, "reason", "") or ""
            return "API server answered %s %s" % (status, str(reason).strip())
        if _is_connection_error(exc):
            return "cannot reach the API server: %s" % _describe(exc)
        return "%s: %s" % (type(exc).__name__, exc)


def _causes(exc):
    """``exc`` and the exceptions it was raised from or while handling."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _connection_cause(exc):
    """The exception in ``exc``'s chain that says the connection was lost, or None.

    One kind of error whatever its form: urllib3's errors (refused, reset, read timeout,
    "Response ended prematurely"), OSError and TimeoutError, and kubernetes-client's
    ``ApiException(status=0)`` for a TLS error, which its api_client turns into an
    AttributeError (``e.body.decode`` on None) as it handles it: what an outage behind a proxy
    or load balancer looks like (the TLS handshake meets EOF)."""
    import http.client

    import urllib3

    for cause in _causes(exc):
        if isinstance(cause, (urllib3.exceptions.HTTPError, OSError, TimeoutError,
                              http.client.HTTPException)):
            return cause
        if type(cause).__name__ == "ApiException" and getattr(cause, "status", None) == 0:
            return cause
    return None


def _rv_number(resource_version):
    """A resourceVersion as a number (etcd's revision), or None if it is not one."""
    try:
        return int(resource_version)
    except (TypeError, ValueError):
        return None


def _is_connection_error(exc):
    return _connection_cause(exc) is not None


def _is_read_timeout(exc):
    import socket

    import urllib3

    return any(isinstance(cause, (urllib3.exceptions.ReadTimeoutError, TimeoutError,
                                  socket.timeout))
               for cause in _causes(exc))


def _describe(exc):
    """A one-line description of a connection error (no traceback, no multi-line reasons)."""
    cause = _connection_cause(exc) or exc
    if type(cause).__name__ == "ApiException":
        text = str(getattr(cause, "reason", "") or cause)
    else:
        text = "%s: %s" % (type(cause).__name__, cause)
    return " ".join(text.split())


def _shutdown_socket(response):
    """Make a read blocked on ``response`` (in another thread) return at once.

    urllib3 2.3+ has HTTPResponse.shutdown(); older ones (StackStorm's own virtualenv may hold
    one) do not, so shut the socket down directly: a blocked recv then sees end of file, with
    real threads and with eventlet's green sockets alike (closing it would not wake it)."""
    import socket

    shutdown = getattr(response, "shutdown", None)
    if shutdown is not None:
        try:
            shutdown()
            return
        except Exception:  # pylint: disable=broad-except
            pass
    sock = getattr(getattr(response, "_connection", None), "sock", None)
    if sock is None:
        raw = getattr(getattr(getattr(response, "_fp", None), "fp", None), "raw", None)
        sock = getattr(raw, "_sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass


def _lines(response):
    """The lines of a watch stream as they arrive. A stream that ends inside an event lost
    its connection: that is an error, not an event."""
    pending = b""
    for chunk in response.stream(amt=None, decode_content=False):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line
    if pending.strip():
        raise ConnectionError("the watch stream ended in the middle of an event")
