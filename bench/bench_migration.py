#!/usr/bin/env python3
"""Benchmark of the A/B migration and the Consul KV sync on the local servers, each printed
beside a plain loop of the same client calls.

1. Objects migrated per second between the two local API servers (the main set and its
   second set ``b``): aws.cluster_migrate_namespace on a fresh namespace of N objects (a first
   run that creates everything, a second that finds everything unchanged), and aws.cluster_migrate
   (run by lib.chain) on ``--concurrency`` fresh namespaces at once; each beside the plain
   client's loop of the same API calls (the Namespace read in A and B, a list per kind in A and
   in B, per object a server-side dry-run create then the create; one at a time on clients of
   its own, a thread per namespace), in the same run, rounds alternating which goes first;
   medians and ratios.
2. Consul sync lag (p50, p99): aws.ConsulKVSensor + rule aws.consul_sync + aws.consul_sync
   in-process on a prefix of K keys, then C changes and D deletes on A; the lag of each is from
   its write on A to its value on B (seen by a blocking query on B). Beside it a plain loop:
   a blocking query on A, and a put (or delete) on B of every key whose ModifyIndex moved.
   In StackStorm each trigger is also a python-runner process (bench_kubernetes_call.py prints
   that cost); the sensor batches bursts into few triggers.

Usage: .venv/bin/python bench/bench_migration.py [--objects 193] [--concurrency 2] [--rounds 5]
           [--keys 500] [--changes 100] [--deletes 20] [--only migration|consul]
Servers: the main set of scripts/stack.sh and its instance ``b`` (started if not up); with
STACK_INSTANCE=NAME, instance NAME and NAME/b (the tests' servers of STACK_TEST_INSTANCE=NAME).
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
from lib.chain import run_workflow  # noqa: E402
from tests.stack_plugin import (SECTION_SERVER, instance_env, run_stack_script,  # noqa: E402
                                stack_dir, stack_section)
from tests.two_clusters import (KVWatcher, LISTS, SyncLoop, pack_config,  # noqa: E402
                                percentile, seed_namespace, seed_prefix, unique)


def stack_sections(section):
    """``section`` of stack.json of the main set and of its second set ``b``: the main set is
    the one of scripts/stack.sh (``$STACK_DIR``), or its instance ``$STACK_INSTANCE`` (whose
    second set is then ``$STACK_INSTANCE/b``, as the tests' servers)."""
    instance = os.environ.get("STACK_INSTANCE", "")
    if not instance:
        return stack_section(section), stack_section(section, "b")
    found = []
    for env, directory in ((instance_env(instance), stack_dir(instance)),
                           (instance_env("b", base=stack_dir(instance)),
                            stack_dir(instance) / "b")):
        proc = run_stack_script("up", SECTION_SERVER.get(section, section), env=env)
        if proc.returncode != 0:
            raise SystemExit("scripts/stack.sh up failed:\n%s" % proc.stderr)
        found.append(json.loads((directory / "stack.json").read_text())[section])
    return found


def _plain_body(kind, item):
    meta = item["metadata"]
    item["metadata"] = {k: meta[k] for k in ("name", "namespace", "labels", "annotations")
                        if k in meta}
    item.pop("status", None)
    if kind == "ServiceAccount":
        item.pop("secrets", None)
    return item


def plain_migrate(kubeconfig_a, kubeconfig_b, namespace):
    """The plain loop of the migration's API calls, one at a time, on clients of its own (as
    the action makes its own from the pack config): the Namespace read in A and in B; if B
    lacks it, created after a server-side dry run; per kind, a list in A and in B, then each
    object B lacks (by name; the token Secret and the root CA ConfigMap left out, as
    the migration leaves them) dry-run created, then created. No comparison, no fingerprint.
    Returns the objects it went through (the Namespace included), as the migration counts.
    Answers are read as bytes (``.data``: that also hands the connection back to the pool; an
    answer left unread costs a new TLS connection per request), not parsed into models."""
    api_a = kube_config.new_client_from_config(config_file=kubeconfig_a)
    api_b = kube_config.new_client_from_config(config_file=kubeconfig_b)
    core_a, core_b = client.CoreV1Api(api_a), client.CoreV1Api(api_b)
    source = json.loads(core_a.read_namespace(namespace, _preload_content=False).data)
    count = 1
    try:
        core_b.read_namespace(namespace, _preload_content=False)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        body = _plain_body("Namespace", source)
        core_b.create_namespace(body, dry_run="All", _preload_content=False).data
        core_b.create_namespace(body, _preload_content=False).data
    for kind, (api, method) in LISTS.items():
        items = json.loads(getattr(getattr(client, api)(api_a), method)(
            namespace, _preload_content=False).data)["items"]
        there = {i["metadata"]["name"] for i in json.loads(getattr(getattr(client, api)(
            api_b), method)(namespace, _preload_content=False).data)["items"]}
        create = getattr(getattr(client, api)(api_b), method.replace("list_", "create_"))
        for item in items:
            if item.get("type") == "kubernetes.io/service-account-token" or \
                    item["metadata"]["name"] == "kube-root-ca.crt":
                continue
            count += 1
            if item["metadata"]["name"] in there:
                continue
            body = _plain_body(kind, item)
            create(namespace, body, dry_run="All", _preload_content=False).data
            create(namespace, body, _preload_content=False).data
    api_a.close()
    api_b.close()
    return count


def _at_once(function, namespaces):
    """``function(namespace)`` for each namespace, all at once (a thread each); the sum."""
    results, threads = {}, []
    for namespace in namespaces:
        threads.append(threading.Thread(target=lambda n=namespace: results.__setitem__(
            n, function(n))))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == len(namespaces), "a plain loop failed"
    return sum(results.values())


def _timed(function):
    start = time.perf_counter()
    count = function()
    return count, time.perf_counter() - start


def _moved(report):
    return sum(v for k, v in report["counts"].items() if k != "skipped")


def bench_migration(stack_a, stack_b, objects, concurrency, rounds):
    api_a = kube_config.new_client_from_config(config_file=stack_a["kube"]["kubeconfig"])
    api_b = kube_config.new_client_from_config(config_file=stack_b["kube"]["kubeconfig"])
    config = {"kubeconfig": stack_a["kube"]["kubeconfig"],
              "kube_clusters": {"b": {"kubeconfig": stack_b["kube"]["kubeconfig"],
                                      "context": stack_b["kube"]["context"]}}}
    action = ClusterMigrateNamespace(config=config)
    config_maps = objects * 3 // 4
    made = []
    kubeconfigs = (stack_a["kube"]["kubeconfig"], stack_b["kube"]["kubeconfig"])

    def plain(namespace):
        return plain_migrate(kubeconfigs[0], kubeconfigs[1], namespace)

    def seed(count):
        names = [unique("bench") for _ in range(count)]
        for name in names:
            seed_namespace(api_a, name, config_maps=config_maps, secrets=objects - config_maps)
        made.extend(names)
        return names

    def pack_one(namespace):
        ok, report = action.run(namespace=namespace, target_cluster="b")
        assert ok, report["summary"]
        return _moved(report)

    def pack_many(names):
        run = run_workflow("cluster_migrate", config=config, inputs={
            "target_cluster": "b", "namespaces": names, "concurrency": concurrency})
        assert run["status"] == "succeeded", run["output"]["error"]
        return sum(_moved(r) for r in run["output"]["namespaces"])

    rows = {}  # label -> [(pack count, seconds, plain count, seconds)] one per round
    for index in range(rounds):
        pack_ns, plain_ns = seed(1)[0], seed(1)[0]
        pack_set, plain_set = seed(concurrency), seed(concurrency)
        measures = [
            ("one namespace, first run (creates)",
             lambda: pack_one(pack_ns), lambda: plain(plain_ns)),
            ("one namespace, second run (all unchanged)",
             lambda: pack_one(pack_ns), lambda: plain(plain_ns)),
            ("%d namespaces at once, first run (creates)" % concurrency,
             lambda: pack_many(pack_set),
             lambda: _at_once(plain, plain_set)),
        ]
        for label, pack_call, plain_call in measures:
            if index % 2:  # every other round the plain loop goes first
                plain_result = _timed(plain_call)
                pack_result = _timed(pack_call)
            else:
                pack_result = _timed(pack_call)
                plain_result = _timed(plain_call)
            rows.setdefault(label, []).append(pack_result + plain_result)
    print("Objects migrated between the two local API servers (%s -> %s), namespaces of %d "
          "objects (%d counted: the Namespace, not the token Secret and the root CA "
          "ConfigMap); medians of %d rounds [min-max], objects/s" % (
              stack_a["kube"]["server"], stack_b["kube"]["server"], objects + 8, objects + 7,
              rounds))
    print("  pack: aws.cluster_migrate_namespace (one namespace) or aws.cluster_migrate "
          "through lib.chain (concurrency=%d)" % concurrency)
    print("  plain: the plain client's loop of the same API calls, server-side dry run "
          "included, one at a time, on clients of its own (a thread per namespace)")
    print("%-44s %8s %20s %20s %18s" % ("", "objects", "pack", "plain loop",
                                        "pack/plain"))

    def cell(values, digits):
        values = sorted(values)
        return "%.*f [%.*f-%.*f]" % (digits, values[len(values) // 2], digits, values[0],
                                     digits, values[-1])

    for label, results in rows.items():
        pack_rates = [p / s for p, s, _, _ in results]
        plain_rates = [q / t for _, _, q, t in results]
        ratios = [a / b for a, b in zip(pack_rates, plain_rates)]
        print("%-44s %8d %20s %20s %18s" % (label, results[0][0], cell(pack_rates, 0),
                                            cell(plain_rates, 0), cell(ratios, 2)))
    for api_client in (api_a, api_b):
        for name in made:
            try:  # only marks them Terminating: no controller-manager empties them
                client.CoreV1Api(api_client).delete_namespace(name)
            except client.ApiException:
                pass


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
    parser.add_argument("--objects", type=int, default=193,
                        help="ConfigMaps and Secrets in each migrated namespace (193: a "
                             "namespace of 201 objects)")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="namespaces migrated at once (aws.cluster_migrate concurrency)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keys", type=int, default=500)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--deletes", type=int, default=20)
    parser.add_argument("--only", choices=("migration", "consul"))
    args = parser.parse_args(argv)
    kube_a, kube_b = stack_sections("kube")
    stack_a, stack_b = {"kube": kube_a}, {"kube": kube_b}
    if args.only != "consul":
        bench_migration(stack_a, stack_b, args.objects, args.concurrency, args.rounds)
    if args.only != "migration":
        stack_a["consul"], stack_b["consul"] = stack_sections("consul")
        bench_consul(stack_a, stack_b, args.keys, args.changes, args.deletes)


if __name__ == "__main__":
    main()
