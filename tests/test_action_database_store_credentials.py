"""aws.database_store_credentials against moto (RDS, Secrets Manager, STS) and OpenBao."""

import json
import logging
import re
import threading
import time

import boto3
import hvac.exceptions
import pytest

import lib.aws
from database_store_credentials import REASONS, DatabaseStoreCredentials
from lib.database.master_credentials import CredentialsCopier
from st2tests.base import BaseActionTestCase
from tests.fixtures.database.support import aws_config, closed_port, unique, vault_config
from tests.st2_params import action_params, load_action, mask_output, validate_output

META = load_action("database_store_credentials")


@pytest.mark.integration
class StoreCredentialsTest(BaseActionTestCase):
    action_cls = DatabaseStoreCredentials

    @pytest.fixture(autouse=True)
    def _servers(self, stack, aws_endpoint, vault_client, vault_path, caplog, monkeypatch):
        self.config = dict(aws_config(stack), **vault_config(stack))
        # Every AWS call the action sends, as "<service>.<Operation>": a botocore hook on each
        # client lib.aws builds for it (the tests' own clients are not counted).
        self.aws_calls = []
        make_client = lib.aws.make_client

        def recording_make_client(*args, **kwargs):
            client = make_client(*args, **kwargs)
            client.meta.events.register("before-call", self._record_aws_call)
            return client

        monkeypatch.setattr(lib.aws, "make_client", recording_make_client)
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

    def _record_aws_call(self, model, **_):
        self.aws_calls.append("%s.%s" % (model.service_model.service_name, model.name))

    def run_action(self, config=None, **live):
        config = config or self.config
        live.setdefault("credentials", self.credentials)
        self.caplog.clear()  # from here on, only what the action logs
        del self.aws_calls[:]  # and only the AWS calls it sends
        result = self.get_action_instance(config).run(**action_params(META, live, config))
        validate_output(META, result)
        assert result["reason"] in REASONS
        return result

    def store(self, instance):
        return self.run_action(db_instance_identifier=instance["DBInstanceIdentifier"],
                               vault_path=self.path, uid=self.uid)

    def secret_reads(self):
        return self.aws_calls.count("secretsmanager.GetSecretValue")

    def vault_secret(self):
        return self.vault.secrets.kv.v2.read_secret_version(
            path=self.path, mount_point="secret", raise_on_deleted_version=False)["data"]

    def vault_metadata(self):
        return self.vault.secrets.kv.v2.read_secret_metadata(path=self.path,
                                                             mount_point="secret")["data"]

    def aws_current(self, arn):
        """(VersionId staged AWSCURRENT, password) of the managed secret, as AWS has them."""
        response = self.secrets.get_secret_value(SecretId=arn)
        return response["VersionId"], json.loads(response["SecretString"])["password"]

    def rotate(self, arn, password):
        """What an RDS rotation leaves (moto does not rotate): a new version staged
        AWSCURRENT holding the new password; returns its VersionId."""
        return self.secrets.put_secret_value(
            SecretId=arn, SecretString=json.dumps({"username": "dbadmin", "password": password}),
            VersionStages=["AWSCURRENT"])["VersionId"]

    def assert_not_leaked(self, password, *things):
        assert len(password) >= 8
        for thing in things + (self.caplog.text,):
            assert password not in json.dumps(thing, default=str)

    def test_copies_the_managed_master_password_to_vault(self):
        instance = self.create_instance(self.uid)
        arn = instance["MasterUserSecret"]["SecretArn"]
        aws_password = json.loads(self.secrets.get_secret_value(SecretId=arn)["SecretString"])[
            "password"]
        source, _ = self.aws_current(arn)
        result = self.store(instance)
        assert result == {"vault_path": self.path, "vault_mount": "secret", "version": 1,
                          "source_version": source, "changed": True, "reason": "first copy"}
        assert self.secret_reads() == 1
        secret = self.vault_secret()
        assert secret["data"] == {
            "username": "dbadmin", "password": aws_password, "engine": "postgres",
            "host": instance["Endpoint"]["Address"], "port": instance["Endpoint"]["Port"],
            "dbname": "orders"}
        assert secret["metadata"]["custom_metadata"] == {"st2-aws-uid": self.uid,
                                                         "st2-aws-source-version": source}
        self.assert_not_leaked(aws_password, result, mask_output(META, result))

        # Delivered again: one look at the version metadata, no value read, nothing written.
        again = self.store(instance)
        assert again == dict(result, changed=False, reason="up to date")
        assert self.aws_calls == ["rds.DescribeDBInstances", "secretsmanager.DescribeSecret"]
        assert self.vault_metadata()["current_version"] == 1

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
        assert (result["changed"], result["reason"], result["source_version"]) == (
            True, "password set", None)
        data = self.vault_secret()["data"]
        password = data["password"]
        assert re.match(r"^[A-Za-z0-9]{40}$", password) and "pending_password" not in data
        self.assert_not_leaked(password, result)
        assert "secretsmanager.GetSecretValue" not in self.aws_calls
        # A retry reuses the stored password instead of rotating it again.
        again = self.run_action(db_instance_identifier=instance["DBInstanceIdentifier"],
                                vault_path=self.path, uid=self.uid)
        assert again == dict(result, changed=False, reason="up to date")
        assert self.vault_secret()["data"]["password"] == password
        assert self.vault_metadata()["custom_metadata"] == {"st2-aws-uid": self.uid}

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

        class RefusedChange(CredentialsCopier):
            def _aws(self, service, method, **params):
                if method == "modify_db_instance":
                    raise RuntimeError("rds.modify_db_instance failed: InvalidDBInstanceState")
                return super()._aws(service, method, **params)

        class Refused(DatabaseStoreCredentials):
            copier = RefusedChange

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
        assert META["output_schema"]["properties"]["reason"]["enum"] == list(REASONS)

    # -- following the managed secret's rotation -------------------------------------------
    def test_a_rotation_is_followed_and_the_value_read_only_when_its_version_changed(self):
        instance = self.create_instance(self.uid)
        arn = instance["MasterUserSecret"]["SecretArn"]
        first, old_password = self.aws_current(arn)
        assert self.store(instance)["reason"] == "first copy"
        assert self.store(instance)["reason"] == "up to date"
        assert self.secret_reads() == 0

        rotated = self.rotate(arn, "rotated-by-rds-0001")
        assert rotated != first
        result = self.store(instance)
        assert result == {"vault_path": self.path, "vault_mount": "secret", "version": 2,
                          "source_version": rotated, "changed": True, "reason": "rotated"}
        assert self.secret_reads() == 1
        secret = self.vault_secret()
        assert secret["data"]["password"] == "rotated-by-rds-0001"
        assert secret["metadata"]["custom_metadata"] == {"st2-aws-uid": self.uid,
                                                         "st2-aws-source-version": rotated}
        self.assert_not_leaked("rotated-by-rds-0001", result, mask_output(META, result))
        self.assert_not_leaked(old_password, result)

        # Nothing changed since: no value read, no new version.
        assert self.store(instance) == dict(result, changed=False, reason="up to date")
        assert self.secret_reads() == 0
        assert self.vault_metadata()["current_version"] == 2

    def test_a_copy_without_a_recorded_source_version_gets_it_recorded_once(self):
        instance = self.create_instance(self.uid)
        arn = instance["MasterUserSecret"]["SecretArn"]
        source, password = self.aws_current(arn)
        self.store(instance)
        # As an earlier pack version left it: the owner claim only.
        self.vault.secrets.kv.v2.update_metadata(path=self.path, mount_point="secret",
                                                 custom_metadata={"st2-aws-uid": self.uid})
        result = self.store(instance)
        assert (result["version"], result["changed"], result["reason"]) == (
            1, False, "source version recorded")
        assert self.secret_reads() == 1
        meta = self.vault_metadata()
        assert meta["current_version"] == 1
        assert meta["custom_metadata"] == {"st2-aws-uid": self.uid,
                                           "st2-aws-source-version": source}
        assert self.store(instance)["reason"] == "up to date" and self.secret_reads() == 0

        # Rotated before the upgrade: the new password is copied on the first run.
        self.vault.secrets.kv.v2.update_metadata(path=self.path, mount_point="secret",
                                                 custom_metadata={"st2-aws-uid": self.uid})
        rotated = self.rotate(arn, "rotated-before-the-upgrade")
        result = self.store(instance)
        assert (result["version"], result["reason"], result["source_version"]) == (
            2, "rotated", rotated)
        assert self.vault_secret()["data"]["password"] == "rotated-before-the-upgrade"
        self.assert_not_leaked(password, result)

    def test_vault_metadata_deleted_by_hand_is_written_again_with_the_owner_claim(self):
        instance = self.create_instance(self.uid)
        source, password = self.aws_current(instance["MasterUserSecret"]["SecretArn"])
        self.store(instance)
        self.vault.secrets.kv.v2.delete_metadata_and_all_versions(path=self.path,
                                                                  mount_point="secret")
        result = self.store(instance)
        # Vault keeps no trace of a path deleted with its metadata: a first copy again.
        assert (result["version"], result["changed"], result["reason"]) == (
            1, True, "first copy")
        secret = self.vault_secret()
        assert secret["data"]["password"] == password
        assert secret["metadata"]["custom_metadata"] == {"st2-aws-uid": self.uid,
                                                         "st2-aws-source-version": source}

    def test_a_deleted_or_destroyed_current_version_is_written_again(self):
        instance = self.create_instance(self.uid)
        source, password = self.aws_current(instance["MasterUserSecret"]["SecretArn"])
        self.store(instance)
        kv = self.vault.secrets.kv.v2
        kv.delete_latest_version_of_secret(path=self.path, mount_point="secret")
        result = self.store(instance)  # the recorded version is current: still read
        assert (result["version"], result["changed"], result["reason"]) == (2, True, "restored")
        assert self.secret_reads() == 1
        assert self.vault_secret()["data"]["password"] == password
        kv.destroy_secret_versions(path=self.path, versions=[2], mount_point="secret")
        result = self.store(instance)
        assert (result["version"], result["changed"], result["reason"]) == (3, True, "restored")
        assert self.vault_secret()["data"]["password"] == password
        assert self.vault_metadata()["custom_metadata"] == {"st2-aws-uid": self.uid,
                                                            "st2-aws-source-version": source}

    def test_other_fields_edited_in_vault_are_rewritten_from_the_instance(self):
        instance = self.create_instance(self.uid)
        _, password = self.aws_current(instance["MasterUserSecret"]["SecretArn"])
        self.store(instance)
        good = self.vault_secret()["data"]
        self.vault.secrets.kv.v2.create_or_update_secret(
            path=self.path, mount_point="secret", cas=1, secret=dict(good, port=1))
        result = self.store(instance)
        assert (result["version"], result["changed"], result["reason"]) == (3, True, "updated")
        assert self.vault_secret()["data"] == good and good["password"] == password

    def test_concurrent_runs_after_a_rotation_write_one_version(self):
        instance = self.create_instance(self.uid)
        arn = instance["MasterUserSecret"]["SecretArn"]
        self.store(instance)
        rotated = self.rotate(arn, "rotated-while-three-runs-race")
        params = action_params(META, dict(db_instance_identifier=instance["DBInstanceIdentifier"],
                                          vault_path=self.path, uid=self.uid,
                                          credentials=self.credentials), self.config)
        start = threading.Barrier(3)
        results, errors = [], []

        def one_run():
            action = self.get_action_instance(self.config)
            start.wait()
            try:
                results.append(action.run(**params))
            except Exception as exc:  # pylint: disable=broad-except
                errors.append(exc)

        self.caplog.clear()
        threads = [threading.Thread(target=one_run) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        for result in results:
            validate_output(META, result)
            assert (result["version"], result["source_version"]) == (2, rotated)
        assert sorted(r["reason"] for r in results if r["changed"]) == ["rotated"]
        assert all(r["reason"] in ("up to date", "source version recorded")
                   for r in results if not r["changed"])
        secret = self.vault_secret()
        assert secret["metadata"]["version"] == 2
        assert secret["data"]["password"] == "rotated-while-three-runs-race"
        assert self.vault_metadata()["custom_metadata"] == {"st2-aws-uid": self.uid,
                                                            "st2-aws-source-version": rotated}
        self.assert_not_leaked("rotated-while-three-runs-race", results)
