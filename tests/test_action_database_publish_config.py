"""aws.database_publish_config and aws.database_cleanup against the real Consul and OpenBao."""

import json

import pytest

from database_cleanup import DatabaseCleanup
from database_publish_config import DatabasePublishConfig
from st2tests.base import BaseActionTestCase
from tests.fixtures.database.support import closed_port, consul_config, unique, vault_config
from tests.st2_params import action_params, load_action, validate_output

CONFIG = {"host": "db.example.com", "port": 5432, "engine": "postgres", "dbname": "orders",
          "db_instance_identifier": "team-a-orders-db-f07cf474",
          "vault_path": "team-a/orders-db", "region": "us-east-1"}


@pytest.mark.integration
class PublishConfigTest(BaseActionTestCase):
    action_cls = DatabasePublishConfig
    meta = load_action("database_publish_config")

    @pytest.fixture(autouse=True)
    def _servers(self, stack, consul_client, consul_prefix):
        self.config = consul_config(stack)
        self.consul, self.key, self.uid = consul_client, consul_prefix + "db", unique("uid")

    def run_action(self, pack_config=None, **live):
        pack_config = pack_config or self.config
        result = self.get_action_instance(pack_config).run(
            **action_params(self.meta, live, pack_config))
        validate_output(self.meta, result)
        return result

    def stored(self):
        index, item = self.consul.kv.get(self.key)
        return item and (json.loads(item["Value"]), item["ModifyIndex"])

    def test_writes_json_with_owner_and_is_idempotent(self):
        result = self.run_action(consul_key=self.key, uid=self.uid, config=CONFIG)
        value, index = self.stored()
        assert result == {"consul_key": self.key, "modify_index": index}
        # the TLS facts a client needs are added: ssl_mode by engine, the region's CA bundle
        assert value == dict(CONFIG, uid=self.uid, ssl_mode="require", ca_bundle_url=(
            "https://truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem"))
        assert self.run_action(consul_key=self.key, uid=self.uid, config=CONFIG) == result
        changed = self.run_action(consul_key=self.key, uid=self.uid,
                                  config=dict(CONFIG, host="db2.example.com"))
        assert changed["modify_index"] > index
        assert self.stored()[0]["host"] == "db2.example.com"

    def test_tls_facts_follow_the_engine_and_the_instance(self):
        config = dict(CONFIG, engine="mysql", port=3306, region="eu-west-1",
                      ca_certificate_identifier="rds-ca-ecc384-g1", iam_authentication=True)
        self.run_action(consul_key=self.key, uid=self.uid, config=config)
        value = self.stored()[0]
        assert (value["ssl_mode"], value["ca_certificate_identifier"],
                value["iam_authentication"], value["ca_bundle_url"]) == (
            "REQUIRED", "rds-ca-ecc384-g1", True,
            "https://truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem")

    def test_key_of_another_uid_is_not_overwritten(self):
        self.consul.kv.put(self.key, json.dumps({"uid": "other-uid", "host": "theirs"}))
        with pytest.raises(RuntimeError) as exc:
            self.run_action(consul_key=self.key, uid=self.uid, config=CONFIG)
        assert str(exc.value) == ("Consul key %s belongs to Database uid other-uid, not Database "
                                  "uid %s; it was not overwritten (choose another "
                                  "spec.consul.key)" % (self.key, self.uid))
        assert self.stored()[0] == {"uid": "other-uid", "host": "theirs"}

    def test_plain_text_key_is_not_overwritten(self):
        self.consul.kv.put(self.key, "hand-written")
        with pytest.raises(RuntimeError) as exc:
            self.run_action(consul_key=self.key, uid=self.uid, config=CONFIG)
        assert "belongs to no Database (no uid in its JSON value)" in str(exc.value)

    def test_missing_and_secret_config_keys_are_refused(self):
        config = dict(CONFIG)
        del config["region"]
        with pytest.raises(ValueError) as exc:
            self.run_action(consul_key=self.key, uid=self.uid, config=config)
        assert str(exc.value) == ("config: missing region; expected host, port, engine, dbname, "
                                  "db_instance_identifier, vault_path, region")
        with pytest.raises(ValueError) as exc:
            self.run_action(consul_key=self.key, uid=self.uid, config=dict(CONFIG, password="x"))
        assert str(exc.value) == ("config.password: secrets do not belong in Consul; they are in "
                                  "Vault at config.vault_path")
        assert self.stored() is None

    def test_keys_that_name_a_secret_are_refused_wherever_they_are(self):
        for extra, field in (({"MasterUserPassword": "x"}, "MasterUserPassword"),
                             ({"db_password": "x"}, "db_password"),
                             ({"auth-token": "x"}, "auth-token"),
                             ({"MasterUserSecret": {"SecretArn": "arn:x"}}, "MasterUserSecret"),
                             ({"extra": {"Credentials": {"a": "b"}}}, "extra.Credentials")):
            with pytest.raises(ValueError) as exc:
                self.run_action(consul_key=self.key, uid=self.uid, config=dict(CONFIG, **extra))
            assert str(exc.value) == ("config.%s: secrets do not belong in Consul; they are in "
                                      "Vault at config.vault_path" % field)
        assert self.stored() is None

    def test_a_bad_key_names_the_parameter(self):
        for key in ("", "/" + self.key, self.key + "/../other"):
            with pytest.raises(ValueError) as exc:
                self.run_action(consul_key=key, uid=self.uid, config=CONFIG)
            assert str(exc.value) == (
                "consul_key: expected a relative path of at most 256 letters, digits, '_', '.', "
                "'-' separated by '/', got '%s'" % key)

    def test_consul_down_names_the_address(self):
        port = closed_port()
        with pytest.raises(RuntimeError) as exc:
            self.run_action(dict(self.config, consul_port=port), consul_key=self.key,
                            uid=self.uid, config=CONFIG)
        assert str(exc.value) == ("Consul at http://127.0.0.1:%d (pack config consul_host/"
                                  "consul_port) is unreachable while reading %s: ConnectionError"
                                  % (port, self.key))


@pytest.mark.integration
class CleanupTest(BaseActionTestCase):
    action_cls = DatabaseCleanup
    meta = load_action("database_cleanup")

    @pytest.fixture(autouse=True)
    def _servers(self, stack, consul_client, consul_prefix, vault_client, vault_path):
        self.config = dict(consul_config(stack), **vault_config(stack))
        self.consul, self.key = consul_client, consul_prefix + "db"
        self.kv, self.path, self.uid = vault_client.secrets.kv.v2, vault_path + "/db", unique("u")

    def run_action(self, pack_config=None, **live):
        pack_config = pack_config or self.config
        result = self.get_action_instance(pack_config).run(
            **action_params(self.meta, live, pack_config))
        validate_output(self.meta, result)
        return result

    def put(self, owner):
        self.kv.create_or_update_secret(path=self.path, secret={"password": "p"},
                                        mount_point="secret")
        self.kv.update_metadata(path=self.path, mount_point="secret",
                                custom_metadata={"st2-aws-uid": owner})
        self.consul.kv.put(self.key, json.dumps({"uid": owner}))

    def exists(self):
        vault = self.path in [self.path.rsplit("/", 1)[0] + "/" + k for k in self.kv.list_secrets(
            path=self.path.rsplit("/", 1)[0], mount_point="secret")["data"]["keys"]]
        return vault, self.consul.kv.get(self.key)[1] is not None

    def test_deletes_what_this_uid_owns_then_reports_absent(self):
        self.put(self.uid)
        assert self.run_action(vault_path=self.path, consul_key=self.key, uid=self.uid) == {
            "vault": "deleted", "consul": "deleted"}
        assert self.consul.kv.get(self.key)[1] is None
        assert self.run_action(vault_path=self.path, consul_key=self.key, uid=self.uid) == {
            "vault": "absent", "consul": "absent"}

    def test_keeps_what_another_uid_owns(self):
        self.put("other-uid")
        assert self.run_action(vault_path=self.path, consul_key=self.key, uid=self.uid) == {
            "vault": "kept: owned by other-uid", "consul": "kept: owned by other-uid"}
        assert self.exists() == (True, True)

    def test_bad_paths_name_the_parameter_and_delete_nothing(self):
        self.put(self.uid)
        dotted = self.path.rsplit("/", 1)[0] + "/x/../db"  # what urllib3 would turn into path
        for live, field, value in (
                (dict(vault_path=dotted), "vault_path", dotted),
                (dict(vault_path=""), "vault_path", ""),
                (dict(consul_key="/" + self.key), "consul_key", "/" + self.key),
                (dict(consul_key=""), "consul_key", "")):
            live = dict(dict(vault_path=self.path, consul_key=self.key, uid=self.uid), **live)
            with pytest.raises(ValueError) as exc:
                self.run_action(**live)
            assert str(exc.value) == (
                "%s: expected a relative path of at most 256 letters, digits, '_', '.', '-' "
                "separated by '/', got '%s'" % (field, value))
        assert self.exists() == (True, True)

    def test_consul_down_deletes_nothing(self):
        self.put(self.uid)
        port = closed_port()
        with pytest.raises(RuntimeError) as exc:
            self.run_action(dict(self.config, consul_port=port), vault_path=self.path,
                            consul_key=self.key, uid=self.uid)
        assert str(exc.value).startswith("Consul at http://127.0.0.1:%d (pack config "
                                         "consul_host/consul_port) is unreachable" % port)
        assert self.exists() == (True, True)
