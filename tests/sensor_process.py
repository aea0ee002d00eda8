"""The sensor in a process of its own, monkey-patched by eventlet as StackStorm's sensor container
runs it (st2reactor/container/sensor_wrapper.py calls st2common's monkey_patch() first): threads
are green threads, sockets and sleeps cooperative. Run by tests/test_sensor_eventlet.py.

    python sensor_process.py PACK_DIR scenario STACK_JSON NAMESPACE OUT_JSON [--old-urllib3]
        list/watch, a burst, an outage through a TCP proxy, stop; results as JSON in OUT_JSON.
    python sensor_wrapper.py PACK_DIR serve STACK_JSON NAMESPACE OUT_JSON
        (this file copied under st2's wrapper's name) run the sensor in the main thread until
        SIGTERM, as st2 runs it, then write the datastore's content to OUT_JSON.

``--old-urllib3`` removes HTTPResponse.shutdown() (urllib3 < 2.3, as in StackStorm 3.9's own
virtualenv), so the sensor must unblock its reads another way.
"""

import eventlet

eventlet.monkey_patch(os=True, select=True, socket=True, thread=True, time=True)

import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

PACK_DIR, MODE, STACK_JSON, NAMESPACE, OUT = sys.argv[1:6]
for sub in ("", "actions/lib", "actions", "sensors"):
    sys.path.insert(0, os.path.join(PACK_DIR, sub))
try:
    import st2tests.base  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(PACK_DIR, "tests", "st2_standin"))

if "--old-urllib3" in sys.argv:
    import urllib3.response

    for cls in (urllib3.response.HTTPResponse, urllib3.response.BaseHTTPResponse):
        if "shutdown" in vars(cls):
            delattr(cls, "shutdown")

from kubernetes import config as kube_config  # noqa: E402
from tests.sensor_harness import (  # noqa: E402
    DB, LEGACY, Objects, RecordingHandler, SensorRunner, install_crds, proxied_sensor_config,
    saved_state, sensor_config, stored_values, wait_until)
from tests.sensor_service import SensorService  # noqa: E402

with open(STACK_JSON) as handle:
    KUBE = json.load(handle)["kube"]


class CountingService(SensorService):
    def __init__(self):
        super().__init__()
        self.writes = 0

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        self.writes += 1
        return super().set_value(name, value, ttl=ttl, local=local, scope=scope,
                                 encrypt=encrypt)

    def dispatch_with_context(self, trigger, payload=None, trace_context=None):
        print("EMITTED %s %s %s" % (payload["event"], payload["name"],
                                    payload["resource_version"]), flush=True)
        return super().dispatch_with_context(trigger, payload=payload,
                                             trace_context=trace_context)


def scenario():
    api = kube_config.new_client_from_config(config_file=KUBE["kubeconfig"])
    install_crds(api)
    objects = Objects(api, NAMESPACE)
    proxy, config = proxied_sensor_config(KUBE, NAMESPACE, resources=(DB, LEGACY),
                                          watch_read_timeout_seconds=60)
    service = CountingService()
    result = {"green": all(eventlet.patcher.is_monkey_patched(m)
                           for m in ("thread", "socket", "time", "select"))}
    run = SensorRunner(config, service=service)
    run.sensor.state_flush_interval = 1.0
    with run:
        wait_until(lambda: all(w.stats["lists"] for w in run.watchers()), what="first list")
        objects.create("a-db", {"engine": "postgres"})
        run.wait_for(1)
        writes = service.writes
        for i in range(20):
            objects.create("burst-%02d" % i, {"engine": "postgres"})
        run.wait_for(21)
        wait_until(lambda: not run.watchers()[0].state.has_pending(), what="the burst saved")
        result["burst_writes"] = service.writes - writes
        run.sensor.read_timeout = 3  # for the watches made after the outage
        proxy.refuse()
        wait_until(lambda: any(w.stats["errors"] for w in run.watchers()), what="the outage")
        wait_until(lambda: proxy.refused >= 3, what="three probes refused")
        proxy.forward()
        objects.create("b-db", {"engine": "postgres"})
        run.wait_for(22, timeout=30)
        # A stall: the connections stay open and silent; the read timeout (3 s for the watches
        # made since the outage) must fire on a green socket, and the sensor list again
        # through a new connection.
        proxy.stall()
        objects.create("c-db", {"engine": "postgres"})
        run.wait_for(23, timeout=30)
        started = time.monotonic()
        run.stop()  # asserts that run() returned
        result["stop_seconds"] = time.monotonic() - started
        result["threads_alive"] = [t.name for t in run.sensor._threads  # noqa
                                   if t.is_alive()]
    proxy.close()
    result["triggers"] = [[p["event"], p["name"]] for _, p in run.triggers]
    result["records"] = [[r.levelname, r.getMessage(), bool(r.exc_info)]
                         for r in run.log.records if r.levelno >= logging.INFO]
    result["saved"] = len(saved_state(service, dict(DB, namespace=NAMESPACE)))
    with open(OUT, "w") as handle:
        json.dump(result, handle)


def serve():
    """As st2's sensor process: setup() and run() in the main thread; run() blocks."""
    from custom_resource_sensor import CustomResourceSensor

    service = CountingService()
    log = RecordingHandler()
    logger = logging.getLogger("custom_resource_sensor")
    logger.addHandler(log)
    logger.setLevel(logging.DEBUG)
    sensor = CustomResourceSensor(sensor_service=service,
                                  config=sensor_config(KUBE["kubeconfig"], NAMESPACE,
                                                       resources=(DB,)))
    sensor.setup()

    def ready():
        wait_until(lambda: sensor._watchers[0].stats["lists"], what="first list")  # noqa
        print("READY", flush=True)
    threading.Thread(target=ready, daemon=True).start()
    sensor.run()  # returns when the sensor stops (SIGTERM)
    with open(OUT, "w") as handle:
        json.dump({"values": stored_values(service),
                   "records": [r.getMessage() for r in log.records]}, handle)


if __name__ == "__main__":
    {"scenario": scenario, "serve": serve}[MODE]()
