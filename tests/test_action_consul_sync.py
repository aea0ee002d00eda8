"""aws.consul_sync between two real Consul agents (the main set and ``STACK_INSTANCE=b``): the
one-shot copy of a prefix with its diff, check-and-set writes, conflicts reported and kept,
deletions only of what the sync wrote, key names (never values) in results and logs."""

import logging
import uuid

import pytest
from hypothesis import given, strategies as st

from consul_sync import ConsulSync
from lib.stores.kv_sync import decide, marker
from tests.st2_params import ParamError, action_params, load_action, validate_output
from tests.two_clusters import kv_snapshot, pack_config, seed_prefix

META = load_action("consul_sync")


def test_marker_is_64_bits_of_the_value():
    assert marker(b"x") == marker(b"x") != marker(b"y")
    assert 0 <= marker(None) == marker(b"") < 2 ** 64


OURS = (b"v1", 7, marker(b"v1"))
HAND = (b"hand", 9, 0)


@pytest.mark.parametrize("source, target, kwargs, expected", [
    ((b"v1", 3, 0), None, {}, "create"),
    ((b"v2", 4, 0), OURS, {}, "update"),
    ((b"v1", 4, 0), OURS, {}, "unchanged"),
    ((b"hand", 4, 0), HAND, {}, "adopt"),
    ((b"v2", 4, 0), HAND, {}, "conflict"),
    ((b"v2", 4, 0), HAND, {"overwrite": True}, "update"),
    (None, OURS, {}, "delete"),
    (None, HAND, {}, "conflict"),
    (None, OURS, {"full": True}, "only_in_target"),
    (None, OURS, {"full": True, "delete_extra": True}, "delete"),
    (None, HAND, {"full": True, "delete_extra": True}, "only_in_target"),
    (None, None, {}, "absent"),
])
def test_decide(source, target, kwargs, expected):
    assert decide(source, target, **kwargs)[0] == expected


_ENTRY = st.one_of(st.none(), st.tuples(st.binary(max_size=3), st.integers(1, 9),
                                        st.integers(0, 2 ** 64 - 1)))


@given(source=_ENTRY, target=_ENTRY, full=st.booleans(), delete_extra=st.booleans())
def test_a_target_value_the_sync_did_not_write_is_never_replaced_unless_asked(
        source, target, full, delete_extra):
    outcome, reason = decide(source, target, full=full, delete_extra=delete_extra)
    if target is not None and target[2] != marker(target[0]):
        if source is None or source[0] != target[0]:
            assert outcome in ("conflict", "only_in_target"), outcome
    if outcome == "conflict":
        assert reason
    if outcome == "delete":
        assert target[2] == marker(target[0]) and (delete_extra or not full)


@pytest.mark.parametrize("live, message", [
    ({"prefix": "a/"}, "'target' is a required property"),
    ({"target": "b", "prefix": "a/", "dry_run": 3}, "dry_run: 3 is not of type 'boolean'"),
])
def test_st2_refuses_bad_params(live, message):
    with pytest.raises(ParamError) as error:
        action_params(META, live)
    assert str(error.value) == message


@pytest.mark.parametrize("live, message", [
    ({"target": "b", "prefix": ""}, "prefix must be a key prefix such as apps/ (not empty: a "
                                    "whole KV store is not synced; no leading /), got ''"),
    ({"target": "", "prefix": "a/"}, 'source and target are both "": name two Consul agents '
                                     'of the pack config (consul_clusters; empty is the '
                                     'default agent)'),
    ({"target": "c", "prefix": "a/"}, 'unknown Consul agent "c": pack config key '
                                      '"consul_clusters" names "b" (and "" is the default one '
                                      'of the flat keys)'),
])
def test_bad_input_is_refused_before_any_request(live, message):
    config = {"consul_clusters": {"b": {"host": "127.0.0.1", "port": 9}}, "consul_port": 9}
    with pytest.raises(ValueError) as error:
        ConsulSync(config=config).run(**action_params(META, live))
    assert str(error.value) == message


# --- two real agents --------------------------------------------------------------------------

@pytest.fixture
def agents(stack, stack_b, consul_client, consul_b_client, consul_prefix, caplog):
    caplog.set_level(logging.DEBUG)
    config = pack_config(stack.require("kube", "consul"), stack_b.require("kube", "consul"))
    yield config, consul_client, consul_b_client, consul_prefix
    consul_b_client.kv.delete(consul_prefix, recurse=True)


def sync(config, **live):
    ok, result = ConsulSync(config=config).run(**action_params(META, live))
    validate_output(META, result)
    return ok, result


@pytest.mark.integration
def test_one_shot_copy_with_a_diff_then_only_what_changed(agents, caplog):
    config, a, b, prefix = agents
    values = seed_prefix(a, prefix, 150)
    ok, diff = sync(config, target="b", prefix=prefix, dry_run=True)
    assert ok and diff["created"] == sorted(values) and diff["unchanged"] == 0
    assert kv_snapshot(b, prefix) == {}
    ok, done = sync(config, target="b", prefix=prefix)
    assert ok
    assert {k: v for k, v in done.items() if k not in ("seconds",)} == {
        "source": "", "target": "b", "prefix": prefix, "dry_run": False, "keys": None,
        "created": sorted(values), "updated": [], "deleted": [], "unchanged": 0,
        "conflicts": [], "only_in_target": [], "failed": [], "lag_seconds": None}
    assert kv_snapshot(b, prefix) == values
    written = b.kv.get(prefix, recurse=True)[1]
    assert all(item["Flags"] == marker(item["Value"]) for item in written)
    # changes: one updated, one deleted, one new, one written by hand in B
    keys = sorted(values)
    a.kv.put(keys[0], "changed")
    a.kv.delete(keys[1])
    a.kv.put(prefix + "new", "fresh")
    b.kv.put(keys[2], "by hand in B")
    b.kv.put(prefix + "b-only", "B's own")
    ok, diff = sync(config, target="b", prefix=prefix, dry_run=True)
    assert ok  # a dry run reports conflicts without failing
    assert (diff["created"], diff["updated"], diff["deleted"], diff["only_in_target"]) == (
        [prefix + "new"], [keys[0]], [], [prefix + "b-only", keys[1]])
    assert diff["conflicts"] == [{"key": keys[2],
                                  "reason": "the target's value was not written by the sync"}]
    ok, done = sync(config, target="b", prefix=prefix, delete_extra=True)
    assert not ok  # the conflict fails the execution, after everything else is written
    assert (done["created"], done["updated"], done["deleted"], done["only_in_target"]) == (
        [prefix + "new"], [keys[0]], [keys[1]], [prefix + "b-only"])
    assert done["unchanged"] == 147
    snapshot = kv_snapshot(b, prefix)
    assert snapshot[keys[2]] == "by hand in B" and snapshot[prefix + "b-only"] == "B's own"
    assert keys[1] not in snapshot and snapshot[keys[0]] == "changed"
    ok, done = sync(config, target="b", prefix=prefix, overwrite_conflicts=True)
    assert ok and done["updated"] == [keys[2]]
    assert kv_snapshot(b, prefix)[keys[2]] == values[keys[2]]
    # values never in a result or a log
    secret = values[keys[3]]
    assert not [r for r in caplog.records if secret in r.getMessage()]
    assert secret not in str(done)


@pytest.mark.integration
def test_named_keys_and_a_write_racing_the_sync(agents, monkeypatch):
    config, a, b, prefix = agents
    values = seed_prefix(a, prefix, 10)
    sync(config, target="b", prefix=prefix)
    keys = sorted(values)
    a.kv.put(keys[0], "new-0")
    a.kv.delete(keys[1])
    b.kv.put(keys[2], "hand")
    a.kv.put(keys[2], "new-2")
    ok, done = sync(config, target="b", prefix=prefix, keys=keys[:3], observed_at=1.0)
    assert not ok
    assert (done["keys"], done["updated"], done["deleted"]) == (3, [keys[0]], [keys[1]])
    assert done["conflicts"] == [{"key": keys[2],
                                  "reason": "the target's value was not written by the sync"}]
    assert done["lag_seconds"] > 0
    with pytest.raises(ValueError) as error:
        sync(config, target="b", prefix=prefix, keys=["elsewhere/x"])
    assert str(error.value) == "keys 'elsewhere/x' are not under prefix %s" % prefix

    # another writer moves a key between the sync's read and its write: the transaction is
    # refused, the key read again and written with the value the source has then
    import lib.stores.kv_sync as kv_sync

    real_txn, raced = kv_sync.Agent.txn, []

    def txn_after_a_write(self, operations):
        if not raced:
            raced.append(True)
            a.kv.put(keys[3], "newer")  # and a concurrent sync wrote an earlier value to B:
            b.kv.put(keys[3], "earlier", flags=marker(b"earlier"))
        return real_txn(self, operations)

    real_one, redone = kv_sync.PrefixSync._one, []

    def one(self, key):
        redone.append(key)
        return real_one(self, key)

    a.kv.put(keys[3], "new-3")
    monkeypatch.setattr(kv_sync.Agent, "txn", txn_after_a_write)
    monkeypatch.setattr(kv_sync.PrefixSync, "_one", one)
    ok, done = sync(config, target="b", prefix=prefix, keys=[keys[3]])
    assert ok and done["updated"] == [keys[3]]
    assert (raced, redone) == ([True], [keys[3]])  # the transaction was refused, then redone
    assert kv_snapshot(b, prefix)[keys[3]] == "newer"


@pytest.mark.integration
def test_an_unreachable_agent_is_named(agents):
    config, _, _, prefix = agents
    config = dict(config, consul_clusters={"gone": {"host": "127.0.0.1", "port": 9}})
    with pytest.raises(Exception) as error:
        sync(config, target="gone", prefix=prefix + uuid.uuid4().hex)
    assert str(error.value).startswith('Consul agent "gone" (http://127.0.0.1:9) is '
                                       'unreachable while listing')


# --- sizes: Consul caps a transaction's body (txn_max_req_len, 512 KiB) and a value ----------
# (kv_max_value_size, 512 KiB); values travel base64 in a transaction, as they are in a plain put

KIB = 1024


def put_values(consul_client, prefix, sizes):
    """Keys ``<prefix>key-NNNN`` holding text of the given sizes (bytes), written one by one
    (a transaction could not carry them). Returns {key: value}."""
    values = {}
    for i, size in enumerate(sizes):
        key = "%skey-%04d" % (prefix, i)
        values[key] = ("%04d-" % i + uuid.uuid4().hex * (size // 32 + 1))[:size]
        assert consul_client.kv.put(key, values[key])
    return values


@pytest.mark.integration
@pytest.mark.parametrize("named", [False, True], ids=["prefix", "keys"])
def test_64_keys_of_8_kib_are_written_in_transactions_of_a_size_consul_takes(agents, named):
    config, a, b, prefix = agents
    values = put_values(a, prefix, [8 * KIB] * 64)
    ok, done = sync(config, target="b", prefix=prefix, keys=sorted(values) if named else [])
    assert ok and done["created"] == sorted(values) and done["failed"] == []
    assert kv_snapshot(b, prefix) == values
    assert all(item["Flags"] == marker(item["Value"]) for item in b.kv.get(prefix,
                                                                           recurse=True)[1])


@pytest.mark.integration
@pytest.mark.parametrize("named", [False, True], ids=["prefix", "keys"])
def test_one_key_of_400_kib_then_a_change_to_it(agents, named):
    config, a, b, prefix = agents
    values = put_values(a, prefix, [400 * KIB])
    (key,) = values
    ok, done = sync(config, target="b", prefix=prefix, keys=[key] if named else [])
    assert ok and done["created"] == [key] and done["failed"] == []
    assert kv_snapshot(b, prefix) == values
    assert b.kv.get(key)[1]["Flags"] == marker(values[key].encode())
    a.kv.put(key, values[key][::-1])
    ok, done = sync(config, target="b", prefix=prefix, keys=[key] if named else [])
    assert ok and done["updated"] == [key]
    assert kv_snapshot(b, prefix) == {key: values[key][::-1]}


@pytest.mark.integration
@pytest.mark.parametrize("named", [False, True], ids=["prefix", "keys"])
def test_ten_small_keys_and_one_of_400_kib_all_eleven_written(agents, named):
    config, a, b, prefix = agents
    values = put_values(a, prefix, [100] * 5 + [400 * KIB] + [100] * 5)
    ok, done = sync(config, target="b", prefix=prefix, keys=sorted(values) if named else [])
    assert ok and done["created"] == sorted(values) and done["failed"] == []
    assert kv_snapshot(b, prefix) == values  # 11 of 11


@pytest.mark.integration
def test_a_value_of_consuls_kv_limit_512_kib_is_written(agents):
    config, a, b, prefix = agents
    values = put_values(a, prefix, [10, 512 * KIB, 10])
    ok, done = sync(config, target="b", prefix=prefix)
    assert ok and done["created"] == sorted(values)
    assert kv_snapshot(b, prefix) == values


def _inflate_in_source(monkeypatch, key, size):
    """The source agent ("default") answers ``key`` with a value of ``size`` bytes, as an agent
    with a larger kv_max_value_size than the target's would."""
    import lib.stores.kv_sync as kv_sync

    big = b"x" * size
    real_entries, real_entry = kv_sync.Agent.entries, kv_sync.Agent.entry

    def entries(self, prefix):
        found = real_entries(self, prefix)
        if '"default"' in self.label and key in found:
            found[key] = (big,) + found[key][1:]
        return found

    def entry(self, name):
        found = real_entry(self, name)
        if '"default"' in self.label and name == key and found:
            found = (big,) + found[1:]
        return found

    monkeypatch.setattr(kv_sync.Agent, "entries", entries)
    monkeypatch.setattr(kv_sync.Agent, "entry", entry)


@pytest.mark.integration
@pytest.mark.parametrize("named", [False, True], ids=["prefix", "keys"])
def test_a_value_the_target_refuses_fails_that_key_only(agents, monkeypatch, caplog, named):
    config, a, b, prefix = agents
    values = put_values(a, prefix, [100] * 10 + [10])
    refused = prefix + "key-0010"
    _inflate_in_source(monkeypatch, refused, 600 * KIB)
    ok, done = sync(config, target="b", prefix=prefix, keys=sorted(values) if named else [])
    assert not ok  # the refusal fails the execution, with the report of what was written
    written = sorted(values)[:10]
    assert done["created"] == written and done["conflicts"] == []
    assert [f["key"] for f in done["failed"]] == [refused]
    reason = done["failed"][0]["reason"]
    assert "614400 bytes" in reason and "413" in reason and refused in reason, reason
    assert kv_snapshot(b, prefix) == {k: values[k] for k in written}  # 10 of 10 others
    assert not [r for r in caplog.records if "x" * 64 in r.getMessage()]


@pytest.mark.integration
def test_a_transaction_consul_refuses_is_redone_key_by_key(agents, monkeypatch):
    """Were the size estimate wrong, Consul's 413 for the transaction: its keys are written one
    by one, none lost."""
    import lib.stores.kv_sync as kv_sync

    config, a, b, prefix = agents
    values = put_values(a, prefix, [20 * KIB] * 30)
    monkeypatch.setattr(kv_sync, "TXN_MAX_BYTES", 64 * 1024 * 1024, raising=False)
    ok, done = sync(config, target="b", prefix=prefix)
    assert ok and done["created"] == sorted(values) and done["failed"] == []
    assert kv_snapshot(b, prefix) == values


@pytest.mark.integration
def test_a_large_value_is_written_with_check_and_set(agents, monkeypatch):
    """Between the sync's read and its plain put of a 400 KiB value, the target key is written
    by hand (a conflict, kept) and another by a concurrent sync (written again, newer value)."""
    import lib.stores.kv_sync as kv_sync

    config, a, b, prefix = agents
    values = put_values(a, prefix, [400 * KIB, 400 * KIB, 100])
    hand, raced, small = sorted(values)
    real_put, seen = kv_sync.Agent.put, []

    def put_after_a_write(self, key, value, cas, flags):
        if key not in seen:
            seen.append(key)
            if key == hand:
                b.kv.put(hand, "by hand in B")
            elif key == raced:
                a.kv.put(raced, "newer")
                b.kv.put(raced, "earlier", flags=marker(b"earlier"))
        return real_put(self, key, value, cas=cas, flags=flags)

    monkeypatch.setattr(kv_sync.Agent, "put", put_after_a_write)
    ok, done = sync(config, target="b", prefix=prefix)
    assert not ok
    assert done["conflicts"] == [{"key": hand,
                                  "reason": "the target's value was not written by the sync"}]
    assert sorted(done["created"] + done["updated"]) == [raced, small]
    assert seen[:2] == [hand, raced] and done["failed"] == []
    assert kv_snapshot(b, prefix) == {hand: "by hand in B", raced: "newer",
                                      small: values[small]}


@pytest.mark.integration
def test_the_report_of_what_was_written_survives_the_target_going_away(agents, monkeypatch):
    import lib.stores.kv_sync as kv_sync

    config, a, b, prefix = agents
    values = seed_prefix(a, prefix, 100)
    real_txn, calls = kv_sync.Agent.txn, []

    def txn_then_gone(self, operations):
        calls.append(len(operations))
        if len(calls) == 2:  # the target stops answering after the first transaction
            self.client.http.base_uri = "http://127.0.0.1:9"
        return real_txn(self, operations)

    monkeypatch.setattr(kv_sync.Agent, "txn", txn_then_gone)
    ok, done = sync(config, target="b", prefix=prefix)
    assert not ok
    keys = sorted(values)
    assert done["created"] == keys[:64]
    assert [f["key"] for f in done["failed"]] == keys[64:]
    assert "unreachable" in done["failed"][0]["reason"]
    assert kv_snapshot(b, prefix) == {k: values[k] for k in keys[:64]}
