"""What the custom-resource sensor knows about one watched resource, in memory.

For every object it has emitted, the sensor remembers the last payload it emitted (without the
fields that are the same for the whole resource or derived per event). That is enough to

- tell ADDED (uid never emitted) from MODIFIED, and skip a resourceVersion already emitted;
- compute ``spec_changed`` and ``deletion_requested`` against the last emitted state;
- rebuild a DELETED event for an object that vanished while the sensor was not watching.

Memory: a record is held as its resourceVersion followed by its compact JSON deflated
with a preset dictionary (about 120-200 bytes for a Database instead of ~450), so 100,000
objects take about 30 MB; the resourceVersion in clear lets a relist skip an unchanged object
without inflating it. An index from (namespace, name) to uid lets a relist emit the DELETED of
an object before the ADDED of a new object of the same name.

Every change is also queued as a pending operation (uid -> record, or None for a removal) for
the store (cr_store.py), which writes the pending operations in batches. ``put`` of a uid not
known yet marks the queue urgent: the store writes it without waiting for the batch interval.
"""

import json
import threading
import time
import zlib

__all__ = ["ResourceState", "NOT_STORED"]

# Payload fields that are the same for every object of a watched resource, or computed per event;
# the uid is the record's key.
NOT_STORED = ("event", "group", "version", "plural", "spec_changed", "deletion_requested", "uid")

# A preset dictionary for the in-memory records: the field names in the order compact sorted
# JSON writes them, and values common to this pack's resources. It only affects memory (what is
# stored in the datastore is plain JSON), so it may change between releases.
_ZDICT = (
    b'"mysql""mariadb""postgres""Provisioning""Updating""Deleting""Failed""True""False"'
    b'"stackstorm.com/v1""MysqlDb""engine_version""instance_size""db.t3.micro""db.m5.large"'
    b'{"annotations":{},"api_version":"dbaas.stackstorm.com/v1alpha1","deletion_timestamp":null,'
    b'"finalizers":["dbaas.stackstorm.com/rds-protection"],"generation":1,"kind":"Database",'
    b'"labels":{"app":""},"name":"","namespace":"","resource_version":"",'
    b'"spec":{"consul":{"key":"/config"},"databaseName":"","deletionPolicy":"Snapshot",'
    b'"engine":"postgres","engineVersion":"15.4","instanceClass":"db.","instanceSize":"small",'
    b'"masterUsername":"dbadmin","region":"eu-west-1","storageGB":20,"tags":{"team":""},'
    b'"vault":{"path":""}},"status":{"conditions":[{"lastTransitionTime":"T00:00:00Z",'
    b'"message":"","reason":"","status":"True","type":"Ready"}],"consulKey":"",'
    b'"dbInstanceIdentifier":"","endpoint":".rds.amazonaws.com","message":"",'
    b'"observedGeneration":1,"phase":"Ready","port":5432,"vaultPath":""}}'
)
_WBITS = -12  # raw deflate, 4 KiB window: cheap to set up for a few hundred bytes


def _deflate(data):
    compressor = zlib.compressobj(1, zlib.DEFLATED, _WBITS, 1, zlib.Z_DEFAULT_STRATEGY, _ZDICT)
    return compressor.compress(data) + compressor.flush()


def _inflate(data):
    return zlib.decompressobj(_WBITS, _ZDICT).decompress(data)


def pack(resource_version, text):
    """The in-memory form of a record: its resourceVersion in clear (after its length, two
    bytes), then its JSON deflated."""
    rv = (resource_version or "").encode("utf-8")
    return len(rv).to_bytes(2, "big") + rv + _deflate(text.encode("utf-8"))


def unpack(packed):
    """The record's JSON text."""
    return _inflate(packed[2 + int.from_bytes(packed[:2], "big"):]).decode("utf-8")


def packed_resource_version(packed):
    return packed[2:2 + int.from_bytes(packed[:2], "big")].decode("utf-8")


def record_text(payload):
    """The compact JSON of what is stored of ``payload``."""
    record = {k: v for k, v in payload.items() if k not in NOT_STORED}
    return json.dumps(record, separators=(",", ":"), sort_keys=True)


class ResourceState(object):
    """Known objects of one watched resource, and the changes not yet written to the store."""

    def __init__(self, resource):
        self.resource = resource
        self._lock = threading.RLock()
        self._records = {}  # uid -> packed record
        self._names = {}  # hash((namespace, name)) -> uid
        self._pending = {}  # uid -> packed record, or None (removed); not yet written
        self.pending_since = None  # time.monotonic() of the oldest pending change
        self.urgent_since = None  # ... of the oldest pending new uid
        self.cursor = None  # the resourceVersion to watch from (not saved: a start lists)

    def set_cursor(self, resource_version):
        if resource_version:
            self.cursor = resource_version

    # ---------------------------------------------------------------- reading
    def __len__(self):
        return len(self._records)

    def __contains__(self, uid):
        return uid in self._records

    def uids(self):
        with self._lock:
            return list(self._records)

    def get(self, uid):
        """The last payload emitted for ``uid`` (with the resource's fields), or None."""
        packed = self._records.get(uid)
        if packed is None:
            return None
        payload = json.loads(unpack(packed))
        payload.update(uid=uid, group=self.resource["group"],
                       version=self.resource["version"], plural=self.resource["plural"])
        return payload

    def resource_version(self, uid):
        packed = self._records.get(uid)
        return None if packed is None else packed_resource_version(packed)

    def uid_named(self, namespace, name):
        """The known uid of the object called ``name`` in ``namespace``, or None."""
        uid = self._names.get(hash((namespace, name)))
        if uid is None:
            return None
        known = self.get(uid)
        if known is None or (known["namespace"], known["name"]) != (namespace, name):
            return None  # a hash collision: not that object
        return uid

    # ---------------------------------------------------------------- changing
    def put(self, payload):
        """Remember ``payload`` as the last one emitted for its uid; True if the uid is new."""
        uid = payload["uid"]
        packed = pack(payload["resource_version"], record_text(payload))
        now = time.monotonic()
        with self._lock:
            new = uid not in self._records
            self._records[uid] = packed
            if new:
                self._names.setdefault(hash((payload["namespace"], payload["name"])), uid)
                if self.urgent_since is None:
                    self.urgent_since = now
            self._pending[uid] = packed
            if self.pending_since is None:
                self.pending_since = now
        return new

    def remove(self, uid):
        with self._lock:
            packed = self._records.pop(uid, None)
            if packed is None:
                return
            self._forget_name(uid, packed)
            self._pending[uid] = None
            if self.pending_since is None:
                self.pending_since = time.monotonic()

    def _forget_name(self, uid, packed):
        record = json.loads(unpack(packed))
        key = hash((record.get("namespace"), record.get("name")))
        if self._names.get(key) == uid:
            del self._names[key]

    # ---------------------------------------------------------------- for the store
    def load_record(self, uid, text):
        """Set a record read from the store (not a change to write); False if unreadable."""
        try:
            record = json.loads(text)
        except ValueError:
            return False
        if not isinstance(record, dict):
            return False
        packed = pack(record.get("resource_version"), text)
        with self._lock:
            previous = self._records.get(uid)
            if previous is not None:
                self._forget_name(uid, previous)
            self._records[uid] = packed
            self._names.setdefault(hash((record.get("namespace"), record.get("name"))), uid)
        return True

    def load_removal(self, uid):
        """Forget a record the store says was removed (not a change to write)."""
        with self._lock:
            packed = self._records.pop(uid, None)
            if packed is not None:
                self._forget_name(uid, packed)

    def has_pending(self):
        return bool(self._pending)

    def take_pending(self):
        """(the pending changes as {uid: packed record or None}, whether a new uid is among
        them); they are no longer pending."""
        with self._lock:
            pending, self._pending = self._pending, {}
            urgent = self.urgent_since is not None
            self.pending_since = self.urgent_since = None
        return pending, urgent

    def restore_pending(self, changes, urgent):
        """Put back changes whose write failed; changes made since take precedence."""
        with self._lock:
            for uid, packed in changes.items():
                self._pending.setdefault(uid, packed)
            if changes:
                now = time.monotonic()
                self.pending_since = self.pending_since or now
                if urgent:
                    self.urgent_since = self.urgent_since or now

    def snapshot(self):
        """(uid, packed record) of every known object, as of now (for a compaction)."""
        with self._lock:
            return list(self._records.items())
