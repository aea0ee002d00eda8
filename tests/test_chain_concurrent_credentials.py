"""Three deliveries of the same trigger at once, on an adopted instance without an RDS-managed
secret: Vault must end holding the instance's real master password (issue 10, item 1).

AWS is moto's backend in this test's own process (``moto.mock_aws``, the pack config's
endpoint_url unset), so the test reads the password RDS really holds -- moto keeps the
MasterUserPassword of every create/modify on the instance -- and compares it with Vault. The
Kubernetes API server, Vault (OpenBao) and Consul are the local servers. Each run goes through
lib/chain.py as the create workflow would, 3 threads at once, 6 times over.
"""

import threading

import boto3
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.rds.models import rds_backends

from lib.chain import run_workflow
from lib.kube.api import to_payload
from lib.database.rds_params import db_instance_identifier
from tests.fixtures.database.support import create_database, ensure_database_crd, get_database
from tests.workflow_paths import assert_run_follows

pytestmark = pytest.mark.integration

REGION = "us-east-1"
TRIALS = 6
RUNS = 3
DB = {"group": "dbaas.stackstorm.com", "version": "v1alpha1", "plural": "databases"}


@pytest.fixture
def config(stack, vault_path, consul_prefix):
    data = stack.require("kube", "vault", "consul")
    return {
        "region": REGION,  # no endpoint_url: boto3 talks to moto's in-process backend
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "role_arn": "arn:aws:iam::%s:role/st2-database-provisioner" % DEFAULT_ACCOUNT_ID,
        "kubeconfig": data["kube"]["kubeconfig"],
        "vault_url": data["vault"]["addr"],
        "vault_token": data["vault"]["token"],
        "vault_kv_mount": "secret",
        "consul_host": data["consul"]["host"],
        "consul_port": data["consul"]["port"],
        "vault_path_prefix": vault_path + "/{namespace}/",
        "consul_key_prefix": consul_prefix + "{namespace}/",
    }


@pytest.fixture
def aws(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_RDS", "AWS_ENDPOINT_URL_STS",
                 "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield boto3.client("rds", region_name=REGION, aws_access_key_id="testing",
                           aws_secret_access_key="testing")


def real_password(identifier):
    """The master password RDS (moto's backend) holds for the instance.

    Where moto keeps it is moto's internals, and they differ inside the moto>=5,<6 the tests
    allow: moto 5.0 has a plain ``master_user_password`` attribute, later releases keep it in
    ``_master_user_password`` behind a property that refuses to be read."""
    state = vars(rds_backends[DEFAULT_ACCOUNT_ID][REGION].databases[identifier])
    for name in ("_master_user_password", "master_user_password"):
        if name in state:
            return state[name]
    raise AssertionError("moto's RDS instance holds no master password attribute (moto's "
                         "internals changed): %s" % ", ".join(sorted(state)))


def adopted_instance(rds, namespace, name, uid):
    """An instance created outside the pack (a master password of its own, no managed
    secret), tagged with the resource's uid so that the pack adopts it."""
    identifier = db_instance_identifier(namespace, name)
    rds.create_db_instance(
        DBInstanceIdentifier=identifier, Engine="postgres", EngineVersion="15.4",
        DBInstanceClass="db.t3.small", AllocatedStorage=20, MasterUsername="dbadmin",
        MasterUserPassword="set-by-hand-1234", DBName="orders",
        Tags=[{"Key": "st2-aws/uid", "Value": uid},
              {"Key": "st2-aws/namespace", "Value": namespace},
              {"Key": "st2-aws/name", "Value": name}])
    return identifier


def test_concurrent_creates_leave_vault_equal_to_the_instances_password(
        aws, config, kube_api_client, kube_namespace, vault_client):
    ensure_database_crd(kube_api_client)
    mismatches = []
    for trial in range(TRIALS):
        name = "adopted-%d" % trial
        obj = create_database(kube_api_client, kube_namespace, name, spec={
            "engine": "postgres", "engineVersion": "15.4", "instanceSize": "small",
            "databaseName": "orders", "deletionPolicy": "Delete"})
        identifier = adopted_instance(aws, kube_namespace, name, obj["metadata"]["uid"])
        assert "MasterUserSecret" not in aws.describe_db_instances(
            DBInstanceIdentifier=identifier)["DBInstances"][0]
        payload = to_payload("ADDED", obj, DB)
        runs = [None] * RUNS
        start = threading.Barrier(RUNS)

        def deliver(index, payload=payload, runs=runs, start=start):
            start.wait()
            runs[index] = run_workflow("database_create", payload, config, poll_delay=0)

        threads = [threading.Thread(target=deliver, args=(i,)) for i in range(RUNS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)

        assert [r["status"] for r in runs] == ["succeeded"] * RUNS, [r["output"] for r in runs]
        for run in runs:
            assert_run_follows(run, "adopted")
        assert len(aws.describe_db_instances(Filters=[
            {"Name": "db-instance-id", "Values": [identifier]}])["DBInstances"]) == 1
        status = get_database(kube_api_client, kube_namespace, name)["status"]
        assert status["phase"] == "Ready"
        stored = vault_client.secrets.kv.v2.read_secret_version(
            path=status["vaultPath"], mount_point="secret",
            raise_on_deleted_version=True)["data"]["data"]
        if stored["password"] != real_password(identifier):
            mismatches.append(trial)
        assert stored["password"] != "set-by-hand-1234"  # the pack set its own, once
    assert mismatches == [], "Vault differs from the instance's password in trials %s of %d" % (
        mismatches, TRIALS)
    # Exactly one instance per Database, nothing else created.
    assert sorted(d["DBInstanceIdentifier"] for d in aws.describe_db_instances()["DBInstances"]
                  ) == sorted(db_instance_identifier(kube_namespace, "adopted-%d" % t)
                              for t in range(TRIALS))
