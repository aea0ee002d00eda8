"""The servers of scripts/stack.sh are real: each one is used as a client would."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time

import pytest

from tests.stack_plugin import SERVERS, TEST_INSTANCE, run_stack_script

pytestmark = pytest.mark.integration

CRD_GROUP = "stacktest.example.com"
CRD_PLURAL = "widgets"
CRD_NAME = f"{CRD_PLURAL}.{CRD_GROUP}"


def _ensure_widget_crd(api_client) -> None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    ext = client.ApiextensionsV1Api(api_client)
    body = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": CRD_GROUP,
            "scope": "Namespaced",
            "names": {"plural": CRD_PLURAL, "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                },
                                "status": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                            },
                        }
                    },
                }
            ],
        },
    }
    try:
        ext.create_custom_resource_definition(body)
    except ApiException as exc:
        if exc.status != 409:  # already there from an earlier run
            raise
    deadline = time.monotonic() + 30
    while True:
        crd = ext.read_custom_resource_definition(CRD_NAME)
        conditions = crd.status.conditions or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        assert time.monotonic() < deadline, f"CRD {CRD_NAME} not Established: {conditions}"
        time.sleep(0.2)


def test_kube_crd_watch_sees_added_modified_deleted(kube_api_client, kube_namespace):
    from kubernetes import client, watch
    from kubernetes.client.rest import ApiException

    _ensure_widget_crd(kube_api_client)
    custom = client.CustomObjectsApi(kube_api_client)
    args = (CRD_GROUP, "v1", kube_namespace, CRD_PLURAL)

    # The resource path can answer 404 for a moment after Established.
    deadline = time.monotonic() + 15
    while True:
        try:
            listing = custom.list_namespaced_custom_object(*args)
            break
        except ApiException as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    start_rv = listing["metadata"]["resourceVersion"]

    events: list[tuple[str, str, dict]] = []
    errors: list[BaseException] = []
    w = watch.Watch()

    def consume():
        try:
            for event in w.stream(
                custom.list_namespaced_custom_object,
                *args,
                resource_version=start_rv,
                timeout_seconds=20,
                allow_watch_bookmarks=True,
            ):
                obj = event["object"]
                events.append((event["type"], obj["metadata"].get("name"), obj))
                if event["type"] == "DELETED":
                    w.stop()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    watcher = threading.Thread(target=consume, daemon=True)
    watcher.start()

    name = "w1"
    body = {
        "apiVersion": f"{CRD_GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": 1},
    }
    custom.create_namespaced_custom_object(*args, body)
    custom.patch_namespaced_custom_object(*args, name, {"spec": {"size": 2}})
    custom.patch_namespaced_custom_object_status(*args, name, {"status": {"phase": "Ready"}})
    custom.delete_namespaced_custom_object(*args, name)

    watcher.join(timeout=30)
    assert not watcher.is_alive(), "the watch did not end"
    assert not errors, errors
    seen = [(kind, obj_name) for kind, obj_name, _ in events if kind != "BOOKMARK"]
    assert seen == [
        ("ADDED", name),
        ("MODIFIED", name),
        ("MODIFIED", name),
        ("DELETED", name),
    ]
    modified = [obj for kind, _, obj in events if kind == "MODIFIED"]
    assert modified[0]["spec"]["size"] == 2
    assert modified[1]["status"]["phase"] == "Ready"


def test_kube_limited_user_is_refused_by_rbac(stack, kube_namespace):
    from kubernetes import client, config

    kube = stack["kube"]
    # The kubeconfig's second context is the non-admin user with the limited token.
    limited = config.new_client_from_config(config_file=kube["kubeconfig"],
                                            context=kube["context"] + "-limited")
    with limited:
        with pytest.raises(client.exceptions.ApiException) as refused:
            client.CoreV1Api(limited).list_namespaced_config_map(kube_namespace)
    assert refused.value.status == 403
    assert kube["limited_user"] in refused.value.body


def test_etcdctl_reaches_the_kube_etcd(stack):
    etcd = stack["etcd"]
    proc = subprocess.run(
        [etcd["etcdctl"], f"--endpoints={etcd['endpoints']}", "endpoint", "status", "-w", "json"],
        env={**os.environ, **etcd["etcdctl_env"]},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"revision"' in proc.stdout


def test_vault_kv_v2_write_and_read(vault_client, vault_path):
    kv = vault_client.secrets.kv.v2
    path = f"{vault_path}/db"
    kv.create_or_update_secret(path=path, secret={"user": "app", "password": "s3cret"},
                               mount_point="secret")
    kv.create_or_update_secret(path=path, secret={"user": "app", "password": "rotated"},
                               mount_point="secret")
    read = kv.read_secret_version(path=path, mount_point="secret",
                                  raise_on_deleted_version=True)
    assert read["data"]["data"] == {"user": "app", "password": "rotated"}
    assert read["data"]["metadata"]["version"] == 2
    first = kv.read_secret_version(path=path, version=1, mount_point="secret",
                                   raise_on_deleted_version=True)
    assert first["data"]["data"]["password"] == "s3cret"


def test_consul_kv_put_and_get(consul_client, consul_prefix):
    key = f"{consul_prefix}config/db"
    assert consul_client.kv.put(key, "postgres://db:5432") is True
    index, item = consul_client.kv.get(key)
    assert item["Value"] == b"postgres://db:5432"
    assert int(index) > 0
    _, keys = consul_client.kv.get(consul_prefix, keys=True)
    assert keys == [key]


def test_moto_rds_instance_lifecycle(stack, aws_endpoint):
    import boto3

    aws = stack["aws"]
    session = boto3.session.Session(
        aws_access_key_id=aws["access_key_id"],
        aws_secret_access_key=aws["secret_access_key"],
        region_name=aws["region"],
    )
    rds = session.client("rds", endpoint_url=aws_endpoint)
    name = f"stacktest-{os.getpid()}-{int(time.time() * 1000)}"
    created = rds.create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin1",
        MasterUserPassword="password123",
        AllocatedStorage=20,
    )["DBInstance"]
    assert created["DBInstanceIdentifier"] == name
    described = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"]
    assert [d["Engine"] for d in described] == ["postgres"]
    rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)
    identity = session.client("sts", endpoint_url=aws_endpoint).get_caller_identity()
    assert identity["Account"]


def test_status_reports_every_server_up(stack):
    stack.require(*SERVERS)
    proc = run_stack_script("status", env=stack.env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [[server, "up"] for server in SERVERS]


def test_failed_start_names_the_server_and_its_log(tmp_path):
    stack_dir = tmp_path / "stack"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "STACK_DIR": str(stack_dir), "STACK_VAULT_PORT": str(port)}
        proc = run_stack_script("up", "vault", env=env, timeout=600)
    log = stack_dir / "vault" / "bao.log"
    assert proc.returncode != 0
    assert "vault failed to start" in proc.stderr
    assert str(log) in proc.stderr
    assert f"127.0.0.1:{port}" in proc.stderr
    assert log.is_file()
    # Nothing was started for it, and status says so.
    status = run_stack_script("status", "vault", env=env, timeout=60)
    assert status.returncode != 0
    assert status.stdout.split()[:2] == ["vault", "down"]


# --- a second set of servers (STACK_INSTANCE) ----------------------------------------------


def _env_without_ports(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("STACK_") and k.endswith("_PORT"))}
    env.pop("STACK_INSTANCE", None)
    env.update(extra)
    return env


def _ports(path) -> dict:
    return dict(line.split("=", 1) for line in path.read_text().split())


def test_second_instance_is_a_cluster_and_agent_of_its_own(
        stack, stack_b, kube_api_client, kube_b_api_client, consul_client, consul_b_client,
        consul_prefix):
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    a, b = stack.require("kube", "consul"), stack_b.require("kube", "consul")
    # the tests' servers are instance TEST_INSTANCE of the user's set (not the set itself)
    assert b["instance"] == "b" and a.get("instance") == (TEST_INSTANCE or None)
    assert (a["kube"]["context"], b["kube"]["context"]) == (
        "stack-" + TEST_INSTANCE if TEST_INSTANCE else "stack", "stack-b")
    assert stack_b.dir == stack.dir / "b"
    assert a["kube"]["server"] != b["kube"]["server"]
    assert a["consul"]["port"] != b["consul"]["port"]
    # its ports are recorded in its run folder, so later calls find it without variables
    ports = _ports(stack_b.dir / "ports.env")
    assert b["kube"]["server"] == "https://127.0.0.1:%s" % ports["STACK_KUBE_PORT"]
    assert b["consul"]["port"] == int(ports["STACK_CONSUL_PORT"])
    # two clusters: a namespace made in A is not in B
    name = "stacktest-ab-%d" % (time.time() * 1000)
    core_a, core_b = client.CoreV1Api(kube_api_client), client.CoreV1Api(kube_b_api_client)
    core_a.create_namespace({"metadata": {"name": name}})
    try:
        with pytest.raises(ApiException) as missing:
            core_b.read_namespace(name)
        assert missing.value.status == 404
    finally:
        core_a.delete_namespace(name)
    # two agents: a key put on A is not on B
    key = consul_prefix + "only-on-a"
    consul_client.kv.put(key, "a")
    assert consul_b_client.kv.get(key)[1] is None
    proc = run_stack_script("status", "kube", "consul", env=stack_b.env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [line.split()[:3] for line in proc.stdout.splitlines()] == [
        ["kube", "up", b["kube"]["server"]], ["consul", "up", b["consul"]["addr"]]]


def test_free_ports_are_recorded_and_down_stops_the_instances(tmp_path):
    main = tmp_path / "main"
    env = _env_without_ports(STACK_DIR=str(main), STACK_PORTS="free")
    proc = run_stack_script("up", "consul", env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    instance = dict(env, STACK_INSTANCE="x")
    del instance["STACK_PORTS"]
    # an instance inside the instance, as the tests' second set lives in theirs (test/b)
    nested = dict(instance, STACK_DIR=str(main / "x"), STACK_INSTANCE="y")
    try:
        proc = run_stack_script("up", "consul", env=instance, timeout=600)
        assert proc.returncode == 0, proc.stderr
        proc = run_stack_script("up", "consul", env=nested, timeout=600)
        assert proc.returncode == 0, proc.stderr
        main_port = _ports(main / "ports.env")["STACK_CONSUL_PORT"]
        x_port = _ports(main / "x" / "ports.env")["STACK_CONSUL_PORT"]
        y_port = _ports(main / "x" / "y" / "ports.env")["STACK_CONSUL_PORT"]
        assert len({main_port, x_port, y_port}) == 3
        assert "8500" not in (main_port, x_port, y_port)
        # no port variable set: the recorded ports are used
        plain = _env_without_ports(STACK_DIR=str(main))
        proc = run_stack_script("status", "consul", env=plain, timeout=60)
        assert proc.stdout.split()[:3] == ["consul", "up", "http://127.0.0.1:%s" % main_port]
        proc = run_stack_script("status", "consul", env=dict(plain, STACK_INSTANCE="x"),
                                timeout=60)
        assert proc.stdout.split()[:3] == ["consul", "up", "http://127.0.0.1:%s" % x_port]
        # `down` with no server named stops the main set, its instances and theirs
        proc = run_stack_script("down", env=plain, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "instance x: down" in proc.stderr and "instance y: down" in proc.stderr
        for where in (plain, dict(plain, STACK_INSTANCE="x"), nested):
            proc = run_stack_script("status", "consul", env=where, timeout=60)
            assert proc.returncode == 1 and proc.stdout.split()[:2] == ["consul", "down"]
    finally:
        run_stack_script("down", "consul", env=nested, timeout=120)
        run_stack_script("down", "consul", env=instance, timeout=120)
        run_stack_script("down", "consul", env=env, timeout=120)


@pytest.mark.parametrize("name", ["kube", "B", "a/b", "-x"])
def test_instance_names_are_checked(name):
    proc = run_stack_script("status", env=dict(os.environ, STACK_INSTANCE=name), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("stack: STACK_INSTANCE=%s: expected a short name" % name)
