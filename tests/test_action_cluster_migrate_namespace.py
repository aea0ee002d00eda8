"""aws.cluster_migrate_namespace between two real API servers (the main set and ``STACK_INSTANCE=b``
of scripts/stack.sh; a private one for the outage): a namespace with a few objects of each kind
is copied, equal after stripping; a second run changes nothing; a dry run after a hand edit in B
reports exactly that object; a service-account token and the root CA ConfigMap are not copied;
a run stopped by B's API server going down is completed by the next one; concurrent runs
converge; nothing is deleted unless asked."""

import copy
import json
import threading

import pytest
from hypothesis import given, settings, strategies as st
from kubernetes import client, config as kube_config

import lib.kube.migrate as lib_migrate
from cluster_migrate_namespace import ClusterMigrateNamespace
from lib.kube.migrate import (FINGERPRINT, KINDS, diff_paths, kinds_for, normalize,
                              skip_reason, strip)
from tests.st2_params import action_params, load_action, validate_output
from tests.two_clusters import (comparable, pack_config, raw_objects, resource_versions,
                                seed_namespace, unique)

META = load_action("cluster_migrate_namespace")
BY_NAME = {kind.name: kind for kind in KINDS}


# --- stripping, without a server -------------------------------------------------------------

SOURCE_SA = {
    "apiVersion": "v1", "kind": "ServiceAccount",
    "metadata": {"name": "deployer", "namespace": "shop", "uid": "u-1",
                 "resourceVersion": "42", "creationTimestamp": "2024-01-01T00:00:00Z",
                 "generation": 1, "managedFields": [{"manager": "kubectl"}],
                 "labels": {"app": "shop"}, "finalizers": ["x/y"],
                 "annotations": {"note": "keep", FINGERPRINT: "old"},
                 "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                                      "uid": "a-uid"},
                                     {"apiVersion": "example.com/v1", "kind": "Widget",
                                      "name": "w", "uid": "w-uid"}]},
    "secrets": [{"name": "deployer-token-abcde"}],
    "imagePullSecrets": [{"name": "registry"}],
    "status": {"whatever": True},
}


def test_strip_drops_what_the_source_cluster_generated():
    assert strip(BY_NAME["ServiceAccount"], SOURCE_SA, "v1", {("ConfigMap", "owner"): "b-uid"}
                 ) == {
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "deployer", "namespace": "shop", "labels": {"app": "shop"},
                     "annotations": {"note": "keep"},
                     "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap",
                                          "name": "owner", "uid": "b-uid"}]},
        "imagePullSecrets": [{"name": "registry"}]}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "shop", "labels": {"kubernetes.io/metadata.name": "shop", "team": "a"}},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
    assert strip(BY_NAME["Namespace"], namespace) == {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "shop", "labels": {"team": "a"}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {
        "clusterIP": "10.96.0.7", "clusterIPs": ["10.96.0.7"], "ports": [{"port": 80}]}}
    assert strip(BY_NAME["Service"], service)["spec"] == {"ports": [{"port": 80}]}


@pytest.mark.parametrize("kind, obj, reason", [
    ("Secret", {"metadata": {"name": "t"}, "type": "kubernetes.io/service-account-token"},
     "service-account token (made by the cluster for its ServiceAccount)"),
    ("ConfigMap", {"metadata": {"name": "kube-root-ca.crt"}},
     "root CA bundle (published by the cluster in every namespace)"),
    ("ServiceAccount", {"metadata": {"name": "default"}, "secrets": [{"name": "x"}]},
     "default ServiceAccount (made by the cluster in every namespace)"),
    ("ServiceAccount", {"metadata": {"name": "default"}, "imagePullSecrets": [{"name": "r"}]},
     None),
    ("Secret", {"metadata": {"name": "s", "deletionTimestamp": "t"}, "type": "Opaque"},
     "being deleted in the source cluster"),
    ("Secret", {"metadata": {"name": "s"}, "type": "Opaque"}, None),
])
def test_what_the_cluster_makes_itself_is_skipped(kind, obj, reason):
    assert skip_reason(BY_NAME[kind], obj) == reason


def test_diff_paths_names_fields_never_values():
    old = {"data": {"a": "1", "b": "2"}, "metadata": {"labels": {"x": "y"}}, "list": [1, 2]}
    new = {"data": {"a": "9", "c": "3"}, "metadata": {"labels": {"x": "y"}}, "list": [1, 3]}
    assert diff_paths(old, new) == ["data.a", "data.b", "data.c", "list[1]"]
    assert diff_paths({"l": [1]}, {"l": [1, 2]}) == ["l"]


def test_kinds_for():
    assert [k.name for k in kinds_for()] == [
        "ServiceAccount", "Secret", "ConfigMap", "Role", "RoleBinding", "ResourceQuota",
        "LimitRange", "NetworkPolicy"]
    chosen = kinds_for(["Deployment", "ConfigMap"])
    assert [k.name for k in chosen] == ["ConfigMap", "Deployment"]
    assert len(kinds_for(include_workloads=True)) == 16
    with pytest.raises(ValueError) as err:
        kinds_for(["Secrets"])
    assert str(err.value).startswith("kinds: unknown kind(s) Secrets; the migration copies "
                                     "ServiceAccount, Secret, ")


_META = st.fixed_dictionaries({"name": st.text(min_size=1, max_size=5)}, optional={
    "uid": st.text(max_size=4), "resourceVersion": st.text(max_size=4),
    "labels": st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
    "annotations": st.dictionaries(st.sampled_from(["a", FINGERPRINT,
                                                    "deployment.kubernetes.io/revision"]),
                                   st.text(max_size=4), max_size=2),
    "managedFields": st.lists(st.dictionaries(st.text(max_size=3), st.text(max_size=3)),
                              max_size=1),
    "ownerReferences": st.lists(st.fixed_dictionaries({
        "kind": st.sampled_from(["ConfigMap", "Widget"]), "name": st.text(max_size=3),
        "uid": st.text(max_size=3)}), max_size=2)})


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from([k.name for k in KINDS]), metadata=_META,
       extra=st.dictionaries(st.sampled_from(["data", "spec", "status", "rules", "secrets"]),
                             st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                             max_size=3))
def test_hostile_objects_strip_to_what_may_be_copied(kind, metadata, extra):
    obj = dict(extra, apiVersion="v1", kind=kind, metadata=metadata)
    before = copy.deepcopy(obj)
    stripped = strip(BY_NAME[kind], obj)
    assert obj == before  # the source object is not touched
    assert not {"uid", "resourceVersion", "managedFields"} & set(stripped["metadata"])
    assert FINGERPRINT not in (stripped["metadata"].get("annotations") or {})
    assert "status" not in stripped
    assert normalize(stripped, BY_NAME[kind]) == normalize(normalize(stripped, BY_NAME[kind]),
                                                           BY_NAME[kind])


# --- input errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("live, error", [
    ({"namespace": "Shop", "target_cluster": "b"},
     "namespace must be a namespace name (lower-case letters, digits and -, at most 63), got "
     "'Shop'"),
    ({"namespace": "shop", "target_cluster": ""},
     'source_cluster and target_cluster are both "": name two clusters of the pack config '
     '(kube_clusters; empty is the default one)'),
    ({"namespace": "shop", "target_cluster": "c"},
     'unknown Kubernetes cluster "c": pack config key "kube_clusters" names "b" (and "" is the '
     'default one of the flat keys)'),
    ({"namespace": "shop", "target_cluster": "b", "kinds": ["Pod"]},
     "kinds: unknown kind(s) Pod; the migration copies ServiceAccount, Secret, ConfigMap, "
     "Role, RoleBinding, ResourceQuota, LimitRange, NetworkPolicy, Service, Deployment, "
     "StatefulSet, DaemonSet, CronJob, Ingress, HorizontalPodAutoscaler, "
     "PodDisruptionBudget"),
])
def test_bad_input_fails_with_a_report_naming_the_field(live, error, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n"
                          "users: []\n")
    config = {"kubeconfig": str(kubeconfig),
              "kube_clusters": {"b": {"kubeconfig": str(kubeconfig)}}}
    ok, report = ClusterMigrateNamespace(config=config).run(**action_params(META, live))
    validate_output(META, report)
    assert (ok, report["status"], report["error"]) == (False, "failed", error)


# --- two real API servers ---------------------------------------------------------------------

@pytest.fixture
def clusters(stack, stack_b, kube_api_client, kube_b_api_client):
    """The pack config naming both clusters, and cleanup of the namespaces made in B."""
    made = []

    class Clusters:
        config = pack_config(stack.require("kube", "consul"), stack_b.require("kube", "consul"))
        a, b = kube_api_client, kube_b_api_client

        @staticmethod
        def namespace(**seed):
            name = unique()
            made.append(name)
            return name, seed_namespace(kube_api_client, name, **seed)

    yield Clusters
    for name in made:
        for api_client in (kube_api_client, kube_b_api_client):
            try:  # only marks them Terminating: no controller-manager empties them
                client.CoreV1Api(api_client).delete_namespace(name)
            except client.ApiException:
                pass


def migrate(config, namespace, target="b", **params):
    live = dict(namespace=namespace, target_cluster=target, **params)
    ok, report = ClusterMigrateNamespace(config=config).run(**action_params(META, live))
    validate_output(META, report)
    json.dumps(report)
    assert ok == (report["status"] == "succeeded")
    return report


def assert_equal_after_stripping(a, b, namespace):
    source, target = raw_objects(a, namespace), raw_objects(b, namespace)
    for kind, objects in source.items():
        copied = {name: obj for name, obj in objects.items()
                  if skip_reason(BY_NAME[kind], obj) is None}
        assert sorted(target[kind]) == sorted(copied), kind
        for name, obj in copied.items():
            assert comparable(kind, target[kind][name]) == comparable(kind, obj), (kind, name)
    ns_a = client.CoreV1Api(a).read_namespace(namespace).metadata
    ns_b = client.CoreV1Api(b).read_namespace(namespace).metadata
    assert (ns_b.labels, {k: v for k, v in ns_b.annotations.items() if k != FINGERPRINT}) == (
        ns_a.labels, ns_a.annotations)


CREATED = {"Namespace": {}, "ServiceAccount": {"create": ["deployer"]},
           "Secret": {"create": ["db-creds-0", "db-creds-1"], "skipped": [
               {"name": "deployer-token-abcde",
                "reason": "service-account token (made by the cluster for its ServiceAccount)"}]},
           "ConfigMap": {"create": ["app-config-0", "app-config-1"], "skipped": [
               {"name": "kube-root-ca.crt",
                "reason": "root CA bundle (published by the cluster in every namespace)"}]},
           "Role": {"create": ["deployer"]}, "RoleBinding": {"create": ["deployer"]},
           "ResourceQuota": {"create": ["quota"]}, "LimitRange": {"create": ["limits"]},
           "NetworkPolicy": {"create": ["deny-ingress"]}}


def expected_kinds(namespace, action):
    """The report's kinds of CREATED with every create turned into ``action``."""
    kinds = copy.deepcopy(CREATED)
    kinds["Namespace"] = {"create": [namespace]}
    for entry in kinds.values():
        if "create" in entry:
            entry[action] = entry.pop("create")
    return kinds


def counts(**given):
    result = dict.fromkeys(("create", "update", "unchanged", "conflict", "delete", "skipped",
                            "only_in_target", "failed"), 0)
    result.update(given)
    return result


@pytest.mark.integration
def test_a_namespace_is_copied_equal_and_a_second_run_changes_nothing(clusters):
    namespace, _ = clusters.namespace()
    report = migrate(clusters.config, namespace)
    assert report == {"namespace": namespace, "source_cluster": "", "target_cluster": "b",
                      "dry_run": False, "status": "succeeded", "error": None,
                      "counts": counts(create=11, skipped=2),
                      "kinds": expected_kinds(namespace, "create"),
                      "summary": "%s: 11 created, 2 skipped" % namespace}
    assert_equal_after_stripping(clusters.a, clusters.b, namespace)
    # the service-account token and the root CA bundle are not in B
    core_b = client.CoreV1Api(clusters.b)
    assert [s.metadata.name for s in core_b.list_namespaced_secret(namespace).items] == [
        "db-creds-0", "db-creds-1"]
    assert "kube-root-ca.crt" not in [c.metadata.name for c in
                                      core_b.list_namespaced_config_map(namespace).items]
    # B's ServiceAccount does not list A's token Secret
    assert core_b.read_namespaced_service_account("deployer", namespace).secrets is None

    before = resource_versions(clusters.b, namespace)
    again = migrate(clusters.config, namespace)
    assert again["counts"] == counts(unchanged=11, skipped=2)
    assert again["kinds"] == expected_kinds(namespace, "unchanged")
    assert resource_versions(clusters.b, namespace) == before  # nothing was written


@pytest.mark.integration
def test_a_dry_run_after_a_hand_edit_in_b_reports_exactly_that_object(clusters):
    namespace, _ = clusters.namespace()
    migrate(clusters.config, namespace)
    core_a, core_b = client.CoreV1Api(clusters.a), client.CoreV1Api(clusters.b)
    core_b.patch_namespaced_config_map("app-config-1", namespace,
                                       {"data": {"LOG_LEVEL": "debug"}})
    before = resource_versions(clusters.b, namespace)

    plan = migrate(clusters.config, namespace, dry_run=True)
    assert plan["counts"] == counts(unchanged=10, conflict=1, skipped=2)
    assert plan["kinds"]["ConfigMap"] == {
        "unchanged": ["app-config-0"],
        "conflict": [{"name": "app-config-1", "fields": ["data.LOG_LEVEL"],
                      "reason": "changed in the target cluster since the migration wrote it"}],
        "skipped": CREATED["ConfigMap"]["skipped"]}
    assert resource_versions(clusters.b, namespace) == before

    # A changes another object: planned as an update; the real run writes it and keeps B's edit
    core_a.patch_namespaced_config_map("app-config-0", namespace, {"data": {"NEW": "1"}})
    core_a.patch_namespaced_secret("db-creds-0", namespace, {"stringData": {"password": "x"}})
    plan = migrate(clusters.config, namespace, dry_run=True)
    assert plan["kinds"]["ConfigMap"]["update"] == [{"name": "app-config-0",
                                                     "fields": ["data.NEW"]}]
    assert plan["kinds"]["Secret"]["update"] == [{"name": "db-creds-0",
                                                  "fields": ["data.password"]}]
    assert resource_versions(clusters.b, namespace) == before
    done = migrate(clusters.config, namespace)
    assert done["counts"] == counts(update=2, unchanged=8, conflict=1, skipped=2)
    assert core_b.read_namespaced_config_map("app-config-0", namespace).data["NEW"] == "1"
    assert core_b.read_namespaced_config_map("app-config-1", namespace).data["LOG_LEVEL"] == \
        "debug"
    assert "x" not in json.dumps(done["kinds"]["Secret"])  # field names, never values

    # asked to, the migration overwrites the hand edit
    done = migrate(clusters.config, namespace, overwrite_conflicts=True)
    assert done["kinds"]["ConfigMap"]["update"] == [{"name": "app-config-1",
                                                     "fields": ["data.LOG_LEVEL"]}]
    assert_equal_after_stripping(clusters.a, clusters.b, namespace)
    assert migrate(clusters.config, namespace)["counts"] == counts(unchanged=11, skipped=2)


@pytest.mark.integration
def test_nothing_is_deleted_in_b_unless_asked_and_never_what_the_migration_did_not_write(
        clusters):
    namespace, _ = clusters.namespace()
    migrate(clusters.config, namespace)
    core_a, core_b = client.CoreV1Api(clusters.a), client.CoreV1Api(clusters.b)
    core_a.delete_namespaced_secret("db-creds-1", namespace)
    core_b.create_namespaced_config_map(namespace, {"metadata": {"name": "b-only"}})
    report = migrate(clusters.config, namespace)
    assert report["kinds"]["Secret"]["only_in_target"] == ["db-creds-1"]
    assert report["kinds"]["ConfigMap"]["only_in_target"] == ["b-only"]
    plan = migrate(clusters.config, namespace, prune=True, dry_run=True)
    assert plan["kinds"]["Secret"]["delete"] == ["db-creds-1"]
    assert plan["kinds"]["ConfigMap"]["only_in_target"] == ["b-only"]
    core_b.read_namespaced_secret("db-creds-1", namespace)  # still there after the dry run
    pruned = migrate(clusters.config, namespace, prune=True)
    assert pruned["counts"] == counts(unchanged=10, delete=1, only_in_target=1, skipped=2)
    assert [s.metadata.name for s in core_b.list_namespaced_secret(namespace).items] == [
        "db-creds-0"]
    core_b.read_namespaced_config_map("b-only", namespace)
    # an object B has of its own, differing from A's, is a conflict, not overwritten
    core_a.create_namespaced_config_map(namespace, {"metadata": {"name": "b-only"},
                                                    "data": {"from": "a"}})
    report = migrate(clusters.config, namespace)
    assert report["kinds"]["ConfigMap"]["conflict"] == [{
        "name": "b-only", "fields": ["data"],
        "reason": "exists in the target cluster and was not written by the migration"}]
    assert core_b.read_namespaced_config_map("b-only", namespace).data is None


@pytest.mark.integration
def test_two_runs_at_once_converge(clusters):
    namespace, _ = clusters.namespace(config_maps=15, secrets=15)
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(
        migrate(clusters.config, namespace))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [r["status"] for r in reports] == ["succeeded", "succeeded"], reports
    assert_equal_after_stripping(clusters.a, clusters.b, namespace)
    assert migrate(clusters.config, namespace)["counts"] == counts(unchanged=37, skipped=2)


# --- B's API server stopped midway ------------------------------------------------------------

@pytest.fixture
def private_b(tmp_path_factory, stack):
    """A kube stack of this test's own (B), so that stopping it disturbs no other test."""
    from tests.stack_plugin import private_kube_env, run_stack_script

    env = private_kube_env(str(tmp_path_factory.mktemp("private-b")))
    proc = run_stack_script("up", "kube", env=env)
    if proc.returncode != 0:
        run_stack_script("down", "kube", env=env)
        pytest.fail("private kube stack: " + proc.stderr, pytrace=False)
    with open(env["STACK_DIR"] + "/stack.json") as handle:
        kube = json.load(handle)["kube"]
    api_client = kube_config.new_client_from_config(config_file=kube["kubeconfig"])
    yield {"env": env, "kube": kube, "api_client": api_client}
    api_client.close()
    run_stack_script("down", "kube", env=env)


@pytest.mark.integration
def test_b_stopped_midway_then_a_rerun_converges(clusters, private_b, monkeypatch):
    from tests.stack_plugin import run_stack_script

    config = dict(clusters.config, kube_clusters={"b2": {"kubeconfig": private_b["kube"][
        "kubeconfig"]}})
    namespace, _ = clusters.namespace(config_maps=20)
    real_create, writes, one_at_a_time = lib_migrate.Rest.create, [], threading.Lock()

    def create_then_stop(self, kind, ns, body, dry_run=False):
        with one_at_a_time:  # the workers' creates in turn, so that the 8th is the last
            made = real_create(self, kind, ns, body, dry_run=dry_run)
            if not dry_run and self.label.startswith('cluster "b2"'):
                writes.append(body["metadata"]["name"])
                if len(writes) == 8:  # B's API server goes away after the 8th object
                    proc = run_stack_script("down", "kube", env=private_b["env"])
                    assert proc.returncode == 0, proc.stderr
            return made

    monkeypatch.setattr(lib_migrate.Rest, "create", create_then_stop)
    report = migrate(config, namespace, target="b2", request_timeout=5)
    assert report["status"] == "failed"
    assert report["error"].startswith('cannot reach cluster "b2" (%s)'
                                      % private_b["kube"]["server"])
    assert report["counts"]["create"] == 8
    monkeypatch.setattr(lib_migrate.Rest, "create", real_create)

    proc = run_stack_script("up", "kube", env=private_b["env"])
    assert proc.returncode == 0, proc.stderr
    again = migrate(config, namespace, target="b2")
    assert again["status"] == "succeeded", again
    assert again["counts"] == counts(create=29 - 8, unchanged=8, skipped=2)
    assert_equal_after_stripping(clusters.a, private_b["api_client"], namespace)
    assert migrate(config, namespace, target="b2")["counts"] == counts(unchanged=29, skipped=2)


# --- issue 18: conflicts fail the execution; prune as the docs say ---------------------------

@pytest.mark.integration
def test_conflicts_fail_the_execution_unless_accepted_and_the_summary_says_it(clusters):
    namespace, _ = clusters.namespace()
    migrate(clusters.config, namespace)
    client.CoreV1Api(clusters.b).patch_namespaced_config_map(
        "app-config-1", namespace, {"data": {"LOG_LEVEL": "debug"}})
    live = dict(namespace=namespace, target_cluster="b")
    ok, report = ClusterMigrateNamespace(config=clusters.config).run(**action_params(META, live))
    validate_output(META, report)
    assert (ok, report["status"], report["counts"]["conflict"]) == (False, "conflict", 1)
    assert report["summary"] == (
        "%s: 10 unchanged, 1 conflict (not overwritten: ConfigMap app-config-1), 2 skipped; "
        "failed on conflicts: the target keeps objects that differ from the source "
        "(overwrite_conflicts=true takes the source's version, accept_conflicts=true leaves "
        "them)" % namespace)
    # a dry run is the plan: its conflicts do not fail it (as aws.consul_sync)
    ok, plan = ClusterMigrateNamespace(config=clusters.config).run(
        **action_params(META, dict(live, dry_run=True)))
    assert (ok, plan["status"]) == (True, "succeeded")
    assert plan["summary"] == ("%s (dry run): 10 unchanged, 1 conflict (would not be "
                               "overwritten: ConfigMap app-config-1), 2 skipped" % namespace)
    # asked to, the caller leaves them
    ok, accepted = ClusterMigrateNamespace(config=clusters.config).run(
        **action_params(META, dict(live, accept_conflicts=True)))
    validate_output(META, accepted)
    assert (ok, accepted["status"], accepted["counts"]["conflict"]) == (True, "succeeded", 1)
    assert accepted["summary"] == ("%s: 10 unchanged, 1 conflict (accepted, not overwritten: "
                                   "ConfigMap app-config-1), 2 skipped" % namespace)
    assert client.CoreV1Api(clusters.b).read_namespaced_config_map(
        "app-config-1", namespace).data["LOG_LEVEL"] == "debug"
    first = migrate(clusters.config, namespace, overwrite_conflicts=True)
    assert first["summary"] == "%s: 1 updated, 10 unchanged, 2 skipped" % namespace


def _docs_section(title_start, item_start, next_item):
    import os
    import re

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                        "kubernetes.md")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    section = text[text.index(title_start):]
    body = section[section.index(item_start):section.index(next_item)]
    return re.sub(r"\s+", " ", body).strip()


@pytest.mark.integration
def test_prune_deletes_only_what_the_migration_wrote_as_the_docs_say(clusters):
    namespace, _ = clusters.namespace(config_maps=3)
    migrate(clusters.config, namespace)
    core_a, core_b = client.CoreV1Api(clusters.a), client.CoreV1Api(clusters.b)
    # gone from A: one the migration wrote and nobody changed, one changed by hand in B since
    core_a.delete_namespaced_config_map("app-config-1", namespace)
    core_a.delete_namespaced_config_map("app-config-2", namespace)
    core_b.patch_namespaced_config_map("app-config-2", namespace, {"data": {"HAND": "1"}})
    # and one B has of its own
    core_b.create_namespaced_config_map(namespace, {"metadata": {"name": "b-only"}})

    kept = migrate(clusters.config, namespace)
    assert kept["kinds"]["ConfigMap"]["only_in_target"] == [
        "app-config-1", "app-config-2", "b-only"]
    pruned = migrate(clusters.config, namespace, prune=True)
    assert pruned["kinds"]["ConfigMap"]["delete"] == ["app-config-1"]
    assert pruned["kinds"]["ConfigMap"]["only_in_target"] == ["b-only"]
    assert pruned["kinds"]["ConfigMap"]["conflict"] == [{
        "name": "app-config-2", "fields": [], "reason": (
            "gone from the source cluster, but changed in the target cluster since the "
            "migration wrote it: not deleted")}]
    forced = migrate(clusters.config, namespace, prune=True, overwrite_conflicts=True)
    assert forced["kinds"]["ConfigMap"]["delete"] == ["app-config-2"]
    assert forced["kinds"]["ConfigMap"]["only_in_target"] == ["b-only"]  # never deleted
    assert sorted(c.metadata.name for c in core_b.list_namespaced_config_map(
        namespace).items) == ["app-config-0", "b-only"]

    # docs/kubernetes.md and the parameters say exactly that
    assert _docs_section("## aws.cluster_migrate\n", "4. **Only in the target**", "\n5. ") == (
        "4. **Only in the target**: `only_in_target`, kept. With `prune=true` an object the "
        "migration wrote (it has the annotation) is deleted if nobody changed it since "
        "(fingerprint, uid and resourceVersion preconditions); one changed by hand since is a "
        "`conflict`, kept (deleted with `overwrite_conflicts=true`). An object without the "
        "annotation (not written by the migration) stays `only_in_target` and is never "
        "deleted, whatever the parameters.")
    params = META["parameters"]
    assert params["prune"]["description"] == (
        "Delete from the target what the migration wrote there and the source no longer has, "
        "unless changed by hand since (a conflict); never objects the migration did not write.")
    assert params["overwrite_conflicts"]["description"] == (
        "Overwrite objects changed by hand in the target, or not written by the migration, "
        "instead of reporting them as conflicts; with prune, also delete those the migration "
        "wrote and that were changed by hand since.")
    workflow = load_action("cluster_migrate")["parameters"]
    for name in ("prune", "overwrite_conflicts", "accept_conflicts"):
        assert workflow[name]["description"] == params[name]["description"], name


# --- issue 6: where the time goes -------------------------------------------------------------

def _raw(api_client, method, path, body=None):
    """A JSON request through ``api_client`` (for kinds the client's models no longer have)."""
    response = api_client.call_api(
        path, method, header_params={"Accept": "application/json",
                                     "Content-Type": "application/json"},
        body=body, auth_settings=["BearerToken"], _preload_content=False)
    return json.loads(response.data)


class Requests:
    """Every request the migration's ``Rest`` sends, as (cluster label, method, path, dry run),
    from the worker threads too."""

    def __init__(self, monkeypatch):
        self.sent, self._lock = [], threading.Lock()
        real = lib_migrate.Rest.request

        def request(rest, method, path, query=None, body=None):
            with self._lock:
                self.sent.append((rest.label.split(" ")[1], method, path,
                                  "dryRun" in (query or {})))
            return real(rest, method, path, query=query, body=body)

        monkeypatch.setattr(lib_migrate.Rest, "request", request)

    def take(self):
        with self._lock:
            sent, self.sent = self.sent, []
        return sent


@pytest.mark.integration
def test_each_object_costs_a_dry_run_and_a_write_and_nothing_is_asked_twice(clusters,
                                                                            monkeypatch):
    namespace, _ = clusters.namespace(config_maps=6, secrets=3)
    cron_jobs = "/apis/batch/v1beta1/namespaces/%s/cronjobs" % namespace  # 1.20: not batch/v1
    _raw(clusters.a, "POST", cron_jobs, {
        "metadata": {"name": "nightly"}, "spec": {"schedule": "0 3 * * *", "jobTemplate": {
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "job", "image": "busybox"}]}}}}}})
    requests = Requests(monkeypatch)
    kinds = ["ConfigMap", "Secret", "CronJob", "PodDisruptionBudget"]
    report = migrate(clusters.config, namespace, kinds=kinds)
    assert report["counts"] == counts(create=1 + 6 + 3 + 1, skipped=2), report["summary"]
    sent = requests.take()
    # the target: each object tried (server-side dry run), then written; once each
    writes = [(path.rsplit("/", 1)[-1], dry) for cluster, method, path, dry in sent
              if method == "POST"]
    assert {cluster for cluster, method, _, _ in sent if method != "GET"} == {'"b"'}
    assert sorted(writes) == sorted([(plural, dry) for plural, n in (
        ("namespaces", 1), ("configmaps", 6), ("secrets", 3), ("cronjobs", 1))
        for dry in (True, False) for _ in range(n)])
    # no request asked twice: the lists are the discovery (a kind's versions tried in turn:
    # batch/v1 and policy/v1 are 404s on 1.20, their v1beta1 answers)
    reads = [(cluster, path) for cluster, method, path, _ in sent if method == "GET"]
    assert len(reads) == len(set(reads)), sorted(reads)
    assert not [path for _, path in reads if path in ("/api/v1", "/apis/batch/v1beta1")]
    assert _raw(clusters.b, "GET", cron_jobs + "/nightly")["spec"]["schedule"] == "0 3 * * *"

    again = migrate(clusters.config, namespace, kinds=kinds)
    assert again["counts"] == counts(unchanged=11, skipped=2)
    sent = requests.take()
    assert {method for _, method, _, _ in sent} == {"GET"}
    reads = [(cluster, path) for cluster, _, path, _ in sent]
    assert len(reads) == len(set(reads)), sorted(reads)
