"""sensors/cr_state.py: what the sensor remembers of one watched resource, in memory."""

import json
import sys
import tracemalloc

from hypothesis import given, settings, strategies as st

from cr_state import ResourceState, pack, packed_resource_version, unpack
from lib.kube.api import to_payload

DB = {"group": "dbaas.stackstorm.com", "version": "v1alpha1", "plural": "databases",
      "namespace": "team-a"}


def obj(i, rv="1", name=None, uid=None, **spec):
    return {"apiVersion": "dbaas.stackstorm.com/v1alpha1", "kind": "Database",
            "metadata": {"name": name or "db-%05d" % i, "namespace": "team-a",
                         "uid": uid or "uid-%05d" % i, "resourceVersion": rv, "generation": 1,
                         "labels": {"n": str(i)}},
            "spec": dict({"engine": "postgres", "storageGB": 20}, **spec)}


def test_get_returns_the_last_payload_without_the_per_event_fields():
    state = ResourceState(DB)
    payload = to_payload("ADDED", obj(1), DB)
    assert state.put(payload) is True
    expected = dict(payload)
    for derived in ("event", "spec_changed", "deletion_requested"):
        del expected[derived]
    assert state.get("uid-00001") == expected
    assert state.resource_version("uid-00001") == "1"
    assert state.put(to_payload("MODIFIED", obj(1, rv="2"), DB)) is False
    assert state.resource_version("uid-00001") == "2"
    assert state.get("nope") is None and state.resource_version("nope") is None


def test_every_change_is_pending_once_and_a_new_uid_is_urgent():
    state = ResourceState(DB)
    state.put(to_payload("ADDED", obj(1), DB))
    state.put(to_payload("MODIFIED", obj(1, rv="2"), DB))
    state.put(to_payload("ADDED", obj(2), DB))
    state.remove("uid-00002")
    assert state.urgent_since is not None and state.pending_since is not None
    changes, urgent = state.take_pending()
    assert urgent is True
    assert sorted(changes) == ["uid-00001", "uid-00002"]
    assert changes["uid-00002"] is None
    assert packed_resource_version(changes["uid-00001"]) == "2"
    assert state.take_pending() == ({}, False)
    assert (state.pending_since, state.urgent_since) == (None, None)
    state.put(to_payload("MODIFIED", obj(1, rv="3"), DB))  # a known uid: not urgent
    assert state.urgent_since is None and state.pending_since is not None


def test_restored_changes_never_override_newer_ones():
    state = ResourceState(DB)
    state.put(to_payload("ADDED", obj(1), DB))
    changes, urgent = state.take_pending()
    state.put(to_payload("MODIFIED", obj(1, rv="2"), DB))  # while the failed write was made
    state.restore_pending(changes, urgent)
    again, urgent = state.take_pending()
    assert packed_resource_version(again["uid-00001"]) == "2"
    assert urgent is True


def test_uid_named_finds_the_known_object_of_a_name_and_forgets_it_when_removed():
    state = ResourceState(DB)
    state.put(to_payload("ADDED", obj(1, name="orders"), DB))
    assert state.uid_named("team-a", "orders") == "uid-00001"
    assert state.uid_named("team-b", "orders") is None
    state.remove("uid-00001")
    assert state.uid_named("team-a", "orders") is None
    state.load_record("uid-00009", json.dumps({"namespace": "team-a", "name": "orders",
                                               "resource_version": "7"}))
    assert state.uid_named("team-a", "orders") == "uid-00009"
    state.load_removal("uid-00009")
    assert state.uid_named("team-a", "orders") is None and len(state) == 0


def test_an_unreadable_record_from_the_store_is_refused():
    state = ResourceState(DB)
    assert state.load_record("u", "{not json") is False
    assert state.load_record("u", "[1]") is False
    assert len(state) == 0


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=20), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=50),
    lambda inner: (st.lists(inner, max_size=4)
                   | st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=20), max_size=8), st.text(max_size=300))
def test_records_round_trip_whatever_they_hold(spec, resource_version):
    text = json.dumps({"spec": spec}, separators=(",", ":"), sort_keys=True)
    packed = pack(resource_version, text)
    assert unpack(packed) == text
    assert packed_resource_version(packed) == resource_version


def test_a_database_record_is_held_compactly():
    # What 100,000 objects cost in memory decides whether a sensor fits in its pod.
    state = ResourceState(DB)
    payloads = [to_payload("ADDED", obj(i, rv=str(100000 + i), instanceSize="small",
                                        masterUsername="dbadmin", deletionPolicy="Snapshot",
                                        tags={"team": "team-a"}), DB)
                for i in range(5000)]
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for payload in payloads:
        state.put(payload)
    state.take_pending()
    held = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    plain = sum(sys.getsizeof(unpack(state._records[p["uid"]]))  # pylint: disable=W0212
                for p in payloads)
    assert held / len(payloads) < 350, held / len(payloads)
    assert held < plain  # less than the records' JSON text alone
