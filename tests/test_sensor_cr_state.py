"""sensors/cr_state.py: the sensor's per-resource state in the st2 datastore."""

import json
import threading

import pytest
from tests.sensor_service import SensorService

from cr_state import ResourceState
from lib.kube import to_payload

DB = {"group": "dbaas.stackstorm.com", "version": "v1alpha1", "plural": "databases",
      "namespace": "team-a"}


def obj(i, rv="1"):
    return {"apiVersion": "dbaas.stackstorm.com/v1alpha1", "kind": "Database",
            "metadata": {"name": "db-%05d" % i, "namespace": "team-a", "uid": "uid-%05d" % i,
                         "resourceVersion": rv, "generation": 1, "labels": {"n": str(i)}},
            "spec": {"engine": "postgres", "storageGB": 20}}


class CountingService(SensorService):
    def __init__(self):
        super().__init__()
        self.set_calls = []

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        self.set_calls.append(name)
        return super().set_value(name, value, ttl=ttl, local=local, scope=scope, encrypt=encrypt)


def test_round_trip_through_the_datastore():
    service = CountingService()
    state = ResourceState(service, DB)
    payloads = [to_payload("ADDED", obj(i), DB) for i in range(300)]
    for payload in payloads:
        state.put(payload)
    state.set_cursor("42")
    assert state.flush() == 64  # every shard holds some of 300 objects
    loaded = ResourceState(service, DB)
    assert loaded.load() == 300
    assert loaded.cursor == "42"
    for payload in payloads:
        expected = dict(payload)
        for derived in ("event", "spec_changed", "deletion_requested"):
            del expected[derived]
        assert loaded.get(payload["uid"]) == expected
    assert sorted(loaded.uids()) == sorted(p["uid"] for p in payloads)


def test_one_change_rewrites_one_shard_and_the_meta_key():
    service = CountingService()
    state = ResourceState(service, DB)
    for i in range(200):
        state.put(to_payload("ADDED", obj(i), DB))
    state.flush()
    service.set_calls.clear()
    state.put(to_payload("MODIFIED", obj(7, rv="2"), DB))
    state.flush()
    prefix = "crs.dbaas.stackstorm.com.v1alpha1.databases.team-a."
    assert service.set_calls == [prefix + "%02x" % state.shard_of("uid-00007"), prefix + "meta"]
    assert state.flush() == 0 and service.set_calls[-1] == prefix + "meta"


def test_remove_and_flush_forgets_the_object():
    service = CountingService()
    state = ResourceState(service, DB)
    state.put(to_payload("ADDED", obj(1), DB))
    state.put(to_payload("ADDED", obj(2), DB))
    state.flush()
    state.remove("uid-00001")
    state.remove("uid-00001")  # twice is harmless
    state.flush()
    loaded = ResourceState(service, DB)
    assert loaded.load() == 1
    assert loaded.uids() == ["uid-00002"]
    assert loaded.resource_version("uid-00002") == "1"
    assert loaded.get("uid-00001") is None


def test_values_are_strings_and_meta_is_readable_json():
    service = CountingService()
    state = ResourceState(service, DB)
    state.put(to_payload("ADDED", obj(1), DB))
    state.set_cursor("9")
    state.flush()
    meta = json.loads(service.get_value("crs.dbaas.stackstorm.com.v1alpha1.databases.team-a.meta"))
    assert meta == {"v": 1, "cursor": "9", "shards": 64, "objects": 1}


def test_a_failed_write_is_retried_by_the_next_flush():
    service = CountingService()
    state = ResourceState(service, DB)
    state.put(to_payload("ADDED", obj(1), DB))
    original = service.set_value
    service.set_value = lambda *a, **k: (_ for _ in ()).throw(IOError("st2api down"))
    with pytest.raises(IOError):
        state.flush()
    assert state.dirty()
    service.set_value = original
    assert state.flush() == 1
    assert ResourceState(service, DB).load() == 1


def test_state_saved_with_another_shard_count_is_read_and_rewritten():
    service = CountingService()
    small = ResourceState(service, DB, shards=4)
    for i in range(50):
        small.put(to_payload("ADDED", obj(i), DB))
    small.flush()
    state = ResourceState(service, DB)
    assert state.load() == 50
    assert state.dirty()
    state.flush()
    assert ResourceState(service, DB).load() == 50


def test_ten_thousand_objects_stay_compact():
    service = CountingService()
    state = ResourceState(service, DB)
    for i in range(10000):
        state.put(to_payload("ADDED", obj(i), DB))
    state.flush()
    stored = sum(len(v.value) for v in service.list_values(local=True, prefix="crs."))
    assert stored < 1500000, stored  # ~300 bytes of JSON per object before compression
    assert ResourceState(service, DB).load() == 10000


class GateFirstAcquire(object):
    """A datastore lock whose first user waits, before taking it, until ``go`` is set."""

    def __init__(self):
        self._lock = threading.Lock()
        self._first = True
        self.first_waiting = threading.Event()
        self.go = threading.Event()

    def __enter__(self):
        if self._first:
            self._first = False
            self.first_waiting.set()
            self.go.wait(30)
        self._lock.acquire()

    def __exit__(self, *exc):
        self._lock.release()


def test_a_flush_never_overwrites_a_newer_write_of_the_same_shard():
    # The sensor's flush thread writes every dirty shard while the watch thread saves a new
    # uid's shard at once. Whatever the interleaving, the datastore must end with the newer
    # shard: else the new uid is missing there and a delete while the sensor is down is missed.
    service = CountingService()
    gate = GateFirstAcquire()
    state = ResourceState(service, DB, lock=gate, shards=1)
    state.put(to_payload("ADDED", obj(1), DB))
    state.set_cursor("5")
    flush_thread = threading.Thread(target=state.flush)
    flush_thread.start()
    assert gate.first_waiting.wait(30)
    state.put(to_payload("ADDED", obj(2), DB))  # the watch thread: a new uid, saved at once
    state.flush(shards=[state.shard_of("uid-00002")])
    gate.go.set()
    flush_thread.join(30)
    assert not flush_thread.is_alive()
    saved = ResourceState(service, DB, shards=1)
    assert saved.load() == 2
    assert sorted(saved.uids()) == ["uid-00001", "uid-00002"]
