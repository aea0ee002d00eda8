#!/usr/bin/env python3
"""Benchmark of the A/B migration and the Consul KV sync on the local servers, each printed
beside a plain loop of the same client calls.

1. Objects migrated per second between the two local API servers (the main set and
   ``STACK_INSTANCE=b``): aws.cluster_migrate_namespace on a fresh namespace of N objects (a
   first run that creates everything, a second that finds everything unchanged), beside a plain
   loop that lists each kind in A and creates each object in B (metadata stripped, no dry run,
   no comparison, no fingerprint).
2. Consul sync lag (p50, p99): aws.ConsulKVSensor + rule aws.consul_sync + aws.consul_sync
   in-process on a prefix of K keys, then C changes and D deletes on A; the lag of each is from
   its write on A to its value on B (seen by a blocking query on B). Beside it a plain loop:
   a blocking query on A, and a put (or delete) on B of every key whose ModifyIndex moved.
   In StackStorm each trigger is also a python-runner process (bench_kubernetes_call.py prints
   that cost); the sensor batches bursts into few triggers.

Usage: .venv/bin/python bench/bench_migration.py [--objects 400] [--keys 500] [--changes 100]
                                                 [--deletes 20]
"""

import argparse
import json
import os
import sys
import threading
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "actions"), os.path.join(REPO, "sensors")]
try:
    import st2common.runners.base_action  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(REPO, "tests", "st2_standin"))

import consul  # noqa: E402
from kubernetes import client, config as kube_config  # noqa: E402

from cluster_migrate_namespace import ClusterMigrateNamespace  # noqa: E402
from tests.stack_plugin import stack_section  # noqa: E402
from tests.two_clusters import (KVWatcher, LISTS, SyncLoop, pack_config,  # noqa: E402
                                percentile, seed_namespace, seed_prefix, unique)


def plain_copy(api_a, api_b, namespace, target_namespace):
    """List every kind in A, create each object in B under ``target_namespace``."""
    client.CoreV1Api(api_b).create_namespace({"metadata": {"name": target_namespace}})
    count = 0
    for kind, (api, method) in LISTS.items():
        items = json.loads(getattr(getattr(client, api)(api_a), method)(
            namespace, _preload_content=False).data)["items"]
        create = getattr(getattr(client, api)(api_b), method.replace("list_", "create_"))
        for item in items:
            meta = item["metadata"]
            item["metadata"] = {k: meta[k] for k in ("name", "labels", "annotations")
                                if k in meta}
            item.pop("status", None)
            if kind == "ServiceAccount":
                item.pop("secrets", None)
            if kind == "RoleBinding":
                for subject in item.get("subjects") or []:
                    subject["namespace"] = target_namespace
            create(target_namespace, item)
            count += 1
    return count


def bench_migration(stack_a, stack_b, objects):
    api_a = kube_config.new_client_from_config(config_file=stack_a["kube"]["kubeconfig"])
    api_b = kube_config.new_client_from_config(config_file=stack_b["kube"]["kubeconfig"])
    namespace = unique("bench")
    config_maps = objects * 3 // 4
    seed_namespace(api_a, namespace, config_maps=config_maps, secrets=objects - config_maps)
    action = ClusterMigrateNamespace(config=pack_config(stack_a, stack_b))
    rows = []
    for label in ("first run (creates)", "second run (all unchanged)"):
        start = time.perf_counter()
        ok, report = action.run(namespace=namespace, target_cluster="b")
        seconds = time.perf_counter() - start
        assert ok, report
        moved = sum(v for k, v in report["counts"].items() if k != "skipped")
        rows.append(("aws.cluster_migrate_namespace, " + label, moved, seconds))
    start = time.perf_counter()
    count = plain_copy(api_a, api_b, namespace, namespace + "-plain")
    rows.append(("plain loop: list in A, create in B", count, time.perf_counter() - start))
    print("Objects between the two local API servers (%s -> %s): a namespace of %d objects "
          "(the migration counts the Namespace and leaves out the token Secret and the root CA "
          "ConfigMap; the plain loop copies those two)"
          % (stack_a["kube"]["server"], stack_b["kube"]["server"], objects + 8))
    print("%-58s %8s %9s %10s" % ("", "objects", "seconds", "objects/s"))
    for label, count, seconds in rows:
        print("%-58s %8d %9.2f %10.1f" % (label, count, seconds, count / seconds))
    for api_client, names in ((api_a, [namespace]), (api_b, [namespace, namespace + "-plain"])):
        for name in names:
            client.CoreV1Api(api_client).delete_namespace(name)


def plain_sync(a, b, prefix, stop):
    """A blocking query on A; a put (or delete) on B of every key whose ModifyIndex moved."""
    index, items = a.kv.get(prefix, recurse=True)
    known = {i["Key"]: i["ModifyIndex"] for i in items or []}
    while not stop.is_set():
        index, items = a.kv.get(prefix, recurse=True, index=index, wait="2s")
        now = {i["Key"]: i for i in items or []}
        for key, item in now.items():
            if known.get(key) != item["ModifyIndex"]:
                b.kv.put(key, item["Value"])
        for key in set(known) - set(now):
            b.kv.delete(key)
        known = {k: i["ModifyIndex"] for k, i in now.items()}


def changes_lag(a, b, prefix, values, changes, deletes):
    watcher = KVWatcher(b, prefix).start()
    keys = sorted(values)
    for key in keys[:changes]:
        values[key] = "changed-%s-%s" % (key, uuid.uuid4().hex[:6])
        watcher.expect(key, values[key], time.monotonic())
        a.kv.put(key, values[key])
    for key in keys[changes:changes + deletes]:
        del values[key]
        watcher.expect(key, None, time.monotonic())
        a.kv.delete(key)
    assert watcher.wait_done(120), "changes did not reach B"
    watcher.close()
    return sorted(watcher.lags.values())


def bench_consul(stack_a, stack_b, keys, changes, deletes):
    a = consul.Consul(host=stack_a["consul"]["host"], port=stack_a["consul"]["port"])
    b = consul.Consul(host=stack_b["consul"]["host"], port=stack_b["consul"]["port"])
    rows = []
    # the pack: sensor, rule, action
    prefix = "bench/%s/" % uuid.uuid4().hex[:8]
    values = seed_prefix(a, prefix, keys)
    config = dict(pack_config(stack_a, stack_b),
                  consul_sync=[{"source": "", "target": "b", "prefix": prefix}])
    with SyncLoop(config) as loop:
        start = time.perf_counter()
        loop.wait_results(1)
        copy_seconds = time.perf_counter() - start
        lags = changes_lag(a, b, prefix, values, changes, deletes)
        triggers = len(loop.triggers) - 1
    rows.append(("sensor + rule + aws.consul_sync", lags, triggers))
    for agent in (a, b):
        agent.kv.delete(prefix, recurse=True)
    # the plain loop
    prefix = "bench/%s/" % uuid.uuid4().hex[:8]
    values = seed_prefix(a, prefix, keys)
    for key, value in values.items():
        b.kv.put(key, value)
    stop = threading.Event()
    thread = threading.Thread(target=plain_sync, args=(a, b, prefix, stop), daemon=True)
    thread.start()
    time.sleep(0.5)
    lags = changes_lag(a, b, prefix, values, changes, deletes)
    stop.set()
    thread.join(5)
    rows.append(("plain loop: blocking query on A, put on B", lags, None))
    for agent in (a, b):
        agent.kv.delete(prefix, recurse=True)
    print()
    print("Consul sync lag, write on A -> value on B (%d keys; the full copy took %.2f s; then "
          "%d changes and %d deletes)" % (keys, copy_seconds, changes, deletes))
    print("%-44s %9s %9s %9s %9s" % ("", "p50 ms", "p99 ms", "max ms", "triggers"))
    for label, lags, triggers in rows:
        print("%-44s %9.1f %9.1f %9.1f %9s" % (
            label, 1000 * percentile(lags, 50), 1000 * percentile(lags, 99), 1000 * lags[-1],
            "-" if triggers is None else triggers))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=400,
                        help="ConfigMaps and Secrets in the migrated namespace")
    parser.add_argument("--keys", type=int, default=500)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--deletes", type=int, default=20)
    args = parser.parse_args(argv)
    stack_a = {"kube": stack_section("kube"), "consul": stack_section("consul")}
    stack_b = {"kube": stack_section("kube", "b"), "consul": stack_section("consul", "b")}
    bench_migration(stack_a, stack_b, args.objects)
    bench_consul(stack_a, stack_b, args.keys, args.changes, args.deletes)


if __name__ == "__main__":
    main()
