"""aws.database_store_credentials against moto (RDS, Secrets Manager, STS) and OpenBao."""

import json
import logging
import re
import threading
import time

import boto3
import hvac.exceptions
import pytest

from database_store_credentials import DatabaseStoreCredentials
from st2tests.base import BaseActionTestCase
from tests.fixtures.database.support import aws_config, closed_port, unique, vault_config
from tests.st2_params import action_params, load_action, mask_output, validate_output

META = load_action("database_store_credentials")


@pytest.mark.integration
class StoreCredentialsTest(BaseActionTestCase):
    action_cls = DatabaseStoreCredentials

    @pytest.fixture(autouse=True)
    def _servers(self, stack, aws_endpoint, vault_client, vault_path, caplog):
        self.config = dict(aws_config(stack), **vault_config(stack))
        self.vault, self.path, self.caplog = vault_client, vault_path + "/db", caplog
        aws = stack["aws"]
        kwargs = {"endpoint_url": aws_endpoint, "region_name": aws["region"],
                  "aws_access_key_id": aws["access_key_id"],
                  "aws_secret_access_key": aws["secret_access_key"]}
        self.rds = boto3.client("rds", **kwargs)
        self.secrets = boto3.client("secretsmanager", **kwargs)
        creds = boto3.client("sts", **kwargs).assume_role(
            RoleArn="arn:aws:iam::123456789012:role/st2-rds", RoleSessionName="test")
        self.credentials = {"aws_access_key_id": creds["Credentials"]["AccessKeyId"],
                            "aws_secret_access_key": creds["Credentials"]["SecretAccessKey"],
                            "aws_session_token": creds["Credentials"]["SessionToken"],
                            "expiration": creds["Credentials"]["Expiration"].isoformat()}
        self.uid = unique("uid")
        self.created = []
        caplog.set_level(logging.DEBUG)
        yield
        for identifier in self.created:
            self.rds.delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True)

    def create_instance(self, uid=None, managed=True):
        identifier = unique("st2test")
        kwargs = {"ManageMasterUserPassword": True} if managed else {
            "MasterUserPassword": "initial-password-1"}
        tags = [{"Key": "st2-aws/uid", "Value": uid}] if uid else []
        instance = self.rds.create_db_instance(
            DBInstanceIdentifier=identifier, Engine="postgres", DBInstanceClass="db.t3.small",
            AllocatedStorage=20, MasterUsername="dbadmin", DBName="orders", Tags=tags,
            **kwargs)["DBInstance"]
        self.created.append(identifier)
        return instance

    def run_action(self, config=None, **live):
        config = config or self.config
        live.setdefault("credentials", self.credentials)
        self.caplog.clear()  # from here on, only what the action logs
        result = self.get_action_instance(config).run(**action_params(META, live, config))
        validate_output(META, result)
        return result

    def vault_secret(self):
        return self.vault.secrets.kv.v2.read_secret_version(
            path=self.path, mount_point="secret", raise_on_deleted_version=False)["data"]

    def assert_not_leaked(self, password, *things):
        assert len(password) >= 8
        for thing in things + (self.caplog.text,):
            assert password not in json.dumps(thing, default=str)

    def test_copies_the_managed_master_password_to_vault(self):
        instance = self.create_instance(self.uid)
        arn = instance["MasterUserSecret"]["SecretArn"]
        aws_password = json.loads(self.secrets.get_secret_value(SecretId=arn)["SecretString"])[
            "password"]
        result = self.run_action(db_instance_identifier=instance["DBInstanceIdentifier"],
                                 vault_path=self.path, uid=self.uid)
        assert result == {"vault_path": self.path, "vault_mount": "secret", "version": 1}
        secret = self.vault_secret()
        assert secret["data"] == {
            "username": "dbadmin", "password": aws_password, "engine": "postgres",
            "host": instance["Endpoint"]["Address"], "port": instance["Endpoint"]["Port"],
            "dbname": "orders"}
        assert secret["metadata"]["custom_metadata"] == {"st2-aws-uid": self.uid}
        self.assert_not_leaked(aws_password, result, mask_output(META, result))

        # Delivered again: nothing new is written.
        assert self.run_action(db_instance_identifier=instance["DBInstanceIdentifier"],
                               vault_path=self.path, uid=self.uid)["version"] == 1

    def test_path_owned_by_another_uid_is_not_overwritten(self):
        self.vault.secrets.kv.v2.create_or_update_secret(
            path=self.path, secret={"password": "theirs"}, mount_point="secret")
        self.vault.secrets.kv.v2.update_metadata(
            path=self.path, mount_point="secret", custom_metadata={"st2-aws-uid": "other-uid"})
        instance = self.create_instance(self.uid)
        with pytest.raises(RuntimeError) as exc:
            self.run_action(db_instance_identifier=instance["DBInstanceIdentifier"],
                            vault_path=self.path, uid=self.uid)
        assert str(exc.value) == (
            "Vault secret secret/%s belongs to Database uid other-uid, not Database uid %s; it "
            "was not overwritten (choose another spec.vault.path)" % (self.path, self.uid))
        secret = self.vault_secret()
        assert (secret["data"], secret["metadata"]["version"]) == ({"password": "theirs"}, 1)

    def test_path_without_owner_is_not_overwritten(self):
        self.vault.secrets.kv.v2.create_or_update_secret(
            path=self.path, secret={"password": "manual"}, mount_point="secret")
        instance = self.create_instance(self.uid)
        with pytest.raises(RuntimeError) as exc:
            self.run_action(db_instance_identifier=instance["DBInstanceIdentifier"],
                            vault_path=self.path, uid=self.uid)
        assert "belongs to no Database (no st2-aws-uid custom_metadata)" in str(exc.value)
        assert self.vault_secret()["data"] == {"password": "manual"}

    def test_instance_of_another_uid_is_refused_and_nothing_written(self):
        instance = self.create_instance("other-uid")
        with pytest.raises(RuntimeError) as exc:
            self.run_action(db_instance_identifier=instance["DBInstanceIdentifier"],
                            vault_path=self.path, uid=self.uid)
        assert str(exc.value) == (
            "RDS instance %s belongs to Database uid other-uid, not Database uid %s; its "
            "credentials were not copied" % (instance["DBInstanceIdentifier"], self.uid))
        with pytest.raises(hvac.exceptions.InvalidPath):  # not even metadata
            self.vault.secrets.kv.v2.read_secret_metadata(path=self.path, mount_point="secret")

    def test_bad_input_names_the_parameter_before_touching_anything(self):
        instance = self.create_instance(self.uid, managed=False)
        good = dict(db_instance_identifier=instance["DBInstanceIdentifier"],
                    vault_path=self.path, uid=self.uid)
        rule = "a relative path of at most 256 letters, digits, '_', '.', '-' separated by '/'"
        for field, value, expected in (
                ("vault_path", self.path + "/../db", rule),
                ("vault_path", "/" + self.path, rule),
                ("db_instance_identifier", "", "an RDS instance identifier"),
                ("uid", "", "the Database's metadata.uid")):
            with pytest.raises(ValueError) as exc:
                self.run_action(**dict(good, **{field: value}))
            assert str(exc.value) == "%s: expected %s, got '%s'" % (field, expected, value)
        assert "rds." not in self.caplog.text  # no AWS call
        with pytest.raises(hvac.exceptions.InvalidPath):
            self.vault.secrets.kv.v2.read_secret_metadata(path=self.path, mount_point="secret")

    def test_missing_instance_names_the_aws_error(self):
        with pytest.raises(RuntimeError) as exc:
            self.run_action(db_instance_identifier="st2test-none", vault_path=self.path,
                            uid=self.uid)
        assert str(exc.value).startswith("rds.describe_db_instances failed: DBInstanceNotFound")

    def test_unmanaged_instance_gets_a_generated_password_once(self):
        instance = self.create_instance(self.uid, managed=False)
        result = self.run_action(db_instance_identifier=instance["DBInstanceIdentifier"],
                                 vault_path=self.path, uid=self.uid)
        assert result["version"] == 2  # the claim (1), then the password once RDS took it (2)
        data = self.vault_secret()["data"]
        password = data["password"]
        assert re.match(r"^[A-Za-z0-9]{40}$", password) and "pending_password" not in data
        self.assert_not_leaked(password, result)
        # A retry reuses the stored password instead of rotating it again.
        assert self.run_action(db_instance_identifier=instance["DBInstanceIdentifier"],
                               vault_path=self.path, uid=self.uid)["version"] == 2
        assert self.vault_secret()["data"]["password"] == password

    def test_vault_down_fails_naming_the_address_before_touching_anything(self):
        instance = self.create_instance(self.uid, managed=False)
        url = "http://127.0.0.1:%d" % closed_port()
        with pytest.raises(RuntimeError) as exc:
            self.run_action(dict(self.config, vault_url=url),
                            db_instance_identifier=instance["DBInstanceIdentifier"],
                            vault_path=self.path, uid=self.uid)
        assert str(exc.value) == ("Vault at %s (pack config vault_url) is unreachable while "
                                  "reading metadata of secret/%s: ConnectionError"
                                  % (url, self.path))
        # The fallback would have changed the password first; it never ran.
        assert "modify_db_instance" not in self.caplog.text

    def test_vault_refusing_the_write_fails_before_the_password_is_changed(self):
        instance = self.create_instance(self.uid, managed=False)
        with pytest.raises(RuntimeError) as exc:
            self.run_action(dict(self.config, vault_kv_mount="st2test-no-such-mount"),
                            db_instance_identifier=instance["DBInstanceIdentifier"],
                            vault_path=self.path, uid=self.uid)
        assert str(exc.value).startswith(
            "Vault at %s failed while writing metadata of st2test-no-such-mount/%s: "
            % (self.config["vault_url"], self.path))
        # The generated password would be lost with the write: AWS's was left as it was.
        assert "modify_db_instance" not in self.caplog.text

    def claim_as_another_run(self, instance, password="claimed-by-another-run"):
        """What a concurrent run leaves between its claim and its password change: a version
        with the password being set as pending_password, written with check-and-set."""
        self.vault.secrets.kv.v2.update_metadata(path=self.path, mount_point="secret",
                                                 custom_metadata={"st2-aws-uid": self.uid})
        self.vault.secrets.kv.v2.create_or_update_secret(
            path=self.path, mount_point="secret", cas=0, secret={
                "username": "dbadmin", "password": "", "pending_password": password,
                "engine": "postgres", "host": instance["Endpoint"]["Address"],
                "port": instance["Endpoint"]["Port"], "dbname": "orders"})

    def test_a_claim_in_flight_is_waited_for_and_the_password_left_alone(self):
        instance = self.create_instance(self.uid, managed=False)
        self.claim_as_another_run(instance)
        action_cls = type("Impatient", (DatabaseStoreCredentials,),
                          {"WAIT_SECONDS": 1, "POLL_SECONDS": 0.2})
        self.caplog.clear()
        with pytest.raises(RuntimeError) as exc:
            action_cls(config=self.config).run(
                db_instance_identifier=instance["DBInstanceIdentifier"], vault_path=self.path,
                uid=self.uid, credentials=self.credentials)
        message = str(exc.value)
        assert message.startswith("Vault secret secret/%s: another run is setting the master "
                                  "password of RDS instance %s (version 1 claimed at "
                                  % (self.path, instance["DBInstanceIdentifier"]))
        assert "check-and-set claim still pending after 1 s); nothing was changed, retry" \
            in message  # the workflow's retry matches "check-and-set"
        assert "modify_db_instance" not in self.caplog.text
        secret = self.vault_secret()
        assert (secret["metadata"]["version"], secret["data"]["pending_password"]) == (
            1, "claimed-by-another-run")

    def test_a_waiting_run_returns_once_the_claimer_has_written(self):
        instance = self.create_instance(self.uid, managed=False)
        self.claim_as_another_run(instance)
        done = dict(self.vault_secret()["data"], password="claimed-by-another-run")
        del done["pending_password"]

        def finish_the_claim():
            time.sleep(1)
            self.vault.secrets.kv.v2.create_or_update_secret(
                path=self.path, mount_point="secret", cas=1, secret=done)

        finisher = threading.Thread(target=finish_the_claim)
        finisher.start()
        result = self.run_action(db_instance_identifier=instance["DBInstanceIdentifier"],
                                 vault_path=self.path, uid=self.uid)
        finisher.join()
        assert result["version"] == 2
        assert "modify_db_instance" not in self.caplog.text
        assert self.vault_secret()["data"] == done

    def test_an_abandoned_claim_is_taken_over(self):
        instance = self.create_instance(self.uid, managed=False)
        self.claim_as_another_run(instance)
        action_cls = type("Late", (DatabaseStoreCredentials,), {"CLAIM_LEASE_SECONDS": 0})
        result = action_cls(config=self.config).run(
            db_instance_identifier=instance["DBInstanceIdentifier"], vault_path=self.path,
            uid=self.uid, credentials=self.credentials)
        assert result["version"] == 3  # its own claim (2), then the password (3)
        data = self.vault_secret()["data"]
        assert "pending_password" not in data
        assert re.match(r"^[A-Za-z0-9]{40}$", data["password"])
        assert "modify_db_instance" in self.caplog.text

    def test_a_failed_password_change_withdraws_the_claim(self):
        instance = self.create_instance(self.uid, managed=False)

        class Refused(DatabaseStoreCredentials):
            def _aws(self, service, method, **params):
                if method == "modify_db_instance":
                    raise RuntimeError("rds.modify_db_instance failed: InvalidDBInstanceState")
                return super()._aws(service, method, **params)

        with pytest.raises(RuntimeError):
            Refused(config=self.config).run(
                db_instance_identifier=instance["DBInstanceIdentifier"], vault_path=self.path,
                uid=self.uid, credentials=self.credentials)
        meta = self.vault.secrets.kv.v2.read_secret_metadata(path=self.path,
                                                             mount_point="secret")["data"]
        assert meta["versions"]["1"]["deletion_time"]  # nobody takes it for the password
        # The next run claims on top of the withdrawn claim at once (no waiting).
        result = self.run_action(db_instance_identifier=instance["DBInstanceIdentifier"],
                                 vault_path=self.path, uid=self.uid)
        assert result["version"] == 3
        first = self.vault_secret()["data"]["password"]

        # An abandoned claim over that password (version 4), taken over by a run whose change
        # is refused: the data before its claim (5) is written back (6).
        self.vault.secrets.kv.v2.create_or_update_secret(
            path=self.path, mount_point="secret", cas=3,
            secret=dict(self.vault_secret()["data"], pending_password="lost-with-its-run"))
        Refused.CLAIM_LEASE_SECONDS = 0
        with pytest.raises(RuntimeError):
            Refused(config=self.config).run(
                db_instance_identifier=instance["DBInstanceIdentifier"], vault_path=self.path,
                uid=self.uid, credentials=self.credentials)
        secret = self.vault_secret()
        assert secret["metadata"]["version"] == 6
        assert secret["data"]["password"] == first and "pending_password" not in secret["data"]

    def test_a_path_holding_another_instances_credentials_is_not_overwritten(self):
        instance = self.create_instance(self.uid, managed=False)
        self.vault.secrets.kv.v2.update_metadata(path=self.path, mount_point="secret",
                                                 custom_metadata={"st2-aws-uid": self.uid})
        self.vault.secrets.kv.v2.create_or_update_secret(
            path=self.path, mount_point="secret", secret={
                "username": "x", "password": "theirs", "host": "other-db.abc.rds.example"})
        with pytest.raises(RuntimeError) as exc:
            self.run_action(db_instance_identifier=instance["DBInstanceIdentifier"],
                            vault_path=self.path, uid=self.uid)
        assert str(exc.value) == (
            "Vault secret secret/%s holds the credentials of another RDS instance "
            "(other-db.abc.rds.example), not of %s; it was not overwritten (choose another "
            "spec.vault.path)" % (self.path, instance["DBInstanceIdentifier"]))
        assert "modify_db_instance" not in self.caplog.text

    def test_credentials_parameter_is_secret(self):
        assert META["parameters"]["credentials"]["secret"] is True
        assert "password" not in META["output_schema"]["properties"]
