"""aws.ConsulKVSensor with rule aws.consul_sync and action aws.consul_sync on two real Consul
agents: a prefix of 500 keys copied, then 100 changes and 20 deletes on A reach B with the lag
measured (from the write on A to the value on B); a write on B in between is a conflict,
reported and kept; a restart dispatches what changed while the sensor was down."""

import json
import logging
import random

import pytest

from consul_kv_sensor import ConsulKVSensor, sync_entries
from lib.action import ConfigError
from lib.stores.kv_sync import marker
from tests.sensor_harness import PACK_DIR, load_yaml
from tests.sensor_service import SensorService
from tests.two_clusters import (KVWatcher, SyncLoop, kv_snapshot, pack_config, percentile,
                                seed_prefix)


def test_sensor_yaml_lists_the_trigger_type():
    sensor = load_yaml("sensors/consul_kv_sensor.yaml")
    trigger = load_yaml("triggers/consul_kv_changed.yaml")
    [declared] = sensor["trigger_types"]
    assert declared == {k: trigger[k] for k in ("name", "description", "payload_schema")}


def test_the_rule_gives_the_payload_to_the_action():
    """Rendered and cast as st2 does. (A payload field named ``keys`` would render as the
    dict's method: ``trigger.keys`` in Jinja.)"""
    from tests.st2_params import action_params, load_action
    from tests.two_clusters import rule_parameters

    with open("%s/tests/fixtures/consul/trigger_consul_kv_changed.json" % PACK_DIR) as handle:
        payload = json.load(handle)
    params = action_params(load_action("consul_sync"), rule_parameters(payload))
    assert params == {"source": "", "target": "green", "prefix": "apps/",
                      "keys": ["apps/shop/db", "apps/shop/flags"], "dry_run": False,
                      "delete_extra": False, "overwrite_conflicts": False,
                      "observed_at": 1764460800.123, "changed_after": 1764460800.012}
    payload.update(changed_keys=[], full_resync=True)
    params = action_params(load_action("consul_sync"), rule_parameters(payload))
    assert (params["keys"], params["delete_extra"]) == ([], True)


@pytest.mark.parametrize("entries, message", [
    ({"source": "", "target": "b"}, 'pack config key "consul_sync" must be a list of {source, '
                                    'target, prefix}, got dict'),
    ([{"target": "b", "prefix": ""}], 'pack config key "consul_sync" item 0 needs "prefix": a '
                                      'key prefix such as apps/ (not empty, no leading /)'),
    ([{"target": "", "prefix": "a/"}], 'pack config key "consul_sync" item 0: source and target '
                                       'are both ""; the target must be another agent of '
                                       'consul_clusters'),
    ([{"target": "c", "prefix": "a/"}], 'unknown Consul agent "c": pack config key '
                                        '"consul_clusters" names "b" (and "" is the default one '
                                        'of the flat keys)'),
    ([{"target": "b", "prefix": "a/", "prefixes": ["x"]}],
     'pack config key "consul_sync" item 0 has unknown fields prefixes'),
    ([{"target": "b", "prefix": "a/"}, {"source": "", "target": "b", "prefix": "a/"}],
     'pack config key "consul_sync" item 1 follows prefix a/ of the same source twice'),
])
def test_config_errors_name_the_item(entries, message):
    config = {"consul_clusters": {"b": {"host": "127.0.0.1"}}, "consul_sync": entries}
    with pytest.raises(ConfigError) as error:
        sync_entries(config)
    assert str(error.value) == message


def test_no_entries_means_nothing_to_follow():
    sensor = ConsulKVSensor(sensor_service=SensorService(class_name="ConsulKVSensor"),
                            config={})
    sensor.setup()
    assert sensor.followers() == []


@pytest.fixture
def agents(stack, stack_b, consul_client, consul_b_client, consul_prefix):
    config = pack_config(stack.require("kube", "consul"), stack_b.require("kube", "consul"))
    config["consul_sync"] = [{"source": "", "target": "b", "prefix": consul_prefix}]
    yield config, consul_client, consul_b_client, consul_prefix
    consul_b_client.kv.delete(consul_prefix, recurse=True)


@pytest.mark.integration
def test_500_keys_then_100_changes_and_20_deletes_reach_b_and_a_write_on_b_is_a_conflict(
        agents, caplog):
    import time

    caplog.set_level(logging.DEBUG)
    config, a, b, prefix = agents
    values = seed_prefix(a, prefix, 500)
    with SyncLoop(config) as loop:
        # first start, no saved state: one trigger for the whole prefix, which copies it
        [(payload, ok, result)] = loop.wait_results(1)
        assert payload["changed_keys"] == [] and payload["full_resync"] is True
        assert ok and result["created"] == sorted(values) and result["failed"] == []
        assert kv_snapshot(b, prefix) == values

        watcher = KVWatcher(b, prefix).start()
        rng = random.Random(12)
        keys = sorted(values)
        changed = rng.sample(keys, 120)
        for key in changed[:100]:
            values[key] = "changed-" + key
            watcher.expect(key, values[key], time.monotonic())
            a.kv.put(key, values[key])
        for key in changed[100:]:
            del values[key]
            watcher.expect(key, None, time.monotonic())
            a.kv.delete(key)
        assert watcher.wait_done(120), "not on B: %s" % sorted(watcher.expected)[:5]
        watcher.close()
        lags = sorted(watcher.lags.values())
        assert len(lags) == 120
        print("\nconsul sync lag over %d changes (write on A -> value on B): p50 %.1f ms, "
              "p99 %.1f ms, max %.1f ms, %d triggers"
              % (len(lags), 1000 * percentile(lags, 50), 1000 * percentile(lags, 99),
                 1000 * lags[-1], len(loop.triggers)))
        assert kv_snapshot(b, prefix) == values
        synced = [r for _, _, r in loop.results[1:]]
        assert sorted(k for r in synced for k in r["updated"]) == sorted(changed[:100])
        assert sorted(k for r in synced for k in r["deleted"]) == sorted(changed[100:])
        assert all(ok for _, ok, _ in loop.results) and all(
            r["lag_seconds"] is not None for r in synced)
        assert all(not p["full_resync"] and len(p["changed_keys"]) <= 100
                   for p in loop.triggers[1:])

        # a write on B in between: the next change of that key on A is a conflict, B keeps it
        key = keys[0] if keys[0] in values else keys[1]
        count = len(loop.results)
        b.kv.put(key, "written on B by hand")
        a.kv.put(key, "changed on A again")
        results = loop.wait_results(count + 1)
        payload, ok, result = results[-1]
        assert payload["changed_keys"] == [key]
        assert not ok
        assert result["conflicts"] == [{"key": key, "reason": "the target's value was not "
                                                              "written by the sync"}]
        assert kv_snapshot(b, prefix)[key] == "written on B by hand"
    # values never in a trigger or a log
    secret = values[keys[5]]
    assert secret not in json.dumps(loop.triggers)
    assert not [r for r in caplog.records if secret in r.getMessage()]


@pytest.mark.integration
def test_a_restart_dispatches_what_changed_while_it_was_down(agents):
    config, a, b, prefix = agents
    values = seed_prefix(a, prefix, 20)
    with SyncLoop(config) as loop:
        loop.wait_results(1)
        assert kv_snapshot(b, prefix) == values
    service = loop.service
    keys = sorted(values)
    import time

    down_since = time.time()
    a.kv.put(keys[0], "changed while down")
    a.kv.delete(keys[1])
    with SyncLoop(config, service=service) as again:
        [(payload, ok, result)] = again.wait_results(1)
        assert (payload["full_resync"], payload["changed_keys"]) == (False, [keys[0], keys[1]])
        # the lag starts at the last look the state recorded, before the changes were made
        assert 0 < payload["changed_after"] <= down_since < payload["observed_at"]
        assert result["lag_seconds"] >= payload["observed_at"] - down_since
        assert ok and (result["updated"], result["deleted"]) == ([keys[0]], [keys[1]])
    snapshot = kv_snapshot(b, prefix)
    assert snapshot[keys[0]] == "changed while down" and keys[1] not in snapshot
    item = b.kv.get(keys[0])[1]
    assert item["Flags"] == marker(b"changed while down")
    # the state is kept under a name st2api can address
    assert [k for k in service.datastore_service._datastore_items  # pylint: disable=W0212
            if "consul_sync." in k]


@pytest.mark.integration
def test_lag_seconds_counts_from_the_change_including_the_batch_window(agents):
    """A change made within consul_sync_batch_seconds of a dispatch is held until the window
    ends; the sync's lag_seconds counts from the change (the blocking query's answer: it
    listens all the time), so it includes that wait and matches the lag measured from the
    write on A to the value on B; a change made while nothing is held is reported as it is."""
    import time

    config, a, b, prefix = agents
    config = dict(config, consul_sync_batch_seconds=1.0)
    values = seed_prefix(a, prefix, 5)
    keys = sorted(values)
    with SyncLoop(config) as loop:
        loop.wait_results(1)
        watcher = KVWatcher(b, prefix, wait="2s").start()
        time.sleep(1.5)  # the window after the first trigger is over

        def write(key, value):
            watcher.expect(key, value, time.monotonic())
            a.kv.put(key, value)

        write(keys[0], "not held")
        deadline = time.monotonic() + 30
        while len(loop.triggers) < 2:  # its trigger is out: a window of 1 s begins
            assert time.monotonic() < deadline
            time.sleep(0.005)
        write(keys[1], "held")  # made in the window: held until it ends
        results = loop.wait_results(3)
        assert watcher.wait_done(30)
        watcher.close()
    assert [p["changed_keys"] for p in loop.triggers[1:]] == [[keys[0]], [keys[1]]]
    (first, _, first_result), (held, _, held_result) = results[1:]
    assert first["changed_after"] == first["observed_at"]
    assert abs(first_result["lag_seconds"] - watcher.lags[keys[0]]) < 0.25
    # held: seen at once (changed_after), dispatched at the window's end (observed_at)
    real = watcher.lags[keys[1]]
    assert held["observed_at"] - held["changed_after"] >= 0.5 and real >= 0.5
    assert abs(held_result["lag_seconds"] - real) < 0.25


@pytest.mark.integration
def test_an_unreachable_source_is_logged_once(agents, caplog):
    config, a, b, prefix = agents
    config = dict(config, consul_clusters=dict(config["consul_clusters"],
                                               gone={"host": "127.0.0.1", "port": 9}),
                  consul_sync=[{"source": "gone", "target": "b", "prefix": prefix}])
    caplog.set_level(logging.INFO)
    import time

    with SyncLoop(config) as loop:
        time.sleep(2.5)
        assert loop.triggers == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith("consul sync: cannot follow %s of "
                                                     "http://127.0.0.1:9" % prefix)
