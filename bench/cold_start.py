"""What the cold-start benches share: spawn N Python processes the way StackStorm's python runner
does (a new process per execution: import the action module, call run() once), collect the
timings each child prints as its last line of JSON, and print min/median rows."""

import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child_sys_path():
    """The child's sys.path additions: the action's folder (as the runner puts it there), and
    the StackStorm stand-in where StackStorm is not installed."""
    paths = [os.path.join(REPO, "actions")]
    try:
        import st2common.runners.base_action  # noqa: F401  pylint: disable=import-outside-toplevel
    except ImportError:
        paths.append(os.path.join(REPO, "tests", "st2_standin"))
    return paths


def run_cold(child, args, config, runs):
    """Run ``python -c child *args`` ``runs`` times with the pack config in $BENCH_CONFIG and
    the paths in $BENCH_SYS_PATH; returns (wall seconds per process, the JSON each printed)."""
    env = dict(os.environ, BENCH_CONFIG=json.dumps(config),
               BENCH_SYS_PATH=json.dumps(child_sys_path()))
    walls, parts = [], []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", child, *args], env=env,
                             check=True, capture_output=True, text=True).stdout
        walls.append(time.perf_counter() - start)
        parts.append(json.loads(out.strip().splitlines()[-1]))
    return walls, parts


def ms(seconds):
    return "%7.1f ms" % (seconds * 1000)


def print_rows(rows, width=44):
    """``rows``: (label, seconds per run); prints min and median of each."""
    print("%-*s %10s %10s" % (width, "", "min", "median"))
    for label, values in rows:
        print("%-*s %s %s" % (width, label, ms(min(values)), ms(statistics.median(values))))
