"""Follows Consul KV prefixes with blocking queries and dispatches aws.consul_kv_changed.

One thread per entry of the pack config's ``consul_sync`` (source agent, target agent, prefix).
Each runs a blocking query on the source (``GET /v1/kv/<prefix>?recurse&index=<i>&wait=<s>``),
compares the answer's ModifyIndex per key with what it knew, and dispatches the keys that
changed or went (in triggers of at most ``keys_per_trigger`` keys), so that rule aws.consul_sync
writes them to the target. Values are read by the blocking query but never dispatched, kept or
logged: only key names and indexes.

What it knew is kept in the st2 datastore (``consul_sync.<hash of source, target, prefix>``:
the index and every key's ModifyIndex, compressed), written after the triggers of a change are
dispatched: a restart dispatches what changed while it was down (at least once), never less.
Without a saved state (first start, or a layout it does not know), or when the agent's index
goes backwards (an agent restarted without its data, a snapshot restored), it dispatches one
trigger with ``full_resync`` true and no keys: the rule then syncs the whole prefix.

The blocking query is always in flight while the sensor runs, and Consul answers it as soon as
the index moves, so an answer's time is when its first change was made (to the agent's
reaction). After a dispatch, changes within ``consul_sync_batch_seconds`` (0.5 s by default)
are held until the window ends and go in one trigger (one more query then reads them all), so
that a burst makes a few executions rather than one per change; that is also the most the
window adds to the lag.

Each trigger says when its changes can have been made at the earliest, as far as the sensor
knows (``changed_after``, where the sync's ``lag_seconds`` starts): the first answer of a held
window; after a retry or a restart (the state records when the sensor last looked), the end of
its previous look, since changes may have waited since; else the answer itself
(``observed_at``).

Errors (agent unreachable, ACL refusal) are logged once until resolved and retried with backoff
(1 s doubling to 30 s); a blocking query that answers nothing for longer than its wait plus
15 s is given up and asked again.
"""

import base64
import hashlib
import json
import os
import re
import sys
import threading
import time
import zlib

from st2reactor.sensor.base import Sensor

# st2's sensor container puts only this folder on sys.path; the shared code is in actions/lib.
_ACTIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "actions")
if _ACTIONS_DIR not in sys.path:
    sys.path.append(_ACTIONS_DIR)

from lib.action import ConfigError  # noqa: E402 pylint: disable=wrong-import-position
from lib.kube.clusters import (  # noqa: E402 pylint: disable=wrong-import-position
    consul_cluster_config)
from lib.stores.consul_kv import (  # noqa: E402 pylint: disable=wrong-import-position
    address, client_from_config)

__all__ = ["ConsulKVSensor", "TRIGGER", "sync_entries"]

TRIGGER = "aws.consul_kv_changed"
STATE_VERSION = 1


def sync_entries(config):
    """The validated entries of pack config ``consul_sync``."""
    entries = (config or {}).get("consul_sync") or []
    if not isinstance(entries, list):
        raise ConfigError('pack config key "consul_sync" must be a list of {source, target, '
                          'prefix}, got %s' % type(entries).__name__)
    result, seen = [], set()
    for index, entry in enumerate(entries):
        where = 'pack config key "consul_sync" item %d' % index
        if not isinstance(entry, dict):
            raise ConfigError("%s must be an object with source, target, prefix" % where)
        unknown = sorted(set(entry) - {"source", "target", "prefix"})
        if unknown:
            raise ConfigError("%s has unknown fields %s" % (where, ", ".join(unknown)))
        source, target = entry.get("source") or "", entry.get("target") or ""
        prefix = entry.get("prefix")
        if not isinstance(prefix, str) or not prefix.strip() or prefix.startswith("/"):
            raise ConfigError('%s needs "prefix": a key prefix such as apps/ (not empty, no '
                              "leading /)" % where)
        if source == target:
            raise ConfigError('%s: source and target are both "%s"; the target must be another '
                              "agent of consul_clusters" % (where, source))
        for name in (source, target):
            consul_cluster_config(config, name)
        if (source, prefix) in seen:
            raise ConfigError("%s follows prefix %s of the same source twice" % (where, prefix))
        seen.add((source, prefix))
        result.append({"source": source, "target": target, "prefix": prefix})
    return result


def _encode(state):
    text = json.dumps(state, separators=(",", ":"), sort_keys=True)
    return "z:" + base64.b64encode(zlib.compress(text.encode("utf-8"), 1)).decode("ascii")


def _decode(value):
    if value.startswith("z:"):
        value = zlib.decompress(base64.b64decode(value[2:])).decode("utf-8")
    return json.loads(value)


class _Follower:
    """The blocking-query loop of one consul_sync entry."""

    def __init__(self, sensor, entry):
        self.sensor = sensor
        self.entry = entry
        self.logger = sensor.logger
        self.label = "%s of %s" % (entry["prefix"], address(sensor.config, entry["source"]))
        digest = hashlib.sha256(("%s\0%s\0%s" % (entry["source"], entry["target"],
                                                 entry["prefix"])).encode("utf-8"))
        self.state_key = "consul_sync.%s" % digest.hexdigest()[:16]  # no "/" for st2api
        self.client = client_from_config(sensor.config, entry["source"])
        self.index = 0
        self.known = None  # {key: ModifyIndex}; None: no state (first start)
        self.failing = None
        self.dispatched = 0
        # When the sensor last had an answer (epoch; None: never, or a state without it) and
        # whether it stopped listening since (a retry, a restart): then changes may have
        # waited since that answer, else the blocking query was listening.
        self.looked_at = None
        self.paused = True
        self.observed = (0.0, 0.0)  # (answered, changed after) of the answer being handled
        self.hold_until = 0.0  # end of the batch window after a dispatch (epoch)
        self.first_change = None  # the first answer with a change in that window (epoch)

    # -- state
    def load(self):
        with self.sensor.datastore_lock:
            value = self.sensor.sensor_service.get_value(self.state_key, local=True)
        if not value:
            return 0
        try:
            state = _decode(value)
        except (ValueError, zlib.error, TypeError):
            return 0
        if state.get("v") != STATE_VERSION or state.get("prefix") != self.entry["prefix"]:
            return 0
        self.index = int(state.get("index") or 0)
        self.known = dict(state.get("keys") or {})
        at = state.get("at")
        self.looked_at = float(at) if isinstance(at, (int, float)) and at > 0 else None
        return len(self.known)

    def save(self):
        state = {"v": STATE_VERSION, "prefix": self.entry["prefix"], "index": self.index,
                 "keys": self.known or {}, "at": self.looked_at}
        try:
            with self.sensor.datastore_lock:
                self.sensor.sensor_service.set_value(self.state_key, _encode(state), local=True)
        except Exception as exc:  # pylint: disable=broad-except
            self.logger.warning("consul sync: cannot save the state of %s in the st2 datastore "
                                "(%s); a restart will dispatch its keys again", self.label,
                                type(exc).__name__)

    # -- loop
    def run(self):
        delay = self.sensor.backoff_initial
        while not self.sensor.stopping():
            try:
                index, items = self._query()
            except Exception as exc:  # pylint: disable=broad-except
                if self.sensor.stopping():
                    return
                # Object addresses (" at 0x7f...") differ between attempts of the same error.
                message = "%s: %s" % (type(exc).__name__,
                                      re.sub(r" at 0x[0-9a-fA-F]+", "", str(exc))[:300])
                if message != self.failing:
                    self.logger.error("consul sync: cannot follow %s (retrying every %.0f s at "
                                      "most): %s", self.label, self.sensor.backoff_max, message)
                    self.failing = message
                self.paused = True
                self.sensor.wait(delay)
                delay = min(delay * 2, self.sensor.backoff_max)
                continue
            answered = time.time()
            if self.sensor.stopping():
                return  # an answer after cleanup(): the next run handles it from the state
            if self.failing:
                self.logger.info("consul sync: following %s again", self.label)
                self.failing = None
            delay = self.sensor.backoff_initial
            hold = self.hold_until - answered
            if hold > 0 and int(index or 0) != self.index:
                # A change within batch_seconds of the last dispatch, made about now: the
                # window's other changes join it, read by one more query at its end (the
                # old index answers at once).
                self.first_change = self.first_change or answered
                self.sensor.wait(hold)
                continue
            if self.handle(index, items, answered) and self.sensor.batch_seconds:
                # Changes of the next batch_seconds go in one trigger (an execution each).
                self.hold_until = time.time() + self.sensor.batch_seconds

    def _query(self):
        wait = self.sensor.wait_seconds
        kwargs = {"recurse": True}
        if self.index > 0:
            kwargs.update(index=self.index, wait="%ds" % wait)
        return self.client.kv.get(self.entry["prefix"], **kwargs)

    def handle(self, index, items, answered=None):
        """One answer of the blocking query (received at epoch ``answered``): dispatch what
        changed, then remember it. Returns whether anything was dispatched."""
        index = int(index or 0)
        answered = round(answered or time.time(), 3)
        # The earliest the changes in this answer can have been made, as far as the sensor
        # knows (see the top): the first answer of a batch window; after a retry or a
        # restart, the end of its previous look; else this answer.
        since = self.first_change or (self.looked_at if self.paused else None) or answered
        self.observed = (answered, round(min(since, answered), 3))
        self.first_change = None
        now = {item["Key"]: item["ModifyIndex"] for item in items or []}
        dispatched = self.dispatched
        if self.known is None or index < self.index:
            why = ("no saved state" if self.known is None else
                   "the agent's index went back from %d to %d" % (self.index, index))
            self.logger.info("consul sync: %s: full resync of %s (%d keys)", why, self.label,
                             len(now))
            self._dispatch([], index, full_resync=True)
        else:
            changed = sorted(k for k, i in now.items() if self.known.get(k) != i)
            changed += sorted(set(self.known) - set(now))
            size = self.sensor.keys_per_trigger
            for start in range(0, len(changed), size):
                self._dispatch(changed[start:start + size], index)
            if changed:
                self.logger.debug("consul sync: %d key(s) of %s changed at index %d",
                                  len(changed), self.label, index)
        self.looked_at, self.paused = answered, False
        if index != self.index or self.known is None:  # else a blocking query timed out
            self.known = now
            self.index = max(index, 1)  # never 0 (Consul's blocking-query rule)
            self.save()
        return self.dispatched > dispatched

    def _dispatch(self, keys, index, full_resync=False):
        observed_at, changed_after = self.observed
        payload = {"source": self.entry["source"], "target": self.entry["target"],
                   "prefix": self.entry["prefix"], "changed_keys": keys, "full_resync": full_resync,
                   "index": index, "observed_at": observed_at, "changed_after": changed_after}
        self.sensor.dispatch(payload)
        self.dispatched += 1

    def interrupt(self):
        """Make a blocking query in flight return (cleanup)."""
        try:
            self.client.http.session.close()
        except Exception:  # pylint: disable=broad-except
            pass


class ConsulKVSensor(Sensor):
    """Dispatches aws.consul_kv_changed for the prefixes of pack config consul_sync."""

    backoff_initial = 1.0
    backoff_max = 30.0
    keys_per_trigger = 100
    stop_timeout = 5.0

    def __init__(self, sensor_service, config=None):
        super().__init__(sensor_service=sensor_service, config=config)
        self.logger = sensor_service.get_logger(__name__)
        self.datastore_lock = threading.Lock()
        self._dispatch_lock = threading.Lock()
        self._stop = threading.Event()
        self._followers = []
        self._threads = []
        self.wait_seconds = 60
        self.batch_seconds = 0.5

    def setup(self):
        config = self.config or {}
        self.wait_seconds = int(config.get("consul_sync_wait_seconds") or 60)
        batch = config.get("consul_sync_batch_seconds")
        self.batch_seconds = 0.5 if batch is None else float(batch)
        entries = sync_entries(config)
        self._followers = [_Follower(self, entry) for entry in entries]
        for follower in self._followers:
            known = follower.load()
            self.logger.info("consul sync: following %s for agent %s; %d keys known, index %d",
                             follower.label, follower.entry["target"] or "default", known,
                             follower.index)
        if not self._followers:
            self.logger.info("consul sync: pack config consul_sync is empty: nothing to follow")

    def run(self):
        self._threads = [threading.Thread(target=f.run, daemon=True,
                                          name="consul-sync-%s" % f.state_key)
                         for f in self._followers]
        for thread in self._threads:
            thread.start()
        self._stop.wait()  # st2 expects run() to block; it returns once cleanup() is called
        for thread in self._threads:
            thread.join(self.stop_timeout)

    def cleanup(self):
        self._stop.set()
        for follower in self._followers:
            follower.interrupt()
        for thread in self._threads:
            thread.join(self.stop_timeout)

    def add_trigger(self, trigger):
        pass

    def update_trigger(self, trigger):
        pass

    def remove_trigger(self, trigger):
        pass

    # -- helpers
    def stopping(self):
        return self._stop.is_set()

    def wait(self, seconds):
        self._stop.wait(seconds)

    def dispatch(self, payload):
        with self._dispatch_lock:
            self.sensor_service.dispatch(trigger=TRIGGER, payload=payload)

    def followers(self):
        return list(self._followers)
