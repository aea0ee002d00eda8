"""Benchmark of the custom-resource sensor against a real API server.

Prints, for N creates of Database objects in a fresh namespace:
- latency from the API write returning to the trigger being dispatched (p50, p99) and events
  per second, for the sensor and for a bare ``kubernetes`` client watch on the same server;
- the sensor's memory with the N objects known (tracemalloc of its state; process RSS);
- the cost of a restart with N objects known (load the state + list + diff) and the size of
  the state in the datastore.

Usage: .venv/bin/python bench/bench_sensor.py [--objects 10000] [--private]
                                              [--consumer-delay-ms 10]
(the shared stack from scripts/stack.sh by default; --private starts a kube stack of its own).
With --consumer-delay-ms both watchers fall behind; past a few MB of backlog the API server
closes their watches and both must resume from their last resourceVersion (the "watches" line).
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid

PACK = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [PACK, os.path.join(PACK, "actions"), os.path.join(PACK, "sensors")]
try:
    import st2reactor.sensor.base  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(PACK, "tests", "st2_standin"))

from kubernetes import client, config as kube_config  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

from tests.stack_plugin import private_kube_env, run_stack_script  # noqa: E402
from tests.test_sensor_custom_resource_sensor import (  # noqa: E402
    DB, SensorRunner, install_crds, wait_until)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def create_all(api, namespace, count, workers=8):
    """Create COUNT Databases (WORKERS threads); returns {name: monotonic time the create
    returned}."""
    done = {}
    lock = threading.Lock()
    custom = client.CustomObjectsApi(api)

    def work(k):
        for i in range(k, count, workers):
            name = "bench-%05d" % i
            body = {"apiVersion": "dbaas.stackstorm.com/v1alpha1", "kind": "Database",
                    "metadata": {"name": name, "labels": {"bench": "true"}},
                    "spec": {"engine": "postgres", "instanceSize": "small",
                             "tags": {"team": "bench"}}}
            custom.create_namespaced_custom_object("dbaas.stackstorm.com", "v1alpha1",
                                                   namespace, "databases", body)
            with lock:
                done[name] = time.monotonic()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done


def bare_watch(api, namespace, count, seen, ready, status, delay=0.0):
    """A plain kubernetes.watch.Watch: record the arrival time of each object's first event.

    The API server closes a watch whose client falls behind (its cacher drops a watcher it cannot
    hand an event to; under load that happens within a 10,000-object burst), and Watch.stream
    with timeout_seconds then just ends. Like any real watcher this one watches again from the
    last resourceVersion it saw; ``status`` counts the watches and records a fatal error.
    """
    from kubernetes import watch
    custom = client.CustomObjectsApi(api)
    rv = custom.list_namespaced_custom_object("dbaas.stackstorm.com", "v1alpha1", namespace,
                                              "databases")["metadata"]["resourceVersion"]
    ready.set()
    try:
        while len(seen) < count:
            status["watches"] += 1
            w = watch.Watch()
            for event in w.stream(custom.list_namespaced_custom_object, "dbaas.stackstorm.com",
                                  "v1alpha1", namespace, "databases", resource_version=rv,
                                  timeout_seconds=600):
                seen.setdefault(event["object"]["metadata"]["name"], time.monotonic())
                time.sleep(delay)
                if len(seen) >= count:
                    w.stop()
            rv = w.resource_version or rv
    except Exception as exc:  # pylint: disable=broad-except
        status["error"] = "%s: %s" % (type(exc).__name__, exc)


def wait_for_events(count, sensor_seen, bare_seen, bare_status, watcher, stall_seconds=60):
    """Wait until the sensor and the bare watch have each seen COUNT objects; exit naming the
    side that is behind (and what its watch loop did) if no event arrives for STALL_SECONDS."""
    last, last_change = None, time.monotonic()
    while len(sensor_seen) < count or len(bare_seen) < count:
        progress = (len(sensor_seen), len(bare_seen))
        if progress != last:
            last, last_change = progress, time.monotonic()
        stalled = time.monotonic() - last_change > stall_seconds
        if bare_status.get("error") or stalled:
            sys.exit("stalled: sensor %d/%d (watch loop %s), bare watch %d/%d (%d watches%s)"
                     % (len(sensor_seen), count, watcher.stats, len(bare_seen), count,
                        bare_status["watches"], "; failed: %s" % bare_status["error"]
                        if bare_status.get("error") else ""))
        time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=10000, help="Databases to create")
    parser.add_argument("--private", action="store_true", help="use a private kube stack")
    parser.add_argument("--consumer-delay-ms", type=float, default=0.0,
                        help="sleep this long per event in both watchers, so that they fall "
                        "behind and the API server drops their watches (they must resume)")
    args = parser.parse_args()

    env = None
    if args.private:
        env = private_kube_env(tempfile.mkdtemp(prefix="bench-stack-"))
    proc = run_stack_script("up", "kube", env=env)
    if proc.returncode:
        if args.private:
            run_stack_script("down", "kube", env=env)
        sys.exit(proc.stderr)
    try:
        bench(args, env)
    finally:
        if args.private:  # also when the bench fails: never leave a private stack running
            run_stack_script("down", "kube", env=env)


def bench(args, env):
    stack_dir = (env or {}).get("STACK_DIR") or os.path.join(PACK, ".stack")
    with open(os.path.join(stack_dir, "stack.json")) as f:
        kube = json.load(f)["kube"]
    api = kube_config.new_client_from_config(config_file=kube["kubeconfig"])
    install_crds(api)
    namespace = "bench-%s" % uuid.uuid4().hex[:8]
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    print("server %s  namespace %s  objects %d" % (kube["server"], namespace, args.objects))

    rss_before = rss_mb()
    config = {"kubeconfig": kube["kubeconfig"], "watch_timeout_seconds": 300,
              "watch_read_timeout_seconds": 90,
              "watch_resources": [dict(DB, namespace=namespace)]}
    delay = args.consumer_delay_ms / 1000.0
    bare_seen, ready, bare_status = {}, threading.Event(), {"watches": 0, "error": None}
    bare = threading.Thread(target=bare_watch, args=(api, namespace, args.objects, bare_seen,
                                                     ready, bare_status, delay),
                            daemon=True)
    bare.start()
    ready.wait()
    runner = SensorRunner(config)
    runner.sensor.state_flush_interval = 1.0
    sensor_seen = {}
    original = runner.service.dispatch_with_context

    def timed_dispatch(trigger, payload=None, trace_context=None):
        sensor_seen.setdefault(payload["name"], time.monotonic())
        time.sleep(delay)
        original(trigger, payload=payload, trace_context=trace_context)
    runner.service.dispatch_with_context = timed_dispatch
    with runner:
        wait_until(lambda: runner.watchers()[0].stats["lists"], what="first list")
        start = time.monotonic()
        written = create_all(api, namespace, args.objects)
        create_seconds = time.monotonic() - start
        wait_for_events(args.objects, sensor_seen, bare_seen, bare_status, runner.watchers()[0])
        runner.sensor._flush_all()  # pylint: disable=protected-access
        rss_after = rss_mb()
        writes = runner.watchers()[0].state.writes
        sensor_stats = dict(runner.watchers()[0].stats)
    print("created %d objects in %.1fs (%.0f/s, 8 writers)"
          % (args.objects, create_seconds, args.objects / create_seconds))
    for label, seen in (("bare watch", bare_seen), ("sensor", sensor_seen)):
        lat = [(seen[n] - written[n]) * 1000 for n in written]
        span = max(seen.values()) - min(seen.values())
        print("%-10s latency write->event p50 %6.1f ms  p99 %7.1f ms  max %7.1f ms  "
              "events/s %6.0f" % (label, pct(lat, 50), pct(lat, 99), max(lat),
                                  len(seen) / span if span else float("nan")))
    print("watches: bare %d, sensor %d (lists %d, 410s %d, errors %d); more than one means the "
          "API server ended a watch (timeout, or the client fell behind) and it resumed"
          % (bare_status["watches"], sensor_stats["watches"], sensor_stats["lists"],
             sensor_stats["gone"], sensor_stats["errors"]))
    state_bytes = sum(len(kv.value) for kv in runner.service.list_values(prefix="crs."))
    print("RSS %.0f -> %.0f MB (the whole bench process: sensor, bare watch, 8 writers, the "
          "recorded triggers)" % (rss_before, rss_after))
    print("state: %d datastore writes for %d events; %.2f MB stored (%d bytes/object)"
          % (writes, args.objects, state_bytes / 1e6, state_bytes / args.objects))

    # A restart, under tracemalloc: what the sensor holds with N objects known.
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    restart = SensorRunner(config, service=runner.service)
    start = time.monotonic()
    with restart:
        wait_until(lambda: restart.watchers()[0].stats["lists"], timeout=600,
                   what="restart list")
        resumed = time.monotonic() - start
        emitted = len(restart.triggers)
        after = tracemalloc.take_snapshot()
        peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    held = sum(s.size_diff for s in after.compare_to(before, "filename"))
    print("restart with %d known objects: load + list + diff in %.2fs (under tracemalloc), "
          "%d triggers re-emitted" % (args.objects, resumed, emitted))
    print("sensor memory with %d objects known: %.1f MB held (%.0f bytes/object), peak %.1f "
          "MB during the list" % (args.objects, held / 1e6, held / args.objects, peak / 1e6))

    try:  # remove the objects (the namespace itself never finishes terminating here)
        client.CustomObjectsApi(api).delete_collection_namespaced_custom_object(
            "dbaas.stackstorm.com", "v1alpha1", namespace, "databases")
        client.CoreV1Api(api).delete_namespace(namespace)
    except ApiException as exc:
        print("cleanup of namespace %s failed: %s" % (namespace, exc.reason))
    api.close()


if __name__ == "__main__":
    main()
