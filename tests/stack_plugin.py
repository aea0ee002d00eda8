"""pytest plugin: real local servers started by ``scripts/stack.sh``.

Load it with ``pytest_plugins = ["tests.stack_plugin"]`` in ``tests/conftest.py``.

Fixtures (see docs/stack.md):

session scope
    ``stack``            the tests' own servers (``STACK_INSTANCE=test``, run folder
                         ``$STACK_DIR/test``, free ports: the user's stack and its demo
                         are not touched); a mapping over stack.json; ``stack["kube"]`` (or
                         ``stack.require("kube", "vault")``) runs
                         ``scripts/stack.sh up`` for that server if this session
                         has not yet seen it up, and returns its section.
    ``aws_endpoint``     the moto server's endpoint URL (sets no env vars).
    ``kube_api_client``  a ``kubernetes.client.ApiClient`` (cluster admin).
    ``vault_client``     an authenticated ``hvac.Client`` (root token).
    ``consul_client``    a ``consul.Consul`` (py-consul).
    ``stack_b``          the same for a second set of servers, ``STACK_INSTANCE=b``
                         (``$STACK_DIR/test/b``, free ports recorded there): a second
                         Kubernetes API server and Consul agent, e.g. for migrations.
    ``kube_b_api_client``, ``consul_b_client``  clients of that second set.

function scope
    ``kube_namespace``   a new namespace named ``stacktest-<random>``; deleted
                         afterwards without waiting (without a
                         controller-manager deletion never completes).
    ``vault_path``       a unique prefix ``stacktest/<random>`` under the KV v2
                         mount ``secret``; everything under it is destroyed after.
    ``consul_prefix``    a unique key prefix ``stacktest/<random>/``; deleted after.

A server that cannot be started makes the fixture fail (not skip) with the
script's message, which names the server and its log.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
STACK_SCRIPT = REPO_ROOT / "scripts" / "stack.sh"
SERVERS = ("kube", "vault", "consul", "aws")
# stack.json sections that belong to a server without being its name.
SECTION_SERVER = {"etcd": "kube"}
# A cold first run installs packages and builds kube-apiserver (~10 minutes).
UP_TIMEOUT = int(os.environ.get("STACK_UP_TIMEOUT", "2400"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "integration: uses real local servers started by scripts/stack.sh (docs/stack.md)",
    )


# The tests run on servers of their own: instance TEST_INSTANCE of the main set (scripts/stack.sh
# with STACK_INSTANCE: $STACK_DIR/test, on free ports), and their second set is instance ``b``
# inside it ($STACK_DIR/test/b). So the stack a user shares with `make demo` holds only what the
# user made. STACK_TEST_INSTANCE= (empty) runs the tests on the main set itself.
TEST_INSTANCE = os.environ.get("STACK_TEST_INSTANCE", "test")


def stack_dir(instance: str = "", base: Path | None = None) -> Path:
    """The run folder of the main set (or ``base``), or of instance ``instance`` inside it."""
    main = Path(base or os.environ.get("STACK_DIR") or REPO_ROOT / ".stack").absolute()
    return main / instance if instance else main


def instance_env(instance: str, base: Path | None = None) -> dict:
    """Environment for scripts/stack.sh acting on instance ``instance`` of the main set (or of
    the set whose run folder is ``base``)."""
    return dict(os.environ, STACK_DIR=str(stack_dir(base=base)), STACK_INSTANCE=instance)


def tests_stack_dir() -> Path:
    """The run folder of the tests' own servers (see TEST_INSTANCE)."""
    return stack_dir(TEST_INSTANCE)


def tests_stack_env(instance: str = "") -> dict | None:
    """Environment for scripts/stack.sh acting on the tests' servers (``instance=""``) or on
    instance ``instance`` inside them (``"b"``); None: this process's environment."""
    if instance:
        return instance_env(instance, base=tests_stack_dir())
    return instance_env(TEST_INSTANCE) if TEST_INSTANCE else None


def private_kube_env(stack_dir: str) -> dict:
    """Environment for a private kube stack (etcd + API server) in ``stack_dir``, on three
    distinct free ports: all three sockets are bound at once, so no port is handed out twice."""
    sockets = [socket.socket() for _ in range(3)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        kube, etcd, peer = (str(sock.getsockname()[1]) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()
    return dict(os.environ, STACK_DIR=stack_dir, STACK_KUBE_PORT=kube, STACK_ETCD_PORT=etcd,
                STACK_ETCD_PEER_PORT=peer)


def run_stack_script(*args: str, env: dict | None = None, timeout: float = UP_TIMEOUT):
    """Run scripts/stack.sh with ARGS; returns the CompletedProcess."""
    env = dict(os.environ if env is None else env)
    if env.get("STACK_DIR"):
        env["STACK_DIR"] = os.path.abspath(env["STACK_DIR"])  # the script runs in REPO_ROOT
    return subprocess.run(
        ["bash", str(STACK_SCRIPT), *args],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stack_section(section: str, instance: str = "") -> dict:
    """Outside pytest (benches, scripts): start the server of ``section`` (``kube``, ``consul``,
    ...) of the main set or of instance ``instance`` if it is not up, and return its section of
    stack.json. Exits with the script's message if the server cannot be started."""
    server = SECTION_SERVER.get(section, section)
    env = instance_env(instance) if instance else None
    proc = run_stack_script("up", server, env=env)
    if proc.returncode != 0:
        raise SystemExit("scripts/stack.sh up %s failed:\n%s" % (server, proc.stderr))
    return json.loads((stack_dir(instance) / "stack.json").read_text())[section]


class Stack(Mapping):
    """The servers of scripts/stack.sh, started on first use.

    Indexing by a section of stack.json (``kube``, ``etcd``, ``vault``,
    ``consul``, ``aws``) makes sure that server is up and returns the section.
    """

    def __init__(self, directory: Path, env: dict | None = None):
        self.dir = directory
        self.env = env  # for scripts/stack.sh (None: this process's environment)
        self.json_path = directory / "stack.json"
        self._ready: set[str] = set()
        self._failed: dict[str, str] = {}

    def require(self, *servers: str) -> dict:
        """Start SERVERS if this session has not seen them up; return stack.json."""
        for server in servers:
            if server not in SERVERS:
                raise ValueError(f"unknown stack server {server!r}; known: {SERVERS}")
        for server in servers:
            if server in self._failed:
                pytest.fail(self._failed[server], pytrace=False)
        missing = [s for s in servers if s not in self._ready]
        if missing:
            try:
                proc = run_stack_script("up", *missing, env=self.env)
            except subprocess.TimeoutExpired as exc:
                message = (f"{self._command()} up {' '.join(missing)} "
                           f"did not finish in {exc.timeout}s")
                for server in missing:
                    self._failed[server] = message
                pytest.fail(message, pytrace=False)
            if proc.returncode != 0:
                message = (
                    f"{self._command()} up {' '.join(missing)} failed (exit {proc.returncode}):\n"
                    f"{proc.stderr.strip()}"
                )
                for server in missing:
                    self._failed[server] = message
                pytest.fail(message, pytrace=False)
            self._ready.update(missing)
        return self.data

    def _command(self) -> str:
        env = self.env or {}
        if env.get("STACK_INSTANCE"):
            return "STACK_DIR=%s STACK_INSTANCE=%s scripts/stack.sh" % (
                env["STACK_DIR"], env["STACK_INSTANCE"])
        return "scripts/stack.sh"

    @property
    def data(self) -> dict:
        """stack.json as it is now (only the servers that are up)."""
        try:
            return json.loads(self.json_path.read_text())
        except FileNotFoundError:
            return {}

    def __getitem__(self, section: str) -> dict:
        server = SECTION_SERVER.get(section, section)
        if server not in SERVERS:
            raise KeyError(section)
        data = self.require(server)
        if section not in data:
            pytest.fail(
                f"scripts/stack.sh reported {server} up but {self.json_path} has no {section!r}",
                pytrace=False,
            )
        return data[section]

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)


def _unique(prefix: str = "stacktest") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def stack() -> Stack:
    """The tests' own servers (TEST_INSTANCE), not the user's main set."""
    return Stack(tests_stack_dir(), env=tests_stack_env())


@pytest.fixture(scope="session")
def stack_b() -> Stack:
    """The second set of servers (``STACK_INSTANCE=b`` inside the tests' servers):
    ``stack_b["kube"]``, ``stack_b["consul"]``. Left running at the end, like the first; the main
    set's ``scripts/stack.sh down`` stops both."""
    return Stack(tests_stack_dir() / "b", env=tests_stack_env("b"))


@pytest.fixture(scope="session")
def aws_endpoint(stack) -> str:
    return stack["aws"]["endpoint_url"]


@pytest.fixture(scope="session")
def kube_api_client(stack):
    from kubernetes import config

    client = config.new_client_from_config(config_file=stack["kube"]["kubeconfig"])
    yield client
    client.close()


@pytest.fixture(scope="session")
def kube_b_api_client(stack_b):
    """Cluster admin of the second API server (context ``stack-b``)."""
    from kubernetes import config

    client = config.new_client_from_config(config_file=stack_b["kube"]["kubeconfig"])
    yield client
    client.close()


@pytest.fixture(scope="session")
def vault_client(stack):
    import hvac

    vault = stack["vault"]
    client = hvac.Client(url=vault["addr"], token=vault["token"])
    assert client.is_authenticated(), f"the root token is refused by {vault['addr']}"
    yield client
    client.adapter.close()


@pytest.fixture(scope="session")
def consul_client(stack):
    import consul

    section = stack["consul"]
    return consul.Consul(host=section["host"], port=section["port"], scheme="http")


@pytest.fixture(scope="session")
def consul_b_client(stack_b):
    """The second Consul agent."""
    import consul

    section = stack_b["consul"]
    return consul.Consul(host=section["host"], port=section["port"], scheme="http")


@pytest.fixture
def kube_namespace(kube_api_client) -> str:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(kube_api_client)
    name = _unique()
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"stacktest": "true"}))
    )
    yield name
    try:
        # Only marks it Terminating: with no controller-manager the namespace
        # is never emptied and removed, so do not wait for it.
        core.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


def _vault_destroy_tree(kv, path: str) -> None:
    import hvac.exceptions

    try:
        listing = kv.list_secrets(path=path, mount_point="secret")
    except hvac.exceptions.InvalidPath:
        return
    for key in listing["data"]["keys"]:
        child = f"{path}/{key.rstrip('/')}"
        if key.endswith("/"):
            _vault_destroy_tree(kv, child)
        else:
            kv.delete_metadata_and_all_versions(path=child, mount_point="secret")


@pytest.fixture
def vault_path(vault_client) -> str:
    """A unique prefix (no leading or trailing slash) under KV v2 mount ``secret``."""
    path = f"stacktest/{uuid.uuid4().hex[:10]}"
    yield path
    kv = vault_client.secrets.kv.v2
    _vault_destroy_tree(kv, path)
    # A secret stored at the prefix itself, if a test wrote one there.
    kv.delete_metadata_and_all_versions(path=path, mount_point="secret")


@pytest.fixture
def consul_prefix(consul_client) -> str:
    """A unique key prefix ending in ``/``."""
    prefix = f"stacktest/{uuid.uuid4().hex[:10]}/"
    yield prefix
    consul_client.kv.delete(prefix, recurse=True)
