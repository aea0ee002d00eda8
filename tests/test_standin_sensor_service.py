"""tests/sensor_service.py drops a payload its trigger type refuses, as StackStorm does with
``[system] validate_trigger_payload`` on: the sensor tests' exact-payload assertions rely on it."""

from tests.sensor_service import SensorService

GOOD = {"source": "", "target": "green", "prefix": "apps/", "changed_keys": ["apps/a"],
        "full_resync": False, "index": 7, "observed_at": 1.5,
        "changed_after": 1.0}


def test_a_payload_its_trigger_type_refuses_is_dropped_not_dispatched():
    service = SensorService(class_name="ConsulKVSensor")
    service.dispatch("aws.consul_kv_changed", GOOD)
    service.dispatch("aws.consul_kv_changed", dict(GOOD, changed_keys="apps/a"))
    service.dispatch("aws.consul_kv_changed", dict(GOOD, secret="not in the schema"))
    assert [t["payload"] for t in service.dispatched_triggers] == [GOOD]
    assert [(t["trigger"], t["payload"]) for t in service.rejected_triggers] == [
        ("aws.consul_kv_changed", dict(GOOD, changed_keys="apps/a")),
        ("aws.consul_kv_changed", dict(GOOD, secret="not in the schema"))]
    assert "changed_keys" in service.rejected_triggers[0]["error"]
    assert "secret" in service.rejected_triggers[1]["error"]
