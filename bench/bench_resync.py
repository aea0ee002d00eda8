#!/usr/bin/env python3
"""Benchmark of the level-triggered resync of Databases (aws.database_resync, issue 17) on the
tests' local servers (``STACK_INSTANCE=test``), beside a plain edge-per-Database loop of the
same reads.

For each size N (``--sizes``, default 100,1000) in one namespace ``bench-resync-<random>``:

1. The world: N Ready Databases. The first 5 are made by the real aws.database_create workflow
   (lib.chain); the others are fabricated as a Ready run leaves them, without N workflows: the
   object (with the pack's finalizer), the RDS instance created in moto with the plan's own
   create_db_instance arguments (aws.database_plan, ManageMasterUserPassword, the st2-aws/*
   tags), the Vault secret with its custom_metadata (owner uid, the managed secret's AWSCURRENT
   VersionId), the Consul JSON as aws.database_publish_config writes it, and the status
   (phase Ready, Ready condition True since a day, observedGeneration, the located fields). The
   fabrication is checked against the 5 real ones (same status, condition, Vault and Consul
   keys) and by the first full cycle, which must start no run.
2. Cycles, each measured: a full cycle and a retry tick (full=false) on the quiet world; then
   1% of the Databases drifted (at least 2: half their instances resized in moto, half their
   managed secrets rotated with put_secret_value AWSCURRENT), a tick, a full cycle (which runs
   the repairs) and a full cycle again (quiet once more).
   Per cycle: wall seconds; AWS API calls (the plan's summary.aws_calls, and every call this
   process sent, STS apart); reads and write requests to Kubernetes, Vault and Consul (every
   request this process sent); objects changed (Database resourceVersions, Vault current_version
   and updated_time, Consul ModifyIndex, before and after); executions (every action execution
   of the run, sub-workflows included, plus the workflow itself: what StackStorm stores).
3. Baselines: a plain loop of what a fan-out of one workflow per Database would read (per
   Database: sts.assume_role, describe_db_instances by identifier, describe_secret, the Vault
   metadata, the Consul key; after one Kubernetes list), measured, one Database after the
   other; its executions are those of such a fan-out: 2 (the fan-out workflow, its list) + N x 6
   (a check workflow, one action per read), plus the repair runs when Databases drifted. And a
   fan-out of the pack's own aws.database_resync_run/aws.database_update per Database: one
   quiet item measured (its second run: the first rewrites the status message the create left)
   and multiplied by N; executions 2 + N x one item's.
4. The select step's peak memory (tracemalloc around one more, untimed, full cycle).

moto: its RDS is not thread-safe (concurrent creates or deletes in one region answer 500,
"OrderedDict mutated during iteration"), so the bench sends its own moto calls one at a time;
and it makes an automated snapshot per instance but keeps at most 1,000 snapshots per region
(create_db_instance then answers SnapshotQuotaExceeded), so the bench deletes the automated
snapshots of the instances it makes (the resync never reads snapshots). Its pages hold 100
instances (describe_db_instances) and 100 secrets (list_secrets).

The bench's AWS region (``--region``, default us-west-2) keeps its instances out of the region
the tests list (us-east-1). Everything made is removed at the end (finalizers first, then the
objects and the namespace's Events, the Vault secrets, the Consul keys, the RDS instances and
their managed secrets) unless ``--keep``. lib.chain runs the items of a resync one after the
other (Orquesta: ``concurrency`` at a time) and each action in-process (StackStorm: a python
runner process per action, see bench/bench_boto3action.py).

Usage: .venv/bin/python bench/bench_resync.py [--sizes 100,1000] [--keep] [--region us-west-2]
       .venv/bin/python bench/bench_resync.py --remove bench-resync-<tag>  (what --keep left)
"""

import argparse
import collections
import concurrent.futures
import datetime
import json
import os
import random
import sys
import threading
import time
import tracemalloc
import urllib.parse
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "actions")]
try:
    import st2common.runners.base_action  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(REPO, "tests", "st2_standin"))

import boto3  # noqa: E402
import botocore.client  # noqa: E402
import consul  # noqa: E402
import hvac  # noqa: E402
import hvac.exceptions  # noqa: E402
import requests  # noqa: E402
from kubernetes import client, config as kube_config  # noqa: E402
from kubernetes.client import rest as kube_rest  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

from database_plan import DatabasePlan  # noqa: E402
from database_publish_config import tls_facts  # noqa: E402
from lib.chain import run_workflow  # noqa: E402
from lib.database.objects import FINALIZER, rfc3339  # noqa: E402
from lib.kube.api import ADDED, to_payload  # noqa: E402
from lib.database.rds_params import TAG_NAMESPACE, tag_map  # noqa: E402
from lib.stores.vault import OWNER_METADATA_KEY, SOURCE_VERSION_METADATA_KEY  # noqa: E402
from tests.database_world import Databases, pack_config  # noqa: E402
from tests.fixtures.database.support import ensure_database_crd  # noqa: E402
from tests.stack_plugin import stack_section  # noqa: E402

GROUP, VERSION, PLURAL = "dbaas.stackstorm.com", "v1alpha1", "databases"
RESOURCE = {"group": GROUP, "version": VERSION, "plural": PLURAL}
INSTANCE = "test"  # the tests' own servers (tests/stack_plugin.py)
REAL = 5  # Databases made by the real database_create workflow
WORKERS = 8
READ_METHODS = ("GET", "HEAD", "LIST")
AWS_READ_PREFIXES = ("Describe", "List", "Get")


# -- what this process sends ---------------------------------------------------------------------
class Calls:
    """Every request this process sends to AWS (API calls by service and operation), Vault,
    Consul (HTTP requests by method) and Kubernetes (by method), and the seconds spent waiting
    for each server, between ``start`` and ``stop``."""

    def __init__(self, vault_port, consul_port):
        self.ports = {vault_port: "vault", consul_port: "consul"}
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.waited = collections.Counter()
        self.on = False

    def add(self, *key):
        if self.on:
            with self.lock:
                self.counts[key] += 1

    def timed(self, server, call):
        if not self.on:
            return call()
        start = time.perf_counter()
        try:
            return call()
        finally:
            with self.lock:
                self.waited[server] += time.perf_counter() - start

    def install(self):
        calls = self
        make_api_call = botocore.client.BaseClient._make_api_call
        send = requests.Session.send
        kube_request = kube_rest.RESTClientObject.request

        def counted_api_call(aws_client, operation_name, api_params):
            calls.add("aws", aws_client.meta.service_model.service_name, operation_name)
            return calls.timed("aws", lambda: make_api_call(aws_client, operation_name,
                                                            api_params))

        def counted_send(session, request, **kwargs):
            server = calls.ports.get(urllib.parse.urlsplit(request.url).port)
            if not server:
                return send(session, request, **kwargs)
            calls.add(server, request.method.upper())
            return calls.timed(server, lambda: send(session, request, **kwargs))

        def counted_kube(rest, method, url, *args, **kwargs):
            calls.add("kube", method.upper())
            return calls.timed("kube", lambda: kube_request(rest, method, url, *args, **kwargs))

        botocore.client.BaseClient._make_api_call = counted_api_call
        requests.Session.send = counted_send
        kube_rest.RESTClientObject.request = counted_kube

    def start(self):
        with self.lock:
            self.counts = collections.Counter()
            self.waited = collections.Counter()
            self.on = True

    def stop(self):
        """{aws, sts, aws_writes, reads: {kube, vault, consul}, writes: {kube, vault, consul}}"""
        with self.lock:
            self.on = False
            counts = dict(self.counts)
            waited = dict(self.waited)
        aws = {k: n for k, n in counts.items() if k[0] == "aws" and k[1] != "sts"}
        out = {"aws": sum(aws.values()),
               "sts": sum(n for k, n in counts.items() if k[:2] == ("aws", "sts")),
               "aws_writes": sum(n for k, n in aws.items()
                                 if not k[2].startswith(AWS_READ_PREFIXES)),
               "aws_ops": collections.Counter({k[2]: n for k, n in counts.items()
                                               if k[0] == "aws"}),
               "reads": {}, "writes": {}, "waited": waited}
        for server in ("kube", "vault", "consul"):
            mine = {k[1]: n for k, n in counts.items() if k[0] == server}
            out["reads"][server] = sum(n for m, n in mine.items() if m in READ_METHODS)
            out["writes"][server] = sum(n for m, n in mine.items() if m not in READ_METHODS)
        return out


def executions(steps):
    """Action executions of a run's step records, each sub-workflow's own steps included."""
    return sum(1 + executions(step.get("steps") or []) for step in steps)


# -- the world -----------------------------------------------------------------------------------
class World:
    """One bench namespace on the tests' servers: its Databases, instances, secrets, keys."""

    def __init__(self, region, tag=None):
        stack = {section: stack_section(section, INSTANCE)
                 for section in ("kube", "vault", "consul", "aws")}
        self.stack = stack
        tag = tag or uuid.uuid4().hex[:8]
        self.namespace = "bench-resync-%s" % tag
        self.vault_prefix = "bench-resync/%s" % tag
        self.consul_prefix = "bench-resync/%s/" % tag
        data = dict(stack, aws=dict(stack["aws"], region=region))
        self.config = pack_config(data, self.vault_prefix, self.consul_prefix)
        self.region = region
        self.api = kube_config.new_client_from_config(config_file=stack["kube"]["kubeconfig"])
        self.custom = client.CustomObjectsApi(self.api)
        self.databases = Databases(self.api, self.namespace, self.vault_prefix,
                                   self.consul_prefix)
        aws = {"endpoint_url": stack["aws"]["endpoint_url"], "region_name": region,
               "aws_access_key_id": stack["aws"]["access_key_id"],
               "aws_secret_access_key": stack["aws"]["secret_access_key"]}
        self.rds = boto3.client("rds", **aws)
        self.secrets = boto3.client("secretsmanager", **aws)
        self.sts = boto3.client("sts", **aws)
        self.vault = hvac.Client(url=stack["vault"]["addr"], token=stack["vault"]["token"])
        self.mount = stack["vault"]["kv_mount"]
        self.consul = consul.Consul(host=stack["consul"]["host"], port=stack["consul"]["port"])
        self.calls = Calls(urllib.parse.urlsplit(stack["vault"]["addr"]).port,
                           stack["consul"]["port"])
        self.calls.install()
        self.names = []  # every Database made, in order
        self.located = {}  # name -> (identifier, secret ARN, Vault path, Consul key)
        self.last = None  # the snapshot after the last measured cycle
        self.checked = False  # the fabrication was compared with real Databases
        self.moto = threading.Lock()

    def setup(self):
        ensure_database_crd(self.api)
        client.CoreV1Api(self.api).create_namespace({"metadata": {"name": self.namespace}})

    # -- making Databases --------------------------------------------------------------------
    def name(self, index):
        return "db-%04d" % index

    def make_real(self, name):
        self.databases.apply(name)
        run = run_workflow("database_create", to_payload(ADDED, self.databases.get(name),
                                                         RESOURCE), self.config, poll_delay=0)
        if run["status"] != "succeeded":
            raise SystemExit("database_create of %s failed: %s" % (name, run["output"]))
        status = self.databases.get(name)["status"]
        (instance,) = self.rds.describe_db_instances(
            DBInstanceIdentifier=status["dbInstanceIdentifier"])["DBInstances"]
        self.located[name] = (status["dbInstanceIdentifier"],
                              instance["MasterUserSecret"]["SecretArn"], status["vaultPath"],
                              status["consulKey"])

    def fabricate(self, name):
        """What a Ready database_create run leaves for ``name``, written directly."""
        body = {"apiVersion": "%s/%s" % (GROUP, VERSION), "kind": "Database",
                "metadata": {"name": name, "finalizers": [FINALIZER]},
                "spec": self.databases.spec(name)}
        obj = self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                          PLURAL, body)
        plan = DatabasePlan(config=self.config).run(to_payload(ADDED, obj, RESOURCE))
        if not plan["valid"]:
            raise SystemExit("the plan of %s is invalid: %s" % (name, plan["message"]))
        ident, uid = plan["db_instance_identifier"], plan["uid"]
        with self.moto:  # moto's RDS is not thread-safe (500s on concurrent creates)
            instance = self.rds.create_db_instance(**plan["create_params"])["DBInstance"]
            if not (instance.get("Endpoint") or {}).get("Address"):
                (instance,) = self.rds.describe_db_instances(
                    DBInstanceIdentifier=ident)["DBInstances"]
            arn = instance["MasterUserSecret"]["SecretArn"]
            value = self.secrets.get_secret_value(SecretId=arn)
            self.drop_snapshots(ident)
        endpoint = instance["Endpoint"]
        data = {"username": instance.get("MasterUsername"),
                "password": json.loads(value["SecretString"])["password"],
                "engine": instance.get("Engine"), "host": endpoint["Address"],
                "port": endpoint.get("Port"), "dbname": instance.get("DBName") or ""}
        kv = self.vault.secrets.kv.v2
        kv.create_or_update_secret(path=plan["vault_path"], secret=data, cas=0,
                                   mount_point=self.mount)
        kv.update_metadata(path=plan["vault_path"], mount_point=self.mount, custom_metadata={
            OWNER_METADATA_KEY: uid, SOURCE_VERSION_METADATA_KEY: value["VersionId"]})
        published = tls_facts({
            "host": endpoint["Address"], "port": endpoint.get("Port"),
            "engine": instance["Engine"], "dbname": instance.get("DBName"),
            "db_instance_identifier": ident, "vault_path": plan["vault_path"],
            "region": plan["region"], "uid": uid,
            "ca_certificate_identifier": instance.get("CACertificateIdentifier"),
            "iam_authentication": instance.get("IAMDatabaseAuthenticationEnabled")})
        self.consul.kv.put(plan["consul_key"], json.dumps(published, sort_keys=True))
        message = "RDS instance %s is available (created)" % ident
        since = rfc3339(datetime.datetime.now(datetime.timezone.utc)
                        - datetime.timedelta(days=1))
        status = {"phase": "Ready", "message": message,
                  "observedGeneration": plan["generation"], "warnings": plan["warnings"],
                  "dbInstanceIdentifier": ident, "endpoint": endpoint["Address"],
                  "port": endpoint.get("Port"), "vaultPath": plan["vault_path"],
                  "consulKey": plan["consul_key"],
                  "conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
                                  "message": message, "lastTransitionTime": since,
                                  "observedGeneration": plan["generation"]}]}
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.namespace, PLURAL, name, {"status": status},
            _content_type="application/merge-patch+json")
        self.located[name] = (ident, arn, plan["vault_path"], plan["consul_key"])

    def drop_snapshots(self, ident=None):
        """Delete the automated snapshots moto made for ``ident`` (None: for every instance of
        the namespace): moto keeps at most 1,000 snapshots per region (MOTO_RDS_SNAPSHOT_LIMIT
        of the server) and refuses any create_db_instance beyond. Real RDS would refuse to
        delete an automated snapshot; the resync never reads snapshots."""
        params = {"SnapshotType": "automated"}
        if ident:
            params["DBInstanceIdentifier"] = ident
        for page in self.rds.get_paginator("describe_db_snapshots").paginate(**params):
            for snapshot in page["DBSnapshots"]:
                if snapshot["DBInstanceIdentifier"].startswith(self.namespace + "-"):
                    self.rds.delete_db_snapshot(
                        DBSnapshotIdentifier=snapshot["DBSnapshotIdentifier"])

    def grow(self, size):
        """Make Databases until there are ``size``; returns the seconds it took."""
        start = time.perf_counter()
        for index in range(len(self.names), min(REAL, size)):
            self.make_real(self.name(index))
            self.names.append(self.name(index))
        new = [self.name(i) for i in range(len(self.names), size)]
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(self.fabricate, new))
        self.names += new
        self.last = None
        return time.perf_counter() - start

    def shape(self, name):
        """The keys (and a few values) of what a Ready Database holds, to compare."""
        obj = self.databases.get(name)
        status = obj["status"]
        ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
        meta = self.vault.secrets.kv.v2.read_secret_metadata(
            path=status["vaultPath"], mount_point=self.mount)["data"]
        data = self.vault.secrets.kv.v2.read_secret_version(
            path=status["vaultPath"], mount_point=self.mount,
            raise_on_deleted_version=True)["data"]["data"]
        _, item = self.consul.kv.get(status["consulKey"])
        (instance,) = self.rds.describe_db_instances(
            DBInstanceIdentifier=status["dbInstanceIdentifier"])["DBInstances"]
        return {
            "metadata.finalizers": obj["metadata"].get("finalizers"),
            "metadata keys": sorted(k for k in obj["metadata"]
                                    if k not in ("creationTimestamp", "managedFields",
                                                 "resourceVersion", "uid")),
            "status keys": sorted(status),
            "status.phase": status["phase"],
            "status.warnings": status.get("warnings"),
            "Ready condition keys": sorted(ready[0]) if ready else None,
            "Ready condition status/reason": [(c["status"], c["reason"]) for c in ready],
            "Vault custom_metadata keys": sorted(meta.get("custom_metadata") or {}),
            "Vault current_version": meta["current_version"],
            "Vault data keys": sorted(data),
            "Consul JSON keys": sorted(json.loads(item["Value"])),
            "instance tag keys": sorted(t["Key"] for t in instance.get("TagList") or []),
            "instance class/storage/version": (instance["DBInstanceClass"],
                                               instance["AllocatedStorage"],
                                               instance["EngineVersion"]),
        }

    def check_fabrication(self):
        real, made = self.shape(self.name(0)), self.shape(self.name(REAL))
        differ = {k: (real[k], made[k]) for k in real if real[k] != made[k]}
        print("fabrication checked against %s (made by database_create): %s"
              % (self.name(0), "same keys" if not differ else "DIFFERENT"))
        for key, (want, have) in sorted(differ.items()):
            print("  %s: real %s, fabricated %s" % (key, want, have))
        return not differ

    # -- what the servers hold ---------------------------------------------------------------
    def snapshot(self):
        """{kind: {key: version}} of the Databases, Vault secrets and Consul keys."""
        objects = {}
        token = None
        while True:
            page = self.custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, limit=500, **(
                    {"_continue": token} if token else {}))
            objects.update((o["metadata"]["name"], o["metadata"]["resourceVersion"])
                           for o in page["items"])
            token = page["metadata"].get("continue")
            if not token:
                break
        _, items = self.consul.kv.get(self.consul_prefix, recurse=True)
        keys = {i["Key"]: i["ModifyIndex"] for i in items or []}

        def secret(name):
            path = self.located[name][2]
            try:
                meta = self.vault.secrets.kv.v2.read_secret_metadata(
                    path=path, mount_point=self.mount)["data"]
            except hvac.exceptions.InvalidPath:
                return path, None
            return path, (meta["current_version"], meta["updated_time"])

        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            vault = dict(pool.map(secret, self.names))
        return {"k8s": objects, "vault": vault, "consul": keys}

    @staticmethod
    def changed(before, after):
        return {kind: sum(1 for k in set(before[kind]) | set(after[kind])
                          if before[kind].get(k) != after[kind].get(k))
                for kind in before}

    # -- drift ---------------------------------------------------------------------------------
    def drift(self, count, rng):
        """Resize half of ``count`` fabricated Databases' instances, rotate the others' managed
        secrets; returns {name: expected cause}."""
        chosen = rng.sample(self.names[REAL:], count)
        causes = {}
        for index, name in enumerate(chosen):
            ident, arn = self.located[name][:2]
            if index < (count + 1) // 2:
                self.rds.modify_db_instance(DBInstanceIdentifier=ident,
                                            DBInstanceClass="db.m5.large", ApplyImmediately=True)
                causes[name] = "drift: instanceSize db.m5.large -> db.t3.small"
            else:
                held = json.loads(self.secrets.get_secret_value(SecretId=arn)["SecretString"])
                held["password"] = "Rotated" + uuid.uuid4().hex
                self.secrets.put_secret_value(SecretId=arn, SecretString=json.dumps(held),
                                              VersionStages=["AWSCURRENT"])
                causes[name] = "credentials rotated"
        return causes

    # -- cleanup -------------------------------------------------------------------------------
    def cleanup(self):
        """Remove what the namespace holds, from the servers' own listings (so a run that
        stopped half way, or one kept with --keep, is removed as well)."""
        core = client.CoreV1Api(self.api)
        names = [o["metadata"]["name"] for o in self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL)["items"]]

        def release(name):
            try:
                self.custom.patch_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, name,
                    {"metadata": {"finalizers": None}},
                    _content_type="application/merge-patch+json")
            except ApiException as exc:
                if exc.status != 404:
                    raise

        def secret_paths(path):
            try:
                keys = self.vault.secrets.kv.v2.list_secrets(
                    path=path, mount_point=self.mount)["data"]["keys"]
            except hvac.exceptions.InvalidPath:
                return []
            found = []
            for key in keys:
                child = "%s/%s" % (path, key.rstrip("/"))
                found += secret_paths(child) if key.endswith("/") else [child]
            return found

        def destroy(path):
            self.vault.secrets.kv.v2.delete_metadata_and_all_versions(
                path=path, mount_point=self.mount)

        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(release, names))
            list(pool.map(destroy, secret_paths(self.vault_prefix)))
        self.custom.delete_collection_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                               PLURAL)
        core.delete_collection_namespaced_event(self.namespace)
        try:
            core.delete_namespace(self.namespace)  # never finishes here: no controller-manager
        except ApiException as exc:
            if exc.status != 404:
                raise
        self.consul.kv.delete(self.consul_prefix, recurse=True)
        instances = [i["DBInstanceIdentifier"] for page in
                     self.rds.get_paginator("describe_db_instances").paginate()
                     for i in page["DBInstances"]
                     if tag_map(i).get(TAG_NAMESPACE) == self.namespace]
        for ident in instances:  # one at a time: moto's RDS is not thread-safe
            try:  # the managed secret goes with the instance
                self.rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)
            except self.rds.exceptions.DBInstanceNotFoundFault:
                pass
        self.drop_snapshots()
        return len(names), len(instances)


# -- measuring -----------------------------------------------------------------------------------
Row = collections.namedtuple("Row", "size scenario what seconds aws sts reads writes aws_writes "
                                    "changed executions runs")
#: Executions of one Database's check in a plain fan-out: the workflow and one action per read
#: (assume_role, describe_db_instances, describe_secret, Vault metadata, Consul key).
PLAIN_ITEM = 6


def measure_cycle(world, size, scenario, full, expect=None):
    """One resync cycle, measured; ``expect``: {name: cause} it must select (None: nothing)."""
    before = world.last or world.snapshot()
    world.calls.start()
    start = time.perf_counter()
    run = run_workflow("database_resync", config=world.config, poll_delay=0,
                       inputs={"full": full, "namespace": world.namespace})
    seconds = time.perf_counter() - start
    counts = world.calls.stop()
    world.last = world.snapshot()
    output = run["output"]
    if run["status"] != "succeeded" or output["errors"] or output["failed"]:
        raise SystemExit("the resync failed: %s" % json.dumps(output, indent=1)[:3000])
    want = sorted("%s/%s update: %s" % (world.namespace, name, cause)
                  for name, cause in (expect or {}).items())
    if sorted(output["causes"]) != want:
        print("the %s cycle selected other runs than expected (%d, expected %d):"
              % (scenario, len(output["causes"]), len(want)))
        for cause in sorted(set(output["causes"]) ^ set(want))[:40]:
            print("  %s %s" % ("unexpected" if cause in output["causes"] else "missing", cause))
        raise SystemExit(1)
    summary = output["summary"]
    row = Row(size, scenario, "resync %s" % ("full cycle" if full else "retry tick"), seconds,
              counts["aws"], counts["sts"], counts["reads"], counts["writes"],
              counts["aws_writes"], world.changed(before, world.last),
              executions(run["steps"]) + 1, summary["updates"] + summary["deletes"])
    return row, run, counts


def plain_loop(world, size, scenario):
    """The edge-per-Database reads, one Database after the other (measured)."""
    role = world.config["role_arn"]
    world.calls.start()
    start = time.perf_counter()
    objects, token = [], None
    while True:
        page = world.custom.list_namespaced_custom_object(
            GROUP, VERSION, world.namespace, PLURAL, limit=500,
            **({"_continue": token} if token else {}))
        objects += page["items"]
        token = page["metadata"].get("continue")
        if not token:
            break
    found = 0
    for obj in objects:
        status = obj["status"]
        world.sts.assume_role(RoleArn=role, RoleSessionName="bench-resync")
        (instance,) = world.rds.describe_db_instances(
            DBInstanceIdentifier=status["dbInstanceIdentifier"])["DBInstances"]
        secret = world.secrets.describe_secret(
            SecretId=instance["MasterUserSecret"]["SecretArn"])
        meta = world.vault.secrets.kv.v2.read_secret_metadata(
            path=status["vaultPath"], mount_point=world.mount)["data"]
        world.consul.kv.get(status["consulKey"])
        current = [v for v, stages in secret["VersionIdsToStages"].items()
                   if "AWSCURRENT" in stages]
        recorded = (meta.get("custom_metadata") or {}).get(SOURCE_VERSION_METADATA_KEY)
        if instance["DBInstanceClass"] != "db.t3.small" or current != [recorded]:
            found += 1
    seconds = time.perf_counter() - start
    counts = world.calls.stop()
    return Row(size, scenario, "plain loop, per Database", seconds, counts["aws"],
               counts["sts"], counts["reads"], counts["writes"], counts["aws_writes"], None,
               2 + PLAIN_ITEM * size, found)


def update_fanout(world, size):
    """One quiet aws.database_resync_run item (database_update) of a fabricated Database,
    measured (the second of two runs: the first rewrites the create's status message), and
    that cost times ``size``."""
    name = world.names[-1]
    payload = to_payload("MODIFIED", world.databases.get(name), RESOURCE)
    inputs = {"workflow": "update", "resource": payload, "cause": ""}
    run_workflow("database_resync_run", config=world.config, poll_delay=0, inputs=inputs)
    world.calls.start()
    start = time.perf_counter()
    run = run_workflow("database_resync_run", config=world.config, poll_delay=0, inputs=inputs)
    seconds = time.perf_counter() - start
    counts = world.calls.stop()
    world.last = None
    if run["status"] != "succeeded" or run["output"]["failed"]:
        raise SystemExit("the update item failed: %s" % run["output"])
    item = executions(run["steps"]) + 1
    times = {k: v * size for k, v in counts["reads"].items()}
    writes = {k: v * size for k, v in counts["writes"].items()}
    return item, counts, Row(size, "quiet", "update fan-out (1 item x N)", seconds * size,
                             counts["aws"] * size, counts["sts"] * size, times, writes,
                             counts["aws_writes"] * size, None, 2 + item * size, size)


def select_peak(world):
    """Peak memory (MiB, tracemalloc) of a full quiet cycle, which is its select step."""
    tracemalloc.start()
    try:
        run_workflow("database_resync", config=world.config, poll_delay=0,
                     inputs={"full": True, "namespace": world.namespace})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2.0 ** 20


def triple(values):
    return "/".join(str(values[k]) for k in ("kube", "vault", "consul"))


HEADER = ("%6s  %-16s %-28s %9s %12s %14s %16s %13s %10s %5s"
          % ("N", "scenario", "cycle / approach", "seconds", "AWS calls", "reads K/V/C",
             "writes K/V/C+AWS", "changed K/V/C", "executions", "runs"))


def show(row):
    changed = "-" if row.changed is None else triple(
        {"kube": row.changed["k8s"], "vault": row.changed["vault"],
         "consul": row.changed["consul"]})
    print("%6d  %-16s %-28s %9.2f %12s %14s %16s %13s %10d %5d" % (
        row.size, row.scenario, row.what, row.seconds, "%d + %d STS" % (row.aws, row.sts),
        triple(row.reads), "%s+%d" % (triple(row.writes), row.aws_writes), changed,
        row.executions, row.runs))


def bench_size(world, size, rng, rows):
    grown = world.grow(size)
    print("\nN=%d: %d Databases ready (%d by database_create, the rest fabricated) in %.1f s"
          % (size, len(world.names), min(REAL, size), grown))
    if size > REAL and not world.checked:
        if not world.check_fabrication():
            raise SystemExit("the fabricated Databases differ from what the pack writes")
        world.checked = True
    instances = sum(len(p["DBInstances"]) for p in
                    world.rds.get_paginator("describe_db_instances").paginate())
    print("RDS instances in %s (moto): %d" % (world.region, instances))

    def record(row):
        rows.append(row)
        show(row)

    print(HEADER)
    row, run, counts = measure_cycle(world, size, "quiet", True)
    record(row)
    summary = run["output"]["summary"]
    print("%6s  (select: summary.aws_calls %d, vault_reads %d, consul_reads %d; AWS calls by "
          "operation %s)" % ("", summary["aws_calls"], summary["vault_reads"],
                             summary["consul_reads"], dict(counts["aws_ops"])))
    print("%6s  (seconds waiting for each server: %s; the rest in the process)" % (
        "", ", ".join("%s %.2f" % (k, v) for k, v in sorted(counts["waited"].items()))))
    record(measure_cycle(world, size, "quiet", False)[0])
    record(plain_loop(world, size, "quiet"))
    item, item_counts, row = update_fanout(world, size)
    record(row)
    print("%6s  (one update item: %.2f s, %d executions, AWS calls %s)"
          % ("", row.seconds / size, item, dict(item_counts["aws_ops"])))
    peak = select_peak(world)
    print("%6s  (select step peak memory, tracemalloc: %.1f MiB)" % ("", peak))

    count = max(2, size // 100)
    scenario = "drift %d (%d+%d)" % (count, (count + 1) // 2, count // 2)
    expect = world.drift(count, rng)
    plain = plain_loop(world, size, scenario)
    tick = measure_cycle(world, size, scenario, False)[0]
    row, run, counts = measure_cycle(world, size, scenario, True, expect)
    repairs = sum(executions([s]) for s in run["steps"] if s["task"] == "run_updates")
    # the plain fan-out's checks find the same Databases and run the same repairs
    record(plain._replace(executions=plain.executions + repairs))
    record(tick)
    record(row)
    print("%6s  (repairs: %d runs, %d executions; AWS calls by operation %s)"
          % ("", len(expect), repairs, dict(counts["aws_ops"])))
    print("%6s  (an update fan-out per Database: 2 + %d x %d + %d = %d executions)"
          % ("", size - count, item, repairs, 2 + (size - count) * item + repairs))
    record(measure_cycle(world, size, "after repair", True)[0])
    return peak


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000",
                        help="numbers of Databases, comma separated (ascending)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the namespace, instances, secrets and keys in place")
    parser.add_argument("--region", default="us-west-2",
                        help="the AWS region of the bench's instances (moto)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--remove", metavar="NAMESPACE",
                        help="only remove what a kept (or stopped) run left: bench-resync-...")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    started = time.perf_counter()
    if args.remove:
        if not args.remove.startswith("bench-resync-"):
            raise SystemExit("--remove: expected a bench namespace bench-resync-<tag>")
        world = World(args.region, tag=args.remove[len("bench-resync-"):])
        print("removed %d Databases and %d RDS instances of %s (and its Vault secrets, Consul "
              "keys, Events)" % (world.cleanup() + (world.namespace,)))
        return
    world = World(args.region)
    world.setup()
    print("namespace %s, Vault %s/%s, Consul %s, region %s; %d cores, load average %s"
          % (world.namespace, world.mount, world.vault_prefix, world.consul_prefix,
             world.region, os.cpu_count(), " ".join("%.1f" % v for v in os.getloadavg())))
    rows, peaks = [], {}
    rng = random.Random(args.seed)
    try:
        for size in sizes:
            peaks[size] = bench_size(world, size, rng, rows)
    finally:
        if args.keep:
            print("\nkept: namespace %s, Vault %s/%s, Consul %s, %d RDS instances in %s"
                  % (world.namespace, world.mount, world.vault_prefix, world.consul_prefix,
                     len(world.names), world.region))
        else:
            start = time.perf_counter()
            world.cleanup()
            print("\ncleaned up in %.1f s" % (time.perf_counter() - start))
    if not rows:
        return
    print("\nAll cycles (K = Kubernetes, V = Vault, C = Consul; AWS calls: every API call the "
          "process sent, STS apart; writes: requests; changed: objects whose version moved):")
    print(HEADER)
    for row in rows:
        show(row)
    print("select step peak memory: %s" % ", ".join(
        "N=%d %.1f MiB" % (size, peak) for size, peak in sorted(peaks.items())))
    print("bench took %.0f s; load average now %s" % (
        time.perf_counter() - started, " ".join("%.1f" % v for v in os.getloadavg())))


if __name__ == "__main__":
    main()
