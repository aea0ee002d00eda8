"""aws.cluster_migrate, its tasks run by lib/chain.py through the pack's actions on two real API
servers: namespaces picked by label, a dry run, the real run, the reports and totals, and each
way it can stop. Every run's task path is one of tests/fixtures/workflows/paths.yaml, which
tests/test_workflows_static.py walks through the workflow's YAML."""

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
        'the target cluster does not answer: lib.kube_call.KubeCallError: VersionApi.get_code '
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

    # a namespace that fails stops the ones after it; its report says why
    failed = run(config, target_cluster="b",
                 namespaces=["kube-system"] + migration["names"])
    assert_run_follows(failed, "listed")
    assert failed["status"] == "failed"
    assert [r["namespace"] for r in failed["output"]["namespaces"]] == ["kube-system"]
    assert failed["output"]["namespaces"][0]["error"] == (
        "kube-system belongs to the cluster itself and is not migrated")
    assert failed["output"]["not_run"] == migration["names"]
    assert failed["output"]["error"] == (
        "namespace(s) not fully migrated (see namespaces[].error and conflicts; run the "
        "workflow again to complete): kube-system")
