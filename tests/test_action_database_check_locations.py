"""aws.database_check_locations against OpenBao (Vault) and Consul: reads who owns what."""

import json

import pytest

from database_check_locations import DatabaseCheckLocations
from st2tests.base import BaseActionTestCase
from tests.fixtures.database.support import consul_config, unique, vault_config
from tests.st2_params import action_params, load_action, validate_output

META = load_action("database_check_locations")


@pytest.mark.integration
class CheckLocationsTest(BaseActionTestCase):
    action_cls = DatabaseCheckLocations

    @pytest.fixture(autouse=True)
    def _servers(self, stack, consul_client, consul_prefix, vault_client, vault_path):
        self.config = dict(consul_config(stack), **vault_config(stack))
        self.consul, self.key = consul_client, consul_prefix + "db/config"
        self.kv, self.path, self.uid = vault_client.secrets.kv.v2, vault_path + "/db", unique("u")

    def run_action(self, config=None, **live):
        config = config or self.config
        live = dict(dict(vault_path=self.path, consul_key=self.key, uid=self.uid), **live)
        result = self.get_action_instance(config).run(**action_params(META, live, config))
        validate_output(META, result)
        return result

    def test_absent_then_owned_then_taken_and_nothing_is_written(self):
        assert self.run_action() == {"vault": "absent", "consul": "absent", "problems": []}
        assert self.consul.kv.get(self.key)[1] is None  # reads only
        self.kv.create_or_update_secret(path=self.path, secret={"a": 1}, mount_point="secret")
        self.kv.update_metadata(path=self.path, mount_point="secret",
                                custom_metadata={"st2-aws-uid": self.uid})
        self.consul.kv.put(self.key, json.dumps({"uid": self.uid}))
        assert self.run_action() == {"vault": "owned", "consul": "owned", "problems": []}
        assert self.run_action(uid="someone-else") == {
            "vault": "taken", "consul": "taken", "problems": [
                "spec.vault.path: Vault secret secret/%s belongs to Database uid %s; choose "
                "another path" % (self.path, self.uid),
                "spec.consul.key: Consul key %s belongs to Database uid %s; choose another key"
                % (self.key, self.uid)]}

    def test_something_the_pack_did_not_write_is_taken(self):
        self.kv.create_or_update_secret(path=self.path, secret={"a": 1}, mount_point="secret")
        self.consul.kv.put(self.key, "plain text")
        assert self.run_action()["problems"] == [
            "spec.vault.path: Vault secret secret/%s belongs to no Database (it was not written "
            "by this pack); choose another path" % self.path,
            "spec.consul.key: Consul key %s belongs to no Database (it was not written by this "
            "pack); choose another key" % self.key]

    def test_bad_input_names_the_parameter(self):
        with pytest.raises(ValueError) as exc:
            self.run_action(vault_path="../x")
        assert str(exc.value).startswith("vault_path: expected a relative path")
