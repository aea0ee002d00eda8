"""The README's main command: scripts/demo.py provisions the example Database until Ready.

scripts/demo.sh sets up the virtualenv and the servers, then runs scripts/demo.py; the test runs
demo.py with the servers the fixtures started, twice (it must be safe to run again), checks what
it printed, that the password never shows, and that `--delete` removes everything again.
"""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.integration


def run_demo(stack, *args):
    # on the tests' own servers (stack.dir), as STACK_DIR points the demo at a run folder
    proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "demo.py")] + list(args),
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PATH="/usr/bin:/bin:" + os.environ["PATH"],
                                   STACK_DIR=str(stack.dir)))
    return proc.returncode, proc.stdout, proc.stderr


def test_demo_twice_then_delete(stack, kube_api_client, vault_client, consul_client):
    from kubernetes import client

    stack.require("kube", "vault", "consul", "aws")
    api = client.CustomObjectsApi(kube_api_client)

    for attempt in (1, 2):
        code, out, err = run_demo(stack)
        assert code == 0, out + err
        assert out.rstrip().endswith("orders-db is Ready."), out
        assert "no StackStorm API reachable" in out  # no st2 here: said on screen
        assert "workflow succeeded" in out
        obj = api.get_namespaced_custom_object("dbaas.stackstorm.com", "v1alpha1", "team-a",
                                               "databases", "orders-db")
        assert obj["status"]["phase"] == "Ready", attempt
        secret = vault_client.secrets.kv.v2.read_secret_version(
            path=obj["status"]["vaultPath"], mount_point="secret", raise_on_deleted_version=True)
        password = secret["data"]["data"]["password"]
        assert password and password not in out + err
        assert "password\": \"********" in out
        _, item = consul_client.kv.get(obj["status"]["consulKey"])
        assert json.loads(item["Value"])["db_instance_identifier"] == \
            obj["status"]["dbInstanceIdentifier"]

    code, out, err = run_demo(stack, "--delete")
    assert code == 0, out + err
    assert "remove_finalizer" in out
    with pytest.raises(client.ApiException) as err:
        api.get_namespaced_custom_object("dbaas.stackstorm.com", "v1alpha1", "team-a",
                                         "databases", "orders-db")
    assert err.value.status == 404
    _, item = consul_client.kv.get(obj["status"]["consulKey"])
    assert item is None
