"""aws.consul_sync between two real Consul agents (the main set and ``STACK_INSTANCE=b``): the
one-shot copy of a prefix with its diff, check-and-set writes, conflicts reported and kept,
deletions only of what the sync wrote, key names (never values) in results and logs."""

import logging
import uuid

import pytest
from hypothesis import given, strategies as st

from consul_sync import ConsulSync
from lib.kv_sync import decide, marker
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
    import lib.kv_sync as kv_sync

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
