#!/usr/bin/env python3
"""The demo: an example Database applied with kubectl becomes Ready on the local servers.

Run by scripts/demo.sh once the servers are up. With a StackStorm API reachable (the st2 CLI
works with its usual ST2_* environment variables) the pack is installed into StackStorm and the
sensor, rules and Orquesta workflows do the work; otherwise the create workflow's tasks run
through the pack's own actions (actions/lib/chain.py), in the workflow file's order.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "actions"))
try:  # inside StackStorm's virtualenv the real classes are there
    import st2common.runners.base_action  # noqa: F401
except ImportError:  # elsewhere the pack's actions run on the same stand-in as the tests
    sys.path.insert(0, os.path.join(REPO, "tests", "st2_standin"))

import yaml  # noqa: E402

from lib.kube import api as kube_api  # noqa: E402
from lib.chain import MASK, run_workflow  # noqa: E402

NAMESPACE = "team-a"
EXAMPLE = os.path.join(REPO, "k8s", "examples", "orders-db.yaml")
CRDS = [os.path.join(REPO, "k8s", "crds", name) for name in ("database.yaml", "mysqldb.yaml")]
DATABASES = {"group": "dbaas.stackstorm.com", "version": "v1alpha1", "plural": "databases"}
RULES = ("database_create", "database_update", "database_delete", "database_delete_on_add")


def say(text):
    print("\n==> %s" % text, flush=True)


def stack_info():
    with open(os.path.join(os.environ.get("STACK_DIR", os.path.join(REPO, ".stack")),
                           "stack.json")) as f:
        return json.load(f)


def pack_config(stack):
    """The pack config for the local servers (what /opt/stackstorm/configs/aws.yaml would hold)."""
    return {
        "region": stack["aws"]["region"],
        "endpoint_url": stack["aws"]["endpoint_url"],
        "aws_access_key_id": stack["aws"]["access_key_id"],
        "aws_secret_access_key": stack["aws"]["secret_access_key"],
        "role_arn": "arn:aws:iam::123456789012:role/st2-dbaas-demo",
        "role_session_duration": 3600,
        "retry_mode": "standard",
        "max_attempts": 5,
        "kubeconfig": stack["kube"]["kubeconfig"],
        "kube_verify_ssl": True,
        "vault_url": stack["vault"]["addr"],
        "vault_token": stack["vault"]["token"],
        "vault_kv_mount": stack["vault"].get("kv_mount", "secret"),
        "vault_verify": True,
        "consul_host": stack["consul"]["host"],
        "consul_port": stack["consul"]["port"],
        "consul_scheme": "http",
        "instance_classes": {"small": "db.t3.small", "medium": "db.t3.medium",
                             "large": "db.m5.large", "xlarge": "db.m5.xlarge",
                             "huge": "db.m5.4xlarge"},
        "vpc_security_group_ids": [],
    }


def kubectl(stack, *args, stdin=None):
    cmd = ["kubectl", "--kubeconfig", stack["kube"]["kubeconfig"]] + list(args)
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    # kubectl 1.32 against the 1.20 API server warns about the version skew: not our news
    err = "\n".join(line for line in proc.stderr.splitlines() if "version difference" not in line)
    if proc.returncode != 0:
        raise SystemExit("kubectl %s failed:\n%s" % (" ".join(args), err or proc.stdout))
    return proc.stdout


def apply_resources(stack):
    say("installing the Database CRD and applying %s in namespace %s"
        % (os.path.relpath(EXAMPLE, REPO), NAMESPACE))
    for crd in CRDS:
        print("   " + kubectl(stack, "apply", "-f", crd).strip())
    kubectl(stack, "wait", "--for=condition=Established", "--timeout=60s",
            "crd/databases.dbaas.stackstorm.com")
    namespace = yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": NAMESPACE}})
    kubectl(stack, "apply", "-f", "-", stdin=namespace)
    print("   " + kubectl(stack, "apply", "-n", NAMESPACE, "-f", EXAMPLE).strip())


def get_database(stack, name):
    out = kubectl(stack, "get", "databases.dbaas.stackstorm.com", name, "-n", NAMESPACE,
                  "-o", "json")
    return json.loads(out)


def st2_reachable():
    if not shutil.which("st2"):
        return False, "the st2 CLI is not installed"
    if not (os.environ.get("ST2_AUTH_TOKEN") or os.environ.get("ST2_API_KEY")):
        return False, "neither ST2_AUTH_TOKEN nor ST2_API_KEY is set"
    proc = subprocess.run(["st2", "action", "get", "core.local", "-j"], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        return False, "`st2 action get core.local` failed: %s" % proc.stderr.strip()[:200]
    return True, "st2 CLI answered"


def run_in_stackstorm(stack, config, name):
    """Install the pack into StackStorm, configure it, let the sensor, rules and workflows act."""
    say("StackStorm API reachable: installing the pack with `st2 pack install file://%s`" % REPO)
    subprocess.run(["st2", "pack", "install", "file://%s" % REPO], check=True)
    api = os.environ.get("ST2_API_URL") or os.environ.get("ST2_BASE_URL", "").rstrip("/") + "/api"
    request = urllib.request.Request(
        "%s/v1/configs/aws" % api.rstrip("/"), data=json.dumps(config).encode(), method="PUT",
        headers={"Content-Type": "application/json"})
    if os.environ.get("ST2_AUTH_TOKEN"):
        request.add_header("X-Auth-Token", os.environ["ST2_AUTH_TOKEN"])
    else:
        request.add_header("St2-Api-Key", os.environ["ST2_API_KEY"])
    urllib.request.urlopen(request, timeout=30).read()  # pylint: disable=consider-using-with
    print("   pack config set through %s/v1/configs/aws" % api)
    for rule in RULES:
        subprocess.run(["st2", "rule", "enable", "aws.%s" % rule], check=True,
                       stdout=subprocess.DEVNULL)
    print("   rules enabled: %s" % ", ".join("aws." + rule for rule in RULES))
    say("waiting for the sensor and the aws.database_create workflow (up to 10 minutes)")
    deadline = time.time() + 600
    last = None
    while time.time() < deadline:
        status = get_database(stack, name).get("status") or {}
        phase = status.get("phase")
        if phase != last:
            print("   status.phase: %s %s" % (phase, status.get("message", "")))
            last = phase
        if phase in ("Ready", "Failed"):
            return phase == "Ready"
        time.sleep(3)
    print("   still %s after 10 minutes: see `st2 execution list --action aws.database_create`"
          % last)
    return False


def print_step(record):
    result = record.get("result") or {}
    ok = record["status"] == "succeeded"
    detail = ""
    if not ok:
        detail = " -- " + str(result.get("error") or result.get("stderr") or "")[:160]
    attempt = " (poll %d)" % record["attempt"] if record.get("attempt", 1) > 1 else ""
    mark = "ok" if ok else "!!"
    print("   [%s] %-22s %s%s%s" % (mark, record["task"], record["action"], attempt, detail),
          flush=True)


def run_locally(stack, config, name):
    obj = get_database(stack, name)
    payload = kube_api.to_payload("ADDED", obj, DATABASES)
    say("the trigger aws.custom_resource_added the sensor emits for it (rule aws.database_create "
        "routes it to the aws.database_create workflow):")
    shown = {k: payload[k] for k in ("event", "kind", "namespace", "name", "uid", "generation",
                                     "spec_changed", "deletion_requested")}
    print(json.dumps(shown, indent=2))
    say("running aws.database_create's tasks through the pack's actions")
    run = run_workflow("database_create", payload, config, on_step=print_step, poll_delay=2)
    print("   workflow %s" % run["status"])
    return run["status"] == "succeeded"


def show_results(stack, config, name):
    import consul  # pylint: disable=import-outside-toplevel
    import hvac  # pylint: disable=import-outside-toplevel

    obj = get_database(stack, name)
    status = obj.get("status") or {}
    say("kubectl get database %s -n %s: status" % (name, NAMESPACE))
    print(json.dumps({k: v for k, v in status.items() if k != "conditions"}, indent=2))
    vault_path = status.get("vaultPath")
    consul_key = status.get("consulKey")
    if vault_path:
        client = hvac.Client(url=config["vault_url"], token=config["vault_token"])
        secret = client.secrets.kv.v2.read_secret_version(
            path=vault_path, mount_point=config["vault_kv_mount"], raise_on_deleted_version=True)
        data = dict(secret["data"]["data"])
        if "password" in data:
            data["password"] = "%s (%d characters, masked)" % (MASK, len(data["password"]))
        version = secret["data"]["metadata"]["version"]
        say("Vault %s/%s/%s (KV v2, version %s)"
            % (config["vault_url"], config["vault_kv_mount"], vault_path, version))
        print(json.dumps(data, indent=2))
    if consul_key:
        _, item = consul.Consul(host=config["consul_host"], port=config["consul_port"]).kv.get(
            consul_key)
        say("Consul KV %s" % consul_key)
        print(json.dumps(json.loads(item["Value"]), indent=2) if item else "(absent)")
    return status.get("phase") == "Ready"


def next_steps(stack, identifier):
    tools = os.path.expanduser("~/.cache/st2-pack-aws/tools-venv/bin")
    say("look around")
    print("   source .stack/stack.env")
    print("   kubectl get databases -A")
    print("   kubectl get database orders-db -n %s -o yaml" % NAMESPACE)
    print("   %s/bao kv get secret/team-a/orders-db        # the password, unmasked" % tools)
    print("   consul kv get team-a/orders-db/config")
    print("   .venv/bin/python -c \"import boto3; print(boto3.client('rds', endpoint_url='%s', "
          "region_name='%s').describe_db_instances(DBInstanceIdentifier='%s')['DBInstances'][0]"
          "['DBInstanceStatus'])\""
          % (stack["aws"]["endpoint_url"], stack["aws"]["region"], identifier))
    print("   kubectl delete database orders-db -n %s   # then `make demo-delete`" % NAMESPACE)
    say("tear down")
    print("   scripts/stack.sh down        # stop the servers (rm -rf .stack for a clean slate)")


def delete_locally(stack, config, name):
    """kubectl delete, then the delete workflow's tasks (what rule aws.database_delete starts)."""
    say("kubectl delete database %s -n %s (the finalizer holds it until the pack cleans up)"
        % (name, NAMESPACE))
    kubectl(stack, "delete", "databases.dbaas.stackstorm.com", name, "-n", NAMESPACE,
            "--wait=false")
    previous = kube_api.to_payload("MODIFIED", get_database(stack, name), DATABASES)
    previous["deletion_timestamp"] = None
    payload = kube_api.to_payload("MODIFIED", get_database(stack, name), DATABASES, previous)
    say("running aws.database_delete's tasks through the pack's actions")
    run = run_workflow("database_delete", payload, config, on_step=print_step, poll_delay=2)
    print("   workflow %s" % run["status"])
    return run["status"] == "succeeded"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delete", action="store_true",
                        help="delete the example Database instead (deletion policy Snapshot)")
    args = parser.parse_args()
    stack = stack_info()
    config = pack_config(stack)
    name = yaml.safe_load(open(EXAMPLE))["metadata"]["name"]
    if args.delete:
        ok = delete_locally(stack, config, name)
        return 0 if ok else 1
    apply_resources(stack)
    reachable, why = st2_reachable()
    if reachable:
        ok = run_in_stackstorm(stack, config, name)
    else:
        say("no StackStorm API reachable (%s): running the create workflow's steps through the "
            "pack's own actions instead -- the same tasks, in the workflow file's order" % why)
        ok = run_locally(stack, config, name)
    ok = show_results(stack, config, name) and ok
    next_steps(stack, (get_database(stack, name).get("status") or {}).get("dbInstanceIdentifier"))
    print("\n%s" % ("orders-db is Ready." if ok else "orders-db is NOT Ready: see above."))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
