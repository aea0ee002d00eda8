"""End to end, on the real local servers: a Database applied with the Kubernetes client, the
real sensor's trigger, the rules' criteria, and the rule's workflow run by lib/chain.py through
the pack's actions against moto (AWS), OpenBao (Vault), Consul and the Kubernetes API server.

Every run's task path is asserted against tests/fixtures/workflows/paths.yaml, which
tests/test_workflows_static.py walks through the workflow YAML.
"""

import json
import logging
import threading
import time
import uuid

import boto3
import hvac
import pytest

from lib.chain import MASK, run_workflow
from lib.database.rds_params import db_instance_identifier
from tests.database_world import (Databases, assert_ready, delete_instances_of, instances_of,
                                  pack_config, tags_of)
from tests.fixtures.database.support import all_steps, changing_calls, ensure_database_crd
from tests.st2_rules_engine import matching_rules, render_action_parameters, rules
from tests.workflow_paths import assert_run_follows

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "dbaas.stackstorm.com", "v1alpha1", "databases"
FINALIZER = "dbaas.stackstorm.com/rds-protection"
CLOSED_URL = "http://127.0.0.1:9"  # the discard port: nothing listens there


# -- fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def crd(kube_api_client):
    """The Database CRD from k8s/crds/database.yaml, installed once (other tests may have)."""
    ensure_database_crd(kube_api_client)


@pytest.fixture
def config(stack, vault_path, consul_prefix):
    """The pack config pointing at the local servers; each namespace's Vault paths and Consul
    keys under this test's prefixes (cleaned up after the test)."""
    return pack_config(stack.require("kube", "vault", "consul", "aws"), vault_path,
                       consul_prefix)


@pytest.fixture
def rds(config):
    return boto3.client("rds", endpoint_url=config["endpoint_url"], region_name=config["region"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def secretsmanager(config):
    return boto3.client("secretsmanager", endpoint_url=config["endpoint_url"],
                        region_name=config["region"], aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture
def databases(crd, kube_api_client, kube_namespace, vault_path, consul_prefix, rds):
    dbs = Databases(kube_api_client, kube_namespace, vault_path, consul_prefix)
    yield dbs
    # Leave nothing behind in moto: instances of this namespace's resources.
    delete_instances_of(rds, kube_namespace)


class SensorFeed:
    """The real CustomResourceSensor watching one namespace, in a thread."""

    def __init__(self, config, namespace, service=None):
        # pylint: disable=import-outside-toplevel
        from custom_resource_sensor import CustomResourceSensor
        from tests.sensor_service import SensorService

        self.service = service or SensorService()
        sensor_config = dict(config, watch_resources=[
            {"group": GROUP, "version": VERSION, "plural": PLURAL, "namespace": namespace}],
            watch_timeout_seconds=60, watch_read_timeout_seconds=30)
        self.sensor = CustomResourceSensor(sensor_service=self.service, config=sensor_config)
        self.sensor.setup()
        self.thread = threading.Thread(target=self.sensor.run, daemon=True)
        self.thread.start()
        self.seen = 0

    def items(self):
        return [(d["trigger"], d["payload"]) for d in list(self.service.dispatched_triggers)]

    def wait(self, predicate, timeout=20):
        """The first trigger after the last one waited for that satisfies ``predicate``."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            items = self.items()
            for index in range(self.seen, len(items)):
                if predicate(*items[index]):
                    skipped = items[self.seen:index]
                    self.seen = index + 1
                    return items[index], skipped
            time.sleep(0.05)
        raise AssertionError("no matching trigger within %ss; got %s" % (
            timeout, [(t, p["event"], p["name"], p["generation"]) for t, p in self.items()]))

    def stop(self):
        self.sensor.cleanup()
        self.thread.join(10)


@pytest.fixture
def feed(config, kube_namespace):
    feeds = []

    def start(service=None):
        started = SensorFeed(config, kube_namespace, service)
        feeds.append(started)
        return started

    yield start
    for started in feeds:
        started.stop()


def fire(trigger, payload, config, expected_rule, **knobs):
    """Route a trigger through the rules and run the one rule that must match."""
    assert matching_rules(trigger, payload) == [expected_rule]
    rule = rules()[expected_rule]
    params = render_action_parameters(rule, payload)
    return run_workflow(rule["action"]["ref"].split(".", 1)[1], params["resource"], config,
                        poll_delay=0, **knobs)


def added(name):
    return lambda trigger, payload: trigger.endswith("_added") and payload["name"] == name


def no_aws_calls(run):
    return not [s for s in all_steps(run)
                if s["action"] in ("aws.assume_role", "aws.boto3action",
                                   "aws.database_store_credentials")]


# -- the tests -----------------------------------------------------------------------------------
def test_apply_change_and_delete_with_snapshot(databases, feed, config, rds, secretsmanager,
                                               vault_client, consul_client):
    sensor = feed()
    databases.apply("orders-db")
    (trigger, payload), _ = sensor.wait(added("orders-db"))
    run = fire(trigger, payload, config, "database_create")
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "created")
    instance, _ = assert_ready(databases, "orders-db", run, 1, vault_client, consul_client, rds,
                               secretsmanager, config)
    assert instance["DBInstanceClass"] == "db.t3.small"
    assert run["output"]["adoption"] == "created"

    # The pack's own finalizer and status patches start nothing.
    databases.patch_spec("orders-db", instanceSize="medium")
    (trigger, payload), skipped = sensor.wait(lambda t, p: p["generation"] == 2)
    assert skipped, "the finalizer and status patches were not seen by the sensor"
    for skipped_trigger, skipped_payload in skipped:
        assert skipped_payload["spec_changed"] is False
        assert matching_rules(skipped_trigger, skipped_payload) == []

    run = fire(trigger, payload, config, "database_update")
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "modified")
    assert run["output"]["modified"] == {"DBInstanceIdentifier": instance["DBInstanceIdentifier"],
                                         "DBInstanceClass": "db.t3.medium",
                                         "ApplyImmediately": True}
    instance, _ = assert_ready(databases, "orders-db", run, 2, vault_client, consul_client, rds,
                               secretsmanager, config)
    assert instance["DBInstanceClass"] == "db.t3.medium"

    databases.delete("orders-db")
    (trigger, payload), skipped = sensor.wait(lambda t, p: p["deletion_requested"])
    for skipped_trigger, skipped_payload in skipped:
        assert matching_rules(skipped_trigger, skipped_payload) == []
    run = fire(trigger, payload, config, "database_delete")
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "snapshot")
    ident = instance["DBInstanceIdentifier"]
    assert instances_of(rds, ident) == []
    snapshot = run["output"]["final_snapshot_identifier"]
    (snap,) = rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"]
    assert snap["DBInstanceIdentifier"] == ident
    assert run["output"]["cleanup"] == {"vault": "deleted", "consul": "deleted"}
    spec = databases.spec("orders-db")
    with pytest.raises(hvac.exceptions.InvalidPath):
        vault_client.secrets.kv.v2.read_secret_metadata(path=spec["vault"]["path"],
                                                        mount_point="secret")
    assert consul_client.kv.get(spec["consul"]["key"])[1] is None
    assert databases.get("orders-db") is None
    (trigger, payload), _ = sensor.wait(lambda t, p: p["event"] == "DELETED")
    assert matching_rules(trigger, payload) == []


@pytest.mark.parametrize("policy, scenario, instance_left", [
    ("Delete", "delete", False),
    ("Retain", "retain", True),
])
def test_delete_by_policy(policy, scenario, instance_left, databases, feed, config, rds,
                          vault_client, consul_client):
    sensor = feed()
    databases.apply("billing-db", deletionPolicy=policy)
    (trigger, payload), _ = sensor.wait(added("billing-db"))
    created = fire(trigger, payload, config, "database_create")
    assert created["status"] == "succeeded", created["output"]
    ident = created["output"]["db_instance_identifier"]

    databases.delete("billing-db")
    (trigger, payload), _ = sensor.wait(lambda t, p: p["deletion_requested"])
    run = fire(trigger, payload, config, "database_delete")
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, scenario)
    assert len(instances_of(rds, ident)) == (1 if instance_left else 0)
    # No final (manual) snapshot: Delete skips it, Retain does not delete at all.
    assert rds.describe_db_snapshots(DBInstanceIdentifier=ident,
                                     SnapshotType="manual")["DBSnapshots"] == []
    assert run["output"]["final_snapshot_identifier"] is None
    assert run["output"]["instance"] == ("retained" if instance_left else "deleted")
    spec = databases.spec("billing-db")
    with pytest.raises(hvac.exceptions.InvalidPath):
        vault_client.secrets.kv.v2.read_secret_metadata(path=spec["vault"]["path"],
                                                        mount_point="secret")
    assert consul_client.kv.get(spec["consul"]["key"])[1] is None
    assert databases.get("billing-db") is None


def test_same_trigger_three_times_sequentially_concurrently_and_after_a_sensor_restart(
        databases, feed, config, rds):
    sensor = feed()
    databases.apply("seq-db")
    databases.apply("par-db")
    (seq_trigger, seq_payload), _ = sensor.wait(added("seq-db"))
    sensor.seen = 0
    (par_trigger, par_payload), _ = sensor.wait(added("par-db"))

    runs = [fire(seq_trigger, seq_payload, config, "database_create") for _ in range(3)]
    assert [r["status"] for r in runs] == ["succeeded"] * 3
    assert_run_follows(runs[0], "created")
    assert_run_follows(runs[1], "adopted")
    assert_run_follows(runs[2], "adopted")
    assert len(instances_of(rds, runs[0]["output"]["db_instance_identifier"])) == 1

    results = [None] * 3

    def deliver(index):
        results[index] = fire(par_trigger, par_payload, config, "database_create")

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [r["status"] for r in results] == ["succeeded"] * 3, [r["output"] for r in results]
    assert sorted(r["output"]["adoption"] for r in results).count("created") == 1
    for result in results:
        scenario = {"created": "created"}.get(result["output"]["adoption"])
        if scenario is None:
            tasks = [s["task"] for s in result["steps"]]
            scenario = "race_adopted" if "find_instance_again" in tasks else "adopted"
        assert_run_follows(result, scenario)
    assert len(instances_of(rds, results[0]["output"]["db_instance_identifier"])) == 1
    assert databases.get("par-db")["status"]["phase"] == "Ready"

    # A restarted sensor with no saved state replays ADDED: the create run adopts.
    sensor.stop()
    restarted = feed()
    (trigger, payload), _ = restarted.wait(added("seq-db"))
    run = fire(trigger, payload, config, "database_create")
    assert run["status"] == "succeeded"
    assert_run_follows(run, "adopted")
    assert len(instances_of(rds, run["output"]["db_instance_identifier"])) == 1


def test_invalid_spec_fails_without_an_aws_call_then_the_fix_provisions(
        databases, feed, config, rds):
    sensor = feed()
    # Passes the CRD's schema, not the pack's checks.
    databases.apply("bad-db", engineVersion="9.6", databaseName="template1")
    (trigger, payload), _ = sensor.wait(added("bad-db"))
    # Without AWS credentials or a reachable endpoint any AWS call would fail differently.
    offline = dict(config, endpoint_url=CLOSED_URL, aws_access_key_id="",
                   aws_secret_access_key="")
    run = fire(trigger, payload, offline, "database_create")
    assert run["status"] == "failed"
    assert_run_follows(run, "invalid")
    assert no_aws_calls(run)
    status = databases.get("bad-db")["status"]
    assert status["phase"] == "Failed"
    assert status["observedGeneration"] == 1
    assert status["message"].startswith("invalid spec: spec.engineVersion: ")
    assert "; spec.databaseName: " in status["message"]
    assert status["message"].endswith("(fix the spec and apply it again)")
    assert run["output"]["error"] == status["message"][:-len(" (fix the spec and apply it again)")]
    assert databases.get("bad-db")["metadata"].get("finalizers") is None
    ident = db_instance_identifier(databases.namespace, "bad-db")
    assert instances_of(rds, ident) == []

    # Fixing the spec is a spec change: the update workflow finds no instance and provisions.
    databases.patch_spec("bad-db", engineVersion="15.4", databaseName="orders")
    (trigger, payload), _ = sensor.wait(lambda t, p: p["generation"] == 2)
    run = fire(trigger, payload, config, "database_update")
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "provisioned")
    (provision,) = [s for s in run["steps"] if s["task"] == "provision"]
    assert [s["task"] for s in provision["steps"]][-1] == "set_ready"
    assert databases.get("bad-db")["status"]["phase"] == "Ready"
    assert databases.get("bad-db")["status"]["observedGeneration"] == 2
    assert len(instances_of(rds, ident)) == 1


@pytest.mark.parametrize("down, says", [
    ("vault", "lib.stores.vault.VaultError: Vault at %s (pack config vault_url) is unreachable "
              "while reading metadata of secret/" % CLOSED_URL),
    ("consul", "lib.stores.consul_kv.ConsulError: Consul at http://127.0.0.1:9 (pack config "
               "consul_host/consul_port) is unreachable while reading "),
])
def test_vault_or_consul_down_fails_before_anything_changes_and_a_later_run_completes(
        down, says, databases, feed, config, rds, secretsmanager, vault_client,
        consul_client):
    sensor = feed()
    databases.apply("flaky-db")
    (trigger, payload), _ = sensor.wait(added("flaky-db"))
    broken = dict(config)  # Vault or Consul unreachable
    if down == "vault":
        broken["vault_url"] = CLOSED_URL
    else:
        broken["consul_port"] = 9
    run = fire(trigger, payload, broken, "database_create")
    assert run["status"] == "failed"
    assert_run_follows(run, "locations_unreadable")
    assert changing_calls(run) == []
    status = databases.get("flaky-db")["status"]
    assert status["phase"] == "Failed"
    assert status["message"].startswith("checking the Vault and Consul locations failed "
                                        "(nothing was changed): " + says)
    assert status["message"] == run["output"]["error"]
    assert [c["status"] for c in status["conditions"] if c["type"] == "Ready"] == ["False"]
    assert instances_of(rds, db_instance_identifier(databases.namespace, "flaky-db")) == []

    again = fire(trigger, payload, config, "database_create")
    assert again["status"] == "succeeded", again["output"]
    assert_run_follows(again, "created")
    assert_ready(databases, "flaky-db", again, 1, vault_client, consul_client, rds,
                 secretsmanager, config)
    assert len(instances_of(rds, again["output"]["db_instance_identifier"])) == 1


@pytest.mark.parametrize("where, scenario, says", [
    ("vault", "vault_refused", "storing the credentials in Vault failed (the instance is kept "
                               "and is adopted on the next run): "),
    ("consul", "consul_refused", "publishing the config to Consul failed (the instance is kept "
                                 "and is adopted on the next run): "),
])
def test_a_location_taken_after_the_check_fails_clearly_and_a_later_run_completes(
        where, scenario, says, databases, feed, config, rds, secretsmanager, vault_client,
        consul_client):
    """Someone writes the Vault secret or Consul key between check_locations and the write
    (outside the pack): the write refuses to overwrite it, the instance is kept."""
    sensor = feed()
    databases.apply("raced-db")
    (trigger, payload), _ = sensor.wait(added("raced-db"))
    spec = databases.spec("raced-db")

    def intruder(task, ref, params, call):
        if task == "wait_available":
            if where == "vault":
                vault_client.secrets.kv.v2.create_or_update_secret(
                    path=spec["vault"]["path"], secret={"password": "not-ours"},
                    mount_point="secret")
            else:
                consul_client.kv.put(spec["consul"]["key"], "hand-written")
        return call()

    run = fire(trigger, payload, config, "database_create", call_hook=intruder)
    assert run["status"] == "failed"
    assert_run_follows(run, scenario)
    status = databases.get("raced-db")["status"]
    assert status["phase"] == "Failed"
    assert status["message"].startswith(says)
    assert "belongs to no Database" in status["message"]
    if where == "vault":
        vault_client.secrets.kv.v2.delete_metadata_and_all_versions(
            path=spec["vault"]["path"], mount_point="secret")
    else:
        consul_client.kv.delete(spec["consul"]["key"])

    again = fire(trigger, payload, config, "database_create")
    assert again["status"] == "succeeded", again["output"]
    assert_run_follows(again, "adopted")
    assert_ready(databases, "raced-db", again, 1, vault_client, consul_client, rds,
                 secretsmanager, config)
    assert len(instances_of(rds, again["output"]["db_instance_identifier"])) == 1


def test_existing_instance_of_another_owner_is_a_conflict(databases, feed, config, rds):
    ident = db_instance_identifier(databases.namespace, "taken-db")
    other = str(uuid.uuid4())
    rds.create_db_instance(DBInstanceIdentifier=ident, Engine="postgres",
                           DBInstanceClass="db.t3.small", AllocatedStorage=20,
                           MasterUsername="someone", MasterUserPassword="not-ours-123",
                           Tags=[{"Key": "st2-aws/uid", "Value": other},
                                 {"Key": "st2-aws/namespace", "Value": databases.namespace}])
    sensor = feed()
    databases.apply("taken-db")
    (trigger, payload), _ = sensor.wait(added("taken-db"))
    run = fire(trigger, payload, config, "database_create")
    assert run["status"] == "failed"
    assert_run_follows(run, "conflict")
    status = databases.get("taken-db")["status"]
    assert status["phase"] == "Failed"
    assert other in status["message"]
    assert status["message"].endswith(": rename the Database or remove that instance")
    (instance,) = instances_of(rds, ident)
    assert tags_of(instance)["st2-aws/uid"] == other
    assert instance["MasterUsername"] == "someone"
    assert [s["task"] for s in run["steps"]].count("create_instance") == 0


def test_readiness_poll_waits_through_creating(databases, feed, config, rds, secretsmanager,
                                               vault_client, consul_client):
    """moto's RDS is available at once and has no state-manager transitions, so a call hook
    makes the first two answers of the poll say "creating"."""
    answers = []

    def creating_twice(task, ref, params, call):
        ok, raw = call()
        if task == "wait_available":
            answers.append(raw["result"]["DBInstances"][0]["DBInstanceStatus"])
            if len(answers) <= 2:
                raw["result"]["DBInstances"][0]["DBInstanceStatus"] = "creating"
        return ok, raw

    sensor = feed()
    databases.apply("slow-db")
    (trigger, payload), _ = sensor.wait(added("slow-db"))
    sleeps = []
    run = fire(trigger, payload, config, "database_create", call_hook=creating_twice,
               sleep=sleeps.append)
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "created")
    polls = [s for s in run["steps"] if s["task"] == "wait_available"]
    assert [s["attempt"] for s in polls] == [1, 2, 3]
    assert [s["result"]["result"]["DBInstances"][0]["DBInstanceStatus"] for s in polls] == [
        "creating", "creating", "available"]
    assert sleeps == [0, 0]
    assert_ready(databases, "slow-db", run, 1, vault_client, consul_client, rds,
                 secretsmanager, config)


def test_readiness_poll_is_bounded(databases, feed, config):
    def always_creating(task, ref, params, call):
        ok, raw = call()
        if task == "wait_available":
            raw["result"]["DBInstances"][0]["DBInstanceStatus"] = "creating"
        return ok, raw

    sensor = feed()
    databases.apply("stuck-db")
    (trigger, payload), _ = sensor.wait(added("stuck-db"))
    run = fire(trigger, payload, config, "database_create", call_hook=always_creating,
               poll_count=3)
    assert run["status"] == "failed"
    assert [s["attempt"] for s in run["steps"] if s["task"] == "wait_available"] == [1, 2, 3, 4]
    assert [s["task"] for s in run["steps"]][-2:] == ["wait_available", "report_failure"]
    status = databases.get("stuck-db")["status"]
    assert status["phase"] == "Failed"
    assert status["message"] == (
        'RDS instance %s is still "creating" after 30 minutes; check it in the RDS console, '
        "then apply the resource again" % run["output"]["db_instance_identifier"])


def test_delete_with_vault_down_keeps_the_finalizer_until_a_later_run(
        databases, feed, config, rds, consul_client):
    sensor = feed()
    databases.apply("keep-db", deletionPolicy="Delete")
    (trigger, payload), _ = sensor.wait(added("keep-db"))
    assert fire(trigger, payload, config, "database_create")["status"] == "succeeded"
    databases.delete("keep-db")
    (trigger, payload), _ = sensor.wait(lambda t, p: p["deletion_requested"])
    run = fire(trigger, payload, dict(config, vault_url=CLOSED_URL), "database_delete")
    assert run["status"] == "failed"
    assert_run_follows(run, "cleanup_failed")
    obj = databases.get("keep-db")
    assert obj["metadata"]["finalizers"] == [FINALIZER]
    assert obj["status"]["phase"] == "Failed"
    assert obj["status"]["message"].startswith(
        "removing the Vault secret and Consul key failed (the finalizer is kept): ")

    again = fire(trigger, payload, config, "database_delete")
    assert again["status"] == "succeeded", again["output"]
    assert_run_follows(again, "absent")
    assert databases.get("keep-db") is None
    assert consul_client.kv.get(databases.spec("keep-db")["consul"]["key"])[1] is None


def test_reconcile_reports_the_database_in_sync(databases, feed, config):
    sensor = feed()
    databases.apply("sync-db")
    (trigger, payload), _ = sensor.wait(added("sync-db"))
    assert fire(trigger, payload, config, "database_create")["status"] == "succeeded"
    run = run_workflow("reconcile_databases", None, config)
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "report")
    mine = [item for item in run["output"]["in_sync"]
            if item["namespace"] == databases.namespace]
    assert [item["name"] for item in mine] == ["sync-db"]
    for key in ("drift", "missing"):
        assert [i for i in run["output"][key] if i["namespace"] == databases.namespace] == []


def test_the_master_password_appears_nowhere(databases, feed, config, rds, secretsmanager,
                                             vault_client, consul_client, caplog):
    caplog.set_level(logging.DEBUG)
    sensor = feed()
    databases.apply("secret-db")
    (trigger, payload), _ = sensor.wait(added("secret-db"))
    seen = []
    run = fire(trigger, payload, config, "database_create", on_step=seen.append)
    assert run["status"] == "succeeded", run["output"]
    _, password = assert_ready(databases, "secret-db", run, 1, vault_client, consul_client, rds,
                               secretsmanager, config)
    assert len(password) >= 8
    databases.patch_spec("secret-db", storageGB=30)
    (trigger, payload), _ = sensor.wait(lambda t, p: p["generation"] == 2)
    update = fire(trigger, payload, config, "database_update", on_step=seen.append)
    assert update["status"] == "succeeded"

    # Credentials passed between steps are masked as st2 masks secret parameters/results.
    assume = [s for s in run["steps"] if s["task"] == "assume_role"][0]
    assert assume["result"]["result"]["credentials"] == MASK
    store = [s for s in run["steps"] if s["task"] == "store_credentials"][0]
    assert store["parameters"]["credentials"] == MASK
    assert set(store["result"]["result"]) == {"vault_path", "vault_mount", "version",
                                              "source_version", "changed", "reason"}

    haystack = {
        "trigger payloads": json.dumps(sensor.items()),
        "steps": json.dumps([run["steps"], update["steps"], seen]),
        "outputs": json.dumps([run["output"], update["output"]]),
        "driver logs": "\n".join(run["logs"] + update["logs"]),
        "captured logs": "\n".join(r.getMessage() for r in caplog.records),
        "status": json.dumps(databases.get("secret-db")),
        "consul": json.dumps(consul_client.kv.get(databases.spec("secret-db")["consul"]["key"])
                             [1]["Value"].decode()),
    }
    for where, text in haystack.items():
        assert password not in text, "the master password appears in the %s" % where


def test_an_oversized_spec_ends_failed_with_a_bounded_status(databases, feed, config, rds):
    """A 5000-digit engineVersion and 2,500 long tags (what a CRD without bounds let through,
    as an older CRD still would): the plan reports them, and the Failed status fits."""
    sensor = feed()
    databases.apply("huge-db")
    (trigger, payload), _ = sensor.wait(added("huge-db"))
    payload = dict(payload, spec=dict(payload["spec"], engineVersion="9" * 5000, tags={
        "tag-%04d-%s" % (i, "k" * 100): "v" * 180 for i in range(2500)}))
    run = fire(trigger, payload, config, "database_create")
    assert run["status"] == "failed"
    assert_run_follows(run, "invalid")
    assert changing_calls(run) == []
    status = databases.get("huge-db")["status"]
    assert status["phase"] == "Failed"
    assert status["message"].startswith("invalid spec: spec.engineVersion: expected a postgres "
                                        "version MAJOR or MAJOR.MINOR, e.g. 16 or 16.4, got '999")
    assert "spec.tags: expected at most 47 tags (RDS allows 50, the pack sets 3), got 2500" \
        in status["message"]
    assert len(status["message"]) <= 1024
    assert instances_of(rds, db_instance_identifier(databases.namespace, "huge-db")) == []


def test_what_aws_would_refuse_fails_before_anything_is_changed(databases, feed, config, rds):
    sensor = feed()
    # Each passes the CRD's schema; none would pass RDS (or be what the team meant).
    databases.apply("picky-db", region="xx-yyyy-9", databaseName="select",
                    masterUsername="postgres",
                    tags={"AWS:team": "a", "note": "a\x00b", "rds:x": "y", "ok": "rds:z"})
    (trigger, payload), _ = sensor.wait(added("picky-db"))
    run = fire(trigger, payload, config, "database_create")
    assert run["status"] == "failed"
    assert_run_follows(run, "invalid")
    assert changing_calls(run) == []
    message = databases.get("picky-db")["status"]["message"]
    for field in ("spec.databaseName: 'select' is a word postgres reserves",
                  "spec.masterUsername: 'postgres' is reserved by postgres",
                  "spec.region: expected an AWS region where RDS is offered",
                  "spec.tags: key 'AWS:team': keys starting with st2-aws/, aws:, rds:",
                  "spec.tags.note: expected Unicode letters, digits, spaces and _ . : / = + - @ "
                  "only, got U+0000 (a control character)",
                  "spec.tags: key 'rds:x': keys starting with",
                  "spec.tags.ok: values starting with"):
        assert field in message, (field, message)
    assert databases.get("picky-db")["metadata"].get("finalizers") is None
    assert instances_of(rds, db_instance_identifier(databases.namespace, "picky-db")) == []


def test_a_field_the_api_server_pruned_is_a_warning_on_status(databases, feed, config, stack,
                                                              tmp_path):
    """kubectl apply --validate=false of a misspelled field: the API server drops it without
    a word; the object keeps kubectl's last applied configuration, and the status says it."""
    import subprocess  # pylint: disable=import-outside-toplevel

    sensor = feed()
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(json.dumps({
        "apiVersion": "%s/%s" % (GROUP, VERSION), "kind": "Database",
        "metadata": {"name": "typo-db"},
        "spec": {"engine": "postgres", "storagegb": 500, "databaseName": "orders"}}))
    done = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", stack["kube"]["kubeconfig"],
                           "apply", "--validate=false", "-n", databases.namespace, "-f",
                           str(manifest)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (trigger, payload), _ = sensor.wait(added("typo-db"))
    assert payload["pruned_fields"] == ["spec.storagegb"]
    assert "storagegb" not in payload["spec"]
    run = fire(trigger, payload, config, "database_create")
    assert run["status"] == "succeeded", run["output"]
    status = databases.get("typo-db")["status"]
    assert status["phase"] == "Ready"
    assert status["warnings"] == [
        "spec.storagegb: in the applied configuration but not in the object: the API server "
        "dropped it (no such field in the Database schema), so it has no effect; did you mean "
        "spec.storageGB?"]


def test_a_spec_change_completes_what_a_failed_create_left(databases, feed, config, rds,
                                                           secretsmanager, vault_client,
                                                           consul_client):
    """The create failed before Vault had the credentials; the next spec change (one RDS need
    not apply) must not end Ready without them."""
    sensor = feed()
    databases.apply("half-db")
    (trigger, payload), _ = sensor.wait(added("half-db"))
    path = databases.spec("half-db")["vault"]["path"]

    def intruder(task, ref, params, call):
        if task == "wait_available":
            vault_client.secrets.kv.v2.create_or_update_secret(
                path=path, secret={"password": "not-ours"}, mount_point="secret")
        return call()

    run = fire(trigger, payload, config, "database_create", call_hook=intruder)
    assert_run_follows(run, "vault_refused")
    vault_client.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point="secret")

    databases.patch_spec("half-db", tags={"team": "team-a", "tier": "gold"})
    (trigger, payload), _ = sensor.wait(lambda t, p: p["generation"] == 2)
    run = fire(trigger, payload, config, "database_update")
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "unchanged")
    assert_ready(databases, "half-db", run, 2, vault_client, consul_client, rds,
                 secretsmanager, config)
