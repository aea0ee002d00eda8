"""A Database posted with kubectl after the install: the sensor (st2's SensorWrapper in the
server process, as st2sensorcontainer runs it), rule aws.database_create, the Orquesta workflow;
`st2 execution list/get` show it. The web UI check (test_30_web.py) opens its execution tree.
docs/install.md sections 6 and 8 (the CRDs of section 4: test_20_cli.py).
Run by tests/st2_install/run.sh; skipped elsewhere."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st2install as h  # noqa: E402

if h.skip_reason():
    pytest.skip(h.skip_reason(), allow_module_level=True)


def _database_create():
    runs = h.st2_json("execution", "list", "--action=aws.database_create", "-n", "5")
    done = [r for r in runs or [] if r["status"] not in ("requested", "scheduled", "running")]
    return done[0] if done else None


def test_database_through_sensor_and_rules():
    h.kubectl("create", "namespace", h.NAMESPACE, check=False)
    h.st2("rule", "list", "--pack=aws")
    h.st2("sensor", "list", "--pack=aws")
    h.transcript("# the sensor container starts aws.CustomResourceSensor: %s"
                 % h.control("sensor/start"))
    h.kubectl("apply", "-n", h.NAMESPACE, "-f",
              os.path.join(h.ROOT, "k8s", "examples", "orders-db.yaml"))
    run = h.wait_for(_database_create, timeout=420, every=5, what="aws.database_create")
    assert run["status"] == "succeeded", json.dumps(run)[:3000]
    rc, out = h.st2("execution", "get", run["id"])
    rc, tree = h.st2("execution", "list", "--action=aws.database_create", "-n", "1")
    rc, children = h.st2("execution", "get", run["id"], "--show-tasks")
    status = json.loads(h.kubectl("get", "database", "-n", h.NAMESPACE, "orders-db", "-o", "json"))
    assert status["status"]["phase"] == "Ready", status.get("status")
    triggers = h.st2_json("trigger-instance", "list", "--trigger=aws.custom_resource_added")
    assert triggers, "no aws.custom_resource_added trigger instance"
    h.save("database.json", {"execution": run["id"], "status": status["status"],
                             "trigger_instances": len(triggers)})
    print("PASS Database %s/orders-db: sensor -> rule aws.database_create -> workflow %s "
          "succeeded, status %s" % (h.NAMESPACE, run["id"], status["status"]["phase"]))
