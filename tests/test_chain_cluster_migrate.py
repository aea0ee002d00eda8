"""aws.cluster_migrate, its tasks run by lib/chain.py through the pack's actions on two real API
servers: namespaces picked by label, a dry run, the real run, the reports and totals, and each
way it can stop. Every run's task path is one of tests/fixtures/workflows/paths.yaml, which
tests/test_workflows_static.py walks through the workflow's YAML."""

import collections
import threading

import pytest
from kubernetes import client

from lib.chain import run_workflow
from tests.workflow_paths import assert_run_follows
from tests.two_clusters import pack_config, seed_namespace, unique

pytestmark = pytest.mark.integration

OUTCOMES = ("create", "update", "unchanged", "conflict", "delete", "skipped", "only_in_target",
            "failed")


def totals(**given):
    return {outcome: given.get(outcome, 0) for outcome in OUTCOMES}


@pytest.fixture
def migration(stack, stack_b, kube_api_client, kube_b_api_client):
    """Two namespaces of A labelled with this test's own label, and the pack config."""
    label = unique("run")
    names = [unique(), unique()]
    for name in names:
        seed_namespace(kube_api_client, name, labels={"migrate": label})
    config = pack_config(stack.require("kube", "consul"), stack_b.require("kube", "consul"))
    config["kube_clusters"]["closed"] = {"api_url": "https://127.0.0.1:9", "token": "x"}
    yield {"config": config, "label": label, "names": sorted(names)}
    for name in names:
        for api_client in (kube_api_client, kube_b_api_client):
            try:
                client.CoreV1Api(api_client).delete_namespace(name)
            except client.ApiException:
                pass


def run(config, **inputs):
    result = run_workflow("cluster_migrate", config=config, inputs=inputs)
    return result


def test_selected_namespaces_are_planned_then_migrated(migration):
    selector = "migrate=%s" % migration["label"]
    plan = run(migration["config"], target_cluster="b", namespace_selector=selector,
               dry_run=True)
    assert_run_follows(plan, "selected")
    assert plan["status"] == "succeeded", plan["output"]
    output = plan["output"]
    assert (output["source_version"], output["target_version"]) == ("v1.20.2", "v1.20.2")
    assert sorted(r["namespace"] for r in output["namespaces"]) == migration["names"]
    assert output["totals"] == totals(create=22, skipped=4)
    assert output["dry_run"] is True and output["not_run"] == [] and output["error"] is None

    done = run(migration["config"], target_cluster="b", namespace_selector=selector)
    assert_run_follows(done, "selected")
    assert done["output"]["totals"] == totals(create=22, skipped=4)
    assert [s["item"] for s in done["steps"] if s["task"] == "migrate"] == [0, 1]
    again = run(migration["config"], target_cluster="b", namespaces=migration["names"][:1],
                namespace_selector=selector)
    assert again["output"]["totals"] == totals(unchanged=22, skipped=4)
    listed = run(migration["config"], target_cluster="b", namespaces=migration["names"][:1])
    assert_run_follows(listed, "listed")
    assert listed["output"]["totals"] == totals(unchanged=11, skipped=2)


def test_each_way_it_stops_is_reported(migration):
    config = migration["config"]
    down = run(config, target_cluster="closed", namespaces=migration["names"])
    assert_run_follows(down, "target_down")
    assert down["status"] == "failed"
    assert down["output"]["error"].startswith(
        'the target cluster does not answer: lib.kube.call.KubeCallError: VersionApi.get_code '
        'failed: cannot reach cluster "closed" (https://127.0.0.1:9)')
    assert down["output"]["not_run"] == []

    down = run(config, source_cluster="closed", target_cluster="b",
               namespaces=migration["names"])
    assert_run_follows(down, "source_down")

    none = run(config, target_cluster="b")
    assert_run_follows(none, "none_given")
    assert none["output"]["error"] == ("no namespace to migrate: give namespaces, "
                                       "namespace_selector or both")

    nothing = run(config, target_cluster="b", namespace_selector="migrate=nobody-%s"
                  % migration["label"])
    assert_run_follows(nothing, "none_matching")
    assert nothing["output"]["error"].startswith('no namespace of the source cluster matches '
                                                 'namespace_selector "migrate=nobody-')

    bad = run(config, target_cluster="b", namespace_selector="migrate in (")
    assert_run_follows(bad, "listing_failed")
    assert "answered 400 BadRequest" in bad["output"]["error"]


# --- issue 18 ---------------------------------------------------------------------------------


def test_the_clusters_own_namespaces_are_refused_up_front_with_the_reason(migration):
    refused = run(migration["config"], target_cluster="b",
                  namespaces=migration["names"] + ["kube-system", "kube-public"])
    assert refused["status"] == "failed"
    assert refused["output"]["error"] == (
        "refused: kube-system, kube-public: the cluster's own namespaces (each cluster's "
        "control plane makes and runs kube-system, kube-public and kube-node-lease) are never "
        "migrated; leave them out of namespaces")
    assert refused["output"]["namespaces"] == []  # nothing was started
    assert_run_follows(refused, "refused")


def test_conflicts_fail_the_workflow_naming_the_namespace_and_the_way_out(migration,
                                                                          kube_b_api_client):
    config, names = migration["config"], migration["names"]
    assert run(config, target_cluster="b", namespaces=names)["status"] == "succeeded"
    client.CoreV1Api(kube_b_api_client).patch_namespaced_config_map(
        "app-config-1", names[-1], {"data": {"LOG_LEVEL": "debug"}})

    conflict = run(config, target_cluster="b", namespaces=names)
    assert conflict["status"] == "failed"
    assert conflict["output"]["totals"] == totals(unchanged=21, conflict=1, skipped=4)
    assert conflict["output"]["error"] == (
        "conflicts in namespace(s) %s: the target keeps objects that differ from the source "
        "(namespaces[].summary names them); run again with overwrite_conflicts=true to take "
        "the source's version, or with accept_conflicts=true to leave them" % names[-1])
    assert conflict["output"]["namespaces"][-1]["summary"].startswith(
        "%s: 10 unchanged, 1 conflict (not overwritten: ConfigMap app-config-1), 2 skipped; "
        "failed on conflicts" % names[-1])
    assert_run_follows(conflict, "listed")

    accepted = run(config, target_cluster="b", namespaces=names, accept_conflicts=True)
    assert accepted["status"] == "succeeded", accepted["output"]
    assert accepted["output"]["totals"] == totals(unchanged=21, conflict=1, skipped=4)
    assert [s["parameters"]["accept_conflicts"] for s in accepted["steps"]
            if s["task"] == "migrate"] == [True, True]
    plan = run(config, target_cluster="b", namespaces=names, dry_run=True)
    assert plan["status"] == "succeeded", plan["output"]


# --- issue 6: concurrency namespaces at once --------------------------------------------------

class InFlight:
    """A call_hook counting the migrate items running at the same time. An item in ``wait_for``
    waits (20 s at most) until the item given has started, or has been recorded (on_step)."""

    def __init__(self, wait_for=None, recorded=None):
        self.wait_for = wait_for or {}  # item index -> item index that must have started
        self.recorded = recorded or {}  # item index -> item index that must have been recorded
        self.lock = threading.Lock()
        self.started = collections.defaultdict(threading.Event)
        self.done = collections.defaultdict(threading.Event)
        self.running, self.most, self.order = 0, 0, []
        self.met = {}

    def hook(self, task, ref, params, call):
        if task != "migrate":
            return call()
        names = self.names
        index = names.index(params["namespace"])
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.order.append(index)
        self.started[index].set()
        try:
            if index in self.wait_for:
                self.met[index] = self.started[self.wait_for[index]].wait(20)
            if index in self.recorded:
                self.met[index] = self.done[self.recorded[index]].wait(20)
            return call()
        finally:
            with self.lock:
                self.running -= 1

    def on_step(self, record):
        if record["task"] == "migrate":
            self.done[record["item"]].set()


@pytest.fixture
def three(migration, kube_api_client, kube_b_api_client):
    """The two namespaces of ``migration`` and a third, in that order."""
    third = unique()
    seed_namespace(kube_api_client, third)
    yield migration["names"] + [third]
    for api_client in (kube_api_client, kube_b_api_client):
        try:
            client.CoreV1Api(api_client).delete_namespace(third)
        except client.ApiException:
            pass


def test_concurrency_namespaces_are_migrated_at_once_with_the_result_of_one_at_a_time(
        migration, three):
    config = migration["config"]

    def run_with(concurrency, **inputs):
        in_flight = InFlight(wait_for={0: 1} if concurrency > 1 else {})
        in_flight.names = three
        result = run_workflow("cluster_migrate", config=config, call_hook=in_flight.hook,
                              on_step=in_flight.on_step, inputs=dict(
                                  inputs, target_cluster="b", namespaces=three,
                                  concurrency=concurrency))
        assert_run_follows(result, "listed")
        # the steps and the reports in item order, whatever the order they ended in
        assert [s["item"] for s in result["steps"] if s["task"] == "migrate"] == [0, 1, 2]
        assert [r["namespace"] for r in result["output"]["namespaces"]] == three
        return result, in_flight

    one_plan, one = run_with(1, dry_run=True)
    assert one.most == 1
    plan, at_once = run_with(2, dry_run=True)
    assert at_once.met == {0: True}  # the first item saw the second start
    assert at_once.most == 2  # never more than concurrency
    assert plan["output"] == one_plan["output"]
    assert plan["output"]["totals"] == totals(create=33, skipped=6)

    done, at_once = run_with(2)
    assert (at_once.met, at_once.most) == ({0: True}, 2)
    assert done["status"] == "succeeded", done["output"]
    assert done["output"]["totals"] == totals(create=33, skipped=6)
    for report, planned in zip(done["output"]["namespaces"], plan["output"]["namespaces"]):
        assert report["kinds"] == planned["kinds"]
    again, _ = run_with(1)
    assert again["output"]["totals"] == totals(unchanged=33, skipped=6)


def test_after_a_failed_namespace_no_further_one_starts_those_running_finish(migration, three):
    # item 0 is missing in the source: it fails while item 1 runs (item 1 goes on once item 0
    # is recorded); item 2 is not started, as Orquesta starts no further item
    names = ["missing-" + unique()] + three[:2]
    in_flight = InFlight(wait_for={0: 1}, recorded={1: 0})
    in_flight.names = names
    result = run_workflow("cluster_migrate", config=migration["config"],
                          call_hook=in_flight.hook, on_step=in_flight.on_step, inputs={
                              "target_cluster": "b", "namespaces": names, "concurrency": 2})
    assert_run_follows(result, "listed")
    assert result["status"] == "failed"
    assert in_flight.met == {0: True, 1: True} and sorted(in_flight.order) == [0, 1]
    output = result["output"]
    assert [r["namespace"] for r in output["namespaces"]] == names[:2]
    assert [r["status"] for r in output["namespaces"]] == ["failed", "succeeded"]
    assert output["not_run"] == names[2:]
    assert output["error"] == ("namespace(s) not fully migrated (see namespaces[].error and "
                               "failed objects; run the workflow again to complete): "
                               + names[0])
    assert output["totals"] == totals(create=11, skipped=2)
