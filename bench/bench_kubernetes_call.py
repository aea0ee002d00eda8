#!/usr/bin/env python3
"""Cold-process cost of one aws.kubernetes_call, as StackStorm's python runner pays it.

The runner starts a new Python process per execution, imports the action module and calls
run() once. This spawns N such processes (python -c: import the action, one call against the
local API server), then prints min/median of the whole process's wall time, of the import of
the action module (the kubernetes client is imported by the call, not by the import), of the
first call and of a second call in the same process.

Usage: .venv/bin/python bench/bench_kubernetes_call.py [N] [API METHOD]
       (default: 10 runs of CoreV1Api list_namespace)
The API server: `scripts/stack.sh up kube` and $STACK_DIR/stack.json.
"""

import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.stack_plugin import stack_section  # noqa: E402

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
sys.path[:0] = json.loads(os.environ["BENCH_SYS_PATH"])
from kubernetes_call import KubernetesCall
t1 = time.perf_counter()
at_import = "kubernetes" in sys.modules
config = json.loads(os.environ["BENCH_CONFIG"])
api, method = sys.argv[1], sys.argv[2]
action = KubernetesCall(config=config)
action.run(api=api, method=method)
t2 = time.perf_counter()
action.run(api=api, method=method)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "second": t3 - t2,
                  "kubernetes_at_import": at_import}))
"""


def child_sys_path():
    paths = [os.path.join(REPO, "actions")]
    try:
        import st2common.runners.base_action  # noqa: F401  pylint: disable=import-outside-toplevel
    except ImportError:
        paths.append(os.path.join(REPO, "tests", "st2_standin"))
    return paths


def ms(seconds):
    return "%7.1f ms" % (seconds * 1000)


def main(argv):
    runs = int(argv[1]) if len(argv) > 1 else 10
    api, method = (argv[2], argv[3]) if len(argv) > 3 else ("CoreV1Api", "list_namespace")
    kube = stack_section("kube")
    config = {"kubeconfig": kube["kubeconfig"]}
    env = dict(os.environ, BENCH_CONFIG=json.dumps(config),
               BENCH_SYS_PATH=json.dumps(child_sys_path()))
    walls, parts = [], []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, api, method], env=env,
                             check=True, capture_output=True, text=True).stdout
        walls.append(time.perf_counter() - start)
        parts.append(json.loads(out.strip().splitlines()[-1]))

    print("aws.kubernetes_call %s %s against %s, %d cold processes (%s)"
          % (api, method, kube["server"], runs, sys.executable))
    print("kubernetes imported by the import of the action module: %s"
          % any(p["kubernetes_at_import"] for p in parts))
    print("%-46s %10s %10s" % ("", "min", "median"))
    rows = [("cold process, wall (start, import, 1 call)", walls),
            ("  import kubernetes_call (lib only)", [p["import"] for p in parts]),
            ("  first call (client import, config, request)", [p["first"] for p in parts]),
            ("second call, same process", [p["second"] for p in parts])]
    for label, values in rows:
        print("%-46s %s %s" % (label, ms(min(values)), ms(statistics.median(values))))


if __name__ == "__main__":
    main(sys.argv)
