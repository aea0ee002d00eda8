"""aws.database_set_status against the real Kubernetes API server: the status, the retry
schedule of failed runs, and the Events recorded for each transition."""

import datetime
import json
import string
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from kubernetes import client

from database_set_status import DatabaseSetStatus
from lib.action import ConfigError
from lib.database.objects import bounded, retry_schedule
from st2tests.base import BaseActionTestCase
from tests.fixtures.database.support import (closed_port, create_database, ensure_database_crd,
                                             get_database, kube_config, unique)
from tests.hostile_specs import nasty_text
from tests.st2_params import ParamError, action_params, load_action, validate_output
from tests.test_lib_k8s_events import events_of

META = load_action("database_set_status")
LOGGER = "st2.actions.python.DatabaseSetStatus"
PHASES = ("Pending", "Provisioning", "Ready", "Updating", "Deleting", "Failed")
UTC = datetime.timezone.utc
EXAMPLES = dict(deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
    HealthCheck.large_base_example])
HOSTILE = st.one_of(nasty_text(300), st.text(min_size=1, max_size=3).map(lambda s: s * 40000),
                    st.just("x" * 100000))


def epoch(rfc3339):
    return datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC).timestamp()


def summary(events):
    return [(e["reason"], e["type"], e.get("message", "")) for e in events]


def ready(status):
    [condition] = [c for c in status["conditions"] if c["type"] == "Ready"]
    return condition


def test_retry_schedule_doubles_from_the_initial_delay_to_the_cap_with_jitter():
    now = datetime.datetime(2026, 1, 1, 0, 0, 0, 700000, tzinfo=UTC)
    retry, delay = retry_schedule(None, "throttled", now, 30, 900, rand=lambda: 0.5)
    assert (retry, delay) == ({"attempts": 1, "nextAttemptAt": "2026-01-01T00:00:30Z",
                               "lastFailure": "throttled"}, 30)
    for previous, rand, expected in (
            ({"attempts": 1}, 0.5, (2, 60)), ({"attempts": 2}, 0.5, (3, 120)),
            ({"attempts": 2}, 0.0, (3, 96)), ({"attempts": 2}, 0.999999, (3, 144)),
            ({"attempts": 4}, 0.5, (5, 480)), ({"attempts": 5}, 0.5, (6, 900)),
            ({"attempts": 5}, 0.999999, (6, 900)), ({"attempts": 5}, 0.0, (6, 720)),
            ({"attempts": 10 ** 9}, 0.5, (10 ** 9 + 1, 900)),
            ({"attempts": -3}, 0.5, (1, 30)), ({"attempts": True}, 0.5, (1, 30)),
            ({"attempts": "7"}, 0.5, (1, 30)), ("odd", 0.5, (1, 30)), ({}, 0.5, (1, 30))):
        retry, delay = retry_schedule(previous, "m", now, 30, 900, rand=lambda r=rand: r)
        assert (retry["attempts"], delay) == expected, previous
        assert epoch(retry["nextAttemptAt"]) == epoch("2026-01-01T00:00:00Z") + delay
    assert retry_schedule(None, "m", now, 1, 1, rand=lambda: 0.0)[1] == 1
    long_failure = retry_schedule(None, "y" * 5000, now, 30, 900)[0]["lastFailure"]
    assert long_failure == bounded("y" * 5000, 1024) and len(long_failure) <= 1024


@pytest.mark.integration
class SetStatusTest(BaseActionTestCase):
    action_cls = DatabaseSetStatus

    @pytest.fixture(autouse=True)
    def _servers(self, stack, kube_api_client, kube_namespace):
        ensure_database_crd(kube_api_client)
        self.api, self.ns, self.config = kube_api_client, kube_namespace, kube_config(stack)
        self.stack_kube = stack["kube"]

    def run_action(self, config=None, jitter=None, **live):
        config = self.config if config is None else config
        action = self.get_action_instance(config)
        if jitter is not None:
            action.jitter = lambda: jitter
        result = action.run(**action_params(META, live, config))
        validate_output(META, result)
        return result

    def version(self, name="orders-db"):
        return get_database(self.api, self.ns, name)["metadata"]["resourceVersion"]

    def test_sets_phase_fields_and_ready_condition(self):
        created = create_database(self.api, self.ns, "orders-db")
        result = self.run_action(namespace=self.ns, name="orders-db", phase="Provisioning",
                                 message="creating RDS instance", observed_generation=1,
                                 fields={"dbInstanceIdentifier": "x-1"})
        assert result == {"patched": True, "phase": "Provisioning", "events": ["Provisioning"]}
        status = get_database(self.api, self.ns, "orders-db")["status"]
        first_time = status["conditions"][0]["lastTransitionTime"]
        assert status == {
            "phase": "Provisioning", "message": "creating RDS instance",
            "observedGeneration": 1, "dbInstanceIdentifier": "x-1",
            "conditions": [{"type": "Ready", "status": "False", "reason": "Provisioning",
                            "message": "creating RDS instance", "observedGeneration": 1,
                            "lastTransitionTime": first_time},
                           {"type": "Progressing", "status": "True", "reason": "Provisioning",
                            "message": "creating RDS instance", "observedGeneration": 1,
                            "lastTransitionTime": first_time}]}

        result = self.run_action(namespace=self.ns, name="orders-db", phase="Ready",
                                 message="available", observed_generation=1,
                                 fields={"endpoint": "x-1.example.com", "port": 5432,
                                         "vaultPath": "v/p", "consulKey": "c/k"})
        assert result == {"patched": True, "phase": "Ready", "events": ["Ready"]}
        obj = get_database(self.api, self.ns, "orders-db")
        status = obj["status"]
        assert (status["phase"], status["dbInstanceIdentifier"], status["endpoint"],
                status["port"], status["vaultPath"], status["consulKey"]) == (
            "Ready", "x-1", "x-1.example.com", 5432, "v/p", "c/k")
        assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
            ("Ready", "True", "Ready"), ("Progressing", "False", "Ready")]
        # Status writes never touch the spec: generation stays, so no update is triggered.
        assert obj["metadata"]["generation"] == created["metadata"]["generation"]
        assert obj["spec"] == created["spec"]

    def test_same_status_twice_writes_nothing_and_records_no_event(self):
        create_database(self.api, self.ns, "orders-db")
        first = self.run_action(namespace=self.ns, name="orders-db", phase="Failed",
                                message="spec.instanceSize: bad", observed_generation=1,
                                outcome="terminal")
        assert first == {"patched": True, "phase": "Failed", "events": ["Failed"]}
        version = self.version()
        for _ in range(2):
            again = self.run_action(namespace=self.ns, name="orders-db", phase="Failed",
                                    message="spec.instanceSize: bad", observed_generation=1,
                                    outcome="terminal")
            assert again == {"patched": False, "phase": "Failed", "reason": "unchanged"}
        assert self.version() == version
        assert summary(events_of(self.api, self.ns, "orders-db")) == [
            ("Failed", "Warning", "spec.instanceSize: bad")]

    def test_a_resync_of_unchanged_databases_writes_nothing(self):
        """What a periodic resync costs when nothing changed: a read each, no write, no event."""
        names = ["db-%02d" % i for i in range(20)]
        fields = {"dbInstanceIdentifier": "x-1", "endpoint": "x-1.example.com", "port": 5432,
                  "vaultPath": "team-a/x", "consulKey": "team-a/x/config"}
        for name in names:
            create_database(self.api, self.ns, name)
            self.run_action(namespace=self.ns, name=name, phase="Ready", message="available",
                            observed_generation=1, fields=fields, warnings=[])
        versions = {name: self.version(name) for name in names}
        before = len(events_of(self.api, self.ns))
        for name in names:
            assert self.run_action(namespace=self.ns, name=name, phase="Ready",
                                   message="available", observed_generation=1, fields=fields,
                                   warnings=[]) == {
                "patched": False, "phase": "Ready", "reason": "unchanged"}
            # Leaving out what the status already holds is no change either.
            assert self.run_action(namespace=self.ns, name=name, phase="Ready",
                                   message="available")["patched"] is False
        assert {name: self.version(name) for name in names} == versions
        assert before == len(names) == len(events_of(self.api, self.ns))

    def test_an_event_for_each_transition(self):
        created = create_database(self.api, self.ns, "orders-db")
        steps = [
            (dict(phase="Pending"), [("Pending", "Normal", "phase Pending")]),
            (dict(phase="Provisioning", message="provisioning RDS instance x-1"),
             [("Provisioning", "Normal", "provisioning RDS instance x-1")]),
            (dict(phase="Provisioning", message="waiting for x-1 (creating)"), []),
            (dict(phase="Ready", message="RDS instance x-1 is available (none)",
                  observed_generation=1, fields={"endpoint": "x-1.example.com", "port": 5432}),
             [("Ready", "Normal", "RDS instance x-1 is available (none)")]),
            (dict(phase="Ready", message="RDS instance x-1 is available (none)"), None),
            (dict(phase="Ready", message="RDS instance x-1 is available (none)",
                  fields={"endpoint": "x-2.example.com"}), []),
            (dict(phase="Updating", message="modifying x-1"),
             [("Updating", "Normal", "modifying x-1")]),
            (dict(phase="Failed", message="engineVersion: no downgrade", outcome="terminal"),
             [("Failed", "Warning", "engineVersion: no downgrade")]),
            (dict(phase="Failed", message="engineVersion: no downgrade", outcome="terminal"),
             None),
            (dict(phase="Failed", message="x-1 is tagged for another Database",
                  outcome="terminal"),
             [("Failed", "Warning", "x-1 is tagged for another Database")]),
            (dict(phase="Failed", message="x-1 is tagged for another Database"),
             [("Failed", "Warning", "x-1 is tagged for another Database")]),
            (dict(phase="Deleting", message="deleting x-1 (Snapshot)"),
             [("Deleting", "Normal", "deleting x-1 (Snapshot)")]),
        ]
        expected, involved = [], []
        for live, events in steps:
            version = self.version()
            result = self.run_action(namespace=self.ns, name="orders-db", **live)
            if events is None:
                assert result == {"patched": False, "phase": live["phase"],
                                  "reason": "unchanged"}
                assert self.version() == version
                continue
            assert result == dict({"patched": True, "phase": live["phase"]},
                                  **({"events": [e[0] for e in events]} if events else {}))
            assert self.version() != version
            expected += events
            involved += [self.version()] * len(events)
            assert get_database(self.api, self.ns, "orders-db")["status"]["phase"] == \
                live["phase"]
        recorded = events_of(self.api, self.ns, "orders-db")
        assert summary(recorded) == expected
        assert [e["involvedObject"] for e in recorded] == [{
            "apiVersion": "dbaas.stackstorm.com/v1alpha1", "kind": "Database",
            "name": "orders-db", "namespace": self.ns, "uid": created["metadata"]["uid"],
            "resourceVersion": version} for version in involved]
        assert {(e["source"]["component"], e["reportingComponent"], e["count"])
                for e in recorded} == {("st2-aws-pack", "st2-aws-pack", 1)}
        assert all(e["firstTimestamp"] == e["lastTimestamp"] for e in recorded)

    def fail_recoverably(self, n, low, high, message, **live):
        start = int(time.time())
        result = self.run_action(namespace=self.ns, name="orders-db", phase="Failed",
                                 message=message, outcome="recoverable", **live)
        end = time.time()
        retry = result["retry"]
        assert result == {"patched": True, "phase": "Failed", "retry": retry,
                          "events": ["RetryScheduled"]}
        assert retry["attempts"] == n
        assert low <= retry["delaySeconds"] <= high, (n, retry)
        assert start <= epoch(retry["nextAttemptAt"]) - retry["delaySeconds"] <= end
        status = get_database(self.api, self.ns, "orders-db")["status"]
        assert status["retry"] == {"attempts": n, "nextAttemptAt": retry["nextAttemptAt"],
                                   "lastFailure": message}
        condition = ready(status)
        assert (condition["status"], condition["reason"], condition["message"]) == (
            "False", "Recoverable", message)
        last = events_of(self.api, self.ns, "orders-db")[-1]
        assert summary([last]) == [("RetryScheduled", "Warning", "%s (retry %d at %s)"
                                    % (message, n, retry["nextAttemptAt"]))]
        return retry

    def test_a_recoverable_failure_schedules_retries_with_exponential_backoff(self):
        create_database(self.api, self.ns, "orders-db")
        self.run_action(namespace=self.ns, name="orders-db", phase="Provisioning",
                        message="provisioning")
        throttled = "describe_db_instances failed: Throttling: Rate exceeded"
        for n, (low, high) in enumerate([(24, 36), (48, 72), (96, 144)], 1):
            retry = self.fail_recoverably(n, low, high, throttled)
        # A new run counts on: the attempts stay until the Database is Ready.
        assert self.run_action(namespace=self.ns, name="orders-db", phase="Provisioning",
                               message="provisioning") == {
            "patched": True, "phase": "Provisioning", "events": ["Provisioning"]}
        status = get_database(self.api, self.ns, "orders-db")["status"]
        assert status["retry"] == {"attempts": 3, "nextAttemptAt": retry["nextAttemptAt"],
                                   "lastFailure": throttled}
        assert ready(status)["reason"] == "Provisioning"
        self.fail_recoverably(4, 192, 288, "Vault at http://v:8200 is unreachable")
        # The same failure again is another attempt, not "unchanged".
        self.fail_recoverably(5, 384, 576, "Vault at http://v:8200 is unreachable")
        assert self.run_action(namespace=self.ns, name="orders-db", phase="Ready",
                               message="available") == {
            "patched": True, "phase": "Ready", "events": ["Ready"]}
        status = get_database(self.api, self.ns, "orders-db")["status"]
        assert "retry" not in status
        condition = ready(status)
        assert (condition["status"], condition["reason"]) == ("True", "Ready")
        assert [e[0] for e in summary(events_of(self.api, self.ns, "orders-db"))] == [
            "Provisioning", "RetryScheduled", "RetryScheduled", "RetryScheduled",
            "Provisioning", "RetryScheduled", "RetryScheduled", "Ready"]

    def test_the_delay_is_capped_at_retry_max_seconds(self):
        create_database(self.api, self.ns, "orders-db")
        config = dict(self.config, retry_initial_seconds=100, retry_max_seconds=150)
        self.config = config
        self.fail_recoverably(1, 80, 120, "timeout")
        self.fail_recoverably(2, 120, 150, "timeout")
        self.fail_recoverably(3, 150, 150, "timeout", jitter=0.999999)
        self.fail_recoverably(4, 120, 120, "timeout", jitter=0.0)
        self.fail_recoverably(5, 120, 150, "timeout")

    def test_a_terminal_failure_clears_the_retry_and_says_terminal(self):
        create_database(self.api, self.ns, "orders-db")
        self.fail_recoverably(1, 24, 36, "RDS answered 503")
        # "" keeps what it always did: reason Failed, the retry left as it is.
        assert self.run_action(namespace=self.ns, name="orders-db", phase="Failed",
                               message="RDS answered 503") == {
            "patched": True, "phase": "Failed", "events": ["Failed"]}
        status = get_database(self.api, self.ns, "orders-db")["status"]
        assert (ready(status)["reason"], status["retry"]["attempts"]) == ("Failed", 1)
        result = self.run_action(namespace=self.ns, name="orders-db", phase="Failed",
                                 message="x-1 is owned by team-b/orders-db", outcome="terminal")
        assert result == {"patched": True, "phase": "Failed", "events": ["Failed"]}
        status = get_database(self.api, self.ns, "orders-db")["status"]
        assert "retry" not in status
        condition = ready(status)
        assert (condition["status"], condition["reason"], condition["message"]) == (
            "False", "Terminal", "x-1 is owned by team-b/orders-db")
        assert summary(events_of(self.api, self.ns, "orders-db"))[-1] == (
            "Failed", "Warning", "x-1 is owned by team-b/orders-db")
        # The same message, now Recoverable, then Terminal again: each is a transition.
        self.fail_recoverably(1, 24, 36, "x-1 is owned by team-b/orders-db")
        assert self.run_action(namespace=self.ns, name="orders-db", phase="Failed",
                               message="x-1 is owned by team-b/orders-db",
                               outcome="terminal")["events"] == ["Failed"]

    def test_an_outcome_only_qualifies_a_failure(self):
        create_database(self.api, self.ns, "orders-db")
        self.fail_recoverably(1, 24, 36, "timeout")
        for phase in ("Provisioning", "Updating", "Deleting", "Pending"):
            self.run_action(namespace=self.ns, name="orders-db", phase=phase, message="m",
                            outcome="terminal")
            status = get_database(self.api, self.ns, "orders-db")["status"]
            assert (ready(status)["reason"], status["retry"]["attempts"]) == (phase, 1)
        self.run_action(namespace=self.ns, name="orders-db", phase="Ready",
                        outcome="recoverable")
        status = get_database(self.api, self.ns, "orders-db")["status"]
        assert (ready(status)["reason"], "retry" in status) == ("Ready", False)

    def test_extra_events_with_a_status(self):
        create_database(self.api, self.ns, "orders-db")
        assert self.run_action(namespace=self.ns, name="orders-db", phase="Ready",
                               message="available", event_reason="CredentialsRotated",
                               event_message="credentials re-copied to Vault after a rotation"
                               ) == {"patched": True, "phase": "Ready",
                                     "events": ["Ready", "CredentialsRotated"]}
        version = self.version()
        # An extra event is recorded even when the status does not change.
        assert self.run_action(namespace=self.ns, name="orders-db", phase="Ready",
                               message="available", event_reason="DriftRepaired") == {
            "patched": False, "phase": "Ready", "reason": "unchanged",
            "events": ["DriftRepaired"]}
        assert self.version() == version
        assert self.run_action(namespace=self.ns, name="orders-db", phase="Failed",
                               message="RDS instance x-1 is gone", outcome="terminal",
                               event_reason="InstanceMissing",
                               event_message="x-1 was not found in eu-west-1") == {
            "patched": True, "phase": "Failed", "events": ["Failed", "InstanceMissing"]}
        assert summary(events_of(self.api, self.ns, "orders-db")) == [
            ("Ready", "Normal", "available"),
            ("CredentialsRotated", "Normal", "credentials re-copied to Vault after a rotation"),
            ("DriftRepaired", "Normal", "available"),
            ("Failed", "Warning", "RDS instance x-1 is gone"),
            ("InstanceMissing", "Warning", "x-1 was not found in eu-west-1")]

    def test_a_bad_outcome_event_reason_or_retry_config_is_refused_before_any_write(self):
        create_database(self.api, self.ns, "orders-db")
        base = {"namespace": self.ns, "name": "orders-db", "phase": "Failed"}
        with pytest.raises(ParamError) as exc:
            action_params(META, dict(base, outcome="maybe"), self.config)
        assert str(exc.value) == "outcome: 'maybe' is not one of ['', 'recoverable', 'terminal']"
        for bad in ("drift repaired", "driftRepaired", "D" * 129, "Drift-Repaired"):
            with pytest.raises(ParamError) as exc:
                action_params(META, dict(base, event_reason=bad), self.config)
            assert str(exc.value).startswith("event_reason: %r does not match" % bad)
        action = self.get_action_instance(self.config)
        with pytest.raises(ValueError) as exc:
            action.run(event_reason="drift repaired", **base)
        assert str(exc.value) == ("event_reason: expected a CamelCase reason of 1-128 letters "
                                  "and digits such as DriftRepaired, got 'drift repaired'")
        with pytest.raises(ValueError) as exc:
            action.run(outcome="maybe", **base)
        assert str(exc.value) == ('outcome: expected "", "recoverable" or "terminal", '
                                  "got 'maybe'")
        for key, value, message in (
                ("retry_initial_seconds", 0, 'pack config key "retry_initial_seconds" must be '
                 "a whole number of seconds of at least 1, got 0"),
                ("retry_max_seconds", "15m", 'pack config key "retry_max_seconds" must be of '
                 "type int, got str")):
            with pytest.raises(ConfigError) as exc:
                self.get_action_instance(dict(self.config, **{key: value})).run(
                    outcome="recoverable", **base)
            assert str(exc.value) == message
        assert "status" not in get_database(self.api, self.ns, "orders-db")
        assert events_of(self.api, self.ns) == []

    def test_an_event_the_api_server_refuses_does_not_fail_the_action(self):
        """The limited user may read and patch Databases here, but not create events."""
        create_database(self.api, self.ns, "orders-db")
        kube = self.stack_kube
        rbac = client.RbacAuthorizationV1Api(self.api)
        rbac.create_namespaced_role(self.ns, {
            "metadata": {"name": "set-status"},
            "rules": [{"apiGroups": ["dbaas.stackstorm.com"],
                       "resources": ["databases", "databases/status"],
                       "verbs": ["get", "patch"]}]})
        rbac.create_namespaced_role_binding(self.ns, {
            "metadata": {"name": "set-status"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": "set-status"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                          "name": kube["limited_user"]}]})
        limited = {"kube_api_url": kube["server"], "kube_token": kube["limited_token"],
                   "kube_ca_file": kube["ca_file"]}
        review = client.AuthorizationV1Api(self.api)
        for _ in range(100):  # until the RBAC authorizer has seen the binding
            allowed = review.create_subject_access_review({"spec": {
                "user": kube["limited_user"], "resourceAttributes": {
                    "namespace": self.ns, "group": "dbaas.stackstorm.com", "verb": "patch",
                    "resource": "databases", "subresource": "status"}}}).status.allowed
            if allowed:
                break
            time.sleep(0.1)
        with self.assertLogs(LOGGER, level="WARNING") as logs:
            result = self.run_action(config=limited, namespace=self.ns, name="orders-db",
                                     phase="Failed", message="timeout", outcome="recoverable",
                                     event_reason="DriftRepaired")
        assert result == {"patched": True, "phase": "Failed", "retry": result["retry"]}
        assert result["retry"]["attempts"] == 1
        status = get_database(self.api, self.ns, "orders-db")["status"]
        assert (status["phase"], status["message"], status["retry"]["attempts"]) == (
            "Failed", "timeout", 1)
        forbidden = ("the API server answered 403 Forbidden: events is forbidden: User \"%s\" "
                     "cannot create resource \"events\" in API group \"\" in the namespace "
                     "\"%s\"" % (kube["limited_user"], self.ns))
        assert logs.output == [
            "WARNING:%s:could not record event %s (Warning) on Database %s/orders-db: %s"
            % (LOGGER, reason, self.ns, forbidden)
            for reason in ("RetryScheduled", "DriftRepaired")]
        assert events_of(self.api, self.ns) == []

    @settings(max_examples=30, **EXAMPLES)
    @given(message=HOSTILE, outcome=st.sampled_from(["", "recoverable", "terminal"]),
           extra=st.one_of(st.just(""), HOSTILE))
    def test_a_hostile_message_never_fails_and_is_bounded(self, message, outcome, extra):
        name = unique("h")
        create_database(self.api, self.ns, name)
        result = self.run_action(namespace=self.ns, name=name, phase="Failed", message=message,
                                 outcome=outcome, event_reason="Hostile", event_message=extra)
        first = "RetryScheduled" if outcome == "recoverable" else "Failed"
        assert (result["patched"], result["events"]) == (True, [first, "Hostile"])
        status = get_database(self.api, self.ns, name)["status"]
        shown = bounded(message, 1024)
        assert status.get("message", "") == shown
        assert ready(status).get("message", "") == shown
        events = events_of(self.api, self.ns, name)
        assert [(e["reason"], e["type"]) for e in events] == [
            (first, "Warning"), ("Hostile", "Warning")]
        assert all(len(e.get("message", "")) <= 1024 for e in events)
        assert events[1]["message"] == bounded(extra or shown or "phase Failed", 1024)
        if outcome == "recoverable":
            retry = status["retry"]
            assert retry.get("lastFailure", "") == shown
            assert events[0]["message"].endswith(" (retry 1 at %s)" % retry["nextAttemptAt"])
        else:
            assert events[0]["message"] == (shown or "phase Failed")

    @settings(max_examples=20, **EXAMPLES)
    @given(values=st.lists(st.text(alphabet=string.ascii_letters + string.digits, min_size=12,
                                   max_size=40).map(lambda s: "pw-" + s),
                           min_size=4, max_size=4, unique=True),
           phase=st.sampled_from(PHASES),
           outcome=st.sampled_from(["", "recoverable", "terminal"]),
           message=st.sampled_from(["", "available", "storing the credentials failed"]))
    def test_secret_looking_field_values_never_reach_events_or_the_result(
            self, values, phase, outcome, message):
        name = unique("s")
        create_database(self.api, self.ns, name)
        fields = dict(zip(("dbInstanceIdentifier", "endpoint", "vaultPath", "consulKey"),
                          values), port=5432)
        result = self.run_action(namespace=self.ns, name=name, phase=phase, message=message,
                                 outcome=outcome, fields=fields, event_reason="DriftRepaired")
        assert result["events"][-1] == "DriftRepaired"
        events = events_of(self.api, self.ns, name)
        assert len(events) == len(result["events"])
        said = json.dumps(events) + json.dumps(result)
        assert [v for v in values if v in said] == []
        status = get_database(self.api, self.ns, name)["status"]
        assert [status[k] for k in ("dbInstanceIdentifier", "endpoint", "vaultPath",
                                    "consulKey")] == values

    def test_gone_object_is_not_an_error(self):
        assert self.run_action(namespace=self.ns, name="never-created", phase="Deleting") == {
            "patched": False, "phase": "Deleting", "reason": "not found"}

    def test_a_bad_namespace_or_name_is_an_error_not_a_gone_object(self):
        create_database(self.api, self.ns, "orders-db")
        for live, message in (
                ({"namespace": ""}, "namespace: expected a Kubernetes namespace name (lowercase "
                 "letters, digits and '-', at most 63), got ''"),
                ({"namespace": self.ns + "/x"}, "namespace: expected a Kubernetes namespace name "
                 "(lowercase letters, digits and '-', at most 63), got '%s/x'" % self.ns),
                ({"name": ""}, "name: expected a Kubernetes object name (lowercase letters, "
                 "digits, '-' and '.', at most 253), got ''"),
                ({"name": "../orders-db"}, "name: expected a Kubernetes object name (lowercase "
                 "letters, digits, '-' and '.', at most 253), got '../orders-db'")):
            with pytest.raises(ValueError) as exc:
                self.run_action(**dict(dict(namespace=self.ns, name="orders-db",
                                            phase="Ready"), **live))
            assert str(exc.value) == message
        assert "status" not in get_database(self.api, self.ns, "orders-db")

    def test_unknown_field_is_refused_by_metadata(self):
        with pytest.raises(Exception) as exc:
            action_params(META, {"namespace": self.ns, "name": "x", "phase": "Ready",
                                 "fields": {"password": "x"}}, self.config)
        assert "password" in str(exc.value)

    def test_unreachable_api_server_is_named(self):
        config = {"kube_api_url": "https://127.0.0.1:%d" % closed_port(), "kube_token": "t",
                  "kube_verify_ssl": False}
        with pytest.raises(RuntimeError) as exc:
            self.get_action_instance(config).run(namespace=self.ns, name="x", phase="Ready")
        assert str(exc.value).startswith("Kubernetes API at %s is unreachable while reading "
                                         "databases.dbaas.stackstorm.com %s/x: "
                                         % (config["kube_api_url"], self.ns))
