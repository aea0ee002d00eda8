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

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.stack_plugin import stack_section  # noqa: E402
sys.path.insert(0, os.path.join(REPO, "bench"))
from cold_start import print_rows, run_cold  # noqa: E402

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


def main(argv):
    runs = int(argv[1]) if len(argv) > 1 else 10
    api, method = (argv[2], argv[3]) if len(argv) > 3 else ("CoreV1Api", "list_namespace")
    kube = stack_section("kube")
    config = {"kubeconfig": kube["kubeconfig"]}
    walls, parts = run_cold(CHILD, (api, method), config, runs)

    print("aws.kubernetes_call %s %s against %s, %d cold processes (%s)"
          % (api, method, kube["server"], runs, sys.executable))
    print("kubernetes imported by the import of the action module: %s"
          % any(p["kubernetes_at_import"] for p in parts))
    rows = [("cold process, wall (start, import, 1 call)", walls),
            ("  import kubernetes_call (lib only)", [p["import"] for p in parts]),
            ("  first call (client import, config, request)", [p["first"] for p in parts]),
            ("second call, same process", [p["second"] for p in parts])]
    print_rows(rows, width=46)


if __name__ == "__main__":
    main(sys.argv)
