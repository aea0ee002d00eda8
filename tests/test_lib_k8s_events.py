"""lib/kube/events.py: Events about a Database, recorded on the real Kubernetes API server as
controllers record them; a refused or unreachable API server never makes it raise."""

import json
import logging
import re
import subprocess
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from kubernetes import client

from lib.database.objects import bounded
from lib.kube.api import api_client_from_config
from lib.kube.events import COMPONENT, event_name, record_event
from tests.fixtures.database.support import (closed_port, create_database, ensure_database_crd,
                                             get_database)
from tests.hostile_specs import nasty_text

LOGGER = "tests.k8s_events"
NAME = re.compile(r"^(?P<object>.+)\.(?P<hex>[0-9a-f]{16})$")
DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?"
                           r"(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def events_of(api, namespace, name=None):
    """The raw core/v1 Events of ``namespace`` (about object ``name``), oldest first."""
    kwargs = {"field_selector": "involvedObject.name=%s" % name} if name else {}
    answer = client.CoreV1Api(api).list_namespaced_event(namespace, _preload_content=False,
                                                         **kwargs)
    return sorted(json.loads(answer.data)["items"], key=lambda e: e["metadata"]["name"])


def shown(event):
    """What an event says (everything but the API server's own metadata)."""
    return {k: v for k, v in event.items() if k not in ("metadata", "apiVersion", "kind")}


def test_event_name_is_the_object_name_and_16_hex_and_a_valid_name():
    assert event_name("orders-db", 0x18eefb0cd0473ec1) == "orders-db.18eefb0cd0473ec1"
    assert event_name("a", 5) == "a.0000000000000005"
    assert NAME.match(event_name("orders-db")).group("object") == "orders-db"
    long_name = "a" * 230 + "-" + "b" * 22  # 253 characters, the longest object name
    name = event_name(long_name)
    assert DNS_SUBDOMAIN.match(name) and len(name) == 253
    assert DNS_SUBDOMAIN.match(event_name("a" * 235 + "-.x" + "c" * 15))
    assert event_name("x", 2 ** 70) == "x.0000000000000000"


def test_a_bad_reason_type_or_object_is_refused_without_a_request(caplog):
    logger = logging.getLogger(LOGGER)
    api = api_client_from_config({"kube_api_url": "https://127.0.0.1:%d" % closed_port(),
                                  "kube_token": "t"})
    obj = {"apiVersion": "dbaas.stackstorm.com/v1alpha1", "kind": "Database",
           "metadata": {"name": "orders-db", "namespace": "team-a"}}
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert record_event(api, obj, "not camel", "m", logger=logger) is False
        assert record_event(api, obj, "R" * 129, "m", logger=logger) is False
        assert record_event(api, obj, "Ready", "m", event_type="Error", logger=logger) is False
        assert record_event(api, {"kind": "Database"}, "Ready", "m", logger=logger) is False
        assert record_event(api, None, "Ready", "m", logger=logger) is False
    assert [r.getMessage() for r in caplog.records] == [
        "could not record event on Database team-a/orders-db: reason 'not camel' is not "
        "CamelCase of 1-128 letters and digits",
        "could not record event on Database team-a/orders-db: reason '%s' is not CamelCase of "
        "1-128 letters and digits" % ("R" * 129),
        "could not record event on Database team-a/orders-db: type 'Error' is not one of "
        "Normal, Warning",
        "could not record event on Database None/None: the object has no metadata.name and "
        "metadata.namespace",
        "could not record event on object None/None: the object has no metadata.name and "
        "metadata.namespace"]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


@pytest.mark.integration
class TestOnTheApiServer:
    @pytest.fixture(autouse=True)
    def _servers(self, stack, kube_api_client, kube_namespace):
        ensure_database_crd(kube_api_client)
        self.stack, self.api, self.ns = stack, kube_api_client, kube_namespace

    def test_records_an_event_as_controllers_do(self):
        created = create_database(self.api, self.ns, "orders-db")
        before = time.time()
        assert record_event(self.api, created, "Provisioning", "creating RDS instance x-1") is True
        after = time.time()
        [event] = events_of(self.api, self.ns, "orders-db")
        meta = created["metadata"]
        assert shown(event) == {
            "involvedObject": {"apiVersion": "dbaas.stackstorm.com/v1alpha1",
                               "kind": "Database", "name": "orders-db", "namespace": self.ns,
                               "uid": meta["uid"], "resourceVersion": meta["resourceVersion"]},
            "reason": "Provisioning", "message": "creating RDS instance x-1", "type": "Normal",
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
            "reportingInstance": "",
            "firstTimestamp": event["firstTimestamp"], "lastTimestamp": event["firstTimestamp"],
            "count": 1, "eventTime": None}
        stamp = time.mktime(time.strptime(event["firstTimestamp"], "%Y-%m-%dT%H:%M:%SZ")) \
            - time.timezone
        assert int(before) <= stamp <= after
        match = NAME.match(event["metadata"]["name"])
        assert match.group("object") == "orders-db"
        assert abs(int(match.group("hex"), 16) / 1e9 - (before + after) / 2) < 5
        assert event["metadata"]["namespace"] == self.ns

    def test_kubectl_describe_shows_the_history(self):
        obj = create_database(self.api, self.ns, "orders-db")
        assert record_event(self.api, obj, "Provisioning", "creating") is True
        assert record_event(self.api, obj, "RetryScheduled", "throttled (retry 1 at x)",
                            event_type="Warning") is True
        described = subprocess.run(
            ["/usr/bin/kubectl", "--kubeconfig", self.stack["kube"]["kubeconfig"], "describe",
             "-n", self.ns, "database", "orders-db"], capture_output=True, text=True, timeout=60)
        assert described.returncode == 0, described.stderr
        events = described.stdout.split("\nEvents:\n", 1)[1].splitlines()
        assert [line.split()[:2] + line.split()[3:] for line in events[2:]] == [
            ["Normal", "Provisioning", COMPONENT, "creating"],
            ["Warning", "RetryScheduled", COMPONENT, "throttled", "(retry", "1", "at", "x)"]]

    def test_the_longest_object_name_still_gets_its_event(self):
        name = "a" * 200 + "." + "b" * 52
        obj = create_database(self.api, self.ns, name)
        assert record_event(self.api, obj, "Ready", "available") is True
        [event] = events_of(self.api, self.ns, name)
        assert event["involvedObject"]["name"] == name
        assert event["metadata"]["name"] == "a" * 200 + "." + "b" * 35 + "." + \
            NAME.match(event["metadata"]["name"]).group("hex")

    def test_a_refused_event_is_a_warning_not_an_error(self, caplog):
        obj = create_database(self.api, self.ns, "orders-db")
        kube = self.stack["kube"]
        limited = api_client_from_config({"kube_api_url": kube["server"],
                                          "kube_token": kube["limited_token"],
                                          "kube_ca_file": kube["ca_file"]})
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert record_event(limited, obj, "Ready", "available",
                                logger=logging.getLogger(LOGGER)) is False
        [record] = caplog.records
        assert record.levelno == logging.WARNING
        assert record.getMessage().startswith(
            "could not record event Ready (Normal) on Database %s/orders-db: the API server "
            "answered 403 Forbidden: events is forbidden: User \"%s\" cannot create resource "
            "\"events\" in API group \"\" in the namespace \"%s\""
            % (self.ns, kube["limited_user"], self.ns)), record.getMessage()
        assert events_of(self.api, self.ns) == []

    def test_a_missing_namespace_and_an_unreachable_server_are_warnings(self, caplog):
        obj = create_database(self.api, self.ns, "orders-db")
        gone = json.loads(json.dumps(obj))
        gone["metadata"]["namespace"] = "stacktest-gone-%s" % uuid.uuid4().hex[:8]
        closed = api_client_from_config({"kube_api_url": "https://127.0.0.1:%d" % closed_port(),
                                         "kube_token": "t"}, retries=False)
        logger = logging.getLogger(LOGGER)
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert record_event(self.api, gone, "Ready", "m", logger=logger) is False
            assert record_event(closed, obj, "Ready", "m", logger=logger) is False
        assert [r.getMessage() for r in caplog.records] == [
            "could not record event Ready (Normal) on Database %s/orders-db: the API server "
            "answered 404 Not Found: namespaces \"%s\" not found"
            % (gone["metadata"]["namespace"], gone["metadata"]["namespace"]),
            "could not record event Ready (Normal) on Database %s/orders-db: the API server is "
            "unreachable (NewConnectionError)" % self.ns]

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(message=st.one_of(nasty_text(200), st.text(min_size=1, max_size=3).map(
        lambda s: s * 40000)), warning=st.booleans())
    def test_any_message_is_recorded_bounded(self, message, warning):
        name = "h-%s" % uuid.uuid4().hex[:10]
        obj = create_database(self.api, self.ns, name)
        kind = "Warning" if warning else "Normal"
        assert record_event(self.api, obj, "Hostile", message, event_type=kind) is True
        [event] = events_of(self.api, self.ns, name)
        assert (event["reason"], event["type"]) == ("Hostile", kind)
        # core/v1 leaves out an empty message
        assert event.get("message", "") == bounded(message, 1024)
        assert len(event.get("message", "")) <= 1024
        assert get_database(self.api, self.ns, name)["metadata"]["resourceVersion"] == \
            obj["metadata"]["resourceVersion"]  # an event does not touch the object
