"""aws.database_set_status against the real Kubernetes API server."""

import pytest

from database_set_status import DatabaseSetStatus
from st2tests.base import BaseActionTestCase
from tests.fixtures.database.support import (closed_port, create_database, ensure_database_crd,
                                             get_database, kube_config)
from tests.st2_params import action_params, load_action, validate_output

META = load_action("database_set_status")


@pytest.mark.integration
class SetStatusTest(BaseActionTestCase):
    action_cls = DatabaseSetStatus

    @pytest.fixture(autouse=True)
    def _servers(self, stack, kube_api_client, kube_namespace):
        ensure_database_crd(kube_api_client)
        self.api, self.ns, self.config = kube_api_client, kube_namespace, kube_config(stack)

    def run_action(self, **live):
        result = self.get_action_instance(self.config).run(
            **action_params(META, live, self.config))
        validate_output(META, result)
        return result

    def test_sets_phase_fields_and_ready_condition(self):
        created = create_database(self.api, self.ns, "orders-db")
        result = self.run_action(namespace=self.ns, name="orders-db", phase="Provisioning",
                                 message="creating RDS instance", observed_generation=1,
                                 fields={"dbInstanceIdentifier": "x-1"})
        assert result == {"patched": True, "phase": "Provisioning"}
        status = get_database(self.api, self.ns, "orders-db")["status"]
        first_time = status["conditions"][0]["lastTransitionTime"]
        assert status == {
            "phase": "Provisioning", "message": "creating RDS instance",
            "observedGeneration": 1, "dbInstanceIdentifier": "x-1",
            "conditions": [{"type": "Ready", "status": "False", "reason": "Provisioning",
                            "message": "creating RDS instance", "observedGeneration": 1,
                            "lastTransitionTime": first_time}]}

        result = self.run_action(namespace=self.ns, name="orders-db", phase="Ready",
                                 message="available", observed_generation=1,
                                 fields={"endpoint": "x-1.example.com", "port": 5432,
                                         "vaultPath": "v/p", "consulKey": "c/k"})
        assert result == {"patched": True, "phase": "Ready"}
        obj = get_database(self.api, self.ns, "orders-db")
        status = obj["status"]
        assert (status["phase"], status["dbInstanceIdentifier"], status["endpoint"],
                status["port"], status["vaultPath"], status["consulKey"]) == (
            "Ready", "x-1", "x-1.example.com", 5432, "v/p", "c/k")
        assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
            ("Ready", "True", "Ready")]
        # Status writes never touch the spec: generation stays, so no update is triggered.
        assert obj["metadata"]["generation"] == created["metadata"]["generation"]
        assert obj["spec"] == created["spec"]

    def test_same_status_twice_keeps_resource_version(self):
        create_database(self.api, self.ns, "orders-db")
        for _ in range(2):
            self.run_action(namespace=self.ns, name="orders-db", phase="Failed",
                            message="spec.instanceSize: bad", observed_generation=1)
            version = get_database(self.api, self.ns, "orders-db")["metadata"]["resourceVersion"]
        self.run_action(namespace=self.ns, name="orders-db", phase="Failed",
                        message="spec.instanceSize: bad", observed_generation=1)
        assert get_database(self.api, self.ns, "orders-db")["metadata"][
            "resourceVersion"] == version

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
