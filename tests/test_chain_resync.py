"""Level-triggered Databases on the real local servers: the resync (aws.database_resync, run by
lib/chain.py through the pack's actions) restores what a Database promises after the world moved
under it, with no spec change: a password RDS rotated, a passing outage, an instance deleted or
resized outside the pack, a Vault secret or Consul key deleted by hand, a lost delete answer.
A quiet cycle starts no run and writes nothing.
"""

import datetime
import json
import threading

import pytest
from kubernetes import client

import lib.database.resync
from lib.chain import run_workflow
from lib.kube.api import ADDED, to_payload
from tests.database_chain import (RESOURCE, modify_calls, provision, quiet, resync,
                                  update)
from tests.database_world import assert_ready, instances_of
from tests.fixtures.database.support import all_steps
from tests.workflow_paths import assert_run_follows

pytestmark = pytest.mark.integration

CLOSED_URL = "http://127.0.0.1:9"  # the discard port: nothing listens there


def _changed_alone(databases, config, rds, name, ident, param, changed, **spec_change):
    """A spec change of one field: the update sends modify_db_instance with that parameter
    alone, the instance has it, the Database is Ready."""
    databases.patch_spec(name, **spec_change)
    payload = to_payload("MODIFIED", databases.get(name), RESOURCE)
    run = run_workflow("database_update", payload, config, poll_delay=0)
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "modified")
    assert run["output"]["modified"] == {"DBInstanceIdentifier": ident, "ApplyImmediately": True,
                                         param: changed}
    assert instances_of(rds, ident)[0][param] == changed
    assert databases.get(name)["status"]["phase"] == "Ready"


def events_of(kube_api_client, namespace, name):
    items = client.CoreV1Api(kube_api_client).list_namespaced_event(
        namespace, field_selector="involvedObject.name=%s" % name).items
    return [(e.type, e.reason, e.message) for e in sorted(
        items, key=lambda e: (e.first_timestamp or e.event_time, e.metadata.name))]


def vault_version(vault_client, path):
    meta = vault_client.secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")
    return meta["data"]["current_version"]


def consul_index(consul_client, key):
    _, item = consul_client.kv.get(key)
    return item["ModifyIndex"] if item else None


def later(monkeypatch, seconds):
    """The resync's clock moved ``seconds`` ahead (a retry's backoff passed)."""
    moved = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    monkeypatch.setattr(lib.database.resync, "utc_now", lambda: moved)


# -- a quiet cycle -------------------------------------------------------------------------------
def test_a_quiet_cycle_starts_no_run_and_writes_nothing(
        databases, config, vault_client, consul_client):
    assert provision(databases, "quiet-db", config)["status"] == "succeeded"
    obj = databases.get("quiet-db")
    status = obj["status"]
    before = (obj["metadata"]["resourceVersion"],
              vault_version(vault_client, status["vaultPath"]),
              consul_index(consul_client, status["consulKey"]))
    for full in (True, False):
        run = resync(databases, config, full=full)
        quiet(run)
        assert_run_follows(run, "quiet" if full else "quiet_tick")
        summary = run["output"]["summary"]
        assert (summary["databases"], summary["updates"], summary["deletes"]) == (1, 0, 0)
        # one page of describe_db_instances and one of list_secrets, nothing per Database
        assert summary["aws_calls"] == (2 if full else 0)
    obj = databases.get("quiet-db")
    assert (obj["metadata"]["resourceVersion"], vault_version(vault_client, status["vaultPath"]),
            consul_index(consul_client, status["consulKey"])) == before


# -- 1. RDS rotates the master password ------------------------------------------------------
def test_vault_follows_a_password_rds_rotated(databases, config, aws, vault_client,
                                              consul_client, kube_api_client):
    created = provision(databases, "rotated-db", config)
    assert created["status"] == "succeeded", created["output"]
    rds, secrets = aws("rds"), aws("secretsmanager")
    (instance,) = instances_of(rds, created["output"]["db_instance_identifier"])
    arn = instance["MasterUserSecret"]["SecretArn"]
    held = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
    # what RDS's rotation ends with: a new AWSCURRENT version of the managed secret
    rotated = dict(held, password="Rotated-" + "x" * 24)
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps(rotated),
                             VersionStages=["AWSCURRENT"])

    run = resync(databases, config)
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "updates")
    assert run["output"]["causes"] == [
        "%s/rotated-db update: credentials rotated" % databases.namespace]
    assert run["output"]["failed"] == 0
    _, password = assert_ready(databases, "rotated-db", created, 1, vault_client, consul_client,
                               rds, secrets, config)
    assert password == rotated["password"]
    assert ("Normal", "Resynced", "credentials rotated; Vault: rotated") in events_of(
        kube_api_client, databases.namespace, "rotated-db")
    # followed once: the next cycle is quiet again
    quiet(resync(databases, config))


# -- 2. A passing outage -----------------------------------------------------------------------
def test_a_run_failed_by_an_outage_is_retried_after_its_backoff(
        databases, config, aws, monkeypatch, kube_api_client):
    down = dict(config, vault_url=CLOSED_URL)
    run = provision(databases, "outage-db", down)
    assert run["status"] == "failed"
    status = databases.get("outage-db")["status"]
    assert status["phase"] == "Failed"
    ready = [c for c in status["conditions"] if c["type"] == "Ready"][0]
    assert ready["reason"] == "Recoverable"
    assert status["retry"]["attempts"] == 1
    # before the backoff has passed: nothing runs
    quiet(resync(databases, config, full=False))
    # the backoff has passed, Vault is back: the retry completes the Database
    later(monkeypatch, 60)
    run = resync(databases, config, full=False)
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "retries")
    assert run["output"]["causes"] == ["%s/outage-db update: retry 2" % databases.namespace]
    obj = databases.get("outage-db")
    assert obj["status"]["phase"] == "Ready"
    assert "retry" not in obj["status"]
    assert len(instances_of(aws("rds"), obj["status"]["dbInstanceIdentifier"])) == 1
    reasons = [r for _, r, _ in events_of(kube_api_client, databases.namespace, "outage-db")]
    assert "RetryScheduled" in reasons and reasons[-1] == "Ready"


# -- 3. The instance deleted outside the pack ----------------------------------------------------
def test_a_missing_instance_is_reported_then_recreated_only_when_asked(
        databases, config, aws, vault_client, consul_client, kube_api_client, monkeypatch):
    created = provision(databases, "gone-db", config)
    assert created["status"] == "succeeded", created["output"]
    ident = created["output"]["db_instance_identifier"]
    rds = aws("rds")
    rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)

    run = resync(databases, config)
    assert run["output"]["causes"] == ["%s/gone-db update: instance missing" % databases.namespace]
    (item,) = [s for s in run["steps"] if s["task"] == "run_updates"]
    assert_run_follows({"workflow": "database_update",
                        "steps": item["steps"][1]["steps"]}, "missing_reported")
    status = databases.get("gone-db")["status"]
    assert status["phase"] == "Failed"
    assert status["message"].startswith("RDS instance %s no longer exists" % ident)
    assert [c["reason"] for c in status["conditions"] if c["type"] == "Ready"] == ["Terminal"]
    assert ("Warning", "InstanceMissing") in [
        e[:2] for e in events_of(kube_api_client, databases.namespace, "gone-db")]
    assert instances_of(rds, ident) == []
    # reported once, not again and again
    quiet(resync(databases, config))
    quiet(resync(databases, config, full=False))

    # the team asks for a new, empty instance: the spec edit is run (here by the retry tick,
    # as when the update trigger was lost)
    databases.patch_spec("gone-db", onInstanceMissing="Recreate")
    later(monkeypatch, lib.database.resync.GRACE_SECONDS + 1)
    run = resync(databases, config, full=False)
    assert run["output"]["causes"] == [
        "%s/gone-db update: spec generation 2 not run yet" % databases.namespace]
    (instance,) = instances_of(rds, ident)
    assert databases.get("gone-db")["status"]["phase"] == "Ready"
    messages = [m for _, r, m in events_of(kube_api_client, databases.namespace, "gone-db")
                if r == "InstanceMissing"]
    assert any("EMPTY" in m for m in messages)
    assert instance["DBInstanceStatus"] == "available"


# -- 4. The instance resized outside the pack ------------------------------------------------------
def test_drift_is_repaired_and_what_cannot_be_is_named(databases, config, aws, vault_client,
                                                       consul_client):
    created = provision(databases, "resized-db", config)
    assert created["status"] == "succeeded", created["output"]
    ident = created["output"]["db_instance_identifier"]
    rds = aws("rds")
    rds.modify_db_instance(DBInstanceIdentifier=ident, DBInstanceClass="db.m5.large",
                           AllocatedStorage=100, ApplyImmediately=True)

    run = resync(databases, config)
    assert run["output"]["causes"] == [
        "%s/resized-db update: drift: instanceSize db.m5.large -> db.t3.small"
        % databases.namespace]
    (instance,) = instances_of(rds, ident)
    assert instance["DBInstanceClass"] == "db.t3.small"  # repaired
    assert instance["AllocatedStorage"] == 100  # RDS storage cannot shrink
    status = databases.get("resized-db")["status"]
    assert status["phase"] == "Ready"
    assert "not applied (RDS cannot go back): spec.storageGB: RDS storage cannot shrink; the " \
           "instance keeps 100 GB (spec says 20)" in status["message"]
    assert any(w.startswith("spec.storageGB: RDS storage cannot shrink")
               for w in status["warnings"])
    # what cannot be repaired is not run again every cycle
    quiet(resync(databases, config))
    # and a spec edit is applied in full again once it asks for what RDS can do
    databases.patch_spec("resized-db", storageGB=100)
    payload = to_payload("MODIFIED", databases.get("resized-db"), RESOURCE)
    run = run_workflow("database_update", payload, config, poll_delay=0)
    assert run["status"] == "succeeded", run["output"]
    assert databases.get("resized-db")["status"]["warnings"] == []


# -- 5. The Vault secret or Consul key deleted by hand -------------------------------------------
@pytest.mark.parametrize("where", ["vault", "consul"])
def test_a_deleted_vault_secret_or_consul_key_is_written_again(
        where, databases, config, aws, vault_client, consul_client):
    created = provision(databases, "erased-db", config)
    assert created["status"] == "succeeded", created["output"]
    status = databases.get("erased-db")["status"]
    if where == "vault":
        vault_client.secrets.kv.v2.delete_metadata_and_all_versions(
            path=status["vaultPath"], mount_point="secret")
        cause = "Vault secret missing"
    else:
        consul_client.kv.delete(status["consulKey"])
        cause = "Consul key missing"
    run = resync(databases, config)
    assert run["output"]["causes"] == ["%s/erased-db update: %s" % (databases.namespace, cause)]
    assert_ready(databases, "erased-db", created, 1, vault_client, consul_client, aws("rds"),
                 aws("secretsmanager"), config)
    quiet(resync(databases, config))


# -- a delete whose answer was lost, and a delete that failed ------------------------------------
def test_a_lost_delete_answer_finds_the_instance_gone(databases, config, aws):
    created = provision(databases, "lost-db", config, deletionPolicy="Delete")
    assert created["status"] == "succeeded", created["output"]
    ident = created["output"]["db_instance_identifier"]
    databases.delete("lost-db")

    def lost_answer(task, ref, params, call):
        if task == "delete_without_snapshot":
            call()  # RDS deletes it; the answer is lost
            return False, {"exit_code": 1, "result": "None", "stdout": "",
                           "stderr": "lib.aws.AwsCallError: rds.delete_db_instance failed: An "
                                     "error occurred (InternalFailure): HTTP 500"}
        return call()

    payload = to_payload("MODIFIED", databases.get("lost-db"), RESOURCE)
    run = run_workflow("database_delete", payload, config, poll_delay=0, call_hook=lost_answer)
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "answer_lost_gone")
    assert instances_of(aws("rds"), ident) == []
    assert databases.get("lost-db") is None


def test_a_failed_delete_is_retried_until_the_finalizer_goes(databases, config, aws,
                                                             monkeypatch):
    created = provision(databases, "stuck-db", config, deletionPolicy="Delete")
    assert created["status"] == "succeeded", created["output"]
    databases.delete("stuck-db")
    payload = to_payload("MODIFIED", databases.get("stuck-db"), RESOURCE)
    run = run_workflow("database_delete", payload, dict(config, consul_port=9), poll_delay=0)
    assert run["status"] == "failed"
    obj = databases.get("stuck-db")
    assert obj["status"]["phase"] == "Failed" and obj["status"]["retry"]["attempts"] == 1
    later(monkeypatch, 60)
    run = resync(databases, config, full=False)
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "deletes")
    assert run["output"]["causes"] == ["%s/stuck-db delete: delete retry 2" % databases.namespace]
    assert databases.get("stuck-db") is None


# -- a resync and a delete of the same Database at once --------------------------------------------
def test_a_resync_never_undoes_a_delete(databases, config, aws):
    created = provision(databases, "racing-db", config, deletionPolicy="Delete")
    assert created["status"] == "succeeded", created["output"]
    ident = created["output"]["db_instance_identifier"]
    rds = aws("rds")
    rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)
    databases.patch_spec("racing-db", onInstanceMissing="Recreate")
    stale = to_payload("MODIFIED", databases.get("racing-db"), RESOURCE)
    databases.delete("racing-db")
    deleting = to_payload("MODIFIED", databases.get("racing-db"), RESOURCE)
    results = {}

    def go(name, workflow, payload):
        results[name] = run_workflow(workflow, payload, config, poll_delay=0)

    # the resync looked before the deletion (its payload says Ready, Recreate), the delete
    # trigger's run after: both at once
    threads = [threading.Thread(target=go, args=("update", "database_update", stale)),
               threading.Thread(target=go, args=("delete", "database_delete", deleting))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert results["delete"]["status"] == "succeeded", results["delete"]["output"]
    assert databases.get("racing-db") is None
    # whatever the update run did, no instance outlives the deleted Database
    assert instances_of(rds, ident) == []


# -- a resync and a create of the same Database at once ----------------------------------------
@pytest.mark.parametrize("attempt", range(3))
def test_a_resync_and_the_create_at_once_end_with_one_instance_and_its_password(
        attempt, databases, config, aws, vault_client, consul_client, monkeypatch):
    name = "twice-db-%d" % attempt
    databases.apply(name)
    payload = to_payload(ADDED, databases.get(name), RESOURCE)
    # the retry tick sees a Database never provisioned (its trigger's run not seen yet)
    later(monkeypatch, lib.database.resync.GRACE_SECONDS + 1)
    results = {}

    def go(key, workflow, **kwargs):
        results[key] = run_workflow(workflow, config=config, poll_delay=0, **kwargs)

    threads = [threading.Thread(target=go, args=("create", "database_create"),
                                kwargs={"resource": payload}),
               threading.Thread(target=go, args=("resync", "database_resync"),
                                kwargs={"inputs": {"full": False,
                                                   "namespace": databases.namespace}})]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert results["resync"]["status"] == "succeeded", results["resync"]["output"]
    # whichever finished last, the Database ends Ready (a loser's Failed is retried: run the
    # retry tick until it is)
    for _ in range(3):
        if databases.get(name)["status"].get("phase") == "Ready":
            break
        later(monkeypatch, 3600)
        resync(databases, config, full=False)
    identifier = databases.get(name)["status"]["dbInstanceIdentifier"]
    assert len(instances_of(aws("rds"), identifier)) == 1
    run = {"output": {"db_instance_identifier": identifier}}
    assert_ready(databases, name, run, 1, vault_client, consul_client, aws("rds"),
                 aws("secretsmanager"), config)


# -- multiAZ, deletionProtection, backup, maintenanceWindow (issue 19) ---------------------------
# (spec field, RDS field, created with, changed out of band to, then changed in the spec to)
AVAILABILITY = [
    ("multiAZ", "MultiAZ", True, False, False),
    ("deletionProtection", "DeletionProtection", True, False, False),
    ("backup.retentionDays", "BackupRetentionPeriod", 7, 1, 14),
    ("backup.window", "PreferredBackupWindow", "03:00-03:30", "22:00-22:30", "04:00-04:30"),
    ("maintenanceWindow", "PreferredMaintenanceWindow", "sun:05:00-sun:06:00",
     "mon:01:00-mon:02:00", "tue:07:00-tue:08:00"),
    ("autoMinorVersionUpgrade", "AutoMinorVersionUpgrade", False, True, True),
]


def _spec_field(field, value):
    head, _, leaf = field.partition(".")
    return {head: {leaf: value} if leaf else value}


@pytest.mark.parametrize("field,param,created,drifted,changed", AVAILABILITY,
                         ids=[a[0] for a in AVAILABILITY])
def test_an_availability_field_is_created_repaired_and_changed_alone(
        databases, config, aws, field, param, created, drifted, changed):
    name = "avail-%s" % field.replace(".", "-").lower()
    run = provision(databases, name, config, **_spec_field(field, created))
    assert run["status"] == "succeeded", run["output"]
    ident = run["output"]["db_instance_identifier"]
    rds = aws("rds")
    (instance,) = instances_of(rds, ident)
    assert instance[param] == created
    create = [s for s in all_steps(run) if s["task"] == "create_instance"][0]
    assert create["parameters"]["params"][param] == created

    # changed out of band: the resync's drift check names it and sets it back
    rds.modify_db_instance(DBInstanceIdentifier=ident, ApplyImmediately=True,
                           **{param: drifted})
    run = resync(databases, config)
    assert run["output"]["causes"] == ["%s/%s update: drift: %s %s -> %s"
                                       % (databases.namespace, name, field, drifted, created)]
    assert instances_of(rds, ident)[0][param] == created
    quiet(resync(databases, config))

    # changed in the spec: modify_db_instance gets that field alone
    _changed_alone(databases, config, rds, name, ident, param, changed,
                   **_spec_field(field, changed))


@pytest.mark.parametrize("change,message", [
    ({"instanceClass": "db.m5.large"},
     "spec.instanceSize, spec.instanceClass: give one of them, not both (got instanceSize "
     "'small' and instanceClass 'db.m5.large')"),
    ({"multiAZ": True, "backup": {"retentionDays": 0}},
     "spec.backup.retentionDays, spec.multiAZ: retentionDays 0 turns automated backups off"),
    ({"backup": {"window": "03:00-04:00"}, "maintenanceWindow": "fri:03:30-fri:04:30"},
     "spec.maintenanceWindow: 'fri:03:30-fri:04:30' overlaps (or touches) the daily backup "
     "window '03:00-04:00' (spec.backup.window)"),
    ({"maintenanceWindow": "sun:05:00-sun:05:15"},
     "spec.maintenanceWindow: expected a weekly window ddd:hh24:mi-ddd:hh24:mi in UTC of 30 "
     "minutes to 24 hours"),
    ({"backup": {"window": "03:00-03:10"}},
     "spec.backup.window: expected a daily window hh24:mi-hh24:mi in UTC of at least 30 "
     "minutes"),
    ({"storage": {"type": "io1", "iops": 1000}},
     "spec.storage.type, spec.storageGB: io1 needs at least 100 GiB of storage, got storageGB 20"),
    ({"storage": {"type": "gp3", "throughput": 500}},
     "spec.storage.throughput: gp3 below 400 GiB has a fixed baseline (3000 IOPS, 125 MiBps)"),
    ({"storage": {"iops": 1000}},
     "spec.storage.iops: set only with spec.storage.type"),
    ({"storageGB": 100, "storage": {"type": "io1", "iops": 6000}},
     "spec.storage.iops: io1 allows 0.5 to 50 IOPS per GiB; for storageGB 100 expected 1000 to "
     "5000 IOPS, got 6000"),
], ids=["size-and-class", "no-backups-multi-az", "windows-overlap", "short-maintenance",
        "short-backup", "io1-small", "gp3-throughput-small", "iops-without-type",
        "io1-iops-ratio"])
def test_what_the_schema_lets_through_the_plan_refuses_by_name_changing_nothing(
        databases, config, aws, change, message):
    # at create: the API server takes it (no `not` rule), the plan refuses it, nothing is made
    databases.apply("refused-db", **change)
    run = run_workflow("database_create", to_payload(ADDED, databases.get("refused-db"),
                                                     RESOURCE), config, poll_delay=0)
    assert run["status"] == "failed"
    assert_run_follows(run, "invalid")
    status = databases.get("refused-db")["status"]
    assert status["phase"] == "Failed" and message in status["message"]
    assert instances_of(aws("rds"), run["output"]["db_instance_identifier"]) == []
    # on a Ready Database: refused the same way, the instance is left as it is
    created = provision(databases, "kept-db", config)
    assert created["status"] == "succeeded", created["output"]
    ident = created["output"]["db_instance_identifier"]
    before = instances_of(aws("rds"), ident)[0]
    databases.patch_spec("kept-db", **change)
    run = run_workflow("database_update", to_payload("MODIFIED", databases.get("kept-db"),
                                                     RESOURCE), config, poll_delay=0)
    assert_run_follows(run, "invalid")
    assert message in databases.get("kept-db")["status"]["message"]
    after = instances_of(aws("rds"), ident)[0]
    before.pop("LatestRestorableTime")  # moto's clock, not a change
    assert {k: after.get(k) for k in before} == before


def test_deletion_protection_keeps_the_database_until_the_spec_lets_go(
        databases, config, aws, kube_api_client, monkeypatch):
    created = provision(databases, "guarded-db", config, deletionProtection=True)
    assert created["status"] == "succeeded", created["output"]
    ident = created["output"]["db_instance_identifier"]
    rds = aws("rds")
    databases.delete("guarded-db")
    payload = to_payload("MODIFIED", databases.get("guarded-db"), RESOURCE)
    run = run_workflow("database_delete", payload, config, poll_delay=0)
    assert run["status"] == "failed"
    assert_run_follows(run, "protected")
    obj = databases.get("guarded-db")
    status = obj["status"]
    assert status["message"] == (
        "RDS refuses to delete instance %s: deletion protection is on "
        "(InvalidParameterCombination); the finalizer is kept and the pack does not turn "
        "protection off by itself. To delete it, set spec.deletionProtection: false on this "
        "Database (the next resync then turns protection off and deletes the instance), or set "
        "spec.deletionPolicy: Retain to keep the instance" % ident)
    ready = [c for c in status["conditions"] if c["type"] == "Ready"][0]
    assert (status["phase"], ready["reason"]) == ("Failed", "Terminal")
    assert "retry" not in status
    assert obj["metadata"]["finalizers"] == ["dbaas.stackstorm.com/rds-protection"]
    (instance,) = instances_of(rds, ident)
    assert instance["DeletionProtection"] is True  # never turned off by itself
    # Terminal: no automatic retry, however long it waits
    later(monkeypatch, 3600)
    quiet(resync(databases, config, full=False))
    assert instances_of(rds, ident)[0]["DeletionProtection"] is True

    databases.patch_spec("guarded-db", deletionProtection=False)
    run = resync(databases, config, full=False)
    assert run["status"] == "succeeded", run["output"]
    # generation 3: the deletion request moved it to 2, the spec edit to 3
    assert run["output"]["causes"] == ["%s/guarded-db delete: delete after spec generation 3"
                                       % databases.namespace]

    def deep(steps):
        for step in steps:
            yield step
            yield from deep(step.get("steps", []))
    tasks = [s["task"] for s in deep(run["steps"]) if s["workflow"] == "database_delete"]
    assert tasks == ["plan", "set_deleting", "assume_role", "find_instance", "check_owner",
                     "unprotect", "delete_with_snapshot", "wait_deleted",
                     "delete_parameter_group", "cleanup", "remove_finalizer"]
    assert instances_of(rds, ident) == []
    assert databases.get("guarded-db") is None


# -- storage: maxGB, type, iops, throughput (issue 19) -------------------------------------------
# (spec field under storage, RDS field, the rest of the spec, created with, changed out of band
# to, then changed in the spec to)
STORAGE = [
    ("maxGB", "MaxAllocatedStorage", {}, 100, 300, 150),
    ("type", "StorageType", {"storageGB": 100, "storage": {"iops": 1000}}, "io1", "gp2", "io2"),
    ("iops", "Iops", {"storageGB": 100, "storage": {"type": "io1"}}, 1000, 3000, 2000),
    ("throughput", "StorageThroughput",
     {"storageGB": 400, "storage": {"type": "gp3", "iops": 12000}}, 500, 125, 1000),
]


@pytest.mark.parametrize("field,param,rest,created,drifted,changed", STORAGE,
                         ids=[s[0] for s in STORAGE])
def test_a_storage_field_is_created_repaired_and_changed_alone(
        databases, config, aws, field, param, rest, created, drifted, changed):
    name = "storage-%s" % field.lower()
    spec = dict(rest, storage=dict(rest.get("storage", {}), **{field: created}))
    run = provision(databases, name, config, **spec)
    assert run["status"] == "succeeded", run["output"]
    ident = run["output"]["db_instance_identifier"]
    rds = aws("rds")
    (instance,) = instances_of(rds, ident)
    assert instance[param] == created
    create = [s for s in all_steps(run) if s["task"] == "create_instance"][0]
    for key, value in spec["storage"].items():
        assert create["parameters"]["params"][dict(
            maxGB="MaxAllocatedStorage", type="StorageType", iops="Iops",
            throughput="StorageThroughput")[key]] == value

    # changed out of band: the resync's drift check names it and sets it back
    rds.modify_db_instance(DBInstanceIdentifier=ident, ApplyImmediately=True,
                           **{param: drifted})
    run = resync(databases, config)
    assert run["output"]["causes"] == ["%s/%s update: drift: storage.%s %s -> %s"
                                       % (databases.namespace, name, field, drifted, created)]
    assert instances_of(rds, ident)[0][param] == created
    quiet(resync(databases, config))

    # changed in the spec: modify_db_instance gets that field alone
    _changed_alone(databases, config, rds, name, ident, param, changed,
                   storage={field: changed})


def test_storage_grown_by_autoscaling_is_no_drift_and_past_maxgb_is_held(
        databases, config, aws):
    run = provision(databases, "autoscaled-db", config, storage={"maxGB": 200})
    assert run["status"] == "succeeded", run["output"]
    ident = run["output"]["db_instance_identifier"]
    rds = aws("rds")
    # RDS autoscaling grows the instance (moto never does: the test grows it)
    rds.modify_db_instance(DBInstanceIdentifier=ident, AllocatedStorage=150,
                           ApplyImmediately=True)
    quiet(resync(databases, config))
    # maxGB lowered under what the instance has: held, named, the rest applied, no loop
    databases.patch_spec("autoscaled-db", storage={"maxGB": 120}, multiAZ=True)
    run = run_workflow("database_update", to_payload("MODIFIED", databases.get("autoscaled-db"),
                                                     RESOURCE), config, poll_delay=0)
    assert run["status"] == "succeeded", run["output"]
    assert run["output"]["modified"] == {"DBInstanceIdentifier": ident, "ApplyImmediately": True,
                                         "MultiAZ": True}
    status = databases.get("autoscaled-db")["status"]
    assert any(w.startswith("spec.storage.maxGB: the instance has grown to 150 GB")
               for w in status.get("warnings", [])), status
    (instance,) = instances_of(rds, ident)
    assert (instance["AllocatedStorage"], instance["MaxAllocatedStorage"]) == (150, 200)
    quiet(resync(databases, config))


# -- engine versions: allowMajorVersionUpgrade, autoMinorVersionUpgrade, applyChanges ------------
def test_a_major_upgrade_is_refused_until_allowed_then_waits_for_the_window(
        databases, config, aws):
    run = provision(databases, "major-db", config, engineVersion="15.4")
    assert run["status"] == "succeeded", run["output"]
    ident = run["output"]["db_instance_identifier"]
    rds = aws("rds")
    before = instances_of(rds, ident)[0]

    # refused by the plan naming both fields; nothing changed (moto itself would upgrade)
    run = update(databases, "major-db", config, engineVersion="16.2", instanceSize="medium")
    assert run["status"] == "failed"
    assert_run_follows(run, "refused")
    assert modify_calls(run) == []
    status = databases.get("major-db")["status"]
    assert status["phase"] == "Failed"
    assert "spec.engineVersion, spec.allowMajorVersionUpgrade: 16.2 is a major upgrade of the " \
           "instance's postgres 15.4, refused unless allowMajorVersionUpgrade is true" \
        in status["message"]
    after = instances_of(rds, ident)[0]
    assert (after["EngineVersion"], after["DBInstanceClass"]) == ("15.4",
                                                                  before["DBInstanceClass"])

    # allowed: asked for the maintenance window (applyChanges unset), the status says so
    run = update(databases, "major-db", config, allowMajorVersionUpgrade=True)
    assert run["status"] == "succeeded", run["output"]
    assert run["output"]["modified"] == {
        "DBInstanceIdentifier": ident, "ApplyImmediately": False, "EngineVersion": "16.2",
        "AllowMajorVersionUpgrade": True, "DBInstanceClass": "db.t3.medium"}
    status = databases.get("major-db")["status"]
    assert status["phase"] == "Ready"
    assert any(w.startswith("spec.applyChanges: applied in the instance's next maintenance "
                            "window, not now (a major version upgrade waits for it")
               for w in status["warnings"]), status["warnings"]
    # moto applies it at once whatever ApplyImmediately says (docs/stack.md)
    assert instances_of(rds, ident)[0]["EngineVersion"] == "16.2"
    quiet(resync(databases, config))


@pytest.mark.parametrize("when,immediately", [
    ("NextMaintenanceWindow", False), ("Immediately", True)])
def test_apply_changes_is_the_switch_of_every_modification(
        databases, config, aws, when, immediately):
    name = "apply-%s" % when.lower()
    run = provision(databases, name, config, applyChanges=when)
    assert run["status"] == "succeeded", run["output"]
    ident = run["output"]["db_instance_identifier"]
    assert "ApplyImmediately" not in [s for s in all_steps(run)
                                      if s["task"] == "create_instance"][0]["parameters"]["params"]
    run = update(databases, name, config, instanceSize="medium", multiAZ=True)
    assert run["status"] == "succeeded", run["output"]
    assert run["output"]["modified"] == {"DBInstanceIdentifier": ident,
                                         "ApplyImmediately": immediately,
                                         "DBInstanceClass": "db.t3.medium", "MultiAZ": True}
    warnings = databases.get(name)["status"].get("warnings") or []
    assert any(w.startswith("spec.applyChanges: applied in the instance's next maintenance "
                            "window") for w in warnings) is not immediately
    # a drift repair follows the switch too
    aws("rds").modify_db_instance(DBInstanceIdentifier=ident, MultiAZ=False,
                                  ApplyImmediately=True)
    run = resync(databases, config)
    assert run["output"]["causes"] == ["%s/%s update: drift: multiAZ False -> True"
                                       % (databases.namespace, name)]
    assert [c["ApplyImmediately"] for c in modify_calls(run)] == [immediately]


def test_a_minor_upgrade_rds_made_is_no_drift_while_automatic(databases, config, aws):
    run = provision(databases, "minor-db", config, engineVersion="15.4",
                    autoMinorVersionUpgrade=True)
    assert run["status"] == "succeeded", run["output"]
    ident = run["output"]["db_instance_identifier"]
    rds = aws("rds")
    # RDS upgrades the minor version in the maintenance window (moto never does: the test does)
    rds.modify_db_instance(DBInstanceIdentifier=ident, EngineVersion="15.7",
                           ApplyImmediately=True)
    quiet(resync(databases, config))
    # minor upgrades no longer automatic: that setting alone is changed; 15.7 cannot go back
    # to 15.4, which the status says (held), naming engineVersion
    run = update(databases, "minor-db", config, autoMinorVersionUpgrade=False)
    assert run["status"] == "succeeded", run["output"]
    assert run["output"]["modified"] == {"DBInstanceIdentifier": ident, "ApplyImmediately": True,
                                         "AutoMinorVersionUpgrade": False}
    status = databases.get("minor-db")["status"]
    assert any(w.startswith("spec.engineVersion: the instance runs postgres 15.7 and cannot be "
                            "downgraded") for w in status["warnings"]), status["warnings"]
    (instance,) = instances_of(rds, ident)
    assert (instance["EngineVersion"], instance["AutoMinorVersionUpgrade"]) == ("15.7", False)
    quiet(resync(databases, config))


# -- iamAuthentication, caCertificateIdentifier, the TLS facts in Consul (issue 19) --------------
def _consul_value(consul_client, databases, name):
    _, item = consul_client.kv.get(databases.get(name)["status"]["consulKey"])
    return json.loads(item["Value"])


def test_iam_and_ca_are_created_repaired_changed_alone_and_published(
        databases, config, aws, consul_client):
    run = provision(databases, "tls-db", config, iamAuthentication=True,
                    caCertificateIdentifier="rds-ca-rsa4096-g1")
    assert run["status"] == "succeeded", run["output"]
    ident = run["output"]["db_instance_identifier"]
    create = [s for s in all_steps(run) if s["task"] == "create_instance"][0]
    params = create["parameters"]["params"]
    assert (params["EnableIAMDatabaseAuthentication"], params["CACertificateIdentifier"]) == (
        True, "rds-ca-rsa4096-g1")
    rds = aws("rds")
    (instance,) = instances_of(rds, ident)
    assert (instance["IAMDatabaseAuthenticationEnabled"], instance["CACertificateIdentifier"]) \
        == (True, "rds-ca-rsa4096-g1")
    value = _consul_value(consul_client, databases, "tls-db")
    assert {k: value.get(k) for k in ("ssl_mode", "ca_certificate_identifier",
                                      "iam_authentication", "ca_bundle_url")} == {
        "ssl_mode": "require", "ca_certificate_identifier": "rds-ca-rsa4096-g1",
        "iam_authentication": True,
        "ca_bundle_url": "https://truststore.pki.rds.amazonaws.com/%s/%s-bundle.pem"
                         % (config["region"], config["region"])}
    assert not [k for k in value if "password" in k or "secret" in k]

    # changed out of band: both named by the drift check and set back; Consul keeps matching
    rds.modify_db_instance(DBInstanceIdentifier=ident, ApplyImmediately=True,
                           EnableIAMDatabaseAuthentication=False,
                           CACertificateIdentifier="rds-ca-rsa2048-g1")
    run = resync(databases, config)
    assert run["output"]["causes"] == [
        "%s/tls-db update: drift: iamAuthentication False -> True, caCertificateIdentifier "
        "rds-ca-rsa2048-g1 -> rds-ca-rsa4096-g1" % databases.namespace]
    (instance,) = instances_of(rds, ident)
    assert (instance["IAMDatabaseAuthenticationEnabled"], instance["CACertificateIdentifier"]) \
        == (True, "rds-ca-rsa4096-g1")
    assert _consul_value(consul_client, databases, "tls-db")["ca_certificate_identifier"] \
        == "rds-ca-rsa4096-g1"
    quiet(resync(databases, config))

    # changed in the spec: that field alone, and Consul's config follows
    run = update(databases, "tls-db", config, caCertificateIdentifier="rds-ca-ecc384-g1")
    assert run["status"] == "succeeded", run["output"]
    assert run["output"]["modified"] == {"DBInstanceIdentifier": ident, "ApplyImmediately": True,
                                         "CACertificateIdentifier": "rds-ca-ecc384-g1"}
    assert _consul_value(consul_client, databases, "tls-db")["ca_certificate_identifier"] \
        == "rds-ca-ecc384-g1"
    run = update(databases, "tls-db", config, iamAuthentication=False)
    assert run["output"]["modified"] == {"DBInstanceIdentifier": ident, "ApplyImmediately": True,
                                         "EnableIAMDatabaseAuthentication": False}
    assert _consul_value(consul_client, databases, "tls-db")["iam_authentication"] is False
    quiet(resync(databases, config))


def test_a_ca_rotated_outside_the_spec_republishes_the_consul_config(
        databases, config, aws, consul_client):
    run = provision(databases, "ca-db", config)
    assert run["status"] == "succeeded", run["output"]
    ident = run["output"]["db_instance_identifier"]
    before = _consul_value(consul_client, databases, "ca-db")["ca_certificate_identifier"]
    # no spec.caCertificateIdentifier: RDS's CA rotation (here done by hand) is no drift, but
    # the Consul config must name the CA in use
    aws("rds").modify_db_instance(DBInstanceIdentifier=ident, ApplyImmediately=True,
                                  CACertificateIdentifier="rds-ca-ecc384-g1")
    run = resync(databases, config)
    assert run["output"]["causes"] == [
        "%s/ca-db update: Consul config stale (CA certificate changed)" % databases.namespace]
    assert modify_calls(run) == []
    after = _consul_value(consul_client, databases, "ca-db")["ca_certificate_identifier"]
    assert (before, after) == ("rds-ca-default", "rds-ca-ecc384-g1")  # moto's default CA
    quiet(resync(databases, config))


# -- passwordRotationDays (issue 19) -------------------------------------------------------------
def _rotation_days(aws, rds, ident):
    arn = instances_of(rds, ident)[0]["MasterUserSecret"]["SecretArn"]
    rules = aws("secretsmanager").describe_secret(SecretId=arn).get("RotationRules") or {}
    return arn, rules.get("AutomaticallyAfterDays")


def test_password_rotation_days_is_set_repaired_and_changed_alone_vault_following(
        databases, config, aws, vault_client, consul_client):
    run = provision(databases, "rotated-db", config, passwordRotationDays=30)
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "created_rotation")
    ident = run["output"]["db_instance_identifier"]
    rds = aws("rds")
    arn, days = _rotation_days(aws, rds, ident)
    assert days == 30
    (step,) = [s for s in all_steps(run) if s["task"] == "set_rotation"]
    assert step["parameters"]["params"] == {"SecretId": arn, "RotateImmediately": False,
                                            "RotationRules": {"AutomaticallyAfterDays": 30}}
    # the password (moto rotates at once whatever RotateImmediately says) is Vault's copy
    assert_ready(databases, "rotated-db", run, 1, vault_client, consul_client, rds,
                 aws("secretsmanager"), config)
    quiet(resync(databases, config))

    # changed out of band (back to RDS's default): the resync names it and sets it back
    aws("secretsmanager").rotate_secret(SecretId=arn, RotateImmediately=False,
                                        RotationRules={"AutomaticallyAfterDays": 7})
    run = resync(databases, config)
    assert run["output"]["causes"] == ["%s/rotated-db update: drift: passwordRotationDays 7 -> 30"
                                       % databases.namespace]
    assert _rotation_days(aws, rds, ident)[1] == 30
    assert modify_calls(run) == []
    quiet(resync(databases, config))

    # changed in the spec: the schedule alone, no modify_db_instance
    run = update(databases, "rotated-db", config, passwordRotationDays=14)
    assert run["status"] == "succeeded", run["output"]
    assert_run_follows(run, "rotation_set")
    assert run["output"]["modified"] == {}
    assert _rotation_days(aws, rds, ident)[1] == 14
    # another field changed: the schedule is only read, not set again
    run = update(databases, "rotated-db", config, multiAZ=True)
    assert_run_follows(run, "modified_rotation")
    assert run["output"]["modified"] == {"DBInstanceIdentifier": ident, "ApplyImmediately": True,
                                         "MultiAZ": True}
    assert_ready(databases, "rotated-db", run, 3, vault_client, consul_client, rds,
                 aws("secretsmanager"), config)
    quiet(resync(databases, config))
