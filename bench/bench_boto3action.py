#!/usr/bin/env python3
"""Cold-process cost of one aws.boto3action call, as StackStorm's python runner pays it.

The runner starts a new Python process per execution, imports the action module and calls
run() once. This spawns N such processes (python -c: import the action, one call against
moto), then prints min/median of the whole process's wall time, of the import and of the
first call, and the time of a second call in the same process (what a long-lived process would
pay).

Usage: .venv/bin/python bench/bench_boto3action.py [N] [SERVICE ACTION_NAME]
       (default: 10 runs of rds describe_db_instances)
moto: $AWS_ENDPOINT_URL if set, else `scripts/stack.sh up aws` and .stack/stack.json.
"""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))

from cold_start import print_rows, run_cold  # noqa: E402

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
sys.path[:0] = json.loads(os.environ["BENCH_SYS_PATH"])
from boto3action import Boto3Action
t1 = time.perf_counter()
config = json.loads(os.environ["BENCH_CONFIG"])
service, action_name = sys.argv[1], sys.argv[2]
action = Boto3Action(config=config)
action.run(service=service, action_name=action_name)
t2 = time.perf_counter()
action.run(service=service, action_name=action_name)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "second": t3 - t2}))
"""


def moto_config():
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return {"endpoint_url": endpoint,
                "region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing")}
    proc = subprocess.run(["bash", os.path.join(REPO, "scripts", "stack.sh"), "up", "aws"],
                          cwd=REPO, capture_output=True, text=True)
    if proc.returncode:
        sys.exit("scripts/stack.sh up aws failed:\n" + proc.stderr)
    stack_dir = os.path.abspath(os.environ.get("STACK_DIR") or os.path.join(REPO, ".stack"))
    with open(os.path.join(stack_dir, "stack.json")) as f:
        aws = json.load(f)["aws"]
    return {"endpoint_url": aws["endpoint_url"], "region": aws["region"],
            "aws_access_key_id": aws["access_key_id"],
            "aws_secret_access_key": aws["secret_access_key"]}


def main(argv):
    runs = int(argv[1]) if len(argv) > 1 else 10
    service, action_name = "rds", "describe_db_instances"
    if len(argv) > 3:
        service, action_name = argv[2], argv[3]
    config = moto_config()
    walls, parts = run_cold(CHILD, (service, action_name), config, runs)

    print("aws.boto3action %s %s against %s, %d cold processes (%s)"
          % (service, action_name, config["endpoint_url"], runs, sys.executable))
    rows = [("cold process, wall (start, import, 1 call)", walls),
            ("  import boto3action (boto3 + lib)", [p["import"] for p in parts]),
            ("  first call (session, client, request)", [p["first"] for p in parts]),
            ("second call, same process", [p["second"] for p in parts])]
    print_rows(rows, width=44)


if __name__ == "__main__":
    main(sys.argv)
