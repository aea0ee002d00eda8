"""The custom-resource sensor's state in the st2 datastore: a journal of changes and a snapshot.

Under StackStorm every datastore call of a sensor is an st2 API call
(st2common/st2common/services/datastore.py): ``set_value`` is one HTTP PUT and raises on
failure, ``list_values`` returns at most ``[api] max_page_size`` keys (100 by default) per call
and raises on failure, ``get_value`` turns every failure into None (so it cannot tell "no key"
from "st2api down": the state is read with ``list_values`` only).

The cost of a write must not grow with the number of objects known, and a burst of changes must
cost far fewer writes than changes. So changes are appended to a journal, in batches, and the
journal is folded into a snapshot (a compaction) once it is half as large as the snapshot, which
keeps the journal bounded and the bytes written per change constant on average.

Keys (local keys of the sensor; P = ``crs.<group>.<version>.<plural>.<namespace or _all>.``):

    P + "meta"          {"v": 2, "gen": G, "chunks": C, "objects": N, "writer": W}: the
                        committed snapshot, and which instance committed it
    P + "s<G%2>.<i>"    chunk i (0 <= i < C) of snapshot G
    P + "j<g%2>.<k>"    key k of journal g: changes made after snapshot g was taken

A value is ``"z:" + base64(zlib(text))``; text is a JSON header line (``{"v": 2, "gen": g,
"chunk": i}`` or ``{"v": 2, "gen": g, "key": k}``) and then one line per object,
``<uid> <record JSON>``, or ``<uid> -`` in a journal for an object removed. The state is
snapshot G, then journal G in key order, then journal G+1 in key order (journal G+1 exists while
a compaction to G+1 is under way, or was interrupted). Snapshots and journals alternate between
two sets of key names (G%2), so a compaction never overwrites the snapshot it replaces, and
neither needs deletes: a key of another generation is recognised by its header and ignored
until it is overwritten. The meta key is the commit point of a compaction.

Journal keys are written in order. The last one ("open") takes the next batch while it holds
less than ``open_key_bytes`` (4 KiB) of text, and is rewritten with it; else the batch opens a
new key. A large batch fills keys up to ``journal_key_bytes`` each. So a trickle of single
changes costs its own line plus 2 KiB of text per write on average (about 1.6 times one key per
object, compressed), a burst far less, and neither grows with the objects known
(``bench/bench_sensor.py state``). Snapshot chunks hold up to
``chunk_bytes`` of text. Key names hold no "/" (st2api cannot address them, see
tests/st2_datastore_rules.py).
"""

import base64
import json
import os
import re
import socket
import threading
import time
import uuid
import zlib

from cr_state import unpack

__all__ = ["StateStore", "FORMAT"]

FORMAT = 2
_NAME = re.compile(r"^([sj])([01])\.([0-9]+)$")


def encode(text):
    return "z:" + base64.b64encode(zlib.compress(text.encode("utf-8"), 1)).decode("ascii")


def decode(value):
    if value.startswith("z:"):
        return zlib.decompress(base64.b64decode(value[2:])).decode("utf-8")
    return value


def _header(value):
    """The header of a stored value, inflating only its beginning."""
    if not value.startswith("z:"):
        return None
    try:
        head = zlib.decompressobj().decompress(base64.b64decode(value[2:]), 512)
        return json.loads(head.split(b"\n", 1)[0])
    except (ValueError, zlib.error, TypeError):
        return None


class StateStore(object):
    """Reads and writes one watched resource's state (a cr_state.ResourceState).

    ``datastore`` is the sensor service; ``lock`` serialises datastore calls (one st2 API client
    is shared by the sensor's threads). All writes happen in one thread (the sensor's writer).
    """

    journal_key_bytes = 64 * 1024
    open_key_bytes = 4 * 1024
    chunk_bytes = 256 * 1024
    compact_ratio = 0.5
    compact_min_bytes = 512 * 1024
    yield_every = 2000  # records loaded between two yields to other (green) threads
    yield_lines = 200  # records serialised between two yields

    def __init__(self, datastore, state, lock=None):
        r = state.resource
        self._datastore = datastore
        self.state = state
        self.prefix = "crs.%s.%s.%s.%s." % (r["group"], r["version"], r["plural"],
                                            r.get("namespace") or "_all")
        self._ds_lock = lock or threading.Lock()
        self._write_lock = threading.RLock()  # flush() and compaction_step() are not reentrant
        self.loaded = False
        self.gen = 0  # committed snapshot
        self.chunks = 0
        self.snapshot_bytes = 0
        self.jgen = 0  # journal being written: gen, or gen + 1 during a compaction
        self.jindex = 0  # its open key
        self._open = {}  # uid -> line of the open key
        self._open_bytes = 0
        self.journal_bytes = 0  # text in the journal's keys before the open one
        self._jhigh = -1  # highest key of journal jgen written, even by a flush that failed
        self._chunk_high = [-1, -1]  # highest chunk index present per key set
        self._compaction = None
        self.problems = []  # what load() found wrong, for the sensor to log
        self.other_writer = None  # set when another instance is seen writing these keys
        self.writer_id = "%s-%d-%s" % (socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8])
        self._meta_writer = None  # the writer of the meta key as this instance last saw it
        self.stats = {"writes": 0, "bytes": 0, "lines": 0, "lists": 0, "deletes": 0,
                      "compactions": 0}

    # ---------------------------------------------------------------- encoding, calls
    def _encode(self, header, lines):
        text = json.dumps(header, sort_keys=True, separators=(",", ":")) + "\n" + "\n".join(lines)
        self.stats["bytes"] += len(text)
        self.stats["lines"] += len(lines)
        return encode(text)

    def _set(self, name, value):
        with self._ds_lock:
            self._datastore.set_value(self.prefix + name, value, local=True)
        self.stats["writes"] += 1

    def _delete(self, name):
        with self._ds_lock:
            done = self._datastore.delete_value(self.prefix + name, local=True)
        self.stats["deletes"] += 1
        return done

    @staticmethod
    def _line(uid, packed):
        return uid + (" -" if packed is None else " " + unpack(packed))

    # ---------------------------------------------------------------- reading
    def _list_all(self):
        """{local name: value} of every key under the prefix. Raises if st2 cannot answer."""
        values, offset = {}, 0
        while True:
            with self._ds_lock:
                page = self._datastore.list_values(local=True, prefix=self.prefix,
                                                   offset=offset)
            self.stats["lists"] += 1
            new = 0
            for kvp in page or []:
                name = kvp.name.split(":", 1)[-1]  # "<pack>.<class>:<local name>"
                if not name.startswith(self.prefix):
                    continue
                name = name[len(self.prefix):]
                if name not in values:
                    values[name] = kvp.value
                    new += 1
            if not new:  # an empty page, or a service that does not page (a test double)
                return values
            offset += len(page)

    def load(self):
        """Read the saved state into the ResourceState; returns the number of objects known.
        Raises if the datastore cannot be read (an outage is not "no state")."""
        values = self._list_all()
        self.problems = []
        meta = None
        if "meta" in values:
            try:
                meta = json.loads(values.pop("meta"))
            except ValueError:
                meta = None
            if not isinstance(meta, dict) or meta.get("v") != FORMAT:
                self.problems.append("a state saved in another layout is ignored (the "
                                     "relist emits its objects again)")
                meta = None
        gen = int(meta["gen"]) if meta else 0
        chunk_count = int(meta["chunks"]) if meta else 0
        self._meta_writer = meta.get("writer") if meta else None
        chunks, journals = {}, {gen: {}, gen + 1: {}}
        for name in list(values):
            match = _NAME.match(name)
            if not match:
                continue
            kind, parity, index = match.group(1), int(match.group(2)), int(match.group(3))
            if kind == "s":
                self._chunk_high[parity] = max(self._chunk_high[parity], index)
            header = _header(values[name])
            if not header or header.get("v") != FORMAT:
                continue
            if kind == "s" and header.get("gen") == gen and parity == gen % 2 \
                    and header.get("chunk") == index < chunk_count:
                chunks[index] = name
            elif kind == "j" and header.get("gen") in journals \
                    and parity == header["gen"] % 2 and header.get("key") == index:
                journals[header["gen"]][index] = name
        missing = sorted(set(range(chunk_count)) - set(chunks))
        if missing:
            self.problems.append("snapshot %d lacks chunk(s) %s" % (gen, missing))
        snapshot_bytes = 0
        for index in sorted(chunks):
            snapshot_bytes += self._apply(decode(values.pop(chunks[index])), journal=False)
        journal_bytes = {}
        for g in (gen, gen + 1):
            keys = journals[g]
            if keys and sorted(keys) != list(range(max(keys) + 1)):
                self.problems.append("journal %d lacks key(s) %s" % (
                    g, sorted(set(range(max(keys) + 1)) - set(keys))))
            journal_bytes[g] = sum(self._apply(decode(values.pop(keys[k])), journal=True)
                                   for k in sorted(keys))
        self.gen, self.chunks, self.snapshot_bytes = gen, chunk_count, snapshot_bytes
        resume = bool(journals[gen + 1])  # a compaction to gen + 1 was under way
        self.jgen = gen + 1 if resume else gen
        self.jindex = max(journals[self.jgen]) + 1 if journals[self.jgen] else 0
        self._jhigh = self.jindex - 1
        self._open, self._open_bytes = {}, 0
        self.journal_bytes = journal_bytes[self.jgen]
        if resume or missing:
            self._start_compaction()
        self.loaded = True
        return len(self.state)

    def _apply(self, text, journal):
        """Apply one stored value's lines to the state; returns the text's length."""
        lines = text.split("\n")
        bad = 0
        for count, line in enumerate(lines[1:], 1):
            uid, _, record = line.partition(" ")
            if not uid:
                continue
            if journal and record == "-":
                self.state.load_removal(uid)
            elif not self.state.load_record(uid, record):
                bad += 1
            if count % self.yield_every == 0:
                time.sleep(0)
        if bad:
            self.problems.append("%d unreadable record(s) skipped" % bad)
        return len(text)

    # ---------------------------------------------------------------- writing
    def flush(self):
        """Write the state's pending changes to the journal; returns how many were written.
        On failure the changes stay pending (and the exception is raised)."""
        with self._write_lock:
            changes, urgent = self.state.take_pending()
            if not changes:
                return 0
            try:
                self._append(changes)
            except Exception:
                self.state.restore_pending(changes, urgent)
                raise
            return len(changes)

    def _append(self, changes):
        """Write ``changes`` into the journal: the open key gets them until it is full, then it
        is written (sealed) and the next one opened. Each full key is written as soon as it is
        full, so a large batch (a first list of 100,000 objects) never holds more than one
        key's text. Memory state changes only once every write succeeded: after a failure the
        next flush writes the same keys again (and empties any left past its last one)."""
        opened, open_bytes, index = dict(self._open), self._open_bytes, self.jindex
        sealed_bytes = 0
        if open_bytes >= self.open_key_bytes:
            # A small batch does not rewrite a key of earlier batches past this size: its
            # changes open the next key (so a trickle of changes costs its own lines, plus at
            # most this much, per write).
            sealed_bytes, index, opened, open_bytes = open_bytes, index + 1, {}, 0
        parity = self.jgen % 2
        for count, (uid, packed) in enumerate(changes.items(), 1):
            line = self._line(uid, packed)
            if count % self.yield_lines == 0:
                time.sleep(0)  # let the watch threads run (the GIL, or eventlet's hub)
            old = opened.pop(uid, None)
            if old is not None:
                open_bytes -= len(old) + 1
            opened[uid] = line
            open_bytes += len(line) + 1
            if open_bytes >= self.journal_key_bytes:
                self._write_journal_key(parity, index, opened.values())
                sealed_bytes += open_bytes
                index, opened, open_bytes = index + 1, {}, 0
        if opened:
            self._write_journal_key(parity, index, opened.values())
        last = index if opened else index - 1
        # Keys past the last one written now hold what a failed flush wrote before: their
        # changes are older than these and would be applied after them; empty them.
        for key in range(last + 1, self._jhigh + 1):
            self._write_journal_key(parity, key, ())
        self._jhigh = last
        self._open, self._open_bytes, self.jindex = opened, open_bytes, index
        self.journal_bytes += sealed_bytes

    def _write_journal_key(self, parity, key, lines):
        self._set("j%d.%d" % (parity, key), self._encode(
            {"v": FORMAT, "gen": self.jgen, "key": key}, list(lines)))
        self._jhigh = max(self._jhigh, key)

    def _check_single_writer(self):
        """Before a commit: the meta key must still be the one this store committed (or read)
        last. If not, another instance of the sensor writes the same keys; say so (the sensor
        logs it). get_value answers None for an outage too: then nothing is concluded."""
        with self._ds_lock:
            value = self._datastore.get_value(self.prefix + "meta", local=True)
        try:
            meta = json.loads(value) if value else {}
            found, writer = meta.get("gen"), meta.get("writer")
        except (ValueError, AttributeError):
            found = writer = None
        if found is None or self.other_writer:
            return
        if found != self.gen or writer != self._meta_writer:
            self.other_writer = ("the snapshot committed there is generation %s by writer %s; "
                                 "this instance last committed or read generation %s by %s"
                                 % (found, writer, self.gen, self._meta_writer))

    # ---------------------------------------------------------------- compaction
    def compacting(self):
        return self._compaction is not None

    def compaction_due(self):
        return self._compaction is None and self.journal_bytes + self._open_bytes >= max(
            self.compact_min_bytes, self.compact_ratio * self.snapshot_bytes)

    def _start_compaction(self):
        """Take the snapshot (references to the records as they are now) and switch the
        journal to the new generation: changes not written yet go to the new journal."""
        new = self.gen + 1
        self._compaction = {"gen": new, "items": self.state.snapshot(), "pos": 0,
                            "chunk": 0, "bytes": 0}
        if self.jgen != new:
            self.jgen, self.jindex, self._jhigh = new, 0, -1
            self._open, self._open_bytes, self.journal_bytes = {}, 0, 0

    def compaction_step(self):
        """Start a compaction if due, or write its next chunk, or commit it. Returns True
        while one is under way."""
        with self._write_lock:
            return self._compaction_step()

    def _compaction_step(self):
        if self._compaction is None:
            if not self.compaction_due():
                return False
            self._start_compaction()
        c = self._compaction
        items, gen = c["items"], c["gen"]
        if c["pos"] < len(items):
            lines, size, pos = [], 0, c["pos"]
            while pos < len(items) and size < self.chunk_bytes:
                uid, packed = items[pos]
                line = self._line(uid, packed)
                lines.append(line)
                size += len(line) + 1
                pos += 1
                if pos % self.yield_lines == 0:
                    time.sleep(0)  # let the watch threads run (the GIL, or eventlet's hub)
            self._set("s%d.%d" % (gen % 2, c["chunk"]), self._encode(
                {"v": FORMAT, "gen": gen, "chunk": c["chunk"]}, lines))
            self._chunk_high[gen % 2] = max(self._chunk_high[gen % 2], c["chunk"])
            items[c["pos"]:pos] = [None] * (pos - c["pos"])  # let go of replaced records
            c["pos"], c["chunk"], c["bytes"] = pos, c["chunk"] + 1, c["bytes"] + size
            return True
        self._check_single_writer()
        self._set("meta", json.dumps({"v": FORMAT, "gen": gen, "chunks": c["chunk"],
                                      "objects": len(items), "writer": self.writer_id},
                                     sort_keys=True))
        self._meta_writer = self.writer_id
        self.gen, self.chunks, self.snapshot_bytes = gen, c["chunk"], c["bytes"]
        self._compaction = None
        self.stats["compactions"] += 1
        # Hygiene only (a stale chunk is ignored by its header): delete the chunks of this
        # key set past the new snapshot's end; a failed delete is not retried.
        parity = gen % 2
        for index in range(self.chunks, self._chunk_high[parity] + 1):
            self._delete("s%d.%d" % (parity, index))
        self._chunk_high[parity] = self.chunks - 1
        return False
