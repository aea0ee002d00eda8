"""aws.database_finalizer against the real Kubernetes API server."""

import threading

import pytest
from kubernetes import client

from database_finalizer import DatabaseFinalizer
from st2tests.base import BaseActionTestCase
from tests.fixtures.database.support import (GROUP, PLURAL, VERSION, create_database,
                                             ensure_database_crd, get_database, kube_config)
from tests.st2_params import action_params, load_action, validate_output

META = load_action("database_finalizer")
FINALIZER = "dbaas.stackstorm.com/rds-protection"


@pytest.mark.integration
class FinalizerTest(BaseActionTestCase):
    action_cls = DatabaseFinalizer

    @pytest.fixture(autouse=True)
    def _servers(self, stack, kube_api_client, kube_namespace):
        ensure_database_crd(kube_api_client)
        self.api, self.ns, self.config = kube_api_client, kube_namespace, kube_config(stack)

    def run_action(self, **live):
        result = self.get_action_instance(self.config).run(
            **action_params(META, live, self.config))
        validate_output(META, result)
        return result

    def test_add_is_idempotent_and_keeps_other_finalizers(self):
        create_database(self.api, self.ns, "db1", finalizers=["example.com/other"])
        assert self.run_action(namespace=self.ns, name="db1", operation="add") == {
            "finalizers": ["example.com/other", FINALIZER], "changed": True}
        assert self.run_action(namespace=self.ns, name="db1", operation="add") == {
            "finalizers": ["example.com/other", FINALIZER], "changed": False}
        assert get_database(self.api, self.ns, "db1")["metadata"]["finalizers"] == [
            "example.com/other", FINALIZER]

    def test_remove_lets_a_deleting_object_go(self):
        create_database(self.api, self.ns, "db1")
        self.run_action(namespace=self.ns, name="db1", operation="add")
        client.CustomObjectsApi(self.api).delete_namespaced_custom_object(
            GROUP, VERSION, self.ns, PLURAL, "db1")
        assert get_database(self.api, self.ns, "db1")["metadata"]["deletionTimestamp"]
        assert self.run_action(namespace=self.ns, name="db1", operation="remove") == {
            "finalizers": [], "changed": True}
        # The object is gone now; removing again still succeeds.
        assert self.run_action(namespace=self.ns, name="db1", operation="remove") == {
            "finalizers": [], "changed": False}

    def test_add_to_missing_object_fails_clearly(self):
        with pytest.raises(RuntimeError) as exc:
            self.run_action(namespace=self.ns, name="nope", operation="add")
        assert str(exc.value) == ("cannot add finalizer %s: databases.dbaas.stackstorm.com %s/nope "
                                  "does not exist" % (FINALIZER, self.ns))

    def test_a_bad_name_is_an_error_not_a_gone_object(self):
        create_database(self.api, self.ns, "db1")
        self.run_action(namespace=self.ns, name="db1", operation="add")
        for namespace, name in (("", "db1"), (self.ns, "")):
            with pytest.raises(ValueError) as exc:
                self.run_action(namespace=namespace, name=name, operation="remove")
            assert str(exc.value).startswith("namespace: expected" if not namespace
                                             else "name: expected")
        assert get_database(self.api, self.ns, "db1")["metadata"]["finalizers"] == [FINALIZER]

    def test_concurrent_adds_of_different_finalizers_all_land(self):
        create_database(self.api, self.ns, "db1")
        names = ["example.com/f%d" % i for i in range(6)]
        errors = []

        def add(name):
            try:
                self.get_action_instance(self.config).run(
                    namespace=self.ns, name="db1", operation="add", finalizer=name)
            except Exception as exc:  # pylint: disable=broad-except
                errors.append(exc)

        threads = [threading.Thread(target=add, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(get_database(self.api, self.ns, "db1")["metadata"]["finalizers"]) == names
