"""What the custom-resource sensor knows about one watched resource, kept in the st2 datastore.

Per watched resource (group/version/plural[/namespace]) the sensor remembers the last
resourceVersion it processed (the cursor) and, for every object it has emitted, the last
payload it emitted (without the fields that are the same for the whole resource or derived per
event). That is enough to

- tell ADDED (uid never emitted) from MODIFIED, and skip a resourceVersion already emitted;
- compute ``spec_changed`` and ``deletion_requested`` against the last emitted state;
- rebuild a DELETED event for an object that vanished while the sensor was not watching.

Layout in the datastore (local keys of the sensor, string values):

    crs.<group>.<version>.<plural>.<namespace or _all>.meta
        {"v": 1, "cursor": "<resourceVersion>", "shards": 64, "objects": <count>}
    crs.<group>.<version>.<plural>.<namespace or _all>.<nn>    (nn = 00 .. 3f)
        "z:" + base64(zlib(JSON {uid: record}))

Key names hold no "/": st2api routes ``/v1/keys/{name}`` with one path segment per name, so a
name with "/" (or "%2F") answers 404 to GET and PUT (st2common/st2common/router.py, routes'
default ``[^/]+``). No group, version, plural or namespace contains "." in a way that could make
two resources' prefixes collide: versions, plurals and namespaces have no dots.

Objects are spread over ``shards`` keys by crc32(uid), so one change rewrites about 1/64 of the
state, not all of it (10,000 Database objects are ~6 MB of JSON, ~0.3 MB compressed).
Records are held in memory as compact JSON strings, which is several times smaller than dicts.
"""

import base64
import json
import threading
import zlib

__all__ = ["ResourceState", "STATE_VERSION"]

STATE_VERSION = 1
DEFAULT_SHARDS = 64
# Payload fields that are the same for every object of a watched resource, or computed per event.
_NOT_STORED = ("event", "group", "version", "plural", "spec_changed", "deletion_requested")


def _encode(text):
    return "z:" + base64.b64encode(zlib.compress(text.encode("utf-8"), 1)).decode("ascii")


def _decode(value):
    if value.startswith("z:"):
        return zlib.decompress(base64.b64decode(value[2:])).decode("utf-8")
    return value


class ResourceState(object):
    """Known objects and cursor of one watched resource, with dirty-shard persistence.

    ``datastore`` is the sensor service (``get_value``/``set_value`` with local keys);
    ``lock`` serialises datastore calls shared with other threads.
    """

    def __init__(self, datastore, resource, lock=None, shards=DEFAULT_SHARDS):
        self._datastore = datastore
        self._resource = resource
        self._ds_lock = lock or threading.Lock()
        self._lock = threading.RLock()
        self.prefix = "crs.%s.%s.%s.%s." % (
            resource["group"], resource["version"], resource["plural"],
            resource.get("namespace") or "_all",
        )
        self.shards = shards
        self.cursor = None
        # per shard: uid -> compact JSON of the last emitted payload (minus _NOT_STORED)
        self._shard_records = [{} for _ in range(shards)]
        self._dirty = set()
        self._meta_dirty = False
        self.writes = 0  # datastore writes made, for tests and the benchmark

    # ---------------------------------------------------------------- in memory
    def __len__(self):
        return sum(len(records) for records in self._shard_records)

    def __contains__(self, uid):
        return uid in self._shard_records[self._shard(uid)]

    def uids(self):
        with self._lock:
            return [uid for records in self._shard_records for uid in records]

    def _text(self, uid):
        with self._lock:
            return self._shard_records[self._shard(uid)].get(uid)

    def get(self, uid):
        """The last payload emitted for ``uid`` (with the resource's fields), or None."""
        text = self._text(uid)
        if text is None:
            return None
        payload = json.loads(text)
        payload.update(group=self._resource["group"], version=self._resource["version"],
                       plural=self._resource["plural"])
        return payload

    def resource_version(self, uid):
        text = self._text(uid)
        return None if text is None else json.loads(text)["resource_version"]

    def put(self, payload):
        record = {k: v for k, v in payload.items() if k not in _NOT_STORED}
        text = json.dumps(record, separators=(",", ":"), sort_keys=True)
        index = self._shard(payload["uid"])
        with self._lock:
            self._shard_records[index][payload["uid"]] = text
            self._dirty.add(index)

    def remove(self, uid):
        index = self._shard(uid)
        with self._lock:
            if self._shard_records[index].pop(uid, None) is not None:
                self._dirty.add(index)

    def set_cursor(self, resource_version):
        with self._lock:
            if resource_version and resource_version != self.cursor:
                self.cursor = resource_version
                self._meta_dirty = True

    def _shard(self, uid):
        return zlib.crc32(uid.encode("utf-8")) % self.shards

    def shard_of(self, uid):
        return self._shard(uid)

    # ---------------------------------------------------------------- datastore
    def load(self):
        """Read the state saved by an earlier run; returns the number of objects known."""
        with self._ds_lock:
            meta = self._datastore.get_value(self.prefix + "meta", local=True)
        if not meta:
            return 0
        meta = json.loads(meta)
        if meta.get("v") != STATE_VERSION:
            return 0  # an unknown layout: start afresh (a relist emits everything as ADDED)
        saved_shards = int(meta.get("shards", self.shards))
        shard_records = [{} for _ in range(self.shards)]
        count = 0
        for index in range(saved_shards):
            with self._ds_lock:
                value = self._datastore.get_value(self.prefix + "%02x" % index, local=True)
            if not value:
                continue
            # Records are kept as JSON text: decode the shard, re-encode each record compactly.
            for uid, record in json.loads(_decode(value)).items():
                shard_records[self._shard(uid)][uid] = json.dumps(
                    record, separators=(",", ":"), sort_keys=True)
                count += 1
        with self._lock:
            self._shard_records = shard_records
            self.cursor = meta.get("cursor")
            if saved_shards != self.shards:  # saved with another count: rewrite every shard
                self._dirty = set(range(max(self.shards, saved_shards)))
                self._meta_dirty = True
        return count

    def dirty(self):
        with self._lock:
            return bool(self._dirty) or self._meta_dirty

    def flush(self, shards=None):
        """Write the dirty shards (or only ``shards`` of them, without the meta key: the
        cursor is not needed to resume, a restart lists anyway), then the meta key.

        The snapshot and its writes happen under the datastore lock: two flushes (the flush
        thread's and the watch thread's urgent one) cannot interleave, so an older snapshot of
        a shard is never written over a newer one."""
        with self._ds_lock:
            with self._lock:
                todo = sorted(self._dirty if shards is None else self._dirty & set(shards))
                values = []
                for index in todo:
                    records = self._shard_records[index] if index < self.shards else {}
                    members = ",".join('%s:%s' % (json.dumps(uid), text)
                                       for uid, text in records.items())
                    values.append((self.prefix + "%02x" % index, _encode("{%s}" % members)))
                    self._dirty.discard(index)
                meta = None
                if shards is None and (self._meta_dirty or todo):
                    meta = json.dumps({"v": STATE_VERSION, "cursor": self.cursor,
                                       "shards": self.shards, "objects": len(self)},
                                      sort_keys=True)
                    self._meta_dirty = False
            try:
                for key, value in values:
                    self._datastore.set_value(key, value, local=True)
                    self.writes += 1
                if meta is not None:
                    self._datastore.set_value(self.prefix + "meta", meta, local=True)
                    self.writes += 1
            except Exception:
                with self._lock:  # not written: write again next time
                    self._dirty.update(todo)
                    self._meta_dirty = self._meta_dirty or meta is not None
                raise
        return len(values)
