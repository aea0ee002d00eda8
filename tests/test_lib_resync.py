"""lib/database/resync.py: which Databases the resync runs, and why (pure; the runs themselves are
in tests/test_chain_resync.py on the local servers)."""

import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from lib.database.resync import (GRACE_SECONDS, STALE_SECONDS, consul_config_problem, parse_time,
                                 select)

NOW = datetime.datetime(2026, 12, 7, 13, 0, 0, tzinfo=datetime.timezone.utc)
UID = "0b6f8c0e-1111-4222-8333-944445555666"
IDENT = "team-a-orders-db-f07cf474"
FINALIZER = "dbaas.stackstorm.com/rds-protection"


def at(seconds_ago):
    return (NOW - datetime.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def database(phase="Ready", since=3600, generation=1, observed=1, reason=None, retry=None,
             deleting=None, finalizers=(FINALIZER,), **spec):
    status = {}
    if phase:
        status = {"phase": phase, "observedGeneration": observed,
                  "dbInstanceIdentifier": IDENT, "endpoint": IDENT + ".rds.local", "port": 5432,
                  "vaultPath": "team-a/orders-db", "consulKey": "team-a/orders-db/config",
                  "conditions": [{"type": "Ready", "status": "True" if phase == "Ready"
                                  else "False", "reason": reason or phase,
                                  "lastTransitionTime": at(since)},
                                 {"type": "Progressing", "status": "True" if phase in (
                                     "Provisioning", "Updating", "Deleting") else "False",
                                  "reason": phase, "lastTransitionTime": at(since)}]}
        if retry is not None:
            status["retry"] = retry
    metadata = {"namespace": "team-a", "name": "orders-db", "uid": UID, "generation": generation,
                "creationTimestamp": at(7200), "finalizers": list(finalizers)}
    if deleting is not None:
        metadata["deletionTimestamp"] = at(deleting)
    return {"metadata": metadata, "status": status,
            "spec": dict({"engine": "postgres", "engineVersion": "15.4", "instanceSize": "small",
                          "storageGB": 20}, **spec)}


def instance(**changes):
    data = {"DBInstanceIdentifier": IDENT, "Engine": "postgres", "EngineVersion": "15.4",
            "DBInstanceClass": "db.t3.small", "AllocatedStorage": 20,
            "DBInstanceStatus": "available",
            "Endpoint": {"Address": IDENT + ".rds.local", "Port": 5432},
            "MasterUserSecret": {"SecretArn": "arn:secret:rds!db-1"},
            "TagList": [{"Key": "st2-aws/uid", "Value": UID}]}
    data.update(changes)
    return data


def observed(inst=None, current="v1", vault=None, consul="same"):
    inst = instance() if inst is None else inst
    key = ("team-a", "orders-db")
    found = {"instances": {"us-east-1": {IDENT: inst} if inst else {}},
             "secret_versions": {"arn:secret:rds!db-1": current},
             "vault": {key: vault if vault is not None
                       else {"exists": True, "source_version": "v1"}},
             "consul": {}}
    if consul == "same":
        found["consul"][key] = {"host": IDENT + ".rds.local", "port": 5432}
    elif consul is not None:
        found["consul"][key] = consul
    else:
        found["consul"][key] = None
    return found


def causes(objects, seen=None):
    return [(w["workflow"], w["cause"]) for w in select(objects, NOW, seen)]


# -- the full cycle: the promise of Ready Databases --------------------------------------------
def test_a_database_that_keeps_its_promise_gets_no_run():
    assert causes([database()], observed()) == []
    assert causes([database()]) == []  # nor on a retry tick


def test_each_broken_promise_names_its_cause():
    assert causes([database()], observed(inst={})) == [("update", "instance missing")]
    assert causes([database()], observed(current="v2")) == [("update", "credentials rotated")]
    assert causes([database()], observed(vault={"exists": False})) == [
        ("update", "Vault secret missing")]
    assert causes([database()], observed(consul=None)) == [("update", "Consul key missing")]
    assert causes([database()], observed(consul={"host": "old", "port": 5432})) == [
        ("update", "Consul config stale (endpoint moved)")]
    moved = instance(Endpoint={"Address": "new.rds.local", "Port": 5432})
    assert causes([database()], observed(inst=moved)) == [("update", "endpoint moved")]
    assert causes([database()], observed(inst=instance(DBInstanceClass="db.m5.large"))) == [
        ("update", "drift: instanceSize db.m5.large -> db.t3.small")]


def test_what_rds_cannot_undo_is_not_run_again_and_again():
    grown = instance(AllocatedStorage=100)
    assert causes([database()], observed(inst=grown)) == []
    both = instance(AllocatedStorage=100, DBInstanceClass="db.m5.large")
    assert causes([database()], observed(inst=both)) == [
        ("update", "drift: instanceSize db.m5.large -> db.t3.small")]


def test_nothing_known_is_no_cause():
    # a region that could not be listed, Vault or Consul unreadable: no run on a guess
    seen = observed()
    seen["instances"] = {}
    assert causes([database()], seen) == []
    seen = observed(current="v2")
    seen["vault"] = {}
    assert causes([database()], seen) == []
    seen = observed(consul=None)
    seen["consul"] = {}
    assert causes([database()], seen) == []


def test_another_owners_instance_and_a_busy_one_are_left_alone():
    other = instance(TagList=[{"Key": "st2-aws/uid", "Value": "someone-else"}])
    assert causes([database()], observed(inst=other)) == []
    busy = instance(DBInstanceStatus="backing-up", Endpoint={"Address": "x", "Port": 1})
    assert causes([database()], observed(inst=busy)) == []


# -- the retry tick: the run state ---------------------------------------------------------------
def test_a_recoverable_failure_runs_when_its_time_has_come():
    due = {"attempts": 2, "nextAttemptAt": at(1)}
    later = {"attempts": 2, "nextAttemptAt": at(-60)}
    assert causes([database("Failed", reason="Recoverable", retry=due)]) == [
        ("update", "retry 3")]
    assert causes([database("Failed", reason="Recoverable", retry=later)]) == []
    # a Failed status written before retries existed is due at once
    assert causes([database("Failed")]) == [("update", "retry 1")]


def test_a_terminal_failure_waits_for_a_new_spec():
    assert causes([database("Failed", reason="Terminal")]) == []
    assert causes([database("Failed", reason="Terminal", generation=2, observed=1)]) == [
        ("update", "spec generation 2 not run yet")]
    # ... once its own update trigger had the time to start a run
    assert causes([database("Failed", reason="Terminal", generation=2, observed=1,
                            since=GRACE_SECONDS - 5)]) == []


def test_a_run_in_progress_is_timed_by_its_progressing_condition():
    # Failed long ago (Ready False since then), a retry began a minute ago: not stale
    obj = database("Provisioning", since=STALE_SECONDS * 3)
    obj["status"]["conditions"][1]["lastTransitionTime"] = at(60)
    assert causes([obj]) == []
    obj["status"]["conditions"][1]["lastTransitionTime"] = at(STALE_SECONDS + 60)
    assert causes([obj]) == [("update", "Provisioning run stale (since %d s)"
                              % (STALE_SECONDS + 60))]


def test_runs_that_never_started_or_died():
    assert causes([database(phase=None)]) == [("update", "never provisioned")]
    assert causes([database("Provisioning", since=STALE_SECONDS + 1)]) == [
        ("update", "Provisioning run stale (since %d s)" % (STALE_SECONDS + 1))]
    assert causes([database("Updating", since=STALE_SECONDS - 1)]) == []
    assert causes([database("Ready", generation=3, observed=2)]) == [
        ("update", "spec generation 3 not run yet")]


def test_deletions_not_done():
    assert causes([database("Ready", deleting=GRACE_SECONDS + 1)]) == [
        ("delete", "deletion requested %d s ago, no delete run seen" % (GRACE_SECONDS + 1))]
    assert causes([database("Ready", deleting=5)]) == []
    assert causes([database("Failed", reason="Recoverable", deleting=600,
                            retry={"attempts": 1, "nextAttemptAt": at(1)})]) == [
        ("delete", "delete retry 2")]
    assert causes([database("Deleting", deleting=STALE_SECONDS + 5,
                            since=STALE_SECONDS + 5)]) == [
        ("delete", "delete run stale (Deleting since %d s)" % (STALE_SECONDS + 5))]
    # not held by the pack's finalizer: nothing of ours to clean up
    assert causes([database("Failed", deleting=600, finalizers=())]) == []


def test_the_two_looks_never_pick_the_same_database():
    world = [database("Failed", reason="Recoverable"), database(phase=None),
             database("Ready", deleting=600), database()]
    for index, obj in enumerate(world):
        obj["metadata"]["name"] = "db-%d" % index
    ticks = {w["name"] for w in select(world, NOW)}
    full = {w["name"] for w in select(world, NOW, observed(inst={}))}
    assert ticks == {"db-0", "db-1", "db-2"}
    assert not ticks & full


def test_consul_config_problem():
    inst = instance()
    assert consul_config_problem({"host": IDENT + ".rds.local", "port": 5432}, inst) is None
    assert consul_config_problem(None, inst) == "Consul key missing"
    assert consul_config_problem("text", inst) == "Consul config stale (endpoint moved)"


def test_parse_time():
    assert parse_time("2026-12-07T13:00:00Z") == NOW
    assert parse_time("2026-12-07T13:00:00.123456Z") == NOW
    assert parse_time("soon") is None and parse_time(None) is None


# -- hostile statuses: the resync never raises, and runs only what it can name -------------------
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=3)
                    | st.dictionaries(st.text(max_size=10), children, max_size=3), max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(status=st.dictionaries(st.sampled_from([
    "phase", "observedGeneration", "conditions", "retry", "endpoint", "port", "vaultPath",
    "consulKey", "dbInstanceIdentifier"]), JSON, max_size=6), full=st.booleans())
def test_any_status_is_read_without_raising(status, full):
    obj = database()
    obj["status"] = status
    for item in select([obj], NOW, observed() if full else None):
        assert item["workflow"] in ("update", "delete")
        assert isinstance(item["cause"], str) and item["cause"]


def test_consul_config_follows_the_instances_tls_facts():
    inst = {"Endpoint": {"Address": "db.rds.local", "Port": 5432},
            "CACertificateIdentifier": "rds-ca-rsa4096-g1",
            "IAMDatabaseAuthenticationEnabled": True}
    value = {"host": "db.rds.local", "port": 5432, "ca_certificate_identifier": "rds-ca-rsa4096-g1",
             "iam_authentication": True}
    assert consul_config_problem(value, inst) is None
    assert consul_config_problem(dict(value, ca_certificate_identifier="rds-ca-rsa2048-g1"),
                                 inst) == "Consul config stale (CA certificate changed)"
    assert consul_config_problem(dict(value, iam_authentication=False), inst) \
        == "Consul config stale (IAM authentication changed)"
    # a config written before these facts: stale once, then published with them
    assert consul_config_problem({"host": "db.rds.local", "port": 5432}, inst) \
        == "Consul config stale (CA certificate changed)"


def test_a_rotation_schedule_other_than_the_specs_is_drift():
    seen = observed()
    seen["secret_rotation"] = {"arn:secret:rds!db-1": 7}
    assert causes([database(passwordRotationDays=30)], seen) == [
        ("update", "drift: passwordRotationDays 7 -> 30")]
    seen["secret_rotation"] = {"arn:secret:rds!db-1": None}  # no schedule listed
    assert causes([database(passwordRotationDays=30)], seen) == [
        ("update", "drift: passwordRotationDays None -> 30")]
    seen["secret_rotation"] = {"arn:secret:rds!db-1": 30}
    assert causes([database(passwordRotationDays=30)], seen) == []
    # unset in the spec, or the secret not listed (its region's list failed): nothing known
    seen["secret_rotation"] = {"arn:secret:rds!db-1": 7}
    assert causes([database()], seen) == []
    seen["secret_rotation"] = {}
    assert causes([database(passwordRotationDays=30)], seen) == []
