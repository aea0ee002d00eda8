"""sensors/cr_store.py: the sensor's state in the st2 datastore (journal, snapshot, load)."""

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from tests.sensor_harness import stored_values
from tests.sensor_service import SensorService

from cr_state import ResourceState
from cr_store import StateStore, decode
from lib.kube.api import to_payload

DB = {"group": "dbaas.stackstorm.com", "version": "v1alpha1", "plural": "databases",
      "namespace": "team-a"}
PREFIX = "crs.dbaas.stackstorm.com.v1alpha1.databases.team-a."


def obj(i, rv="1", name=None):
    return {"apiVersion": "dbaas.stackstorm.com/v1alpha1", "kind": "Database",
            "metadata": {"name": name or "db-%06d" % i, "namespace": "team-a",
                         "uid": "0000%04x-1111-4222-8333-%012x" % (i % 65536, i),
                         "resourceVersion": rv, "generation": 1, "labels": {"app": "a%d" % i}},
            "spec": {"engine": "postgres", "instanceSize": "small", "storageGB": 20,
                     "masterUsername": "dbadmin", "deletionPolicy": "Snapshot",
                     "tags": {"team": "team-a"}}}


def uid(i):
    return obj(i)["metadata"]["uid"]


class CountingService(SensorService):
    """The test sensor service (st2's names and paging), counting calls and failing on demand."""

    def __init__(self):
        super().__init__()
        self.sets = []
        self.lists = 0
        self.fail_sets = 0  # the next N set_value calls raise
        self.fail_lists = False

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        if self.fail_sets:
            self.fail_sets -= 1
            raise ConnectionError("st2api: connection refused")
        self.sets.append(name)
        self.stored_bytes = getattr(self, "stored_bytes", 0) + len(value)
        return super().set_value(name, value, ttl=ttl, local=local, scope=scope,
                                 encrypt=encrypt)

    def list_values(self, local=True, prefix=None, limit=None, offset=0):
        self.lists += 1
        if self.fail_lists:
            raise ConnectionError("st2api: connection refused")
        return super().list_values(local=local, prefix=prefix, limit=limit, offset=offset)


def fresh(service, resource=DB):
    state = ResourceState(resource)
    store = StateStore(service, state)
    store.load()
    return state, store


def records(state):
    return {u: state.get(u) for u in state.uids()}


def drain(store):
    """Write what is pending and finish a compaction under way (what the writer thread does)."""
    store.flush()
    while store.compaction_step():
        pass


def test_a_burst_is_written_in_a_few_journal_keys_and_loads_back():
    service = CountingService()
    state, store = fresh(service)
    for i in range(1000):
        state.put(to_payload("ADDED", obj(i), DB))
    assert store.flush() == 1000
    # ~400 KB of records: 64 KiB journal keys, no write per object.
    assert len(service.sets) <= 8, service.sets
    assert all(name.startswith(PREFIX + "j0.") for name in service.sets)
    loaded, _ = fresh(service)
    assert records(loaded) == records(state)


def test_the_state_is_read_with_list_values_paged_and_an_outage_is_not_no_state():
    service = CountingService()
    state, store = fresh(service)
    store.journal_key_bytes = 4096  # small keys: more than one page of list_values (100)
    for i in range(3000):
        state.put(to_payload("ADDED", obj(i), DB))
        if i % 20 == 19:
            store.flush()
    drain(store)
    assert len(stored_values(service)) > 100
    service.lists = 0
    loaded, _ = fresh(service)
    assert records(loaded) == records(state)
    assert service.lists >= 2  # paged
    service.fail_lists = True
    with pytest.raises(ConnectionError):
        fresh(service)


class NotPagingService(SensorService):
    """A datastore that answers every key whatever the offset, as st2tests' own
    MockDatastoreService does (st2tests' BaseSensorTestCase hands sensors that one)."""

    def __init__(self):
        super().__init__()
        self.lists = 0

    def list_values(self, local=True, prefix=None, limit=None, offset=0):
        assert self.lists < 10, "list_values called again and again"
        self.lists += 1
        everything, start = [], 0
        while True:
            page = super().list_values(local=local, prefix=prefix, offset=start)
            if not page:
                return everything
            everything += page
            start += len(page)


def test_the_state_is_read_from_a_datastore_that_does_not_page():
    service = NotPagingService()
    state, store = fresh(service)
    for i in range(5):
        state.put(to_payload("ADDED", obj(i), DB))
    store.flush()
    service.lists = 0
    loaded, _ = fresh(service)
    assert records(loaded) == records(state)
    assert service.lists == 2  # the second answer held no key it had not seen: done


def test_a_compaction_writes_a_snapshot_and_commits_it_in_the_meta_key():
    service = CountingService()
    state, store = fresh(service)
    store.compact_min_bytes = 50 * 1024
    for i in range(400):
        state.put(to_payload("ADDED", obj(i), DB))
        if i % 10 == 9:
            store.flush()
    drain(store)
    assert store.stats["compactions"] >= 1
    values = stored_values(service)
    meta = json.loads(values["aws.CustomResourceSensor:" + PREFIX + "meta"])
    assert meta == {"v": 2, "gen": store.gen, "chunks": store.chunks,
                    "objects": meta["objects"], "writer": store.writer_id}
    chunk = decode(values["aws.CustomResourceSensor:%ss%d.0" % (PREFIX, store.gen % 2)])
    assert json.loads(chunk.split("\n", 1)[0]) == {"v": 2, "gen": store.gen, "chunk": 0}
    loaded, _ = fresh(service)
    assert records(loaded) == records(state)


def test_journal_keys_left_by_a_failed_flush_cannot_override_later_changes():
    # A flush that wrote keys j0.0 and j0.1 and then failed leaves j0.1 with changes that the
    # retry may put in j0.0: without care, a load would apply the older j0.1 after j0.0.
    service = CountingService()
    state, store = fresh(service)
    store.journal_key_bytes = 2000
    for i in range(12):
        state.put(to_payload("ADDED", obj(i), DB))
    service.fail_sets = 0
    original = store._set  # pylint: disable=protected-access
    calls = []

    def fail_third(name, value):
        calls.append(name)
        if len(calls) == 3:
            raise ConnectionError("st2api: connection refused")
        original(name, value)
    store._set = fail_third  # pylint: disable=protected-access
    with pytest.raises(ConnectionError):
        store.flush()
    store._set = original  # pylint: disable=protected-access
    for i in range(12):
        state.remove(uid(i))  # all deleted meanwhile: the retry is one small key
    store.flush()
    loaded, _ = fresh(service)
    assert loaded.uids() == []


def test_a_state_in_another_layout_is_reported_and_ignored():
    service = CountingService()
    service.set_value(PREFIX + "meta", json.dumps({"v": 1, "cursor": "9", "shards": 64}))
    service.set_value(PREFIX + "00", "z:eJyrrgUAAXUA+Q==")
    state, store = fresh(service)
    assert len(state) == 0
    assert store.problems and "another layout" in store.problems[0]


def test_a_missing_snapshot_chunk_is_reported_and_repaired():
    service = CountingService()
    state, store = fresh(service)
    store.compact_min_bytes = store.chunk_bytes = 20 * 1024
    for i in range(300):
        state.put(to_payload("ADDED", obj(i), DB))
        store.flush()
    drain(store)
    assert store.chunks >= 2
    service.delete_value(PREFIX + "s%d.1" % (store.gen % 2))
    loaded, reloaded = fresh(service)
    assert any("lacks chunk" in p for p in reloaded.problems)
    assert 0 < len(loaded) < 300
    assert reloaded.compacting()  # a new snapshot is written at once
    drain(reloaded)
    again, _ = fresh(service)
    assert records(again) == records(loaded)


# ------------------------------------------------------------------ any interleaving, any crash
KINDS = ["put", "modify", "remove", "flush", "step", "fail", "crash"]
OPS = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(min_value=0, max_value=59)),
               min_size=1, max_size=120)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_whatever_happens_a_load_reads_every_change_written(ops):
    """Random changes, flushes, compaction steps, failed writes and crashes (a new store that
    loads from the datastore and carries on, as a restarted sensor): after each successful
    flush, what a load reads is exactly what is known in memory."""
    service = CountingService()
    state, store = fresh(service)
    store.journal_key_bytes, store.chunk_bytes, store.open_key_bytes = 1500, 3000, 600
    store.compact_min_bytes, store.compact_ratio = 2000, 0.5
    versions = {}
    for op, i in ops:
        if op == "put" and uid(i) not in state:
            versions[i] = versions.get(i, 0) + 1
            state.put(to_payload("ADDED", obj(i, rv=str(versions[i])), DB))
        elif op == "modify" and uid(i) in state:
            versions[i] += 1
            state.put(to_payload("MODIFIED", obj(i, rv=str(versions[i])), DB))
        elif op == "remove":
            state.remove(uid(i))
        elif op == "fail":
            service.fail_sets = 1 + i % 3
        elif op == "step":
            try:
                store.compaction_step()
            except ConnectionError:
                pass
        elif op == "crash":
            service.fail_sets = 0
            try:
                store.flush()
            except ConnectionError:
                continue
            state, store = fresh(service)
            store.journal_key_bytes, store.chunk_bytes, store.open_key_bytes = 1500, 3000, 600
            store.compact_min_bytes, store.compact_ratio = 2000, 0.5
            continue
        try:
            store.flush()
        except ConnectionError:
            continue
        loaded, _ = fresh(service)
        assert records(loaded) == records(state)


# ------------------------------------------------------------------ constant work per event
def work_per_event(known, events, batch=50, seed=1):
    """Datastore writes and bytes serialised per event (new objects, changes and deletes of
    random known objects), with ``known`` objects known, the store's thresholds as shipped,
    and the writer's behaviour (a flush per batch, compaction steps in between)."""
    rng = random.Random(seed)
    service = CountingService()
    state, store = fresh(service)
    for i in range(known):
        state.put(to_payload("ADDED", obj(i), DB))
        if i % 1000 == 999:
            drain(store)
    drain(store)
    while store.compaction_due() or store.compacting():
        drain(store)
    writes, size = store.stats["writes"], store.stats["bytes"]
    stored = service.stored_bytes
    next_new, live = known, list(range(known))
    for n in range(events):
        kind = rng.random()
        if kind < 0.4:
            state.put(to_payload("ADDED", obj(next_new), DB))
            live.append(next_new)
            next_new += 1
        elif kind < 0.8:
            i = live[rng.randrange(len(live))]
            state.put(to_payload("MODIFIED", obj(i, rv=str(n + 2)), DB))
        else:
            i = live.pop(rng.randrange(len(live)))
            state.remove(uid(i))
        if n % batch == batch - 1:
            store.flush()
            store.compaction_step()
    drain(store)
    work_per_event.stored = (service.stored_bytes - stored) / events
    return ((store.stats["writes"] - writes) / events, (store.stats["bytes"] - size) / events)


def test_work_per_event_does_not_grow_with_the_objects_known():
    # Counted in writes and bytes serialised (not time). Each window spans at least one
    # compaction at the largest size, so its amortised cost is in the figures.
    record = len(json.dumps(to_payload("ADDED", obj(1), DB), separators=(",", ":")))
    figures = {known: work_per_event(known, events=12000) for known in (500, 4000, 16000)}
    (w_small, b_small), (w_large, b_large) = figures[500], figures[16000]
    for known, (writes, size) in figures.items():
        assert size < 5 * record, (known, size, record)  # about 1 journal line + compaction
        assert writes < 0.2, (known, writes)  # a batch of 50 events: a few writes at most
    assert b_large < 2 * b_small, figures
    assert w_large < 2 * w_small + 0.01, figures


def test_another_instance_writing_the_same_keys_is_noticed_at_a_commit():
    # Two sensor instances on one st2 datastore write the same keys (docs/install.md, section
    # 7): the second commit finds a snapshot it did not write, and says so.
    service = CountingService()
    a_state, a = fresh(service)
    b_state, b = fresh(service)
    for store in (a, b):
        store.compact_min_bytes = 10 * 1024
    for i in range(100):
        for state in (a_state, b_state):  # both see the same events
            state.put(to_payload("ADDED", obj(i), DB))
    drain(a)
    assert a.gen == 1 and a.other_writer is None
    drain(b)
    assert b.other_writer == (
        "the snapshot committed there is generation 1 by writer %s; this instance last "
        "committed or read generation 0 by None" % a.writer_id)
    drain(a)  # and A, at its next commit, sees B's
    a_state.put(to_payload("ADDED", obj(500), DB))
    a.compact_min_bytes, a.compact_ratio = 1, 0
    drain(a)
    assert a.other_writer is not None


def test_a_trickle_of_single_changes_costs_about_a_record_each_however_many_are_known():
    """One change per flush (the sensor's flush interval apart, as a workflow's status updates
    of a few Databases come): the bytes stored per change (what st2api sends and MongoDB keeps)
    stay within twice the plain layout's (one datastore key per object, its record per change)
    and do not grow with the objects known. Earlier, each flush rewrote the whole open journal
    key, up to 64 KiB of text: about 5.6 times the plain layout."""
    from cr_state import record_text
    from cr_store import encode

    plain = len(encode(record_text(to_payload("ADDED", obj(1), DB))))
    figures = {}
    for known in (500, 8000):
        writes, _ = work_per_event(known, events=6000, batch=1)
        figures[known] = (writes, work_per_event.stored)
    for known, (writes, stored) in figures.items():
        assert writes < 1.02, figures  # one write per flush, compactions' chunks aside
        assert stored < 2 * plain, (known, stored, plain)
    assert figures[8000][1] < 1.25 * figures[500][1], figures
