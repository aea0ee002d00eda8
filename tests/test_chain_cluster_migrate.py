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
