"""Benchmarks of the custom-resource sensor against a real API server.

    bench_sensor.py [burst] [--objects 10000] [--private] [--consumer-delay-ms MS]
                            [--datastore-ms MS] [--no-memory]
        N creates of Database objects in a fresh namespace, watched by the sensor and by a bare
        ``kubernetes`` client watch in the same process: latency from the API write returning to
        the trigger being dispatched (p50, p99), events per second, the datastore writes and
        bytes the sensor's state cost for the burst; then the sensor's memory in a process of
        its own (steady after a first start with N objects, peak and steady during and after a
        restart: load, list, diff) and the restart in process (tracemalloc, after the diff).
    bench_sensor.py reconnect [--restarts 12] [--longest 60]
        On a private kube stack: the API server stopped for outages of different lengths up to
        ``--longest`` seconds; after each, the time from the API server answering again (its
        first successful create) to the sensor's first event.
    bench_sensor.py state [--known 1000,10000,100000] [--open-key-bytes B]
        The state's cost per change, without an API server: a StateStore (the sensor's own)
        over a datastore double that counts writes and the bytes of the values stored, with
        N objects known (a compacted state), then changes in flushes as the sensor makes them:
        new objects in bursts of small batches (1, 5, 50 per flush) and modifications one per
        flush, for at least one whole compaction cycle, so that the compactions' share is in
        the figures; side by side with the plain layout (one datastore key per object: one
        write of its record per change), and what a restart then reads.
    bench_sensor.py two [--objects 6000]
        Two sensor instances on one datastore and one API server, overlapping as a Deployment's
        rolling update makes them, then the second alone: duplicate triggers, writes by each,
        and what a restart reads from the state both wrote (and which deletes it misses).

The stack is the one ``STACK_DIR`` names (scripts/stack.sh; default <repo>/.stack), or with
``--private`` one of the bench's own. Run by hand (not in CI): 100,000 objects take several
minutes and about 1 GB of API server and etcd memory.
"""

import argparse
import gc
import json
import logging
import os
import random
import shutil
import signal
import subprocess
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

from tests.sensor_harness import (  # noqa: E402
    DB, SensorRunner, install_crds, saved_state, sensor_config, stored_values, wait_until)
from tests.sensor_service import SensorService  # noqa: E402
from tests.stack_plugin import private_kube_env, run_stack_script, stack_dir  # noqa: E402


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def proc_status(*fields):
    """VmRSS/VmHWM... of this process, in MiB."""
    found = {}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in fields:
                found[key] = int(line.split()[1]) / 1024.0
    return [found[f] for f in fields]


class TimedService(SensorService):
    """The test sensor service, optionally with a delay per datastore call (an st2 API call
    costs a few milliseconds), counting calls. It does not check payloads against their
    trigger type's schema unless ``validate``: that is StackStorm's dispatcher's work (about
    3 ms per payload in tests/sensor_service.py), the same for any sensor, and would hide the
    sensor's own cost; a bare watch does not pay it either."""

    def __init__(self, datastore_ms=0.0, record=True, validate=False):
        super().__init__()
        self.delay = datastore_ms / 1000.0
        self.writes = 0
        self.lists = 0
        self.emitted = 0
        self.record = record
        self.validate = validate

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        if self.delay:
            time.sleep(self.delay)
        self.writes += 1
        return super().set_value(name, value, ttl=ttl, local=local, scope=scope,
                                 encrypt=encrypt)

    def list_values(self, local=True, prefix=None, limit=None, offset=0):
        if self.delay:
            time.sleep(self.delay)
        self.lists += 1
        return super().list_values(local=local, prefix=prefix, limit=limit, offset=offset)

    def dispatch_with_context(self, trigger, payload=None, trace_context=None):
        self.emitted += 1
        if not self.record:
            return None
        if self.validate:
            return super().dispatch_with_context(trigger, payload=payload,
                                                 trace_context=trace_context)
        return super(SensorService, self).dispatch_with_context(  # pylint: disable=E1003
            trigger, payload=payload, trace_context=trace_context)


# ---------------------------------------------------------------------------- stacks
def open_stack(private):
    """(env or None, stack.json's kube section, api client) for the stack to bench against."""
    env = private_kube_env(tempfile.mkdtemp(prefix="bench-stack-")) if private else None
    proc = run_stack_script("up", "kube", env=env)
    if proc.returncode:
        if private:
            close_private_stack(env)
        sys.exit(proc.stderr)
    directory = (env or {}).get("STACK_DIR") or str(stack_dir())
    with open(os.path.join(directory, "stack.json")) as f:
        info = json.load(f)
    info["dir"] = directory
    api = kube_config.new_client_from_config(config_file=info["kube"]["kubeconfig"])
    install_crds(api)
    return env, info, api


def close_private_stack(env):
    """Stop a private stack and remove its directory (its etcd holds every object made)."""
    run_stack_script("down", "kube", env=env)
    shutil.rmtree(env["STACK_DIR"], ignore_errors=True)


def new_namespace(api, prefix="bench"):
    namespace = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    return namespace


def drop_namespace(api, namespace):
    try:  # remove the objects (the namespace itself never finishes terminating here)
        client.CustomObjectsApi(api).delete_collection_namespaced_custom_object(
            "dbaas.stackstorm.com", "v1alpha1", namespace, "databases")
        client.CoreV1Api(api).delete_namespace(namespace)
    except ApiException as exc:
        print("cleanup of namespace %s failed: %s" % (namespace, exc.reason))


def body(name):
    return {"apiVersion": "dbaas.stackstorm.com/v1alpha1", "kind": "Database",
            "metadata": {"name": name, "labels": {"bench": "true"}},
            "spec": {"engine": "postgres", "instanceSize": "small", "tags": {"team": "bench"}}}


def create_all(api, namespace, count, workers=8, prefix="bench"):
    """Create COUNT Databases (WORKERS threads); returns {name: monotonic time the create
    returned}."""
    done = {}
    lock = threading.Lock()
    custom = client.CustomObjectsApi(api)

    def work(k):
        for i in range(k, count, workers):
            name = "%s-%06d" % (prefix, i)
            custom.create_namespaced_custom_object("dbaas.stackstorm.com", "v1alpha1",
                                                   namespace, "databases", body(name))
            with lock:
                done[name] = time.monotonic()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done


# ---------------------------------------------------------------------------- burst
def bare_watch(api, namespace, count, seen, ready, status, delay=0.0):
    """A plain kubernetes.watch.Watch: record the arrival time of each object's first event.

    The API server closes a watch whose client falls behind (its cacher drops a watcher it cannot
    hand an event to), and Watch.stream with timeout_seconds then just ends. Like any real
    watcher this one watches again from the last resourceVersion it saw; ``status`` counts the
    watches and records a fatal error.
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


def wait_saved(runner, timeout=600):
    """Until the sensor's writer has written everything and finished any compaction."""
    wait_until(lambda: all(not w.state.has_pending() and not w.store.compacting()
                           and not w.store.compaction_due() for w in runner.watchers()),
               timeout=timeout, interval=0.1, what="the state saved")


def burst(args):
    env, info, api = open_stack(args.private)
    try:
        namespace = new_namespace(api)
        print("server %s  namespace %s  objects %d  (stack %s)"
              % (info["kube"]["server"], namespace, args.objects, info["dir"]))
        burst_in(args, info, api, namespace)
        if not args.no_memory:
            memory_in_processes(args, info, namespace)
        drop_namespace(api, namespace)
    finally:
        api.close()
        if args.private:  # also when the bench fails: never leave a private stack running
            close_private_stack(env)


def burst_in(args, info, api, namespace):
    config = sensor_config(info["kube"]["kubeconfig"], namespace, resources=(DB,),
                           watch_timeout_seconds=300, watch_read_timeout_seconds=90)
    delay = args.consumer_delay_ms / 1000.0
    bare_seen, ready, bare_status = {}, threading.Event(), {"watches": 0, "error": None}
    bare = threading.Thread(target=bare_watch, args=(api, namespace, args.objects, bare_seen,
                                                     ready, bare_status, delay),
                            daemon=True)
    bare.start()
    ready.wait()
    service = TimedService(args.datastore_ms, record=False, validate=args.validate_payloads)
    runner = SensorRunner(config, service=service, log_level=logging.INFO)
    runner.sensor.state_flush_interval = 1.0  # as shipped (the test runner uses 0.2)
    sensor_seen = {}
    original = service.dispatch_with_context

    def timed_dispatch(trigger, payload=None, trace_context=None):
        sensor_seen.setdefault(payload["name"], time.monotonic())
        time.sleep(delay)
        original(trigger, payload=payload, trace_context=trace_context)
    service.dispatch_with_context = timed_dispatch
    with runner:
        watcher = runner.watchers()[0]
        wait_until(lambda: watcher.stats["lists"], what="first list")
        writes0, bytes0 = service.writes, watcher.store.stats["bytes"]
        start = time.monotonic()
        written = create_all(api, namespace, args.objects)
        create_seconds = time.monotonic() - start
        wait_for_events(args.objects, sensor_seen, bare_seen, bare_status, watcher)
        burst_writes = service.writes - writes0
        wait_saved(runner)
        saved_writes = service.writes - writes0
        store_stats = dict(watcher.store.stats)
        bytes_written = store_stats["bytes"] - bytes0
        sensor_stats = dict(watcher.stats)
    print("created %d objects in %.1fs (%.0f/s, 8 writers)"
          % (args.objects, create_seconds, args.objects / create_seconds))
    lat = {}
    for label, seen in (("bare watch", bare_seen), ("sensor", sensor_seen)):
        lat[label] = [(seen[n] - written[n]) * 1000 for n in written]
        span = max(seen.values()) - min(seen.values())
        print("%-10s latency write->event p50 %6.1f ms  p99 %7.1f ms  max %7.1f ms  "
              "events/s %6.0f" % (label, pct(lat[label], 50), pct(lat[label], 99),
                                  max(lat[label]), len(seen) / span if span else float("nan")))
    print("sensor / bare: p50 %.2fx  p99 %.2fx" % (
        pct(lat["sensor"], 50) / pct(lat["bare watch"], 50),
        pct(lat["sensor"], 99) / pct(lat["bare watch"], 99)))
    print("watches: bare %d, sensor %d (lists %d, 410s %d, errors %d); more than one means the "
          "API server ended a watch (timeout, or the client fell behind) and it resumed"
          % (bare_status["watches"], sensor_stats["watches"], sensor_stats["lists"],
             sensor_stats["gone"], sensor_stats["errors"]))
    values = stored_values(service)
    stored = sum(len(v) for v in values.values())
    print("state: %d datastore writes for the %d-event burst (%d until all saved, %d "
          "compactions), %.0f bytes serialised per event; %d keys, %.2f MB stored "
          "(%d bytes/object)%s"
          % (burst_writes, args.objects, saved_writes, store_stats["compactions"],
             bytes_written / args.objects, len(values), stored / 1e6, stored / args.objects,
             "; %g ms per datastore call" % args.datastore_ms if args.datastore_ms else ""))

    # A restart in this process, under tracemalloc, measured once the diff is done.
    del service.dispatched_triggers[:]
    sensor_seen.clear()
    bare_seen.clear()
    del runner, lat
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    tracemalloc.reset_peak()
    service.record = False
    restart = SensorRunner(config, service=service, log_level=logging.INFO)
    restart.sensor.state_flush_interval = 1.0
    emitted = service.emitted
    start = time.monotonic()
    with restart:
        wait_until(lambda: restart.watchers()[0].stats["lists"], timeout=1800,
                   what="restart list")
        resumed = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1] - sum(
            s.size for s in before.statistics("filename"))
        gc.collect()
        after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    held = sum(s.size_diff for s in after.compare_to(before, "filename"))
    print("restart with %d known objects: load + list + diff in %.2fs (under tracemalloc), "
          "%d triggers re-emitted" % (args.objects, resumed, service.emitted - emitted))
    print("sensor memory (tracemalloc) with %d objects known, after the restart's diff: "
          "%.1f MB held (%.0f bytes/object); peak %.1f MB above what was allocated before it"
          % (args.objects, held / 1e6, held / args.objects, peak / 1e6))


def memory_in_processes(args, info, namespace):
    """The sensor alone in a process (as st2 runs each sensor): RSS after a first start with N
    objects, then a restart in a new process reading the saved state."""
    dump = tempfile.mktemp(prefix="bench-state-", suffix=".json")
    common = [sys.executable, os.path.abspath(__file__), "_sensor-process", "--stack-dir",
              info["dir"], "--namespace", namespace, "--objects", str(args.objects),
              "--state", dump]
    try:
        for phase in ("first-start", "restart"):
            out = subprocess.run(common + ["--phase", phase], capture_output=True, text=True,
                                 timeout=3600)
            if out.returncode:
                print("sensor process (%s) failed: %s" % (phase, out.stderr[-2000:]))
                return
            print(out.stdout.strip())
    finally:
        if os.path.exists(dump):
            os.unlink(dump)


def sensor_process(args):
    """One phase of memory_in_processes (in a process of its own)."""
    with open(os.path.join(args.stack_dir, "stack.json")) as f:
        kube = json.load(f)["kube"]
    service = TimedService(record=False)
    if args.phase == "restart":
        with open(args.state) as f:
            for name, value in json.load(f).items():
                service.set_value(name.split(":", 1)[1], value)
        del name, value
    service.writes = 0
    gc.collect()
    base_rss, = proc_status("VmRSS")
    config = sensor_config(kube["kubeconfig"], args.namespace, resources=(DB,),
                           watch_timeout_seconds=300, watch_read_timeout_seconds=90)
    runner = SensorRunner(config, service=service, log_level=logging.INFO)
    runner.sensor.state_flush_interval = 1.0
    start = time.monotonic()
    with runner:
        watcher = runner.watchers()[0]
        wait_until(lambda: watcher.stats["lists"], timeout=3600, what="the list and its diff")
        listed = time.monotonic() - start
        _, hwm_list = proc_status("VmRSS", "VmHWM")
        wait_saved(runner, timeout=3600)
        known = len(watcher.state)
        gc.collect()
        time.sleep(2)
        rss, hwm = proc_status("VmRSS", "VmHWM")
        if args.phase == "first-start":
            with open(args.state, "w") as f:
                json.dump(stored_values(service), f)
    print("sensor process, %s with %d objects: list+diff %.1fs, %d triggers, %d datastore "
          "writes; RSS %.0f MiB before the sensor (Python, kubernetes, %s), %.0f MiB steady "
          "after, peak %.0f MiB (%.0f MiB when the diff ended)"
          % (args.phase, known, listed, service.emitted, service.writes, base_rss,
             "the test datastore holding the saved state" if args.phase == "restart" else
             "an empty test datastore", rss, hwm, hwm_list))


# ---------------------------------------------------------------------------- reconnect
def stop_apiserver(directory, grace=10.0):
    """SIGTERM the API server (not etcd); SIGKILL after GRACE seconds. kube-apiserver 1.20
    closes its listener at once but keeps open watches, silent, until they end; a restart
    (systemd, kubelet) kills it after a grace period too."""
    pidfile = os.path.join(directory, "kube", "kube-apiserver.pid")
    with open(pidfile) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def reconnect(args):
    args.private = True
    env, info, api = open_stack(True)
    lengths = outage_lengths(args.restarts, args.longest)
    try:
        namespace = new_namespace(api)
        config = sensor_config(info["kube"]["kubeconfig"], namespace, resources=(DB,),
                               watch_timeout_seconds=300, watch_read_timeout_seconds=90)
        service = TimedService()
        runner = SensorRunner(config, service=service, log_level=logging.INFO)
        custom = client.CustomObjectsApi(api)
        rows = []
        with runner:
            wait_until(lambda: runner.watchers()[0].stats["lists"], what="first list")
            for i, outage in enumerate(lengths):
                stop_apiserver(info["dir"])
                stopped = time.monotonic()
                time.sleep(outage)
                starter = subprocess.Popen(
                    ["bash", os.path.join(PACK, "scripts", "stack.sh"), "up", "kube"],
                    cwd=PACK, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                name = "reconnect-%02d" % i
                while True:  # the first moment the API server accepts a create
                    try:
                        custom.create_namespaced_custom_object(
                            "dbaas.stackstorm.com", "v1alpha1", namespace, "databases",
                            body(name), _request_timeout=(1, 5))
                        created = time.monotonic()
                        break
                    except Exception:  # pylint: disable=broad-except
                        time.sleep(0.05)
                wait_until(lambda n=name: any(p["name"] == n for _, p in runner.triggers),
                           timeout=120, interval=0.01, what="the event of %s" % name)
                seen = time.monotonic()
                starter.wait(120)
                rows.append((outage, created - stopped, seen - created))
                print("restart %2d: API server down %5.1fs (answering again %5.1fs after the "
                      "stop); first event %.2fs after it answered" % (
                          i + 1, outage, created - stopped, seen - created), flush=True)
                time.sleep(random.uniform(1, 3))
            stats = dict(runner.watchers()[0].stats)
        delays = sorted(row[2] for row in rows)
        errors = [r.getMessage() for r in runner.log.records if r.levelno >= 30]
        print("%d restarts (outages %s s): first event after the API server answered again: "
              "median %.2fs, max %.2fs; %d of %d within 3 s"
              % (len(rows), "/".join("%g" % o for o in lengths), pct(delays, 50), delays[-1],
                 sum(1 for d in delays if d <= 3.0), len(delays)))
        print("watch loop: %s; %d log lines at WARNING or above (%d outages)"
              % (stats, len(errors), len(rows)))
    finally:
        api.close()
        close_private_stack(env)


def outage_lengths(count, longest):
    """COUNT outage lengths from 1 s to LONGEST s, spread geometrically."""
    if count == 1:
        return [float(longest)]
    ratio = (longest / 1.0) ** (1.0 / (count - 1))
    return [round(ratio ** i, 1) for i in range(count)]


# ---------------------------------------------------------------------------- two instances
class SharedDatastoreService(TimedService):
    """A sensor service writing to another service's datastore (as two sensor processes write
    to one st2 datastore), counting its own writes."""

    def __init__(self, shared=None):
        super().__init__()
        if shared is not None:
            self._datastore_service = shared._datastore_service  # pylint: disable=W0212


def two(args):
    """A runs alone; B starts while A runs (the overlap of a rolling update); A stops; B runs
    alone; B stops; objects are deleted while nothing runs; C starts on the datastore both
    wrote. Counts duplicates, writes, and what C finds (and misses)."""
    env, info, api = open_stack(args.private)
    try:
        namespace = new_namespace(api, "two")
        custom = client.CustomObjectsApi(api)
        config = sensor_config(info["kube"]["kubeconfig"], namespace, resources=(DB,),
                               watch_timeout_seconds=300, watch_read_timeout_seconds=90)
        a_service = SharedDatastoreService()
        b_service = SharedDatastoreService(a_service)
        part = args.objects // 3
        rng = random.Random(7)

        def runner(service):
            run = SensorRunner(config, service=service, log_level=logging.INFO)
            run.sensor.state_flush_interval = 1.0
            return run

        def delete(names):
            for name in names:
                custom.delete_namespaced_custom_object(
                    "dbaas.stackstorm.com", "v1alpha1", namespace, "databases", name)

        a, b = runner(a_service), runner(b_service)
        with a:
            wait_until(lambda: a.watchers()[0].stats["lists"], what="A's first list")
            create_all(api, namespace, part, prefix="one")  # A alone
            wait_until(lambda: len(a.triggers) >= part, what="A's events")
            wait_saved(a)
            a_alone = len(a.triggers)
            b.__enter__()  # B starts while A still runs
            wait_until(lambda: b.watchers()[0].stats["lists"], what="B's first list")
            b_at_start = len(b.triggers)
            create_all(api, namespace, part, prefix="two")
            names = ["one-%06d" % i for i in range(part)]
            for name in rng.sample(names, part // 3):
                custom.patch_namespaced_custom_object(
                    "dbaas.stackstorm.com", "v1alpha1", namespace, "databases", name,
                    {"spec": {"storageGB": 40}})
            delete(rng.sample(names, part // 3))
            time.sleep(3)
            a_overlap = len(a.triggers) - a_alone
            b_overlap = len(b.triggers) - b_at_start
        try:  # A has stopped; B alone
            create_all(api, namespace, part, prefix="three")
            time.sleep(3)
            wait_saved(b)
        finally:
            b.stop()
        # Nothing runs: delete some objects B emitted alone; a restart must emit their DELETED.
        gone_while_down = ["three-%06d" % i for i in rng.sample(range(part), part // 5)]
        gone_uids = {custom.get_namespaced_custom_object(
            "dbaas.stackstorm.com", "v1alpha1", namespace, "databases", n)["metadata"]["uid"]
            for n in gone_while_down}
        delete(gone_while_down)
        truth = {o["metadata"]["uid"] for o in custom.list_namespaced_custom_object(
            "dbaas.stackstorm.com", "v1alpha1", namespace, "databases")["items"]}
        saved = set(saved_state(a_service, dict(DB, namespace=namespace)).uids())
        c = runner(SharedDatastoreService(a_service))
        with c:
            wait_until(lambda: c.watchers()[0].stats["lists"], what="C's first list")
            time.sleep(2)
            problems = list(c.watchers()[0].store.problems)
        emitted = {}
        for _, payload in c.triggers:
            emitted[payload["event"]] = emitted.get(payload["event"], 0) + 1
        deleted_seen = {p["uid"] for _, p in c.triggers if p["event"] == "DELETED"}
        pairs = {}
        for run in (a, b):
            for _, p in run.triggers:
                pairs.setdefault((p["uid"], p["event"], p["resource_version"]), set()).add(
                    id(run))
        duplicated = sum(1 for owners in pairs.values() if len(owners) == 2)
        print("two instances on one datastore (%d creates, %d changes, %d deletes; namespace %s):"
              % (3 * part, part // 3, part // 3 + len(gone_while_down), namespace))
        print("  A alone: %d triggers; B's start (A still running): %d; overlap: A %d, B %d; %d "
              "(uid, event, resourceVersion) emitted by both"
              % (a_alone, b_at_start, a_overlap, b_overlap, duplicated))
        print("  datastore writes: A %d, B %d, to the same keys; compactions: A %d, B %d; "
              "'another instance' logged by A: %s, by B: %s"
              % (a_service.writes, b_service.writes,
                 a.watchers()[0].store.stats["compactions"],
                 b.watchers()[0].store.stats["compactions"],
                 any("another instance" in m for m in a.log.messages(logging.ERROR)),
                 any("another instance" in m for m in b.log.messages(logging.ERROR))))
        print("  after both stopped: the saved state holds %d uids; %d objects that exist are "
              "missing from it, %d objects that no longer exist are in it"
              % (len(saved), len(truth - saved), len(saved - (truth | gone_uids))))
        print("  C's start%s: %s; of %d objects deleted while nothing ran, %d DELETED emitted, "
              "%d missed" % (" (problems: %s)" % "; ".join(problems) if problems else "",
                             emitted or "nothing", len(gone_uids), len(gone_uids & deleted_seen),
                             len(gone_uids - deleted_seen)))
        drop_namespace(api, namespace)
    finally:
        api.close()
        if args.private:
            close_private_stack(env)


# ---------------------------------------------------------------------------- main
# ---------------------------------------------------------------------------- state cost
class CountingDatastore(object):
    """The datastore calls StateStore makes, in memory, counting writes and the bytes of the
    values written (what st2 sends to st2api and MongoDB stores), as st2's list_values pages
    (100 keys per call)."""

    page = 100

    def __init__(self):
        self.values = {}
        self.writes = self.bytes = self.lists = 0

    def set_value(self, name, value, local=True, **_):
        self.values[name] = value
        self.writes += 1
        self.bytes += len(value)

    def get_value(self, name, local=True, **_):
        return self.values.get(name)

    def delete_value(self, name, local=True, **_):
        return self.values.pop(name, None) is not None

    def list_values(self, local=True, prefix=None, offset=0, **_):
        from types import SimpleNamespace

        self.lists += 1
        names = sorted(n for n in self.values if n.startswith(prefix or ""))
        return [SimpleNamespace(name=n, value=self.values[n])
                for n in names[offset:offset + self.page]]


def state_payload(index, rv, generation=1):
    """A Database's trigger payload as the sensor stores it (tests/fixtures/k8s)."""
    name = "db-%06d" % index
    return {"uid": str(uuid.UUID(int=index + 1)), "api_version": "dbaas.stackstorm.com/v1alpha1",
            "kind": "Database", "namespace": "team-%03d" % (index % 500), "name": name,
            "resource_version": str(rv), "generation": generation,
            "labels": {"app": name}, "annotations": {}, "finalizers": ["dbaas.stackstorm.com/rds"],
            "deletion_timestamp": None,
            "spec": {"engine": "postgres", "engineVersion": "15.4", "instanceSize": "medium",
                     "storageGB": 20, "masterUsername": "dbadmin", "deletionPolicy": "Snapshot"},
            "status": {"phase": "Ready", "observedGeneration": generation,
                       "dbInstanceIdentifier": "team-%03d-%s" % (index % 500, name),
                       "endpoint": "%s.local:5432" % name, "port": 5432},
            "pruned_fields": []}


def state_cost(known, kind, per_flush, changes):
    """(writes, bytes written, compactions, keys, list calls to restart) for ``changes`` in
    flushes of ``per_flush``, from a compacted state of ``known`` objects; and the same for the
    plain layout."""
    from cr_state import ResourceState, record_text
    from cr_store import StateStore, encode

    resource = {"group": "dbaas.stackstorm.com", "version": "v1alpha1", "plural": "databases",
                "namespace": None}
    datastore = CountingDatastore()
    state = ResourceState(resource)
    store = StateStore(datastore, state)
    rv = 1
    for i in range(known):
        state.put(state_payload(i, rv))
        rv += 1
    state.take_pending()
    if store.gen == 0:  # below the compaction threshold: compact once, as a settled state is
        store._start_compaction()  # pylint: disable=protected-access
        while store.compaction_step():
            pass
    base_writes, base_bytes, base_compactions = (datastore.writes, datastore.bytes,
                                                 store.stats["compactions"])
    plain = {"writes": 0, "bytes": 0}
    rng = random.Random(known)
    done = 0
    while done < changes:
        for _ in range(min(per_flush, changes - done)):
            if kind == "new":
                payload = state_payload(known + done, rv)
            else:
                payload = state_payload(rng.randrange(known), rv, generation=2)
            rv += 1
            state.put(payload)
            plain["writes"] += 1
            plain["bytes"] += len(encode(record_text(payload)))
            done += 1
        store.flush()
        while store.compaction_step():  # the sensor writes a compaction's chunks in turn
            pass
    writes, written = datastore.writes - base_writes, datastore.bytes - base_bytes
    lists0 = datastore.lists
    StateStore(datastore, ResourceState(resource)).load()
    restart_lists = datastore.lists - lists0
    keys = len(datastore.values)
    objects = known + (changes if kind == "new" else 0)
    return {"writes": writes, "bytes": written,
            "compactions": store.stats["compactions"] - base_compactions, "keys": keys,
            "lists": restart_lists, "plain_writes": plain["writes"],
            "plain_bytes": plain["bytes"], "plain_keys": objects,
            "plain_lists": objects // CountingDatastore.page + 1}


def state(args):
    from cr_store import StateStore

    if args.open_key_bytes:
        StateStore.open_key_bytes = args.open_key_bytes
    print("open journal key rewritten while under %d bytes of text (--open-key-bytes; 65536, "
          "the journal key's size, is how 0.7.0 wrote)" % StateStore.open_key_bytes)
    rows = []
    for known in [int(k) for k in args.known.split(",")]:
        # enough changes for a whole compaction cycle (the journal reaches half the snapshot)
        cycle = max(2000, known // 2 + 1000)
        for kind, per_flush in (("new", 1), ("new", 5), ("new", 50), ("modified", 1)):
            started = time.monotonic()
            cost = state_cost(known, kind, per_flush, cycle)
            rows.append((known, kind, per_flush, cycle, cost, time.monotonic() - started))
            c = cost
            print("known %6d  %-8s %2d/flush  %6d changes: writes/change %.3f  bytes/change "
                  "%5.0f  (%d compactions; %d keys, %d list calls to restart)  |  plain: "
                  "writes/change %.3f  bytes/change %4.0f  (%d keys, %d list calls)  ratio "
                  "bytes %.2fx  [%.0f s]"
                  % (known, kind, per_flush, cycle, c["writes"] / cycle, c["bytes"] / cycle,
                     c["compactions"], c["keys"], c["lists"], c["plain_writes"] / cycle,
                     c["plain_bytes"] / cycle, c["plain_keys"], c["plain_lists"],
                     (c["bytes"] / cycle) / (c["plain_bytes"] / cycle),
                     time.monotonic() - started), flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", nargs="?", default="burst",
                        choices=["burst", "reconnect", "two", "state", "_sensor-process"])
    parser.add_argument("--known", default="1000,10000,100000",
                        help="state: objects known before the changes, comma-separated")
    parser.add_argument("--open-key-bytes", type=int, default=0,
                        help="state: the store's open_key_bytes (65536: as 0.7.0 wrote)")
    parser.add_argument("--objects", type=int, default=None,
                        help="Databases to create (burst: 10000, two: 6000)")
    parser.add_argument("--private", action="store_true", help="use a private kube stack")
    parser.add_argument("--consumer-delay-ms", type=float, default=0.0,
                        help="sleep this long per event in both watchers, so that they fall "
                        "behind and the API server drops their watches (they must resume)")
    parser.add_argument("--datastore-ms", type=float, default=0.0,
                        help="delay each datastore call (an st2 API call) by this much")
    parser.add_argument("--validate-payloads", action="store_true",
                        help="check each payload against its trigger type's schema at dispatch, "
                        "as StackStorm's dispatcher does (about 3 ms each here)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the memory figures of the sensor in a process of its own")
    parser.add_argument("--restarts", type=int, default=12, help="reconnect: API server "
                        "restarts")
    parser.add_argument("--longest", type=float, default=60.0,
                        help="reconnect: the longest outage, in seconds")
    parser.add_argument("--stack-dir", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.objects is None:
        args.objects = 6000 if args.mode == "two" else 10000
    {"burst": burst, "reconnect": reconnect, "two": two, "state": state,
     "_sensor-process": sensor_process}[args.mode](args)


if __name__ == "__main__":
    main()
